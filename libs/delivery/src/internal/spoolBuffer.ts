/**
 * The durable buffer: every accepted event is appended once to the segment log (`@sidekick/spool`) as
 * `<lane names, comma-separated>\n<envelope record>`, and each output's lane reads it back from the log
 * in order. N outputs are one copy of the event; each lane's cursor (the oldest seq it has not settled)
 * is the log's named cursor, so a segment is reclaimed once every lane is past it and a restart resumes
 * every lane where it was (at-least-once: what was in flight is delivered again).
 *
 * Memory stays bounded whatever the backlog: per lane, the seqs it still has to read (8 bytes each, so
 * it never scans the records of other lanes) and what it has taken; the envelopes offered in this
 * process are kept decoded in a cache bounded by bytes, so a lane that keeps up never reads the disk,
 * and one that does not reads its backlog back from the log.
 *
 * A full spool (`delivery.spool.maxbytes`) never lets one dead output block the others: the oldest
 * segment is dropped, and each lane counts what it had not read of it (`onOverflow` listeners).
 */
import { SegmentLog } from "@sidekick/spool"
import { Effect, Either, type Scope } from "effect"
import type { NonEmptyReadonlyArray } from "effect/Array"
import {
  type BufferService,
  decodeEnvelope,
  encodeEnvelope,
  type Envelope,
  type LaneBuffer,
  type LaneOptions,
  type OfferOutcome
} from "../Buffer.js"
import { Deque } from "./deque.js"
import { makeWaiters } from "./waiters.js"

export interface SpoolBufferOptions {
  readonly dir: string
  readonly durability: "write" | "fsync"
  /** bytes on disk at most (0: no bound) */
  readonly maxBytes: number
  /** bytes per segment file (default 16 MiB; tests use small ones) */
  readonly segmentBytes?: number
  /** bytes of recently offered envelopes kept decoded in memory */
  readonly cacheBytes?: number
}

const encoder = new TextEncoder()
const decoder = new TextDecoder()

interface SpoolLane extends LaneBuffer {
  /** seqs for this lane not read yet, in order, and their sizes */
  readonly unread: Deque<number>
  readonly unreadSizes: Deque<number>
  readonly wake: () => void
  /** move the lane's cursor in the log to the oldest seq it has not settled */
  readonly saveCursor: () => void
}

/** the lane names a record is for: only its first line is decoded (a restart reads every record) */
const recordLanes = (payload: Uint8Array) => decoder.decode(payload.subarray(0, payload.indexOf(10))).split(",")

