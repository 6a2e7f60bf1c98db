import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, TestClock } from "effect"
import { CircuitBreaker } from "../src/index.js"

const boom = Effect.fail("boom" as const)

describe("CircuitBreaker", () => {
  it.effect("opens after `failures` consecutive failures, then waits instead of running the call", () =>
    Effect.gen(function*() {
      const transitions: Array<string> = []
      const cb = yield* CircuitBreaker.make({
        failures: 3,
        resetAfter: "10 seconds",
        onTransition: (from, to) => Effect.sync(() => transitions.push(`${from}->${to}`))
      })
      let calls = 0
      const counted = <A, E>(eff: Effect.Effect<A, E>) => Effect.suspend(() => (calls++, eff))

      for (let i = 0; i < 3; i++) yield* Effect.exit(cb.protect(counted(boom)))
      expect(yield* cb.state).toBe("Open")
      expect(cb.unsafeState()).toBe("Open")

      // open: the next call waits for the reset, it neither runs nor fails
      const waiting = yield* Effect.fork(cb.protect(counted(Effect.succeed(42))))
      yield* TestClock.adjust("9 seconds")
      expect(waiting.unsafePoll()).toBeNull()
      expect(calls).toBe(3)

      // after resetAfter it is the half-open trial; success closes the circuit
      yield* TestClock.adjust("1 second")
      expect(yield* Fiber.join(waiting)).toBe(42)
      expect(calls).toBe(4)
      expect(yield* cb.state).toBe("Closed")
      expect(transitions).toEqual(["Closed->Open", "Open->HalfOpen", "HalfOpen->Closed"])
    }))

  it.effect("a success resets the consecutive-failure count", () =>
    Effect.gen(function*() {
      const cb = yield* CircuitBreaker.make({ failures: 2, resetAfter: "1 second" })
      yield* Effect.exit(cb.protect(boom))
      yield* cb.protect(Effect.void)
      yield* Effect.exit(cb.protect(boom))
      expect(yield* cb.state).toBe("Closed")
      yield* Effect.exit(cb.protect(boom))
      expect(yield* cb.state).toBe("Open")
    }))

  it.effect("a failed trial re-opens for another resetAfter", () =>
    Effect.gen(function*() {
      const cb = yield* CircuitBreaker.make({ failures: 1, resetAfter: "5 seconds" })
      yield* Effect.exit(cb.protect(boom))
      yield* TestClock.adjust("5 seconds")
      yield* Effect.exit(cb.protect(boom))
      expect(yield* cb.state).toBe("Open")
      const next = yield* Effect.fork(cb.protect(Effect.succeed("ok")))
      yield* TestClock.adjust("4 seconds")
      expect(next.unsafePoll()).toBeNull()
      yield* TestClock.adjust("1 second")
      expect(yield* Fiber.join(next)).toBe("ok")
    }))

  it.effect("only one trial at a time while half-open; the others wait for its outcome", () =>
    Effect.gen(function*() {
      const cb = yield* CircuitBreaker.make({ failures: 1, resetAfter: "1 second" })
      yield* Effect.exit(cb.protect(boom))
      yield* TestClock.adjust("1 second")
      let running = 0
      let maxRunning = 0
      const tracked = Effect.acquireUseRelease(
        Effect.sync(() => {
          running++
          maxRunning = Math.max(maxRunning, running)
        }),
        () => Effect.sleep("5 seconds"),
        () => Effect.sync(() => running--)
      )
      const trial = yield* Effect.fork(cb.protect(tracked))
      yield* Effect.yieldNow()
      expect(yield* cb.state).toBe("HalfOpen")
      const second = yield* Effect.fork(cb.protect(tracked))
      yield* Effect.yieldNow()
      expect(running).toBe(1)
      yield* TestClock.adjust("5 seconds")
      yield* Fiber.join(trial)
      yield* TestClock.adjust("5 seconds")
      yield* Fiber.join(second)
      expect(maxRunning).toBe(1)
      expect(yield* cb.state).toBe("Closed")
    }))

  it.effect("an interrupted trial re-opens instead of leaking the half-open slot", () =>
    Effect.gen(function*() {
      const cb = yield* CircuitBreaker.make({ failures: 1, resetAfter: "1 second" })
      yield* Effect.exit(cb.protect(boom))
      yield* TestClock.adjust("1 second")
      const trial = yield* Effect.fork(cb.protect(Effect.never))
      yield* Effect.yieldNow()
      yield* Fiber.interrupt(trial)
      expect(yield* cb.state).toBe("Open")
    }))
})
