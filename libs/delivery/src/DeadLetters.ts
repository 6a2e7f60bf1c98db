/**
 * Dead letters: the events an output will never deliver (refused for good, still failing at
 * `delivery.retry.maxage`, out of attempts, pushed out of a full buffer, or hit by a bug in the output),
 * kept with the output, the reason, the last error and the attempt count, so an operator can see what
 * was lost and put it back (`replay`) once the cause is fixed. Events lost at shutdown are not here:
 * the process is going away with them. What a full spool drops is here as one summary per output (the
 * count; the events went with the segment).
 *
 * `layerMemory` keeps the newest `maxEntries` in a ring (the oldest is forgotten, counted); `layerSpool`
 * keeps them on disk beside the durable spool, so they survive a restart.
 */
import type { SegmentLog } from "@sidekick/spool"
import { Context, Layer } from "effect"
import type { Envelope } from "./Buffer.js"
import { newestFirst } from "./internal/newestFirst.js"
import { makeSpoolDeadLetters } from "./internal/spoolDeadLetters.js"

/** why an event became a dead letter (the `reason` of `sidekick_output_dropped_total`) */
export type DeadLetterReason = "queue_full" | "retries_exhausted" | "max_age" | "rejected" | "defect"

export interface DeadLetter {
  /** increasing, unique in this store */
  readonly id: number
  /** the output that could not deliver it */
  readonly output: string
  readonly reason: DeadLetterReason
  /** epoch milliseconds */
  readonly at: number
  /** the last failure's message (outputs name a peer by its origin only: no URL path, no token) */
  readonly error: string
  /** the last failure's HTTP or protocol status, when the peer answered */
  readonly status?: number | undefined
  /** attempts made (0: it never left the buffer) */
  readonly attempts: number
  /** the event with its history; absent in a summary */
  readonly envelope?: Envelope | undefined
  /**
   * A summary of events lost together, none of which is kept: a full spool dropped its oldest segment,
   * and this many events of it were still to be delivered to the output. Listed, never replayed.
   */
  readonly summary?: { readonly events: number } | undefined
}

export interface DeadLettersService {
  /** keep these (oldest first) */
  readonly add: (letters: ReadonlyArray<Omit<DeadLetter, "id">>) => void
  /** the newest first, at most `limit`, of one output or of all */
  readonly list: (options: { readonly output?: string | undefined; readonly limit: number }) => ReadonlyArray<DeadLetter>
  /** remove and return (oldest first) every dead letter of this output, to send them again */
  readonly take: (output: string) => ReadonlyArray<DeadLetter>
  /** dead letters kept now */
  readonly size: () => number
  /** dead letters forgotten because the store was full */
  readonly forgotten: () => number
}

export class DeadLetters extends Context.Tag("@sidekick/delivery/DeadLetters")<DeadLetters, DeadLettersService>() {
  /** the newest `maxEntries` in memory */
  static readonly layerMemory = (maxEntries: number): Layer.Layer<DeadLetters> =>
    Layer.sync(DeadLetters, () => makeMemory(maxEntries))
  /** on disk in `dir` (beside the spool), the newest `maxEntries` listed; they survive a restart */
  static readonly layerSpool = (
    options: { readonly dir: string; readonly maxEntries: number }
  ): Layer.Layer<DeadLetters, SegmentLog.OpenError> => Layer.scoped(DeadLetters, makeSpoolDeadLetters(options))
}

export const makeMemory = (maxEntries: number): DeadLettersService => {
  // oldest first; a plain array is enough at a few thousand entries (splice only when over the bound)
  let letters: Array<DeadLetter> = []
  let nextId = 1
  let forgotten = 0
  return {
    add: (added) => {
      for (const letter of added) letters.push({ ...letter, id: nextId++ })
      const over = letters.length - maxEntries
      if (over > 0) {
        letters.splice(0, over)
        forgotten += over
      }
    },
    list: (options) => newestFirst(letters, options),
    take: (output) => {
      const taken = letters.filter((l) => l.output === output)
      letters = letters.filter((l) => l.output !== output)
      return taken
    },
    size: () => letters.length,
    forgotten: () => forgotten
  }
}
