/**
 * The in-memory buffer: a deque per lane (an array with a moving head, compacted now and then), and
 * waiting workers woken by a signal rather than handed events. A worker that is woken polls the deque
 * itself, so a worker interrupted while it waits (a batch deadline, shutdown) can never lose an event
 * that was already handed to it — with Effect's Queue, a `take` raced against a timeout can.
 */
import { Effect } from "effect"
import type { NonEmptyReadonlyArray } from "effect/Array"
import type { BufferService, Envelope, LaneBuffer, LaneOptions, OfferOutcome } from "../Buffer.js"

class Deque {
  private items: Array<Envelope> = []
  private head = 0

  get length(): number {
    return this.items.length - this.head
  }

  push(e: Envelope): void {
    this.items.push(e)
  }

  peek(): Envelope | undefined {
    return this.items[this.head]
  }

  shift(): Envelope | undefined {
    if (this.head >= this.items.length) return undefined
    const e = this.items[this.head]!
    this.items[this.head++] = undefined as unknown as Envelope // let the event be collected
    // compact once the dead prefix is large and at least half the array: amortised O(1) per event
    if (this.head >= 1024 && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head)
      this.head = 0
    }
    return e
  }

  unshiftAll(es: ReadonlyArray<Envelope>): void {
    this.items = [...es, ...this.items.slice(this.head)]
    this.head = 0
  }
}

interface MemoryLane extends LaneBuffer {
  readonly offer: (e: Envelope) => OfferOutcome
}

const makeLane = (name: string, options: LaneOptions): MemoryLane => {
  const queue = new Deque()
  const capacity = options.capacity
  let inFlight = 0
  // resume callbacks of workers waiting for an event
  const waiting: Array<() => void> = []

  const wake = () => {
    const next = waiting.shift()
    if (next !== undefined) next()
  }

  const awaitEvents: Effect.Effect<void> = Effect.async<void>((resume) => {
    if (queue.length > 0) return resume(Effect.void)
    const waiter = () => resume(Effect.void)
    waiting.push(waiter)
    return Effect.sync(() => {
      const i = waiting.indexOf(waiter)
      if (i !== -1) waiting.splice(i, 1)
    })
  })

  return {
    name,
    capacity,
    size: () => queue.length,
    inFlight: () => inFlight,
    hasRoom: () => queue.length < capacity,
    offer: (e) => {
      let outcome: OfferOutcome = "queued"
      if (queue.length >= capacity) {
        if (options.overflow !== "dropoldest") return "full"
        queue.shift()
        outcome = "evicted"
      }
      queue.push(e)
      wake()
      return outcome
    },
    poll: (max, fits) => {
      const taken: Array<Envelope> = []
      while (taken.length < max) {
        const next = queue.peek()
        if (next === undefined || (fits !== undefined && !fits(next))) break
        taken.push(queue.shift()!)
      }
      inFlight += taken.length
      // more is waiting than this worker took: let another worker have it
      if (queue.length > 0 && waiting.length > 0) wake()
      return taken
    },
    awaitEvents,
    ack: (envelopes) => {
      inFlight -= envelopes.length
    },
    giveBack: (envelopes: NonEmptyReadonlyArray<Envelope>) => {
      inFlight -= envelopes.length
      queue.unshiftAll(envelopes)
      wake()
    }
  }
}

export const makeMemoryBuffer = (): BufferService => {
  let id = 0
  // the lanes this buffer made, by their public face: `offer` is the buffer's, not the lane's
  const lanes = new WeakMap<LaneBuffer, MemoryLane>()
  return {
    lane: (name, options) =>
      Effect.sync(() => {
        const lane = makeLane(name, options)
        lanes.set(lane, lane)
        return lane
      }),
    offer: (envelope, targets) =>
      targets.map((target) => {
        const lane = lanes.get(target)
        if (lane === undefined) throw new Error(`lane ${target.name} does not belong to this buffer`)
        return lane.offer(envelope)
      }),
    nextId: () => ++id
  }
}
