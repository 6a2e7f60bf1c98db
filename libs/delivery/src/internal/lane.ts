/**
 * One output's lane: its buffer, its workers (maxconcurrentrequests), and what happens to a batch after
 * each attempt — delivered and acknowledged, retried on the output's schedule (only the events that
 * failed, when a batch partly failed), or dropped with a counted reason. An event leaves the buffer
 * only once it is delivered or dropped; a batch interrupted by shutdown goes back to the buffer.
 */
import type { FalcoEvent } from "@sidekick/event"
import type { DropReason, Metrics } from "@sidekick/telemetry"
import { Cause, Duration, Effect, Exit, RateLimiter, Schedule, type Scheduler, type Scope } from "effect"
import type { NonEmptyReadonlyArray } from "effect/Array"
import type { Envelope, LaneBuffer } from "../Buffer.js"
import type { DeadLetter, DeadLetterReason } from "../DeadLetters.js"
import * as CircuitBreaker from "../CircuitBreaker.js"
import {
  currentAttemptTimeout,
  destinationOf,
  defaultClassify,
  isPartialFailure,
  type DeliveryPolicy,
  type Output,
  type OutputError,
  type Verdict
} from "../Output.js"
import { makeAttempt } from "./attempt.js"
import { takeBatch } from "./batcher.js"

/** A Retry-After longer than this is not waited for: the event's other retries would starve. */
const maxRetryAfter = Duration.minutes(5)

/**
 * Exponential backoff with jitter, each delay capped at maxDelay; when the output asked for a longer wait
 * (Retry-After, or its classification), at least that long, up to 5 minutes. The attempt count is the lane's.
 */
export const retrySchedule = (retry: DeliveryPolicy["retry"]) => {
  const maxDelay = Duration.decode(retry.maxDelay)
  return Schedule.exponential(retry.initialDelay, 2).pipe(
    Schedule.jittered,
    Schedule.modifyDelay((_, delay) => Duration.min(delay, maxDelay)),
    Schedule.intersect(Schedule.identity<Duration.Duration | undefined>()),
    Schedule.modifyDelay(([_, after], delay) => (after === undefined ? delay : Duration.max(delay, Duration.min(after, maxRetryAfter))))
  )
}

export type CircuitState = CircuitBreaker.StateTag

/** What a lane tells `/debug/vars`, the UI and the control features about its output. */
export interface OutputStatus {
  readonly name: string
  /** events waiting in the buffer */
  readonly queued: number
  readonly capacity: number
  /** events taken by a worker and not yet delivered or dropped */
  readonly inFlight: number
  readonly delivered: number
  readonly dropped: Readonly<Partial<Record<DropReason, number>>>
  readonly circuit: CircuitState
  /** the last failed attempt: epoch milliseconds and the error's message (never a secret: outputs' messages carry no URL) */
  readonly lastError?: { readonly at: number; readonly message: string } | undefined
}

export interface Lane {
  readonly output: Output
  readonly buffer: LaneBuffer
  readonly policy: DeliveryPolicy
  readonly wants: (event: FalcoEvent, eventRank: number) => boolean
  /** count a drop that happened at the buffer (overflow) */
  readonly dropped: (reason: DropReason, events: number) => void
  readonly pending: () => number
  readonly status: () => OutputStatus
  readonly countShutdownDrops: () => void
  /** the output is keeping up as far as it can tell: its circuit is closed */
  readonly healthy: () => boolean
}

export interface LaneOptions {
  readonly output: Output
  readonly policy: DeliveryPolicy
  readonly buffer: LaneBuffer
  readonly scheduler: Scheduler.Scheduler
  readonly metrics: Metrics["Type"]
  /** workers when the output's maxconcurrentrequests is 0 (unlimited) */
  readonly maxConcurrency: number
  /** events this output will never deliver, for the dead-letter store */
  readonly deadLettered: (letters: ReadonlyArray<Omit<DeadLetter, "id">>) => void
  readonly tracing: boolean
}

