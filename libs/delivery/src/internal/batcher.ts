/**
 * Taking a batch from a lane's buffer: one event for a single-event output; for a batch output, events
 * until `maxEvents` or `maxBytes` is reached or `interval` has passed since the first one (Vector's
 * `BatchConfig`: one batch is one request). An event larger than `maxBytes` goes alone.
 */
import { Clock, Duration, Effect } from "effect"
import type { NonEmptyReadonlyArray } from "effect/Array"
import type { Envelope, LaneBuffer } from "../Buffer.js"
import type { BatchOptions } from "../Output.js"

/** wait until the buffer has something, then take up to `max` of it (while `fits`) */
const takeSome = (buffer: LaneBuffer, max: number, fits?: (e: Envelope) => boolean) =>
  Effect.suspend(function loop(): Effect.Effect<NonEmptyReadonlyArray<Envelope>> {
    const got = buffer.poll(max, fits)
    return got.length > 0 ? Effect.succeed(got as unknown as NonEmptyReadonlyArray<Envelope>) : Effect.zipRight(buffer.awaitEvents, Effect.suspend(loop))
  })

export const takeBatch = (buffer: LaneBuffer, batch: BatchOptions | undefined): Effect.Effect<NonEmptyReadonlyArray<Envelope>> => {
  if (batch === undefined) return takeSome(buffer, 1)
  const maxEvents = Math.max(1, batch.maxEvents)
  const intervalMillis = Duration.toMillis(batch.interval)
  // what this worker has taken so far: given back if it is interrupted before the batch is handed on
  let taken: Array<Envelope> = []
  return Effect.gen(function*() {
    taken = []
    let bytes = 0
    let count = 0
    const fits = (e: Envelope) => {
      const size = batch.sizeOf(e.event)
      // the first event of a batch always goes, alone if it is larger than maxBytes
      if (count > 0 && bytes + size > batch.maxBytes) return false
      bytes += size
      count++
      return true
    }
    for (const e of yield* takeSome(buffer, maxEvents, fits)) taken.push(e)
    const full = () => taken.length >= maxEvents || bytes >= batch.maxBytes
    const deadline = (yield* Clock.currentTimeMillis) + intervalMillis
    while (!full()) {
      const left = deadline - (yield* Clock.currentTimeMillis)
      if (left <= 0) break
      const woke = yield* Effect.timeout(buffer.awaitEvents, Duration.millis(left)).pipe(Effect.option)
      if (woke._tag === "None") break
      const before = taken.length
      for (const e of buffer.poll(maxEvents - taken.length, fits)) taken.push(e)
      // the next waiting event does not fit: the batch is as full as it gets
      if (taken.length === before && buffer.size() > 0) break
    }
    const handedOn = taken as unknown as NonEmptyReadonlyArray<Envelope>
    taken = []
    return handedOn
  }).pipe(
    Effect.onInterrupt(() =>
      Effect.sync(() => {
        if (taken.length > 0) buffer.giveBack(taken as unknown as NonEmptyReadonlyArray<Envelope>)
        taken = []
      })
    )
  )
}
