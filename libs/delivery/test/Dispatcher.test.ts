import { describe, expect, it } from "@effect/vitest"
import type { FalcoEvent, Priority } from "@sidekick/event"
import { eventWith } from "@sidekick/testing"
import { Duration, Effect, Exit, Layer, Queue, Scheduler, Scope, TestClock } from "effect"
import { type BatchOutput, defaultDeliveryOptions, type DeliveryOptions, Dispatcher, OutputError, type SingleOutput } from "../src/index.js"
import { dispatcherLayer, options, sample } from "./support.js"

const ev = (rule: string, priority: Priority = "Critical"): FalcoEvent => eventWith({ rule, priority })

const output = (name: string, send: SingleOutput["send"], patch: Partial<SingleOutput> = {}): SingleOutput => ({
  kind: "single",
  name,
  minimumPriority: 0,
  testRuleBypass: true,
  maxConcurrentRequests: 1,
  send,
  ...patch
})

const batchOutput = (
  name: string,
  batch: Partial<BatchOutput["batch"]>,
  send: BatchOutput["send"],
  patch: Partial<BatchOutput> = {}
): BatchOutput => ({
  kind: "batch",
  name,
  minimumPriority: 0,
  testRuleBypass: true,
  maxConcurrentRequests: 1,
  batch: { maxEvents: 100, maxBytes: 1_000_000, interval: Duration.seconds(1), sizeOf: () => 1, ...batch },
  send,
  ...patch
})

const recording = (name: string, into: Queue.Queue<string>, patch: Partial<SingleOutput> = {}) =>
  // a send that succeeds with a value (here Queue.offer's boolean) is a delivery like any other
  output(name, (event) => Queue.offer(into, event.rule), patch)

const statusError = (name: string, status: number, retryAfter?: Duration.Duration) =>
  new OutputError({ output: name, reason: "Status", status, message: `status ${status}`, ...(retryAfter ? { retryAfter } : {}) })

/** answers with the scripted outcomes in order (last repeats) and records when each attempt happened */
const scripted = (name: string, outcomes: ReadonlyArray<"ok" | number | "hang">, patch: Partial<SingleOutput> = {}) => {
  const attempts: Array<number> = []
  const out = output(name, () =>
    Effect.flatMap(Effect.clockWith((c) => c.currentTimeMillis), (now) => {
      attempts.push(now)
      const o = outcomes[Math.min(attempts.length - 1, outcomes.length - 1)]!
      return o === "ok" ? Effect.void : o === "hang" ? Effect.never : Effect.fail(statusError(name, o))
    }), patch)
  return { out, attempts }
}

const hung = (name: string, patch: Partial<SingleOutput> = {}) => output(name, () => Effect.never, patch)

/** let one lane's workers take what is queued */
const settleLane = (d: Dispatcher["Type"], name: string) =>
  Effect.gen(function*() {
    for (let i = 0; i < 100 && d.status().some((lane) => lane.name === name && lane.queued > 0); i++) {
      yield* Effect.yieldNow()
    }
  })

/** let the lanes' workers take what is queued (they are forked fibers) */
const settle = (d: Dispatcher["Type"]) =>
  Effect.gen(function*() {
    for (let i = 0; i < 100 && d.status().some((lane) => lane.queued > 0); i++) yield* Effect.yieldNow()
  })

/** build the dispatcher in a scope we close ourselves (to test shutdown) */
const withScope = <A, E>(outputs: ReadonlyArray<SingleOutput | BatchOutput>, opts: DeliveryOptions, f: (d: Dispatcher["Type"]) => Effect.Effect<A, E, never>) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const ctx = yield* Layer.buildWithScope(dispatcherLayer(outputs, opts), scope)
    const d = ctx.pipe((c) => c.unsafeMap.get(Dispatcher.key) as Dispatcher["Type"])
    return { result: yield* f(d), scope, ctx }
  })

