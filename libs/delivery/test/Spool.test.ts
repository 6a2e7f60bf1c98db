import { describe, expect, it } from "@effect/vitest"
import type { FalcoEvent } from "@sidekick/event"
import { SegmentLog } from "@sidekick/spool"
import { eventWith } from "@sidekick/testing"
import { Duration, Effect, Exit, Layer, Queue, Scope } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import {
  Buffer,
  DeadLetters,
  type DeliveryOptions,
  OutputError,
  type SingleOutput,
  type SpoolBufferOptions
} from "../src/index.js"
import { options, startOn } from "./support.js"

const ev = (rule: string): FalcoEvent => eventWith({ rule })

const output = (name: string, send: SingleOutput["send"]): SingleOutput => ({
  kind: "single",
  name,
  minimumPriority: 0,
  testRuleBypass: true,
  maxConcurrentRequests: 1,
  send
})

const tempDir = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "sidekick-spool-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)

/** a Dispatcher on the spool in `dir`, in a scope of its own (closing it is a restart) */
const start = (outputs: ReadonlyArray<SingleOutput>, spool: SpoolBufferOptions, opts: DeliveryOptions = options) =>
  startOn(outputs, Buffer.layerSpool(spool), opts)

// with the spool, queuecapacity is how far behind a live output may fall before the sender is pushed back
const fast: DeliveryOptions = { ...options, queueCapacity: 100_000, shutdownTimeout: "50 millis" }

