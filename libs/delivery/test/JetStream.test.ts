/**
 * The JetStream buffer against a real nats-server (nats://127.0.0.1:4222, JetStream enabled). Each test
 * uses a stream and subject of its own (random suffix), deleted at the end. Outside CI the file is skipped
 * when no server answers; in CI it always runs.
 */
import { describe, expect, it } from "@effect/vitest"
import type { FalcoEvent } from "@sidekick/event"
import { eventWith } from "@sidekick/testing"
import { Effect, Exit, FiberId, Queue, Scope } from "effect"
import { connect } from "nats"
import { randomBytes } from "node:crypto"
import { Socket } from "node:net"
import { Buffer, type DeliveryOptions, type Dispatcher, type SingleOutput } from "../src/index.js"
import { connectionOf, type JetStreamBufferOptions } from "../src/internal/jetstreamBuffer.js"
import { options, startOn } from "./support.js"

const url = "nats://127.0.0.1:4222"

const reachable = await new Promise<boolean>((resolve) => {
  const socket = new Socket()
  const done = (ok: boolean) => {
    socket.destroy()
    resolve(ok)
  }
  socket.setTimeout(1000, () => done(false))
  socket.once("error", () => done(false))
  socket.connect(4222, "127.0.0.1", () => done(true))
})
const skip = !reachable && process.env.CI === undefined
if (skip) console.warn(`JetStream.test.ts skipped: no nats-server answers at ${url} (in CI this file always runs)`)

const ev = (rule: string): FalcoEvent => eventWith({ rule })

const output = (name: string, send: SingleOutput["send"]): SingleOutput => ({
  kind: "single",
  name,
  minimumPriority: 0,
  testRuleBypass: true,
  maxConcurrentRequests: 1,
  send
})

const suffix = randomBytes(4).toString("hex")
let streams = 0

/** a stream and subject of this test's own, deleted when the test's scope closes */
const freshStream = Effect.acquireRelease(
  Effect.sync((): JetStreamBufferOptions => {
    const n = ++streams
    return { url, stream: `sidekick_test_${suffix}_${n}`, subject: `sidekick.test.${suffix}.${n}` }
  }),
  (o) =>
    Effect.promise(async () => {
      const nc = await connect({ servers: url })
      const jsm = await nc.jetstreamManager()
      await jsm.streams.delete(o.stream!).catch(() => false)
      await nc.close()
    })
)

const fast: DeliveryOptions = { ...options, shutdownTimeout: "50 millis" }

/** a replica: a Dispatcher on the JetStream buffer, in a scope of its own (closing it stops the replica) */
const start = (outputs: ReadonlyArray<SingleOutput>, js: JetStreamBufferOptions, opts: DeliveryOptions = fast) =>
  startOn(outputs, Buffer.layerJetStream(js), opts)

const publishAll = (d: Dispatcher["Type"], rules: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    let last: Promise<void> | undefined
    for (const r of rules) {
      const result = d.unsafePublish(ev(r), undefined)
      expect(result._tag).toBe("Accepted")
      if (result._tag === "Accepted") {
        // the 200 waits for the pack's PubAck
        expect(result.durable).toBeDefined()
        last = result.durable
      }
    }
    yield* Effect.promise(() => last!)
  })

