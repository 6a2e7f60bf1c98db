/**
 * A request an output must have made once before it can deliver (Quickwit's index, Spyderbat's source):
 * tried at start-up, and again before deliveries while it has not succeeded.
 */
import { currentAttemptTimeout, type OutputError, type OutputInitError } from "@sidekick/delivery"
import { Duration, Effect, Either } from "effect"
import type { OutputContext } from "./Definition.js"

/** what an output's start-up step is: see `startupStep` */
export interface StartupStep {
  /** for messages: "creating the Quickwit index falco" */
  readonly what: string
  readonly run: Effect.Effect<void, OutputError>
  /** the start-up refusal for a failure no retry will fix */
  readonly refuse: (error: OutputError) => OutputInitError
  /** how long the start-up try may take (the Dispatcher's per-attempt timeout is not in force there) */
  readonly timeout: Duration.Duration
}

/**
 * A request an output must have made once before it can deliver (Quickwit's index, Spyderbat's source), tried at
 * start-up. A failure no retry will fix (`OutputError.retryable` false: a 4xx, an unreadable answer) refuses
 * start-up. A passing one (unreachable, 5xx, timeout) is logged and the output starts: the step is tried again
 * before each delivery until it succeeds, and a failed try fails that attempt, so the events wait under the
 * Dispatcher's retry schedule. Returns what each delivery runs first (nothing once the step has succeeded).
 */
export const startupStep = (ctx: OutputContext, step: StartupStep): Effect.Effect<Effect.Effect<void, OutputError>, OutputInitError> =>
  Effect.gen(function*() {
    let done = false
    const run = Effect.tap(step.run, () => Effect.sync(() => (done = true)))
    const first = yield* Effect.either(Effect.locally(run, currentAttemptTimeout, step.timeout))
    if (Either.isLeft(first)) {
      if (!first.left.retryable) return yield* Effect.fail(step.refuse(first.left))
      yield* Effect.logWarning(`${step.what} failed: ${first.left.message}; starting anyway, it is tried again before each delivery`).pipe(
        Effect.annotateLogs("output", ctx.name)
      )
    }
    // one try at a time: concurrent deliveries (maxconcurrentrequests > 1) wait for it instead of repeating it
    const lock = yield* Effect.makeSemaphore(1)
    return Effect.suspend(() => (done ? Effect.void : lock.withPermits(1)(Effect.suspend(() => (done ? Effect.void : run)))))
  })

/** the start-up try's bound: the output's own `delivery.timeout`, else the global key's default */
export const startupTimeout = (c: { readonly delivery: { readonly timeout?: Duration.Duration | undefined } }): Duration.Duration =>
  c.delivery.timeout ?? Duration.seconds(10)