describe("Dispatcher on the spool", () => {
  it.scopedLive("events accepted while an output is down are delivered after a restart, in order, once", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const spool: SpoolBufferOptions = { dir, durability: "write", maxBytes: 0 }
      const first = yield* start([output("hook", () => Effect.never)], spool, fast)
      for (const r of ["a", "b", "c", "d"]) expect(first.d.unsafePublish(ev(r), undefined)._tag).toBe("Accepted")
      yield* Effect.sleep("20 millis")
      expect(first.d.status()[0]).toMatchObject({ queued: 3, inFlight: 1 })
      yield* Scope.close(first.scope, Exit.void)

      const got = yield* Queue.unbounded<string>()
      const second = yield* start([output("hook", (e) => Queue.offer(got, e.rule))], spool, fast)
      expect([...(yield* Queue.takeBetween(got, 4, 4))]).toEqual(["a", "b", "c", "d"])
      expect(yield* second.d.drain("2 seconds")).toBe(true)
      yield* Scope.close(second.scope, Exit.void)

      // every cursor is past them: nothing comes back a third time
      const again = yield* Queue.unbounded<string>()
      const third = yield* start([output("hook", (e) => Queue.offer(again, e.rule))], spool, fast)
      yield* Effect.sleep("100 millis")
      expect(yield* Queue.size(again)).toBe(0)
      expect(third.d.status()[0]).toMatchObject({ queued: 0, inFlight: 0 })
      yield* Scope.close(third.scope, Exit.void)
    }))

  it.scopedLive("one copy for every output: each resumes from its own cursor; a new output gets only what comes after it", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const spool: SpoolBufferOptions = { dir, durability: "fsync", maxBytes: 0 }
      const fastOut = yield* Queue.unbounded<string>()
      const first = yield* start([output("fast", (e) => Queue.offer(fastOut, e.rule)), output("slow", () => Effect.never)], spool, fast)
      for (const r of ["a", "b", "c"]) {
        const result = first.d.unsafePublish(ev(r), undefined)
        expect(result._tag).toBe("Accepted")
        // fsync durability: the answer waits for the group commit
        if (result._tag === "Accepted") {
          expect(result.durable).toBeDefined()
          yield* Effect.promise(() => result.durable!)
        }
      }
      expect([...(yield* Queue.takeBetween(fastOut, 3, 3))]).toEqual(["a", "b", "c"])
      yield* Scope.close(first.scope, Exit.void)

      const slowOut = yield* Queue.unbounded<string>()
      const lateOut = yield* Queue.unbounded<string>()
      const second = yield* start([
        output("fast", (e) => (e.rule === "d" ? Effect.void : Effect.die(`${e.rule} was delivered already: not again`))),
        output("slow", (e) => Queue.offer(slowOut, e.rule)),
        output("late", (e) => Queue.offer(lateOut, e.rule))
      ], spool, fast)
      expect([...(yield* Queue.takeBetween(slowOut, 3, 3))]).toEqual(["a", "b", "c"])
      second.d.unsafePublish(ev("d"), undefined)
      expect(yield* Queue.take(lateOut)).toBe("d")
      expect(yield* Queue.take(slowOut)).toBe("d")
      yield* Effect.sleep("50 millis")
      expect(second.d.status().map((s) => [s.name, s.delivered, s.dropped])).toEqual([
        ["fast", 1, {}],
        ["slow", 4, {}],
        ["late", 1, {}]
      ])
      yield* Scope.close(second.scope, Exit.void)
    }))

  it.scopedLive("a full spool drops its oldest segment: a dead output counts its loss, the others keep going", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      // 64 KiB segments, 256 KiB at most: about 400 events of ~600 bytes
      const spool: SpoolBufferOptions = { dir, durability: "write", maxBytes: 256 * 1024, segmentBytes: 64 * 1024 }
      let delivered = 0
      const { d, scope } = yield* start([
        output("dead", () => Effect.never),
        output("alive", () => Effect.sync(() => void delivered++))
      ], spool, { ...fast, retry: { ...fast.retry, maxAge: Duration.hours(1) } })
      for (let i = 0; i < 1000; i++) {
        expect(d.unsafePublish(ev(`e${i}`), undefined)._tag).toBe("Accepted")
        if (i % 50 === 0) yield* Effect.sleep("1 millis")
      }
      yield* Effect.sleep("200 millis")
      expect(delivered).toBe(1000)
      const dead = d.status()[0]!
      expect(dead.dropped.queue_full).toBeGreaterThan(0)
      // what it lost plus what it still holds is everything it was offered
      expect(dead.dropped.queue_full! + dead.queued + dead.inFlight).toBe(1000)
      // one summary dead letter per dropped segment, no event kept; nothing for the output that kept up
      const letters = d.deadLetters.list({ limit: 100 })
      expect(letters.every((l) => l.output === "dead" && l.reason === "queue_full" && l.envelope === undefined)).toBe(true)
      expect(letters.reduce((n, l) => n + l.summary!.events, 0)).toBe(dead.dropped.queue_full)
      expect(letters[0]!.error).toContain("delivery.spool.maxbytes")
      // replay acknowledges a summary: nothing to send, nothing left
      expect(d.replay("dead")).toEqual({ replayed: 0, left: 0 })
      expect(d.deadLetters.size()).toBe(0)
      yield* Scope.close(scope, Exit.void)
    }))

  it.scopedLive("a live output more than queuecapacity behind pushes back on the sender; a down one does not", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const spool: SpoolBufferOptions = { dir, durability: "write", maxBytes: 0 }
      // slow: up, one event per 50 ms; down: fails at once, and its circuit opens after 2 failures
      const slow = output("slow", () => Effect.sleep("50 millis"))
      const opts: DeliveryOptions = { ...fast, queueCapacity: 5, circuitBreaker: { failures: 2, resetAfter: "1 minute" } }
      const a = yield* start([slow], spool, opts)
      const results = Array.from({ length: 10 }, (_, i) => a.d.unsafePublish(ev(`s${i}`), undefined)._tag)
      // nothing ran yet: five wait, and the sixth finds the live output five behind
      expect(results).toEqual([...Array(5).fill("Accepted"), ...Array(5).fill("Full")])
      yield* Scope.close(a.scope, Exit.void)

      const dir2 = yield* tempDir
      const down = output("down", () => Effect.fail(new OutputError({ output: "down", reason: "Status", status: 503, message: "down" })))
      const b = yield* start([down], { ...spool, dir: dir2 }, opts)
      b.d.unsafePublish(ev("first"), undefined)
      yield* Effect.sleep("400 millis") // two failures: the circuit is open
      expect(b.d.status()[0]!.circuit).toBe("Open")
      const outage = Array.from({ length: 50 }, (_, i) => b.d.unsafePublish(ev(`o${i}`), undefined)._tag)
      expect(outage.every((r) => r === "Accepted")).toBe(true)
      expect(b.d.status()[0]!.queued).toBeGreaterThanOrEqual(50)
      yield* Scope.close(b.scope, Exit.void)
    }))

  it.scopedLive("an output that gets none of the events does not hold the spool back", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const spool: SpoolBufferOptions = { dir, durability: "write", maxBytes: 256 * 1024, segmentBytes: 64 * 1024 }
      let delivered = 0
      const idle: SingleOutput = { ...output("critical-only", () => Effect.void), minimumPriority: 8, testRuleBypass: false }
      const { d, scope } = yield* start([idle, output("busy", () => Effect.sync(() => void delivered++))], spool, fast)
      for (let i = 0; i < 1000; i++) {
        d.unsafePublish(ev(`e${i}`), undefined)
        if (i % 20 === 0) yield* Effect.sleep("1 millis")
      }
      yield* Effect.sleep("200 millis")
      expect(delivered).toBe(1000)
      expect(d.status().map((s) => s.dropped)).toEqual([{}, {}])
      yield* Scope.close(scope, Exit.void)
      // the idle output's cursor followed the log's end, so segments were reclaimed as the busy one went
      const log = yield* SegmentLog.open({ dir, durability: "write" })
      expect(log.cursors().get("critical-only")).toBe(log.nextSeq())
      expect(log.firstSeq()).toBeGreaterThan(1)
    }))
})