describe("Dispatcher", () => {
  it.effect("a failing and a hung output do not delay a healthy one", () =>
    Effect.gen(function*() {
      const got = yield* Queue.unbounded<string>()
      yield* Effect.gen(function*() {
        const d = yield* Dispatcher
        for (const r of ["a", "b", "c"]) expect(d.unsafePublish(ev(r), undefined)._tag).toBe("Accepted")
        expect([...(yield* Queue.takeBetween(got, 3, 3))]).toEqual(["a", "b", "c"])
      }).pipe(Effect.provide(dispatcherLayer([scripted("broken", [500]).out, hung("hung"), recording("ok", got)])))
    }))

  it.effect("routes by minimum priority; the Test rule bypasses it where the output allows", () =>
    Effect.gen(function*() {
      const crit = yield* Queue.unbounded<string>()
      const strict = yield* Queue.unbounded<string>()
      const all = yield* Queue.unbounded<string>()
      yield* Effect.gen(function*() {
        const d = yield* Dispatcher
        d.unsafePublish(ev("low", "Notice"), undefined)
        d.unsafePublish(ev("high", "Critical"), undefined)
        d.unsafePublish(ev("Test rule", "Debug"), undefined)
        expect([...(yield* Queue.takeBetween(all, 3, 3))]).toEqual(["low", "high", "Test rule"])
        expect([...(yield* Queue.takeBetween(crit, 2, 2))]).toEqual(["high", "Test rule"])
        expect(yield* Queue.take(strict)).toBe("high")
        yield* Effect.yieldNow()
        expect(yield* Queue.size(strict)).toBe(0)
      }).pipe(
        Effect.provide(dispatcherLayer([
          recording("crit", crit, { minimumPriority: 6 }),
          recording("strict", strict, { minimumPriority: 6, testRuleBypass: false }),
          recording("all", all)
        ]))
      )
    }))

  it.effect("retries 5xx with exponential backoff, then delivers; counts attempts and retries", () =>
    Effect.gen(function*() {
      const s = scripted("flaky", [503, 503, "ok"])
      yield* Effect.gen(function*() {
        const d = yield* Dispatcher
        d.unsafePublish(ev("r"), undefined)
        yield* TestClock.adjust("50 millis")
        expect(s.attempts.length).toBe(1)
        yield* TestClock.adjust("10 seconds")
        expect(s.attempts.length).toBe(3)
        // jittered exponential: ~100ms then ~200ms (jitter 0.8x-1.2x)
        const gap1 = s.attempts[1]! - s.attempts[0]!
        const gap2 = s.attempts[2]! - s.attempts[1]!
        expect(gap1).toBeGreaterThanOrEqual(80)
        expect(gap1).toBeLessThanOrEqual(120)
        expect(gap2).toBeGreaterThanOrEqual(160)
        expect(gap2).toBeLessThanOrEqual(240)
        expect(yield* sample("falcosecurity_falcosidekick_outputs_total", { destination: "flaky", status: "error" })).toBe(2)
        expect(yield* sample("falcosecurity_falcosidekick_outputs_total", { destination: "flaky", status: "ok" })).toBe(1)
        expect(yield* sample("sidekick_output_retries_total", { destination: "flaky" })).toBe(2)
        expect(yield* sample("sidekick_output_delivered_total", { destination: "flaky" })).toBe(1)
      }).pipe(Effect.provide(dispatcherLayer([s.out])))
    }))

  it.effect("a permanent 4xx is not retried and is counted as dropped (rejected)", () =>
    Effect.gen(function*() {
      const s = scripted("picky", [400])
      yield* Effect.gen(function*() {
        const d = yield* Dispatcher
        d.unsafePublish(ev("r"), undefined)
        yield* TestClock.adjust("1 minute")
        expect(s.attempts.length).toBe(1)
        expect(yield* sample("sidekick_output_dropped_total", { destination: "picky", reason: "rejected" })).toBe(1)
      }).pipe(Effect.provide(dispatcherLayer([s.out])))
    }))

  it.effect("gives up after maxAttempts and counts the drop (retries_exhausted)", () =>
    Effect.gen(function*() {
      const s = scripted("down", [500])
      yield* Effect.gen(function*() {
        const d = yield* Dispatcher
        d.unsafePublish(ev("r"), undefined)
        yield* TestClock.adjust("1 minute")
        expect(s.attempts.length).toBe(options.retry.maxAttempts)
        expect(yield* sample("sidekick_output_dropped_total", { destination: "down", reason: "retries_exhausted" })).toBe(1)
      }).pipe(Effect.provide(dispatcherLayer([s.out])))
    }))

  it.effect("a defect in an output is counted and logged, and the lane keeps working", () =>
    Effect.gen(function*() {
      let calls = 0
      const buggy = output("buggy", () => Effect.suspend(() => (++calls === 1 ? Effect.die(new Error("bug")) : Effect.void)))
      yield* Effect.gen(function*() {
        const d = yield* Dispatcher
        d.unsafePublish(ev("first"), undefined)
        d.unsafePublish(ev("second"), undefined)
        yield* TestClock.adjust("1 millis")
        expect(calls).toBe(2)
        expect(yield* sample("sidekick_output_dropped_total", { destination: "buggy", reason: "defect" })).toBe(1)
        expect(yield* sample("sidekick_output_delivered_total", { destination: "buggy" })).toBe(1)
      }).pipe(Effect.provide(dispatcherLayer([buggy])))
    }))

  it.effect("a hung attempt times out and is retried", () =>
    Effect.gen(function*() {
      const s = scripted("slow", ["hang", "ok"])
      yield* Effect.gen(function*() {
        const d = yield* Dispatcher
        d.unsafePublish(ev("r"), undefined)
        yield* TestClock.adjust("1999 millis")
        expect(s.attempts.length).toBe(1)
        yield* TestClock.adjust("1 second")
        expect(s.attempts.length).toBe(2)
        expect(yield* sample("sidekick_output_delivered_total", { destination: "slow" })).toBe(1)
      }).pipe(Effect.provide(dispatcherLayer([s.out])))
    }))

  it.effect("honours Retry-After when it is longer than the backoff", () =>
    Effect.gen(function*() {
      const attempts: Array<number> = []
      const limited = output("limited", () =>
        Effect.flatMap(Effect.clockWith((c) => c.currentTimeMillis), (now) => {
          attempts.push(now)
          return attempts.length === 1 ? Effect.fail(statusError("limited", 429, Duration.seconds(7))) : Effect.void
        }))
      yield* Effect.gen(function*() {
        const d = yield* Dispatcher
        d.unsafePublish(ev("r"), undefined)
        yield* TestClock.adjust("6 seconds")
        expect(attempts.length).toBe(1)
        yield* TestClock.adjust("1 second")
        expect(attempts.length).toBe(2)
      }).pipe(Effect.provide(dispatcherLayer([limited])))
    }))

  it.effect("the circuit opens after consecutive failures: no attempt while open, one trial after resetAfter", () =>
    Effect.gen(function*() {
      const s = scripted("down", [500, 500, 500, "ok"])
      const opts: DeliveryOptions = {
        ...options,
        retry: { maxAge: "1 hour", maxAttempts: 10, initialDelay: "100 millis", maxDelay: "100 millis" },
        circuitBreaker: { failures: 3, resetAfter: "30 seconds" }
      }
      yield* Effect.gen(function*() {
        const d = yield* Dispatcher
        d.unsafePublish(ev("r"), undefined)
        yield* TestClock.adjust("1 second")
        expect(s.attempts.length).toBe(3)
        expect(d.status()[0]!.circuit).toBe("Open")
        yield* TestClock.adjust("28 seconds")
        expect(s.attempts.length).toBe(3)
        yield* TestClock.adjust("2 seconds")
        expect(s.attempts.length).toBe(4)
        expect(d.status()[0]!.circuit).toBe("Closed")
        expect(yield* sample("sidekick_output_delivered_total", { destination: "down" })).toBe(1)
      }).pipe(Effect.provide(dispatcherLayer([s.out], opts)))
    }))

  it.effect("dropnewest: a full queue refuses the new event and counts it; 503 only when every wanting output refused", () =>
    Effect.gen(function*() {
      const got = yield* Queue.unbounded<string>()
      const opts: DeliveryOptions = { ...options, queueCapacity: 2 }
      yield* Effect.gen(function*() {
        const d = yield* Dispatcher
        // the hung lane holds 1 in its worker + 2 queued; the 4th is refused by it
        d.unsafePublish(ev("e0"), undefined)
        yield* settle(d)
        for (const r of ["e1", "e2", "e3"]) {
          expect(d.unsafePublish(ev(r), undefined)._tag).toBe("Accepted") // e3: the healthy lane took it
          yield* settleLane(d, "ok") // the healthy lane's worker empties its queue
        }
        expect(yield* sample("sidekick_output_dropped_total", { destination: "hung", reason: "queue_full" })).toBe(1)
        expect([...(yield* Queue.takeBetween(got, 4, 4))]).toEqual(["e0", "e1", "e2", "e3"])
        // an event only the hung output wants: nobody took it -> Full
        const onlyHung = d.unsafePublish(ev("notice", "Notice"), undefined)
        expect(onlyHung).toEqual({ _tag: "Full", outputs: ["hung"] })
      }).pipe(Effect.provide(dispatcherLayer([hung("hung"), recording("ok", got, { minimumPriority: 4 })], opts)))
    }))

  it.effect("reject: any full queue refuses the event for every output (nothing half-delivered)", () =>
    Effect.gen(function*() {
      const got = yield* Queue.unbounded<string>()
      const opts: DeliveryOptions = { ...options, queueCapacity: 1, overflow: "reject" }
      yield* Effect.gen(function*() {
        const d = yield* Dispatcher
        d.unsafePublish(ev("e0"), undefined)
        yield* settle(d)
        expect(d.unsafePublish(ev("e1"), undefined)._tag).toBe("Accepted")
        yield* settleLane(d, "ok") // the healthy lane's worker empties its queue
        expect(d.unsafePublish(ev("e2"), undefined)).toEqual({ _tag: "Full", outputs: ["hung"] })
        expect([...(yield* Queue.takeBetween(got, 2, 2))]).toEqual(["e0", "e1"])
        yield* Effect.yieldNow()
        expect(yield* Queue.size(got)).toBe(0)
      }).pipe(Effect.provide(dispatcherLayer([hung("hung"), recording("ok", got)], opts)))
    }))

  it.effect("dropoldest: a full queue evicts its oldest event and counts it", () =>
    Effect.gen(function*() {
      const opts: DeliveryOptions = { ...options, queueCapacity: 2, overflow: "dropoldest" }
      yield* Effect.gen(function*() {
        const d = yield* Dispatcher
        d.unsafePublish(ev("e0"), undefined)
        yield* settle(d)
        for (const r of ["e1", "e2", "e3", "e4"]) expect(d.unsafePublish(ev(r), undefined)._tag).toBe("Accepted")
        expect(yield* sample("sidekick_output_dropped_total", { destination: "hung", reason: "queue_full" })).toBe(2)
        expect(d.status()[0]).toMatchObject({ name: "hung", queued: 2, capacity: 2, inFlight: 1, dropped: { queue_full: 2 } })
      }).pipe(Effect.provide(dispatcherLayer([hung("hung")], opts)))
    }))

  it.effect("batches by size at once, and by time for a partial batch", () =>
    Effect.gen(function*() {
      const batches: Array<ReadonlyArray<string>> = []
      const batcher = batchOutput("batcher", { maxEvents: 3 }, (events) => Effect.sync(() => void batches.push(events.map((e) => e.rule))))
      yield* Effect.gen(function*() {
        const d = yield* Dispatcher
        for (const r of ["a", "b", "c", "d"]) d.unsafePublish(ev(r), undefined)
        yield* Effect.yieldNow()
        yield* TestClock.adjust("1 millis")
        expect(batches).toEqual([["a", "b", "c"]])
        yield* TestClock.adjust("1 second")
        expect(batches).toEqual([["a", "b", "c"], ["d"]])
      }).pipe(Effect.provide(dispatcherLayer([batcher])))
    }))

  it.live("on shutdown, queued events are delivered before the scope closes", () =>
    Effect.gen(function*() {
      const delivered: Array<string> = []
      const slow = output("slow", (event) => Effect.sleep("20 millis").pipe(Effect.zipRight(Effect.sync(() => void delivered.push(event.rule)))))
      const { scope } = yield* withScope([slow], { ...options, shutdownTimeout: "5 seconds" }, (d) =>
        Effect.sync(() => {
          for (let i = 0; i < 5; i++) d.unsafePublish(ev(`e${i}`), undefined)
        }))
      yield* Scope.close(scope, Exit.void)
      expect(delivered).toEqual(["e0", "e1", "e2", "e3", "e4"])
    }))

  it.live("past the shutdown deadline, what is left is counted as dropped (shutdown)", () =>
    Effect.gen(function*() {
      const opts: DeliveryOptions = { ...options, shutdownTimeout: "100 millis" }
      const { ctx, result: d, scope } = yield* withScope([hung("hung")], opts, (d) =>
        Effect.sync(() => {
          for (let i = 0; i < 3; i++) d.unsafePublish(ev(`e${i}`), undefined)
          return d
        }))
      const started = Date.now()
      yield* Scope.close(scope, Exit.void)
      expect(Date.now() - started).toBeLessThan(2000)
      const dropped = yield* sample("sidekick_output_dropped_total", { destination: "hung", reason: "shutdown" }).pipe(
        Effect.provide(Layer.succeedContext(ctx))
      )
      expect(dropped).toBe(3)
      // the attempt interrupted by shutdown gave its event back: nothing is left in flight
      expect(d.status()[0]).toMatchObject({ queued: 3, inFlight: 0 })
    }))

  it.live("a batch still being gathered when shutdown interrupts it goes back to the buffer", () =>
    Effect.gen(function*() {
      const sent: Array<number> = []
      const slow = batchOutput("gathering", { maxEvents: 10, interval: Duration.seconds(30) }, (events) =>
        Effect.sync(() => void sent.push(events.length)))
      const { result: d, scope } = yield* withScope([slow], { ...options, shutdownTimeout: "50 millis" }, (d) =>
        Effect.gen(function*() {
          d.unsafePublish(ev("a"), undefined)
          d.unsafePublish(ev("b"), undefined)
          yield* Effect.sleep("20 millis")
          expect(d.status()[0]).toMatchObject({ queued: 0, inFlight: 2 })
          return d
        }))
      yield* Scope.close(scope, Exit.void)
      expect(sent).toEqual([])
      expect(d.status()[0]).toMatchObject({ queued: 2, inFlight: 0, dropped: { shutdown: 2 } })
    }))

  it.live("the production lane scheduler (batched on setImmediate) delivers everything, concurrently", () =>
    Effect.gen(function*() {
      const got: Array<string> = []
      const async = output("async", (event) => Effect.sleep("2 millis").pipe(Effect.zipRight(Effect.sync(() => void got.push(event.rule)))), {
        maxConcurrentRequests: 8
      })
      const { scheduler: _, ...production } = options
      yield* Effect.gen(function*() {
        const d = yield* Dispatcher
        for (let i = 0; i < 200; i++) d.unsafePublish(ev(`e${i}`), undefined)
        expect(yield* d.drain("5 seconds")).toBe(true)
        expect([...got].sort()).toEqual(Array.from({ length: 200 }, (_, i) => `e${i}`).sort())
      }).pipe(Effect.provide(dispatcherLayer([async], { ...production, queueCapacity: 1000 })))
    }))

  it.live("a concurrent output runs up to maxConcurrentRequests sends at once", () =>
    Effect.gen(function*() {
      let running = 0
      let peak = 0
      const parallel = output("parallel", () =>
        Effect.acquireUseRelease(
          Effect.sync(() => (peak = Math.max(peak, ++running))),
          () => Effect.sleep("30 millis"),
          () => Effect.sync(() => running--)
        ), { maxConcurrentRequests: 3 })
      yield* Effect.gen(function*() {
        const d = yield* Dispatcher
        for (let i = 0; i < 9; i++) d.unsafePublish(ev(`e${i}`), undefined)
        yield* d.drain("5 seconds")
        expect(peak).toBe(3)
      }).pipe(Effect.provide(dispatcherLayer([parallel])))
    }))

  it.effect("publish fails with QueueFullError when no wanting output could take the event", () =>
    Effect.gen(function*() {
      yield* Effect.gen(function*() {
        const d = yield* Dispatcher
        yield* d.publish(ev("e0"))
        yield* settle(d)
        yield* d.publish(ev("e1"))
        const error = yield* Effect.flip(d.publish(ev("e2")))
        expect(error._tag).toBe("QueueFullError")
        expect(error.message).toBe("queue full for hung")
      }).pipe(Effect.provide(dispatcherLayer([hung("hung")], { ...options, queueCapacity: 1 })))
    }))

  it.effect("a batch is bounded by bytes as well as by count: one batch is one send", () =>
    Effect.gen(function*() {
      const batches: Array<ReadonlyArray<string>> = []
      // each event weighs its rule's length; 10 bytes per batch at most
      const sized = batchOutput("sized", { maxEvents: 10, maxBytes: 10, sizeOf: (e) => e.rule.length }, (events) =>
        Effect.sync(() => void batches.push(events.map((e) => e.rule))))
      yield* Effect.gen(function*() {
        const d = yield* Dispatcher
        for (const r of ["aaaa", "bbbb", "cc", "dddd", "eeeeeeeeeeeeeeee", "f"]) d.unsafePublish(ev(r), undefined)
        yield* TestClock.adjust("2 seconds")
        // aaaa+bbbb+cc = 10; dddd alone would take e (16) past 10; e is larger than maxBytes: alone; then f
        expect(batches).toEqual([["aaaa", "bbbb", "cc"], ["dddd"], ["eeeeeeeeeeeeeeee"], ["f"]])
        expect(yield* sample("sidekick_output_delivered_total", { destination: "sized" })).toBe(6)
        expect(yield* sample("falcosecurity_falcosidekick_outputs_total", { destination: "sized", status: "ok" })).toBe(4)
      }).pipe(Effect.provide(dispatcherLayer([sized])))
    }))

  it.effect("a partly failed batch: delivered items are done, permanent ones dropped, only retryable ones sent again", () =>
    Effect.gen(function*() {
      const sent: Array<ReadonlyArray<string>> = []
      const bulk = batchOutput("bulk", { maxEvents: 4, interval: Duration.millis(10) }, (events) =>
        Effect.sync(() => {
          sent.push(events.map((e) => e.rule))
          if (sent.length > 1) return undefined
          return {
            _tag: "PartialFailure" as const,
            failures: [
              { index: 1, error: statusError("bulk", 429) },
              { index: 2, error: new OutputError({ output: "bulk", reason: "Rejected", message: "mapper_parsing_exception" }) }
            ]
          }
        }))
      yield* Effect.gen(function*() {
        const d = yield* Dispatcher
        for (const r of ["a", "b", "c", "d"]) d.unsafePublish(ev(r), undefined)
        yield* TestClock.adjust("5 seconds")
        expect(sent).toEqual([["a", "b", "c", "d"], ["b"]])
        expect(yield* sample("sidekick_output_delivered_total", { destination: "bulk" })).toBe(3)
        expect(yield* sample("sidekick_output_dropped_total", { destination: "bulk", reason: "rejected" })).toBe(1)
        expect(yield* sample("sidekick_output_retries_total", { destination: "bulk" })).toBe(1)
        expect(d.status()[0]).toMatchObject({ queued: 0, inFlight: 0, delivered: 3, dropped: { rejected: 1 } })
        expect(d.pending()).toBe(0)
      }).pipe(Effect.provide(dispatcherLayer([bulk])))
    }))

  it.effect("an output's own classification decides what is retried", () =>
    Effect.gen(function*() {
      // like Loki: 501 is permanent although it is a 5xx; and a 400 this peer sends when busy is worth a retry
      const picky = scripted("picky", [501], {
        classify: (e) => (e.status === 501 ? { _tag: "Drop" } : { _tag: "Retry" })
      })
      const busy = scripted("busy", [400, 400, "ok"], {
        classify: (e) => (e.status === 400 ? { _tag: "Retry", after: Duration.seconds(3) } : { _tag: "Drop" })
      })
      yield* Effect.gen(function*() {
        const d = yield* Dispatcher
        d.unsafePublish(ev("r"), undefined)
        yield* TestClock.adjust("2 seconds")
        expect(picky.attempts.length).toBe(1)
        expect(busy.attempts.length).toBe(1)
        yield* TestClock.adjust("10 seconds")
        expect(busy.attempts).toEqual([0, 3000, 6000])
        expect(yield* sample("sidekick_output_dropped_total", { destination: "picky", reason: "rejected" })).toBe(1)
        expect(yield* sample("sidekick_output_delivered_total", { destination: "busy" })).toBe(1)
        expect(d.status()[0]!.lastError).toEqual({ at: 0, message: "status 501" })
      }).pipe(Effect.provide(dispatcherLayer([picky.out, busy.out])))
    }))

  it.effect("per-output policy overrides the global one, key by key", () =>
    Effect.gen(function*() {
      const once = scripted("once", [500], { policy: { retry: { maxAttempts: 1 } } })
      const global = scripted("global", [500])
      const small = hung("small", { policy: { queueCapacity: 1 } })
      yield* Effect.gen(function*() {
        const d = yield* Dispatcher
        for (const r of ["a", "b", "c"]) d.unsafePublish(ev(r), undefined)
        yield* TestClock.adjust("1 minute")
        expect(once.attempts.length).toBe(3) // a, b, c: one attempt each
        expect(yield* sample("sidekick_output_dropped_total", { destination: "once", reason: "retries_exhausted" })).toBe(3)
        expect(global.attempts.length).toBe(3 * options.retry.maxAttempts)
        // published before its worker ran: a fills the queue of one, b and c are refused; a times out 3 times
        expect(d.status()[2]).toMatchObject({
          name: "small",
          capacity: 1,
          queued: 0,
          inFlight: 0,
          dropped: { queue_full: 2, retries_exhausted: 1 }
        })
      }).pipe(Effect.provide(dispatcherLayer([once.out, global.out, small])))
    }))

  it.effect("a rate limit spaces sends: burst first, then `limit` per `interval`", () =>
    Effect.gen(function*() {
      const s = scripted("chat", ["ok"], {
        maxConcurrentRequests: 4,
        policy: { rateLimit: { limit: 1, interval: Duration.seconds(1), burst: 2 } }
      })
      yield* Effect.gen(function*() {
        const d = yield* Dispatcher
        for (const r of ["a", "b", "c", "d", "e"]) d.unsafePublish(ev(r), undefined)
        yield* TestClock.adjust("10 millis")
        expect(s.attempts).toEqual([0, 0])
        yield* TestClock.adjust("1 second")
        expect(s.attempts.length).toBe(3)
        yield* TestClock.adjust("2 seconds")
        expect(s.attempts.length).toBe(5)
        expect(s.attempts[4]! - s.attempts[2]!).toBeGreaterThanOrEqual(2000)
      }).pipe(Effect.provide(dispatcherLayer([s.out])))
    }))

  it.effect("an event stays in the buffer (in flight) until it is delivered or dropped", () =>
    Effect.gen(function*() {
      const s = scripted("slowly", [503, "ok"])
      yield* Effect.gen(function*() {
        const d = yield* Dispatcher
        d.unsafePublish(ev("r"), undefined)
        yield* TestClock.adjust("1 millis")
        expect(d.status()[0]).toMatchObject({ queued: 0, inFlight: 1, delivered: 0 })
        expect(d.pending()).toBe(1)
        yield* TestClock.adjust("1 second")
        expect(d.status()[0]).toMatchObject({ queued: 0, inFlight: 0, delivered: 1 })
        expect(d.pending()).toBe(0)
      }).pipe(Effect.provide(dispatcherLayer([s.out])))
    }))

  it.effect("with the defaults, an output down for ten minutes loses nothing: retries wait while the circuit is open", () =>
    Effect.gen(function*() {
      let up = false
      const attempts: Array<number> = []
      const flaky = output("flaky", () =>
        Effect.flatMap(Effect.clockWith((c) => c.currentTimeMillis), (now) => {
          attempts.push(now)
          return up ? Effect.void : Effect.fail(statusError("flaky", 503))
        }))
      yield* Effect.gen(function*() {
        const d = yield* Dispatcher
        for (const r of ["a", "b", "c"]) d.unsafePublish(ev(r), undefined)
        yield* TestClock.adjust("10 minutes")
        expect(d.status()[0]).toMatchObject({ delivered: 0, dropped: {}, circuit: "Open" })
        // backoff capped at 30 s and the circuit open for 30 s at a time: a few dozen attempts, not thousands
        expect(attempts.length).toBeLessThan(40)
        up = true
        yield* TestClock.adjust("1 minute")
        expect(d.status()[0]).toMatchObject({ delivered: 3, dropped: {}, queued: 0, inFlight: 0 })
      }).pipe(Effect.provide(dispatcherLayer([flaky], { ...defaultDeliveryOptions, scheduler: Scheduler.defaultScheduler })))
    }))

  it.effect("an event still failing at delivery.retry.maxage is dropped as max_age", () =>
    Effect.gen(function*() {
      const s = scripted("down", [503])
      const opts: DeliveryOptions = { ...options, retry: { ...options.retry, maxAge: "5 minutes", maxAttempts: 0 } }
      yield* Effect.gen(function*() {
        const d = yield* Dispatcher
        d.unsafePublish(ev("r"), undefined)
        yield* TestClock.adjust("4 minutes")
        expect(d.status()[0]!.dropped).toEqual({})
        yield* TestClock.adjust("2 minutes")
        expect(d.status()[0]!.dropped).toEqual({ max_age: 1 })
        expect(yield* sample("sidekick_output_dropped_total", { destination: "down", reason: "max_age" })).toBe(1)
        // retried until the circuit opened (100 failures here), then once a minute: no attempt cap
        expect(s.attempts.length).toBeGreaterThan(100)
      }).pipe(Effect.provide(dispatcherLayer([s.out], opts)))
    }))

  describe("dead letters", () => {
    it.effect("an event never delivered is kept with its output, reason, last error and attempts; newest first", () =>
      Effect.gen(function*() {
        const picky = scripted("picky", [400])
        const down = scripted("down", [503])
        yield* Effect.gen(function*() {
          const d = yield* Dispatcher
          d.unsafePublish(ev("a"), undefined)
          d.unsafePublish(ev("b"), undefined)
          yield* TestClock.adjust("1 minute")
          const all = d.deadLetters.list({ limit: 10 })
          expect(all.map((l) => [l.output, l.envelope?.event.rule, l.reason, l.status, l.attempts])).toEqual([
            ["down", "b", "retries_exhausted", 503, 3],
            ["down", "a", "retries_exhausted", 503, 3],
            ["picky", "b", "rejected", 400, 1],
            ["picky", "a", "rejected", 400, 1]
          ])
          expect(all[3]!.error).toBe("status 400")
          expect(d.deadLetters.list({ output: "picky", limit: 1 }).map((l) => l.envelope?.event.rule)).toEqual(["b"])
          expect(yield* sample("sidekick_deadletters_stored", {})).toBe(4)
        }).pipe(Effect.provide(dispatcherLayer([picky.out, down.out])))
      }))

    it.effect("the store keeps the newest maxEntries and counts what it forgot", () =>
      Effect.gen(function*() {
        const picky = scripted("picky", [400])
        yield* Effect.gen(function*() {
          const d = yield* Dispatcher
          for (const r of ["a", "b", "c"]) d.unsafePublish(ev(r), undefined)
          yield* TestClock.adjust("1 second")
          expect(d.deadLetters.list({ limit: 10 }).map((l) => l.envelope?.event.rule)).toEqual(["c", "b"])
          expect(yield* sample("sidekick_deadletters_forgotten_total", {})).toBe(1)
        }).pipe(Effect.provide(dispatcherLayer([picky.out], { ...options, deadLetter: { maxEntries: 2, output: "" } })))
      }))

    it.effect("replay puts an output's dead letters back in its queue; delivered once the output is back", () =>
      Effect.gen(function*() {
        const s = scripted("flaky", [400, 400, "ok"])
        yield* Effect.gen(function*() {
          const d = yield* Dispatcher
          d.unsafePublish(ev("a"), undefined)
          d.unsafePublish(ev("b"), undefined)
          yield* TestClock.adjust("1 second")
          expect(d.deadLetters.size()).toBe(2)
          expect(d.replay("nope")).toBeUndefined()
          expect(d.replay("flaky")).toEqual({ replayed: 2, left: 0 })
          yield* TestClock.adjust("1 second")
          expect(d.deadLetters.size()).toBe(0)
          expect(d.status()[0]).toMatchObject({ delivered: 2, dropped: { rejected: 2 } })
          expect(yield* sample("sidekick_deadletters_replayed_total", { destination: "flaky" })).toBe(2)
        }).pipe(Effect.provide(dispatcherLayer([s.out])))
      }))

    it.effect("deadletter.output gets every other output's dead letters; queue overflow of an accepted event is one too", () =>
      Effect.gen(function*() {
        const archived = yield* Queue.unbounded<string>()
        const picky = scripted("picky", [400])
        const opts: DeliveryOptions = { ...options, deadLetter: { maxEntries: 100, output: "archive" } }
        yield* Effect.gen(function*() {
          const d = yield* Dispatcher
          d.unsafePublish(ev("refused"), undefined)
          yield* TestClock.adjust("1 second")
          expect(yield* Queue.take(archived)).toBe("refused")
          // the hung output (a queue of one) holds "refused" in its worker and h1 queued: h2 and h3 overflow
          // it while the others take them, so they are accepted, and dead letters for the hung output
          d.unsafePublish(ev("h1"), undefined)
          yield* TestClock.adjust("1 millis")
          d.unsafePublish(ev("h2"), undefined)
          d.unsafePublish(ev("h3"), undefined)
          yield* TestClock.adjust("1 millis")
          const letters = d.deadLetters.list({ output: "hung", limit: 10 })
          expect(letters.map((l) => [l.envelope?.event.rule, l.reason, l.attempts])).toEqual([
            ["h3", "queue_full", 0],
            ["h2", "queue_full", 0]
          ])
          expect(yield* sample("sidekick_deadletters_forwarded_total", { destination: "picky" })).toBe(4)
          expect(yield* sample("sidekick_deadletters_forwarded_total", { destination: "hung" })).toBe(2)
        }).pipe(Effect.provide(dispatcherLayer([picky.out, hung("hung", { policy: { queueCapacity: 1 } }), recording("archive", archived)], opts)))
      }))
  })
})
