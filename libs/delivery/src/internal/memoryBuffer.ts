/**
 * The in-memory buffer: bounded by events and by bytes of event JSON, per lane and over all lanes
 * (memory must stay under the pod's limit whatever the storm: a count bound alone lets large events
 * through). A deque per lane (an array with a moving head, compacted now and then), and
 * waiting workers woken by a signal rather than handed events. A worker that is woken polls the deque
 * itself, so a worker interrupted while it waits (a batch deadline, shutdown) can never lose an event
 * that was already handed to it — with Effect's Queue, a `take` raced against a timeout can.
 */
import { eventJson } from "@sidekick/event"
import { Effect } from "effect"
import type { NonEmptyReadonlyArray } from "effect/Array"
import type { BufferService, Envelope, LaneBuffer, LaneOptions, OfferOutcome } from "../Buffer.js"
import { Deque } from "./deque.js"
import { makeWaiters } from "./waiters.js"

interface MemoryLane extends LaneBuffer {
  readonly offer: (e: Envelope) => OfferOutcome
}

/** the bytes an event holds, as its JSON (cached on ingested events) */
const sizeOf = (e: Envelope): number => eventJson(e.event).length

interface Shared {
  /** bytes waiting in every lane together */
  bytes: number
  readonly maxBytes: number
}

const makeLane = (name: string, options: LaneOptions, shared: Shared): MemoryLane => {
  const queue = new Deque<Envelope>()
  const capacity = options.capacity
  let inFlight = 0
  let bytes = 0
  const take = () => {
    const e = queue.shift()!
    const size = sizeOf(e)
    bytes -= size
    shared.bytes -= size
    return e
  }
  const put = (e: Envelope) => {
    const size = sizeOf(e)
    bytes += size
    shared.bytes += size
  }
  const fits = (size: number) =>
    queue.length < capacity && bytes + size <= options.maxBytes && shared.bytes + size <= shared.maxBytes
  const { wait: awaitEvents, waiting, wake } = makeWaiters(() => queue.length > 0)

  return {
    name,
    capacity,
    size: () => queue.length,
    bytes: () => bytes,
    inFlight: () => inFlight,
    hasRoom: () => fits(0),
    offer: (e) => {
      let outcome: OfferOutcome = "queued"
      const size = sizeOf(e)
      if (!fits(size)) {
        if (options.overflow !== "dropoldest" || size > options.maxBytes) return "full"
        // evict this lane's oldest until the event fits (another lane's bytes are not this lane's to drop)
        const evicted: Array<Envelope> = []
        while (queue.length > 0 && !fits(size)) evicted.push(take())
        if (!fits(size)) {
          queue.unshiftAll(evicted)
          for (const back of evicted) put(back)
          return "full"
        }
        outcome = { evicted }
      }
      queue.push(e)
      put(e)
      wake()
      return outcome
    },
    poll: (max, fits) => {
      const taken: Array<Envelope> = []
      while (taken.length < max) {
        const next = queue.peek()
        if (next === undefined || (fits !== undefined && !fits(next))) break
        taken.push(take())
      }
      inFlight += taken.length
      // more is waiting than this worker took: let another worker have it
      if (queue.length > 0 && waiting() > 0) wake()
      return taken
    },
    awaitEvents,
    ack: (envelopes) => {
      inFlight -= envelopes.length
    },
    giveBack: (envelopes: NonEmptyReadonlyArray<Envelope>) => {
      inFlight -= envelopes.length
      queue.unshiftAll(envelopes)
      for (const e of envelopes) put(e)
      wake()
    }
  }
}

export const makeMemoryBuffer = (options: { readonly maxBytes: number }): BufferService => {
  let id = 0
  const shared: Shared = { bytes: 0, maxBytes: options.maxBytes }
  // the lanes this buffer made, by their public face: `offer` is the buffer's, not the lane's
  const lanes = new WeakMap<LaneBuffer, MemoryLane>()
  return {
    persistent: false,
    lane: (name, laneOptions) =>
      Effect.sync(() => {
        const lane = makeLane(name, laneOptions, shared)
        lanes.set(lane, lane)
        return lane
      }),
    offer: (envelope, targets) =>
      targets.map((target) => {
        const lane = lanes.get(target)
        if (lane === undefined) throw new Error(`lane ${target.name} does not belong to this buffer`)
        return lane.offer(envelope)
      }),
    nextId: () => ++id,
    durable: () => undefined,
    // evictions come back as offer outcomes: nothing overflows behind the Dispatcher's back
    onOverflow: () => {}
  }
}
