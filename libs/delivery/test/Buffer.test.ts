import { describe, expect, it } from "@effect/vitest"
import { referenceEvent } from "@sidekick/testing"
import { eventJson } from "@sidekick/event"
import { Effect, Either, Fiber } from "effect"
import { Buffer, decodeEnvelope, encodeEnvelope, type Envelope } from "../src/index.js"

const envelope = (id: number): Envelope => ({ id, event: referenceEvent, traceparent: undefined, acceptedAt: 1_700_000_000_000 + id })

describe("Buffer (memory)", () => {
  it.scoped("offers to several lanes, takes in order, counts in flight until acknowledged, gives back to the head", () =>
    Effect.gen(function*() {
      const buffer = yield* Buffer
      const a = yield* buffer.lane("a", { capacity: 3, maxBytes: 1e9, overflow: "dropnewest" })
      const b = yield* buffer.lane("b", { capacity: 1, maxBytes: 1e9, overflow: "dropoldest" })
      expect(buffer.offer(envelope(1), [a, b])).toEqual(["queued", "queued"])
      expect(buffer.offer(envelope(2), [a, b])).toEqual(["queued", { evicted: [envelope(1)] }])
      expect(b.poll(10).map((e) => e.id)).toEqual([2])
      const taken = a.poll(1)
      expect(taken.map((e) => e.id)).toEqual([1])
      expect([a.size(), a.inFlight()]).toEqual([1, 1])
      a.giveBack([taken[0]!])
      expect([a.size(), a.inFlight()]).toEqual([2, 0])
      const again = a.poll(5, (e) => e.id < 2)
      expect(again.map((e) => e.id)).toEqual([1])
      a.ack(again)
      expect([a.size(), a.inFlight()]).toEqual([1, 0])
      buffer.offer(envelope(3), [a])
      expect(buffer.offer(envelope(4), [a])).toEqual(["queued"])
      expect(buffer.offer(envelope(5), [a])).toEqual(["full"])
      expect(a.poll(10).map((e) => e.id)).toEqual([2, 3, 4])
    }).pipe(Effect.provide(Buffer.layerMemory({ maxBytes: 1e9 }))))

  it.scoped("bytes bound a lane, and all lanes together; dropoldest evicts as many as it takes", () =>
    Effect.gen(function*() {
      const buffer = yield* Buffer
      const one = eventJson(referenceEvent).length
      const a = yield* buffer.lane("a", { capacity: 100, maxBytes: one * 2, overflow: "dropnewest" })
      const b = yield* buffer.lane("b", { capacity: 100, maxBytes: one * 3, overflow: "dropoldest" })
      expect(buffer.offer(envelope(1), [a, b])).toEqual(["queued", "queued"])
      expect(buffer.offer(envelope(2), [a, b])).toEqual(["queued", "queued"])
      expect([a.bytes(), b.bytes()]).toEqual([one * 2, one * 2])
      // a is full by bytes; b still has room for one, but all lanes together are capped at 5 events' bytes
      expect(buffer.offer(envelope(3), [a, b])).toEqual(["full", "queued"])
      expect(buffer.offer(envelope(4), [b])).toEqual([{ evicted: [envelope(1)] }])
      expect(b.poll(10).map((e) => e.id)).toEqual([2, 3, 4])
      expect([b.size(), b.bytes()]).toEqual([0, 0])
    }).pipe(Effect.provide(Buffer.layerMemory({ maxBytes: eventJson(referenceEvent).length * 5 }))))

  it.scoped("a waiting worker wakes when an event arrives", () =>
    Effect.gen(function*() {
      const buffer = yield* Buffer
      const lane = yield* buffer.lane("a", { capacity: 3, maxBytes: 1e9, overflow: "dropnewest" })
      const waiter = yield* Effect.fork(lane.awaitEvents)
      yield* Effect.yieldNow()
      expect(waiter.unsafePoll()).toBeNull()
      buffer.offer(envelope(1), [lane])
      yield* Fiber.join(waiter)
      expect(lane.poll(1).length).toBe(1)
    }).pipe(Effect.provide(Buffer.layerMemory({ maxBytes: 1e9 }))))
})

describe("Envelope records", () => {
  it("round-trip: the event JSON keeps its int64 digits, trace context and attempt history survive", () => {
    const original: Envelope = {
      id: 42,
      event: referenceEvent,
      traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
      acceptedAt: 1_764_000_000_123
    }
    const text = encodeEnvelope(original, [{ at: 1_764_000_001_000, error: "status 503" }])
    const decoded = Either.getOrThrow(decodeEnvelope(text))
    expect(decoded.envelope.id).toBe(42)
    expect(decoded.envelope.traceparent).toBe(original.traceparent)
    expect(decoded.envelope.acceptedAt).toBe(original.acceptedAt)
    expect(decoded.attempts).toEqual([{ at: 1_764_000_001_000, error: "status 503" }])
    expect(eventJson(decoded.envelope.event)).toBe(eventJson(referenceEvent))
    expect(decoded.envelope.event.timeUnixNanos).toBe(referenceEvent.timeUnixNanos)
  })

  it("a record that is not one is refused with a reason", () => {
    expect(Either.isLeft(decodeEnvelope("{"))).toBe(true)
    expect(decodeEnvelope(`{"id":1}`)).toEqual(Either.left("not an envelope: id, event and acceptedAt are required"))
  })
})
