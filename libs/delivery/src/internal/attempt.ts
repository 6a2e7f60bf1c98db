/**
 * One delivery attempt to one output: the rate limit, the circuit breaker, the per-attempt timeout and
 * a span per attempt whose parent is the span the event was accepted under. What the attempt's outcome
 * means (retry, drop, partly delivered) is the lane's business.
 */
import type { OutputInstruments } from "@sidekick/telemetry"
import { Cause, Duration, Effect, Option, type RateLimiter, Tracer } from "effect"
import type { NonEmptyReadonlyArray } from "effect/Array"
import type { Envelope } from "../Buffer.js"
import type { CircuitBreaker } from "../CircuitBreaker.js"
import { isPartialFailure, type Output, OutputError, type PartialFailure, type Verdict } from "../Output.js"

export interface AttemptOptions {
  readonly output: Output
  readonly timeout: Duration.Duration
  readonly breaker: CircuitBreaker
  readonly limiter: RateLimiter.RateLimiter | undefined
  readonly classify: (error: OutputError) => Verdict
  readonly instruments: OutputInstruments
  /** whether spans are made: when tracing is off even a no-op span costs about half of a delivery's overhead */
  readonly tracing: boolean
}

export type Attempt = (
  batch: NonEmptyReadonlyArray<Envelope>,
  n: number
) => Effect.Effect<void | PartialFailure, OutputError>

/** the parent span of an attempt, from the envelope's W3C traceparent */
export const parentOf = (traceparent: string | undefined): Tracer.ExternalSpan | undefined => {
  if (traceparent === undefined) return undefined
  const [, traceId, spanId, flags] = traceparent.split("-")
  if (traceId === undefined || spanId === undefined) return undefined
  return Tracer.externalSpan({ traceId, spanId, sampled: flags === undefined || (parseInt(flags, 16) & 1) === 1 })
}

/** W3C traceparent of a span (the Dispatcher writes it into the envelope) */
export const traceparentOf = (span: Tracer.AnySpan): string => `00-${span.traceId}-${span.spanId}-${span.sampled ? "01" : "00"}`

export const makeAttempt = (o: AttemptOptions): Attempt => {
  const { breaker, instruments, output, tracing } = o
  const timeoutError = new OutputError({
    output: output.name,
    reason: "Timeout",
    message: `no answer within ${Duration.format(o.timeout)}`
  })
  // An output that enforces the timeout itself reads it from currentAttemptTimeout (set once per worker by
  // the lane); the others get a race against a timer (two fibers per attempt).
  const timed = output.enforcesTimeout
    ? <A>(send: Effect.Effect<A, OutputError>) => send
    : <A>(send: Effect.Effect<A, OutputError>) => Effect.timeoutFail(send, { duration: o.timeout, onTimeout: () => timeoutError })
  const limited = o.limiter ?? (<A, E>(self: Effect.Effect<A, E>) => self)

  const send = (batch: NonEmptyReadonlyArray<Envelope>): Effect.Effect<void | PartialFailure, OutputError> =>
    output.kind === "single" ? output.send(batch[0].event) : output.send(batch.map((e) => e.event) as unknown as NonEmptyReadonlyArray<Envelope["event"]>)

  const traced = (batch: NonEmptyReadonlyArray<Envelope>, n: number) => {
    if (!tracing) return <A, E, R>(self: Effect.Effect<A, E, R>) => self
    const links: Array<Tracer.SpanLink> = []
    for (let i = 1; i < batch.length; i++) {
      const span = parentOf(batch[i]!.traceparent)
      if (span) links.push({ _tag: "SpanLink", span, attributes: {} })
    }
    const parent = parentOf(batch[0].traceparent)
    return Effect.withSpan("Output.send", {
      kind: "producer",
      captureStackTrace: false, // a stack trace per span is measurable on the hot path
      attributes: { "sidekick.output": output.name, "sidekick.attempt": n, "sidekick.batch.size": batch.length },
      links,
      ...(parent ? { parent } : {})
    })
  }

  const annotateFailure = (cause: Cause.Cause<OutputError>) => {
    if (Cause.isInterruptedOnly(cause)) return Effect.void
    instruments.attempt("error")
    const error = Option.getOrUndefined(Cause.failureOption(cause))
    return tracing && error
      ? Effect.annotateCurrentSpan({
        "sidekick.outcome": o.classify(error)._tag === "Retry" ? "retryable_error" : "permanent_error",
        "sidekick.error.reason": error.reason,
        "sidekick.error.message": error.message
      })
      : Effect.void
  }

  return (batch, n) => {
    if (n > 1) instruments.retried()
    return limited(breaker.protect(timed(send(batch)))).pipe(
      Effect.tap((result) => {
        if (!isPartialFailure(result)) {
          instruments.attempt("ok")
          return Effect.void
        }
        instruments.attempt("error")
        return tracing
          ? Effect.annotateCurrentSpan({
            "sidekick.outcome": "partial_failure",
            "sidekick.batch.failed": result.failures.length
          })
          : Effect.void
      }),
      Effect.tapErrorCause(annotateFailure),
      traced(batch, n)
    )
  }
}
