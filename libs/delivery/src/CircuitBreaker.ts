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
 */
import { Clock, Deferred, Duration, Effect, Ref } from "effect"

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

type Permit = "run" | "trial" | { readonly waitMillis: number } | { readonly waitFor: Deferred.Deferred<void> }

export const make = (options: Options): Effect.Effect<CircuitBreaker> =>
  Effect.gen(function*() {
    const resetMillis = Duration.toMillis(Duration.decode(options.resetAfter))
    const ref = yield* Ref.make<State>({ _tag: "Closed", failures: 0 })
    let current: StateTag = "Closed"
    const transition = (from: StateTag, to: StateTag) => {
      current = to
      return from !== to && options.onTransition ? options.onTransition(from, to) : Effect.void
    }

    const decide = (now: number, trialDone: Deferred.Deferred<void>) =>
      Ref.modify(ref, (s): [Permit, State] => {
        switch (s._tag) {
          case "Closed":
            return ["run", s]
          case "Open":
            return now >= s.until ? ["trial", { _tag: "HalfOpen", trialDone }] : [{ waitMillis: s.until - now }, s]
          case "HalfOpen":
            return [{ waitFor: s.trialDone }, s]
        }
      })

    /** wait until this call may run; true when it is the half-open trial */
    const acquire: Effect.Effect<boolean> = Effect.gen(function*() {
      while (true) {
        const now = yield* Clock.currentTimeMillis
        const trialDone = yield* Deferred.make<void>()
        const permit = yield* decide(now, trialDone)
        if (permit === "run") return false
        if (permit === "trial") {
          yield* transition("Open", "HalfOpen")
          return true
        }
        if ("waitMillis" in permit) yield* Effect.sleep(Duration.millis(permit.waitMillis))
        else yield* Deferred.await(permit.waitFor)
      }
    })

    const succeeded = (trial: boolean) =>
      Effect.flatMap(Ref.getAndSet(ref, { _tag: "Closed", failures: 0 }), (previous) =>
        Effect.zipRight(
          previous._tag === "HalfOpen" ? Deferred.succeed(previous.trialDone, undefined) : Effect.void,
          transition(trial ? "HalfOpen" : previous._tag, "Closed")
        ))

    const failed = Effect.flatMap(Clock.currentTimeMillis, (now) =>
      Effect.flatMap(
        Ref.modify(ref, (s): [readonly [State, State], State] => {
          if (s._tag === "HalfOpen") {
            const next: State = { _tag: "Open", until: now + resetMillis }
            return [[s, next], next]
          }
          if (s._tag === "Closed") {
            const failures = s.failures + 1
            const next: State = failures >= options.failures
              ? { _tag: "Open", until: now + resetMillis }
              : { _tag: "Closed", failures }
            return [[s, next], next]
          }
          return [[s, s], s]
        }),
        ([before, after]) =>
          Effect.zipRight(
            before._tag === "HalfOpen" ? Deferred.succeed(before.trialDone, undefined) : Effect.void,
            transition(before._tag, after._tag)
          )
      ))

    return {
      // interruption of a trial counts as a failure, so the half-open slot is never leaked
      protect: <A, E, R>(self: Effect.Effect<A, E, R>) =>
        Effect.flatMap(acquire, (trial) =>
          Effect.onExit(self, (exit) => (exit._tag === "Success" ? succeeded(trial) : failed))),
      state: Effect.map(Ref.get(ref), (s) => s._tag),
      unsafeState: () => current
    }
  })