describe("dead letters beside the spool", () => {
  const letter = (id: number, output: string) => ({
    output,
    reason: "rejected" as const,
    at: 1_700_000_000_000 + id,
    error: `status 400 (${id})`,
    status: 400,
    attempts: 1,
    envelope: { id, event: ev(`r${id}`), traceparent: undefined, acceptedAt: 1_700_000_000_000 }
  })
  const open = (dir: string, maxEntries: number) =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const ctx = yield* Layer.buildWithScope(DeadLetters.layerSpool({ dir, maxEntries }), scope)
      return { store: ctx.pipe((c) => c.unsafeMap.get(DeadLetters.key) as DeadLetters["Type"]), scope }
    })

  it.scopedLive("survive a restart; what was replayed does not come back; only the newest maxEntries are kept", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const first = yield* open(dir, 3)
      first.store.add([letter(1, "slack"), letter(2, "webhook"), letter(3, "slack"), letter(4, "slack")])
      expect(first.store.list({ limit: 10 }).map((l) => l.envelope?.event.rule)).toEqual(["r4", "r3", "r2"])
      expect(first.store.forgotten()).toBe(1)
      yield* Scope.close(first.scope, Exit.void)

      const second = yield* open(dir, 3)
      const listed = second.store.list({ limit: 10 })
      expect(listed.map((l) => [l.output, l.envelope?.event.rule, l.error, l.status, l.attempts])).toEqual([
        ["slack", "r4", "status 400 (4)", 400, 1],
        ["slack", "r3", "status 400 (3)", 400, 1],
        ["webhook", "r2", "status 400 (2)", 400, 1]
      ])
      expect(listed[0]!.envelope?.event.timeUnixNanos).toBe(ev("r4").timeUnixNanos)
      expect(second.store.take("slack").map((l) => l.envelope?.event.rule)).toEqual(["r3", "r4"])
      yield* Scope.close(second.scope, Exit.void)

      const third = yield* open(dir, 3)
      expect(third.store.list({ limit: 10 }).map((l) => l.envelope?.event.rule)).toEqual(["r2"])
      yield* Scope.close(third.scope, Exit.void)
    }))

  it.scopedLive("a summary (a full spool's loss) survives a restart with its count, and has no event", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const first = yield* open(dir, 10)
      first.store.add([{ output: "slack", reason: "queue_full", at: 1, error: "spool full", attempts: 0, summary: { events: 2048 } }])
      yield* Scope.close(first.scope, Exit.void)
      const second = yield* open(dir, 10)
      expect(second.store.list({ limit: 10 }).map((l) => [l.output, l.reason, l.summary, l.envelope])).toEqual([
        ["slack", "queue_full", { events: 2048 }, undefined]
      ])
      yield* Scope.close(second.scope, Exit.void)
    }))
})