const range = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}${i}`)

/** wait until `done` holds (polling), failing after `ms` */
const until = (done: () => boolean, ms: number) =>
  Effect.gen(function*() {
    const deadline = Date.now() + ms
    while (!done()) {
      if (Date.now() > deadline) return yield* Effect.dieMessage("timed out")
      yield* Effect.sleep("20 millis")
    }
  })

describe.skipIf(skip)("Buffer on NATS JetStream", () => {
  it.scopedLive("one replica, two outputs: every event to both, in order, once the PubAck came", () =>
    Effect.gen(function*() {
      const js = yield* freshStream
      const a = yield* Queue.unbounded<string>()
      const b = yield* Queue.unbounded<string>()
      const { d, scope } = yield* start([output("a", (e) => Queue.offer(a, e.rule)), output("b.out", (e) => Queue.offer(b, e.rule))], js)
      const rules = range("e", 100)
      yield* publishAll(d, rules)
      expect([...(yield* Queue.takeBetween(a, 100, 100))]).toEqual(rules)
      expect([...(yield* Queue.takeBetween(b, 100, 100))]).toEqual(rules)
      expect(yield* d.drain("2 seconds")).toBe(true)
      yield* Scope.close(scope, Exit.void)
    }), 15_000)

  it.scopedLive("two replicas share the work: each event delivered once per output across them", () =>
    Effect.gen(function*() {
      const js: JetStreamBufferOptions = { ...(yield* freshStream), pack: { maxEvents: 4 } }
      const seen = { a: new Map<string, number>(), b: new Map<string, number>() }
      const byReplica = { A: 0, B: 0 }
      const count = (out: "a" | "b", replica: "A" | "B") => (e: FalcoEvent) =>
        Effect.sync(() => {
          seen[out].set(e.rule, (seen[out].get(e.rule) ?? 0) + 1)
          byReplica[replica]++
        })
      const A = yield* start([output("a", count("a", "A")), output("b", count("b", "A"))], js)
      const B = yield* start([output("a", count("a", "B")), output("b", count("b", "B"))], js)
      yield* Effect.all([publishAll(A.d, range("x", 100)), publishAll(B.d, range("y", 100))], { concurrency: 2 })
      const delivered = (m: Map<string, number>) => [...m.values()].reduce((n, k) => n + k, 0)
      yield* until(() => seen.a.size === 200 && seen.b.size === 200, 10_000)
      yield* Effect.sleep("300 millis")
      // no replica stops and nothing is slower than ack_wait: no redelivery, so no duplicate
      expect(delivered(seen.a)).toBe(200)
      expect(delivered(seen.b)).toBe(200)
      expect(byReplica.A + byReplica.B).toBe(400)
      yield* Scope.close(A.scope, Exit.void)
      yield* Scope.close(B.scope, Exit.void)
    }), 20_000)

  it.scopedLive("a replica that dies mid-stream: another delivers what it had taken, after ack_wait", () =>
    Effect.gen(function*() {
      const js: JetStreamBufferOptions = { ...(yield* freshStream), pack: { maxEvents: 5 }, ackWait: "1 second" }
      // A's output hangs: it takes packs and never finishes them
      const A = yield* start([output("hook", () => Effect.never)], js)
      const got = new Map<string, number>()
      const B = yield* start([output("hook", (e) => Effect.sync(() => void got.set(e.rule, (got.get(e.rule) ?? 0) + 1)))], js)
      yield* publishAll(B.d, range("e", 100))
      yield* until(() => A.d.status()[0]!.inFlight > 0, 5_000)
      const heldByA = A.d.status()[0]!.inFlight + A.d.status()[0]!.queued
      expect(heldByA).toBeGreaterThan(0)
      expect(got.size).toBeLessThan(100)
      // killed: its connection goes without acking or nak-ing anything, then the process stops
      yield* Effect.promise(() => connectionOf(A.buffer)!.close())
      const killedAt = Date.now()
      yield* Scope.close(A.scope, Exit.interrupt(FiberId.none))
      yield* until(() => got.size === 100, 8_000)
      // what A held could only come back through ack_wait (its naks went nowhere)
      expect(Date.now() - killedAt).toBeGreaterThanOrEqual(800)
      yield* Effect.sleep("200 millis")
      expect([...got.values()].every((n) => n === 1)).toBe(true)
      yield* Scope.close(B.scope, Exit.void)
    }), 20_000)

  it.scopedLive("events accepted while no replica can deliver are delivered by one started later, in order", () =>
    Effect.gen(function*() {
      const js = yield* freshStream
      const first = yield* start([output("hook", () => Effect.never)], js)
      const rules = range("e", 40)
      yield* publishAll(first.d, rules)
      yield* Effect.sleep("50 millis")
      yield* Scope.close(first.scope, Exit.void)
      const got = yield* Queue.unbounded<string>()
      const second = yield* start([output("hook", (e) => Queue.offer(got, e.rule))], js)
      expect([...(yield* Queue.takeBetween(got, 40, 40))]).toEqual(rules)
      expect(yield* second.d.drain("2 seconds")).toBe(true)
      yield* Effect.sleep("100 millis")
      expect(yield* Queue.size(got)).toBe(0)
      yield* Scope.close(second.scope, Exit.void)
    }), 15_000)

  it.scopedLive("a pack JetStream did not take fails its events' durable() (the sender gets a 503)", () =>
    Effect.gen(function*() {
      const js = yield* freshStream
      const { buffer, d, scope } = yield* start([output("hook", () => Effect.void)], js)
      yield* Effect.promise(() => connectionOf(buffer)!.close())
      const result = d.unsafePublish(ev("lost"), undefined)
      expect(result._tag).toBe("Accepted")
      const durable = result._tag === "Accepted" ? result.durable : undefined
      expect(durable).toBeDefined()
      const outcome = yield* Effect.either(Effect.tryPromise(() => durable!))
      expect(outcome._tag).toBe("Left")
      yield* Scope.close(scope, Exit.void)
    }), 10_000)

  it.scopedLive("no server at the URL: the layer fails with an error naming it", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(start([], { url: "nats://127.0.0.1:1" }))
      expect(error._tag).toBe("JetStreamConnectError")
      expect(error.message).toContain("nats://127.0.0.1:1")
    }), 10_000)

  it.scopedLive("a bounded stream that discards what a stuck output had not read: counted as queue_full, once, with a summary dead letter", () =>
    Effect.gen(function*() {
      // one event per message, so the consumer's pending count is in events; ~150 of ~600-byte messages fit.
      // "stuck" never answers (its lane holds its packs and stops pulling: the stream discards past it);
      // "alive" pulls but falls behind the burst, and skips what was discarded (each counted, or delivered)
      const js: JetStreamBufferOptions = { ...(yield* freshStream), maxBytes: 100 * 1024, pack: { maxEvents: 1 }, lossCheckInterval: "100 millis" }
      let alive = 0
      const { d, scope } = yield* start([output("stuck", () => Effect.never), output("alive", () => Effect.sync(() => void alive++))], js)
      const total = 1000
      for (let i = 0; i < total; i += 100) yield* publishAll(d, range(`e${i}-`, 100))
      yield* until(() => alive + (d.status()[1]!.dropped.queue_full ?? 0) === total, 10_000)
      yield* until(() => (d.status()[0]!.dropped.queue_full ?? 0) > 0, 5_000)
      yield* Effect.sleep("300 millis") // more checks: nothing is counted twice
      const stuck = d.status()[0]!
      const pending = yield* Effect.promise(async () => {
        const nc = await connect({ servers: url })
        const info = await (await nc.jetstreamManager()).consumers.info(js.stream!, "stuck")
        await nc.close()
        return info.num_pending
      })
      // every event is lost to the stream (queue_full) or dropped after its attempts, held by the lane, or still
      // in the stream: nothing unaccounted for, nothing counted twice
      const dropped = Object.values(stuck.dropped).reduce((n, k) => n + k, 0)
      expect(dropped + stuck.queued + stuck.inFlight + pending).toBe(total)
      const letters = d.deadLetters.list({ output: "stuck", limit: 10 })
      expect(letters.reduce((n, l) => n + (l.summary?.events ?? 0), 0)).toBe(stuck.dropped.queue_full)
      yield* Scope.close(scope, Exit.void)
    }), 30_000)
})
