/**
 * Dead letters on disk, beside the spool: every dead letter is appended to a segment log of its own
 * (`<spool dir>/deadletters`), a replay appends a tombstone naming what it took, and the newest
 * `maxEntries` are kept in memory for listing. A restart loads them back; the log's cursor follows the
 * oldest one kept, so older segments are reclaimed.
 */
import { SegmentLog } from "@sidekick/spool"
import { Effect, Either, type Scope } from "effect"
import { decodeEnvelope, encodeEnvelope } from "../Buffer.js"
import type { DeadLetter, DeadLetterReason, DeadLettersService } from "../DeadLetters.js"
import { newestFirst } from "./newestFirst.js"

const encoder = new TextEncoder()
const decoder = new TextDecoder()

interface LetterRecord {
  readonly output: string
  readonly reason: DeadLetterReason
  readonly at: number
  readonly error: string
  readonly status?: number
  readonly attempts: number
  /** the envelope record (`encodeEnvelope`); absent in a summary */
  readonly envelope?: string
  /** a summary's count of events */
  readonly events?: number
}

interface Tombstone {
  readonly taken: ReadonlyArray<number>
}

export const makeSpoolDeadLetters = (
  options: { readonly dir: string; readonly maxEntries: number }
): Effect.Effect<DeadLettersService, SegmentLog.OpenError, Scope.Scope> =>
  Effect.gen(function*() {
    const log = yield* SegmentLog.open({ dir: options.dir, durability: "write" })
    // oldest first; the id of a dead letter is its seq in the log
    let letters: Array<DeadLetter> = []
    let forgotten = 0

    const keep = () => {
      const over = letters.length - options.maxEntries
      if (over > 0) {
        letters.splice(0, over)
        forgotten += over
      }
      log.setCursor("kept", letters[0]?.id ?? log.nextSeq())
    }

    // load what an earlier run kept
    const taken = new Set<number>()
    const loaded: Array<DeadLetter> = []
    for (let seq = log.cursor("kept", "oldest"); seq < log.nextSeq();) {
      const records = Either.getOrElse(log.read(seq, 1024), () => [])
      if (records.length === 0) break
      for (const r of records) {
        seq = r.seq + 1
        let parsed: Partial<LetterRecord & Tombstone>
        try {
          parsed = JSON.parse(decoder.decode(r.payload))
        } catch {
          continue
        }
        if (parsed.taken !== undefined) {
          for (const id of parsed.taken) taken.add(id)
          continue
        }
        const envelope = parsed.envelope === undefined ? undefined : Either.getOrUndefined(decodeEnvelope(parsed.envelope))?.envelope
        const summary = parsed.events === undefined ? undefined : { events: parsed.events }
        if ((envelope === undefined && summary === undefined) || parsed.output === undefined || parsed.reason === undefined) continue
        loaded.push({
          id: r.seq,
          output: parsed.output,
          reason: parsed.reason,
          at: parsed.at ?? 0,
          error: parsed.error ?? "",
          status: parsed.status,
          attempts: parsed.attempts ?? 0,
          ...(envelope === undefined ? {} : { envelope }),
          ...(summary === undefined ? {} : { summary })
        })
      }
    }
    letters = loaded.filter((l) => !taken.has(l.id))
    keep()

    return {
      add: (added) => {
        for (const letter of added) {
          const record: LetterRecord = {
            output: letter.output,
            reason: letter.reason,
            at: letter.at,
            error: letter.error,
            ...(letter.status === undefined ? {} : { status: letter.status }),
            attempts: letter.attempts,
            ...(letter.envelope === undefined ? {} : { envelope: encodeEnvelope(letter.envelope) }),
            ...(letter.summary === undefined ? {} : { events: letter.summary.events })
          }
          const appended = log.append(encoder.encode(JSON.stringify(record)))
          // the disk refused it (full): it is still listed, and will not survive a restart
          const id = Either.isRight(appended) ? appended.right.seq : -(forgotten + letters.length + 1)
          letters.push({ ...letter, id })
        }
        keep()
      },
      list: (options) => newestFirst(letters, options),
      take: (output) => {
        const out = letters.filter((l) => l.output === output)
        if (out.length === 0) return out
        letters = letters.filter((l) => l.output !== output)
        log.append(encoder.encode(JSON.stringify({ taken: out.map((l) => l.id) } satisfies Tombstone)))
        keep()
        return out
      },
      size: () => letters.length,
      forgotten: () => forgotten
    }
  })
