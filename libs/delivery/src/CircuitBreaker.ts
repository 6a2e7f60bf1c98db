/**
 * A circuit breaker per output. Hand-written because no Effect 3 package provides one (Effect 4 has
 * `effect/persistence` CircuitBreaker; cockatiel 4 / opossum 10 need Node 22 and are not Effect-aware).
 *
 * Closed --(`failures` consecutive failures)--> Open --(`resetAfter` elapsed)--> HalfOpen
 * HalfOpen --(trial succeeds)--> Closed ; HalfOpen --(trial fails or is interrupted)--> Open
 *
 * Unlike a fail-fast breaker, `protect` WAITS while the circuit is open instead of failing: an event
 * for a down output stays queued (bounded, every overflow counted) rather than being thrown away, and
 * the output is probed by one trial call at a time. Time comes from `Clock`, so TestClock drives it.
 *
 * The state is a plain variable, not a Ref: every call of a delivery goes through here, the closed path
 * must cost nothing, and JavaScript runs one fiber at a time, so a synchronous read-modify-write is atomic.
 */
import { Clock, Deferred, Duration, Effect, FiberId } from "effect"

export type State =
  | { readonly _tag: "Closed"; readonly failures: number }
  | { readonly _tag: "Open"; readonly until: number }
  | { readonly _tag: "HalfOpen"; readonly trialDone: Deferred.Deferred<void> }

export type StateTag = State["_tag"]

export interface Options {
  /** consecutive failures that open the circuit */
  readonly failures: number
  /** how long it stays open before one trial call is let through */
  readonly resetAfter: Duration.DurationInput
  /** called on every transition, e.g. to log "circuit opened" */
  readonly onTransition?: (from: StateTag, to: StateTag) => Effect.Effect<void>
}

export interface CircuitBreaker {
  /** run `self` once the circuit lets it through; its outcome moves the circuit */
  readonly protect: <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  readonly state: Effect.Effect<StateTag>
  /** the state right now, for scrape-time gauges */
  readonly unsafeState: () => StateTag
}

const closed: State = { _tag: "Closed", failures: 0 }

export const make = (options: Options): Effect.Effect<CircuitBreaker> =>
  Effect.sync(() => {
    const resetMillis = Duration.toMillis(Duration.decode(options.resetAfter))
    let state: State = closed

    const moveTo = (next: State): Effect.Effect<void> => {
      const from = state._tag
      state = next
      return from !== next._tag && options.onTransition ? options.onTransition(from, next._tag) : Effect.void
    }

    /** wait until this call may run; true when it is the half-open trial */
    const acquire: Effect.Effect<boolean> = Effect.gen(function*() {
      while (true) {
        const s = state
        if (s._tag === "Closed") return false
        if (s._tag === "HalfOpen") {
          yield* Deferred.await(s.trialDone)
          continue
        }
        const now = yield* Clock.currentTimeMillis
        if (now >= s.until) {
          yield* moveTo({ _tag: "HalfOpen", trialDone: Deferred.unsafeMake<void>(FiberId.none) })
          return true
        }
        yield* Effect.sleep(Duration.millis(s.until - now))
      }
    })

    const settleTrial = (s: State) => (s._tag === "HalfOpen" ? Deferred.succeed(s.trialDone, undefined) : Effect.void)

    const succeeded = Effect.suspend(() => {
      const before = state
      if (before._tag === "Closed" && before.failures === 0) return Effect.void
      return Effect.zipRight(moveTo(closed), settleTrial(before))
    })

    const failed = Effect.flatMap(Clock.currentTimeMillis, (now) => {
      const before = state
      if (before._tag === "Open") return Effect.void
      if (before._tag === "Closed" && before.failures + 1 < options.failures) {
        return moveTo({ _tag: "Closed", failures: before.failures + 1 })
      }
      return Effect.zipRight(moveTo({ _tag: "Open", until: now + resetMillis }), settleTrial(before))
    })

    const guarded = <A, E, R>(self: Effect.Effect<A, E, R>) =>
      Effect.onExit(self, (exit) => (exit._tag === "Success" ? succeeded : failed))

    return {
      // interruption of a trial counts as a failure, so the half-open slot is never leaked
      protect: <A, E, R>(self: Effect.Effect<A, E, R>) =>
        Effect.suspend(() => (state._tag === "Closed" ? guarded(self) : Effect.zipRight(acquire, guarded(self)))),
      state: Effect.sync(() => state._tag),
      unsafeState: () => state._tag
    }
  })