export const makeLane = (o: LaneOptions): Effect.Effect<Lane, never, Scope.Scope> =>
  Effect.gen(function*() {
    const { buffer, output, policy } = o
    const instruments = o.metrics.output(destinationOf(output.name))
    const clock = yield* Effect.clock
    const classify = output.classify ?? defaultClassify
    const counts = { delivered: 0, dropped: {} as Partial<Record<DropReason, number>> }
    let lastError: OutputStatus["lastError"]

    const breaker = yield* CircuitBreaker.make({
      ...policy.circuitBreaker,
      onTransition: (from, to) =>
        (to === "Open" ? Effect.logWarning : Effect.logInfo)(`circuit ${from} -> ${to}`).pipe(
          Effect.annotateLogs("output", output.name)
        )
    })
    const rate = policy.rateLimit
    // token bucket: `burst` tokens, refilled at `limit` per `interval`
    const limiter = rate === undefined
      ? undefined
      : yield* RateLimiter.make({
        limit: Math.max(1, rate.burst),
        interval: Duration.times(rate.interval, Math.max(1, rate.burst) / rate.limit),
        algorithm: "token-bucket"
      })
    const timeout = Duration.decode(policy.timeout)
    const attempt = makeAttempt({ output, timeout, breaker, limiter, classify, instruments, tracing: o.tracing })
    const schedule = retrySchedule(policy.retry)
    const maxAttempts = policy.retry.maxAttempts
    const maxAgeMillis = Duration.toMillis(Duration.decode(policy.retry.maxAge))

    const dropped = (reason: DropReason, events: number) => {
      counts.dropped[reason] = (counts.dropped[reason] ?? 0) + events
      instruments.dropped(reason, events)
    }
    const ageOf = (batch: ReadonlyArray<Envelope>) => (clock.unsafeCurrentTimeMillis() - batch[0]!.acceptedAt) / 1000

    // Acknowledging is synchronous and comes before any log line (an interruption point), and `current`
    // below is cleared at the same moment: an interrupted delivery gives back only what is unsettled.
    const delivered = (batch: ReadonlyArray<Envelope>) => {
      if (batch.length === 0) return
      buffer.ack(batch)
      counts.delivered += batch.length
      instruments.delivered(batch.length, ageOf(batch))
    }

    /** never deliverable: acknowledged, counted, kept as dead letters, logged */
    const drop = (
      batch: ReadonlyArray<Envelope>,
      reason: DeadLetterReason,
      why: string,
      last: { readonly attempts: number; readonly status?: number | undefined },
      cause?: Cause.Cause<unknown>
    ) => {
      if (batch.length === 0) return Effect.void
      buffer.ack(batch)
      dropped(reason, batch.length)
      const at = clock.unsafeCurrentTimeMillis()
      o.deadLettered(
        batch.map((envelope) => ({ output: output.name, reason, at, error: why, status: last.status, attempts: last.attempts, envelope }))
      )
      instruments.failed(batch.length, ageOf(batch))
      const what = batch.length === 1 ? "event" : `${batch.length} events`
      return Effect.logError(`${what} dropped (${reason}): ${why}`).pipe(
        Effect.annotateLogs({ output: output.name, rule: batch[0]!.event.rule }),
        // a defect (a bug in an output) is logged with its cause, not swallowed
        cause ? Effect.annotateLogs("defect", Cause.pretty(cause)) : (log) => log
      )
    }

    const failed = (error: OutputError) => {
      lastError = { at: clock.unsafeCurrentTimeMillis(), message: error.message }
    }

    /** deliver one batch: attempts until delivered, dropped, or out of attempts */
    const deliver = (batch: NonEmptyReadonlyArray<Envelope>) => {
      // the events of the batch not yet delivered or dropped
      let current: ReadonlyArray<Envelope> = batch
      const settle = () => {
        const all = current
        current = []
        return all
      }
      return Effect.gen(function*() {
        // most deliveries succeed at once: only a failure pays for the retry schedule
        let driver: Schedule.ScheduleDriver<unknown, Duration.Duration | undefined> | undefined
        for (let n = 1;; n++) {
          const exit = yield* Effect.exit(attempt(current as NonEmptyReadonlyArray<Envelope>, n))
          let verdict: Verdict
          let error: OutputError
          if (Exit.isSuccess(exit)) {
            const partial = exit.value
            if (!isPartialFailure(partial)) return delivered(settle())
            const failedAt = new Map(partial.failures.map((f) => [f.index, f.error]))
            const retry: Array<Envelope> = []
            const refused: Array<Envelope> = []
            let refusedWhy: OutputError | undefined
            let retryWhy: OutputError | undefined
            let after: Duration.Duration | undefined
            current.forEach((envelope, i) => {
              const e = failedAt.get(i)
              if (e === undefined) return
              const v = classify(e)
              if (v._tag === "Drop") {
                refused.push(envelope)
                refusedWhy ??= e
              } else {
                retry.push(envelope)
                retryWhy ??= e
                if (v.after !== undefined) after = after === undefined ? v.after : Duration.max(after, v.after)
              }
            })
            const done = current.filter((_, i) => !failedAt.has(i))
            current = retry
            delivered(done)
            if (refusedWhy) {
              failed(refusedWhy)
              yield* drop(refused, "rejected", refusedWhy.message, { attempts: n, status: refusedWhy.status })
            }
            if (retryWhy === undefined) return
            failed(retryWhy)
            error = retryWhy
            verdict = after === undefined ? { _tag: "Retry" } : { _tag: "Retry", after }
          } else {
            const cause = exit.cause
            if (Cause.isInterruptedOnly(cause)) return yield* Effect.failCause(cause)
            const failure = Cause.failureOption(cause)
            if (failure._tag === "None") return yield* drop(settle(), "defect", "unexpected failure", { attempts: n }, cause)
            error = failure.value
            failed(error)
            verdict = classify(error)
            if (verdict._tag === "Drop") return yield* drop(settle(), "rejected", error.message, { attempts: n, status: error.status })
          }
          const last = { attempts: n, status: error.status }
          if (maxAttempts > 0 && n >= maxAttempts) return yield* drop(settle(), "retries_exhausted", error.message, last)
          // the oldest event of the batch decides: no event is retried past maxage
          if (clock.unsafeCurrentTimeMillis() - current[0]!.acceptedAt >= maxAgeMillis) {
            const why = `still failing after ${Duration.format(Duration.millis(maxAgeMillis))}: ${error.message}`
            return yield* drop(settle(), "max_age", why, last)
          }
          driver ??= yield* Schedule.driver(schedule)
          yield* driver.next(verdict.after)
        }
      }).pipe(
        // shutdown in the middle of a delivery: what is not finished goes back to the buffer
        Effect.onInterrupt(() => Effect.sync(() => current.length > 0 && buffer.giveBack(current as NonEmptyReadonlyArray<Envelope>)))
      )
    }

    const worker = takeBatch(buffer, output.kind === "batch" ? output.batch : undefined).pipe(
      Effect.flatMap(deliver),
      Effect.forever,
      Effect.locally(currentAttemptTimeout, timeout)
    )
    const workers = output.maxConcurrentRequests > 0 ? output.maxConcurrentRequests : o.maxConcurrency
    yield* Effect.forkScoped(
      Effect.all(Array.from({ length: workers }, () => worker), { concurrency: "unbounded", discard: true }).pipe(
        Effect.withScheduler(o.scheduler)
      )
    )

    const minimum = output.minimumPriority
    return {
      output,
      buffer,
      policy,
      wants: (event, eventRank) => eventRank >= minimum || (output.testRuleBypass && event.rule === "Test rule"),
      dropped,
      pending: () => buffer.size() + buffer.inFlight(),
      status: () => ({
        name: output.name,
        queued: buffer.size(),
        capacity: buffer.capacity,
        inFlight: buffer.inFlight(),
        delivered: counts.delivered,
        dropped: { ...counts.dropped },
        circuit: breaker.unsafeState(),
        lastError
      }),
      healthy: () => breaker.unsafeState() === "Closed",
      countShutdownDrops: () => {
        const lost = buffer.size() + buffer.inFlight()
        if (lost > 0) dropped("shutdown", lost)
      }
    } satisfies Lane
  })