export const makeSpoolBuffer = (options: SpoolBufferOptions): Effect.Effect<BufferService, SegmentLog.OpenError, Scope.Scope> =>
  Effect.gen(function*() {
    const log = yield* SegmentLog.open({
      dir: options.dir,
      durability: options.durability,
      maxBytes: options.maxBytes,
      ...(options.segmentBytes === undefined ? {} : { segmentBytes: options.segmentBytes })
    })
    const lanes = new Map<string, SpoolLane>()
    // envelopes offered in this process, by seq, with how many lanes have still to read them
    const cache = new Map<number, { readonly envelope: Envelope; readonly bytes: number; readers: number }>()
    let cacheBytes = 0
    const maxCacheBytes = options.cacheBytes ?? 32 * 1024 * 1024
    let lastDurable: Promise<void> | undefined
    const overflowListeners: Array<(lane: string, events: number) => void> = []

    const uncache = (seq: number) => {
      const entry = cache.get(seq)
      if (entry === undefined) return
      cache.delete(seq)
      cacheBytes -= entry.bytes
    }

    /**
     * The envelope of a seq: from the cache, else decoded from the log (undefined: gone or unreadable).
     * A lane reading its backlog reads ahead: one read of 64 records serves its next misses.
     */
    const envelopeAt = (seq: number, ahead: Map<number, Uint8Array>): Envelope | undefined => {
      const cached = cache.get(seq)
      if (cached !== undefined) return cached.envelope
      let payload = ahead.get(seq)
      if (payload === undefined) {
        ahead.clear()
        for (const r of Either.getOrElse(log.read(seq, 64), () => [])) ahead.set(r.seq, r.payload)
        payload = ahead.get(seq)
        if (payload === undefined) return undefined
      }
      ahead.delete(seq)
      const text = decoder.decode(payload)
      return Either.getOrUndefined(decodeEnvelope(text.slice(text.indexOf("\n") + 1)))?.envelope
    }

    const makeLane = (name: string, laneOptions: LaneOptions): SpoolLane => {
      const unread = new Deque<number>()
      const unreadSizes = new Deque<number>()
      let bytes = 0
      const taken = new Set<number>()
      const returned: Array<Envelope> = []
      const ahead = new Map<number, Uint8Array>()
      const size = () => unread.length + returned.length
      const { wait: awaitEvents, wake } = makeWaiters(() => size() > 0)
      /** the oldest seq this lane has not settled: its cursor in the log */
      const cursor = () => {
        let lowest = unread.peek() ?? log.nextSeq()
        for (const seq of taken) if (seq < lowest) lowest = seq
        for (const e of returned) if (e.id < lowest) lowest = e.id
        return lowest
      }
      const readOne = () => {
        const seq = unread.shift()!
        bytes -= unreadSizes.shift()!
        const entry = cache.get(seq)
        if (entry !== undefined && --entry.readers === 0) uncache(seq)
        return seq
      }
      const saveCursor = () => log.setCursor(name, Math.min(cursor(), log.nextSeq()))
      const lane: SpoolLane = {
        name,
        capacity: laneOptions.capacity,
        unread,
        unreadSizes,
        wake,
        saveCursor,
        size,
        bytes: () => bytes,
        inFlight: () => taken.size,
        hasRoom: () => true,
        poll: (max, fits) => {
          const out: Array<Envelope> = []
          while (out.length < max && returned.length > 0 && (fits === undefined || fits(returned[0]!))) out.push(returned.shift()!)
          while (out.length < max && unread.length > 0) {
            const seq = unread.peek()!
            const envelope = envelopeAt(seq, ahead)
            if (envelope === undefined) {
              readOne() // dropped with its segment, or unreadable: nothing to deliver
              continue
            }
            if (fits !== undefined && !fits(envelope)) break
            readOne()
            out.push(envelope)
          }
          for (const e of out) taken.add(e.id)
          if (size() > 0) wake()
          return out
        },
        awaitEvents,
        ack: (envelopes) => {
          for (const e of envelopes) taken.delete(e.id)
          saveCursor()
        },
        giveBack: (envelopes: NonEmptyReadonlyArray<Envelope>) => {
          for (const e of envelopes) taken.delete(e.id)
          returned.unshift(...envelopes)
          wake()
        }
      }
      return lane
    }

    /** a full spool: drop the oldest segment; each lane counts what it had not read of it */
    const dropOldest = (): boolean => {
      const dropped = Either.getOrUndefined(log.dropOldestSegment())
      if (dropped === undefined || dropped._tag === "None") return false
      const { toSeq } = dropped.value
      for (const lane of lanes.values()) {
        let lost = 0
        while (lane.unread.length > 0 && lane.unread.peek()! <= toSeq) {
          lane.unread.shift()
          lane.unreadSizes.shift()
          lost++
        }
        if (lost > 0) for (const listener of overflowListeners) listener(lane.name, lost)
      }
      for (const seq of [...cache.keys()]) if (seq <= toSeq) uncache(seq)
      return true
    }

    return {
      persistent: true,
      lane: (name, laneOptions) =>
        Effect.sync(() => {
          const lane = makeLane(name, laneOptions)
          // after a restart, the records already in the log for this lane, from its cursor on
          // "oldest" for a lane the log does not know yet (its cursor may not have been persisted before a
          // crash): the records name their lanes, so one that was never offered anything finds nothing
          for (let seq = log.cursor(name, "oldest"); seq < log.nextSeq();) {
            const records = Either.getOrElse(log.read(seq, 1024), () => [])
            if (records.length === 0) break
            for (const r of records) {
              if (recordLanes(r.payload).includes(name)) {
                lane.unread.push(r.seq)
                lane.unreadSizes.push(r.payload.length)
              }
              seq = r.seq + 1
            }
          }
          lane.saveCursor()
          lanes.set(name, lane)
          return lane
        }),
      offer: (envelope, targets) => {
        const names = targets.map((t) => t.name)
        const payload = encoder.encode(names.join(",") + "\n" + encodeEnvelope(envelope))
        let appended = log.append(payload)
        while (Either.isLeft(appended) && appended.left instanceof SegmentLog.SpoolFullError && dropOldest()) appended = log.append(payload)
        if (Either.isLeft(appended)) return targets.map((): OfferOutcome => "full")
        const { durable, seq } = appended.right
        lastDurable = durable
        cache.set(seq, { envelope: seq === envelope.id ? envelope : { ...envelope, id: seq }, bytes: payload.length, readers: names.length })
        cacheBytes += payload.length
        for (const [old] of cache) {
          if (cacheBytes <= maxCacheBytes) break
          uncache(old)
        }
        for (const name of names) {
          const lane = lanes.get(name)!
          lane.unread.push(seq)
          lane.unreadSizes.push(payload.length)
          lane.wake()
        }
        // a lane this event is not for must not hold the log back: an idle one moves past it
        if (names.length < lanes.size) {
          for (const lane of lanes.values()) if (!names.includes(lane.name) && lane.size() + lane.inFlight() === 0) lane.saveCursor()
        }
        return targets.map((): OfferOutcome => "queued")
      },
      nextId: () => log.nextSeq(),
      durable: () => lastDurable,
      onOverflow: (listener) => {
        overflowListeners.push(listener)
      }
    }
  })
