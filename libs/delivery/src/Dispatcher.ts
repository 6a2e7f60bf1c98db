/**
 * The Dispatcher: what every output gets for free. One lane per output, each with its own bounded
 * queue (overflow policy, every drop counted), its own workers (maxconcurrentrequests), a timeout on
 * every attempt, retries through a Schedule (exponential + jitter, capped, Retry-After honoured),
 * its own circuit breaker, priority filtering, batching, metrics and a span per attempt whose parent
 * is the span the event was accepted under. A failing, slow or hung output only fills its own lane.
 */
import { type FalcoEvent, rank } from "@sidekick/event"
import { type LaneSnapshot, Metrics } from "@sidekick/telemetry"
import { Cause, Clock, Context, Data, Duration, Effect, FiberRef, Layer, Option, Queue, Schedule, Scheduler, type Scope, type Tracer } from "effect"
import type { NonEmptyReadonlyArray } from "effect/Array"
import * as CircuitBreaker from "./CircuitBreaker.js"
import { currentAttemptTimeout, type Output, OutputError, Outputs } from "./Output.js"

export type OverflowPolicy = "dropnewest" | "dropoldest" | "reject"

export interface DeliveryOptions {
  /** per output */
  readonly queueCapacity: number
  /** dropnewest: a full queue refuses the new event; dropoldest: it evicts its oldest; reject: 503 to the sender */
  readonly overflow: OverflowPolicy
  /** per attempt */
  readonly timeout: Duration.DurationInput
  readonly retry: {
    /** attempts in all, the first included */
    readonly maxAttempts: number
    readonly initialDelay: Duration.DurationInput
    readonly maxDelay: Duration.DurationInput
  }
  readonly circuitBreaker: { readonly failures: number; readonly resetAfter: Duration.DurationInput }
  /** on shutdown, how long queued events may take to leave */
  readonly shutdownTimeout: Duration.DurationInput
  /** workers of an output whose maxconcurrentrequests is 0 (unlimited) */
  readonly maxConcurrency: number
  /**
   * Where the lanes' fibers run. Default: batched on setImmediate (see `makeLaneScheduler`). Unit tests pass
   * Effect's default scheduler, whose microtask turns `yieldNow` can step through deterministically.
   */
  readonly scheduler?: Scheduler.Scheduler
}

export const defaultDeliveryOptions: DeliveryOptions = {
  queueCapacity: 10_000,
  overflow: "dropnewest",
  timeout: "10 seconds",
  retry: { maxAttempts: 5, initialDelay: "500 millis", maxDelay: "30 seconds" },
  circuitBreaker: { failures: 5, resetAfter: "30 seconds" },
  shutdownTimeout: "10 seconds",
  maxConcurrency: 64
}

/** A Retry-After longer than this is not waited for: the event's other retries would starve. */
const maxRetryAfter = Duration.minutes(5)

/** The ingest side refused an event: every output that wanted it had a full queue. */
export class QueueFullError extends Data.TaggedError("QueueFullError")<{ readonly outputs: ReadonlyArray<string> }> {
  override get message() {
    return `queue full for ${this.outputs.join(", ")}`
  }
}

/** "accepted": queued for every output that wants it (minus counted drops); "full": refused, answer 503 */
export type PublishResult = { readonly _tag: "Accepted" } | { readonly _tag: "Full"; readonly outputs: ReadonlyArray<string> }

/** An event plus the span it was accepted under and when, carried through the queue. */
interface Envelope {
  readonly event: FalcoEvent
  readonly parent: Tracer.AnySpan | undefined
  readonly acceptedAt: number
}

const accepted: PublishResult = { _tag: "Accepted" }

/**
 * Exponential backoff with jitter, each delay capped at maxDelay, at most maxAttempts - 1 retries; when
 * the peer sent Retry-After, wait at least that long (up to 5 minutes).
 */
export const retrySchedule = (retry: DeliveryOptions["retry"]) => {
  const maxDelay = Duration.decode(retry.maxDelay)
  return Schedule.exponential(retry.initialDelay, 2).pipe(
    Schedule.jittered,
    Schedule.modifyDelay((_, delay) => Duration.min(delay, maxDelay)),
    Schedule.intersect(Schedule.recurs(Math.max(0, retry.maxAttempts - 1))),
    Schedule.intersect(Schedule.identity<OutputError>()),
    Schedule.modifyDelay(([_, error], delay) =>
      error.retryAfter === undefined ? delay : Duration.max(delay, Duration.min(error.retryAfter, maxRetryAfter))
    )
  )
}

const circuitLevel = { Closed: 0, HalfOpen: 1, Open: 2 } as const

/**
 * The lanes' fibers resume in batches on setImmediate rather than one microtask turn per fiber (Effect's
 * default): with dozens of workers waiting on I/O this cut the CPU per delivery by about a quarter
 * (tools/bench/lane.ts), and it lets the HTTP server's I/O in between batches.
 */
export const makeLaneScheduler = (): Scheduler.Scheduler => Scheduler.makeBatched((runBatch) => setImmediate(runBatch))

interface Lane {
  readonly output: Output
  readonly wants: (event: FalcoEvent, eventRank: number) => boolean
  readonly hasRoom: () => boolean
  /** false when the event was refused */
  readonly offer: (envelope: Envelope) => boolean
  readonly pending: () => number
  readonly snapshot: () => LaneSnapshot
  readonly countShutdownDrops: () => void
}

const makeLane = (output: Output, options: DeliveryOptions, scheduler: Scheduler.Scheduler) =>
  Effect.gen(function*() {
    const metrics = yield* Metrics
    const instruments = metrics.output(output.name)
    const capacity = options.queueCapacity
    const queue = yield* (options.overflow === "dropoldest" ? Queue.sliding : Queue.dropping)<Envelope>(capacity)
    const breaker = yield* CircuitBreaker.make({
      ...options.circuitBreaker,
      onTransition: (from, to) =>
        (to === "Open" ? Effect.logWarning : Effect.logInfo)(`circuit ${from} -> ${to}`).pipe(
          Effect.annotateLogs("output", output.name)
        )
    })
    const schedule = retrySchedule(options.retry)
    const timeout = Duration.decode(options.timeout)
    const timeoutError = new OutputError({
      output: output.name,
      reason: "Timeout",
      message: `no answer within ${Duration.format(timeout)}`
    })
    // An output that enforces the timeout itself reads it from currentAttemptTimeout, set once per worker
    // below; the others get a race against a timer (two fibers per attempt).
    const timed = output.enforcesTimeout
      ? <A>(send: Effect.Effect<A, OutputError>) => send
      : <A>(send: Effect.Effect<A, OutputError>) => Effect.timeoutFail(send, { duration: timeout, onTimeout: () => timeoutError })
    // events taken from the queue and not yet delivered or dropped: a drain must wait for them too
    let inFlight = 0
    // Effect's queue size goes negative while workers wait in take(): count only queued events
    const size = () => {
      const n = queue.unsafeSize()
      return n._tag === "Some" && n.value > 0 ? n.value : 0
    }

    // A span per attempt when tracing is on. When it is off (no OTEL_* exporter), even a no-op span costs
    // about half of a delivery's overhead (measured with tools/bench/lane.ts), so none is made.
    const tracing = yield* FiberRef.get(FiberRef.currentTracerEnabled)
    const traced = (
      n: number,
      size: number,
      links: ReadonlyArray<Tracer.SpanLink>,
      parent: Tracer.AnySpan | undefined
    ) =>
      tracing
        ? Effect.withSpan("Output.send", {
          kind: "producer",
          captureStackTrace: false, // a stack trace per span is measurable on the hot path
          attributes: { "sidekick.output": output.name, "sidekick.attempt": n, "sidekick.batch.size": size },
          links,
          ...(parent ? { parent } : {})
        })
        : <A, E, R>(self: Effect.Effect<A, E, R>) => self

    const attempt = (events: NonEmptyReadonlyArray<FalcoEvent>, batch: NonEmptyReadonlyArray<Envelope>) => {
      let n = 0
      const links: ReadonlyArray<Tracer.SpanLink> = tracing && batch.length > 1
        ? batch.slice(1).flatMap((e) => (e.parent ? [{ _tag: "SpanLink" as const, span: e.parent, attributes: {} }] : []))
        : []
      return Effect.suspend(() => {
        n++
        if (n > 1) instruments.retried()
        return breaker.protect(timed(output.send(events)))
          .pipe(
            Effect.tapErrorCause((cause) => {
              if (Cause.isInterruptedOnly(cause)) return Effect.void
              instruments.attempt("error")
              const error = Option.getOrUndefined(Cause.failureOption(cause))
              return tracing && error
                ? Effect.annotateCurrentSpan({
                  "sidekick.outcome": error.retryable ? "retryable_error" : "permanent_error",
                  "sidekick.error.reason": error.reason,
                  "sidekick.error.message": error.message
                })
                : Effect.void
            }),
            traced(n, events.length, links, batch[0].parent)
          )
      })
    }

    const deliver = (batch: NonEmptyReadonlyArray<Envelope>) => {
      const events = batch.map((e) => e.event) as unknown as NonEmptyReadonlyArray<FalcoEvent>
      const age = () => (performance.now() - batch[0].acceptedAt) / 1000
      const once = attempt(events, batch)
      // Most deliveries succeed at once: only a retryable failure pays for the retry machinery. The first
      // failure is replayed into Effect.retry so the schedule (and Retry-After) decides the first wait.
      const retried = (first: OutputError) => {
        let replayed = false
        return Effect.retry(
          Effect.suspend(() => (replayed ? once : ((replayed = true), Effect.fail(first)))),
          { schedule, while: (e) => e.retryable }
        )
      }
      return once.pipe(
        Effect.catchIf((e) => e.retryable && options.retry.maxAttempts > 1, retried),
        Effect.matchCauseEffect({
          onSuccess: () =>
            Effect.sync(() => {
              instruments.attempt("ok")
              instruments.delivered(events.length, age())
            }),
          onFailure: (cause) => {
            if (Cause.isInterruptedOnly(cause)) return Effect.failCause(cause)
            const failure = Option.getOrUndefined(Cause.failureOption(cause))
            const reason = failure === undefined ? "defect" : failure.retryable ? "retries_exhausted" : "rejected"
            instruments.dropped(reason, events.length)
            instruments.failed(events.length, age())
            const what = events.length === 1 ? "event" : `${events.length} events`
            return Effect.logError(`${what} dropped (${reason}): ${failure ? failure.message : "unexpected failure"}`).pipe(
              Effect.annotateLogs({ output: output.name, rule: events[0].rule }),
              // a defect (a bug in an output) is logged with its cause, not swallowed
              failure ? (log) => log : Effect.annotateLogs("defect", Cause.pretty(cause))
            )
          }
        })
      )
    }

    const batching = output.batch
    const maxEvents = batching ? Math.max(1, batching.maxEvents) : 1
    const intervalMillis = batching ? Duration.toMillis(Duration.decode(batching.interval)) : 0

    const takeBatch = Effect.gen(function*() {
      const first = yield* Queue.take(queue)
      inFlight++
      const batch: Array<Envelope> = [first]
      if (maxEvents === 1) return batch as unknown as NonEmptyReadonlyArray<Envelope>
      const deadline = (yield* Clock.currentTimeMillis) + intervalMillis
      while (batch.length < maxEvents) {
        const more = yield* Queue.takeUpTo(queue, maxEvents - batch.length)
        inFlight += more.length
        for (const e of more) batch.push(e)
        const remaining = deadline - (yield* Clock.currentTimeMillis)
        if (batch.length >= maxEvents || remaining <= 0) break
        const next = yield* Effect.timeout(Queue.take(queue), Duration.millis(remaining)).pipe(Effect.option)
        if (next._tag === "None") break
        inFlight++
        batch.push(next.value)
      }
      return batch as unknown as NonEmptyReadonlyArray<Envelope>
    })

    const worker = takeBatch.pipe(
      Effect.flatMap((batch) => Effect.ensuring(deliver(batch), Effect.sync(() => (inFlight -= batch.length)))),
      Effect.forever,
      Effect.locally(currentAttemptTimeout, timeout)
    )
    const workers = output.maxConcurrentRequests > 0 ? output.maxConcurrentRequests : options.maxConcurrency
    yield* Effect.forkScoped(
      Effect.all(Array.from({ length: workers }, () => worker), { concurrency: "unbounded", discard: true }).pipe(
        Effect.withScheduler(scheduler)
      )
    )

    const minimum = output.minimumPriority
    const lane: Lane = {
      output,
      wants: (event, eventRank) => eventRank >= minimum || (output.testRuleBypass && event.rule === "Test rule"),
      hasRoom: () => size() < capacity,
      offer: (envelope) => {
        if (options.overflow === "dropoldest") {
          if (size() >= capacity) instruments.dropped("queue_full", 1)
          queue.unsafeOffer(envelope)
          return true
        }
        if (queue.unsafeOffer(envelope)) return true
        instruments.dropped("queue_full", 1)
        return false
      },
      pending: () => size() + inFlight,
      snapshot: () => ({
        destination: output.name,
        depth: size(),
        capacity,
        circuit: circuitLevel[breaker.unsafeState()]
      }),
      countShutdownDrops: () => {
        const lost = size() + inFlight
        if (lost > 0) instruments.dropped("shutdown", lost)
      }
    }
    return lane
  })

export interface DispatcherService {
  /**
   * Queue an event for every output that wants it, synchronously (the HTTP fast path calls this
   * without running an Effect). `parent` becomes the parent span of its delivery attempts.
   */
  readonly unsafePublish: (event: FalcoEvent, parent: Tracer.AnySpan | undefined) => PublishResult
  readonly publish: (event: FalcoEvent) => Effect.Effect<void, QueueFullError>
  readonly outputs: ReadonlyArray<string>
  readonly snapshot: () => ReadonlyArray<LaneSnapshot>
  /** events queued or being delivered, all outputs together */
  readonly pending: () => number
  /** wait until every queue is empty and every worker idle (or `timeout` passed); true when drained */
  readonly drain: (timeout: Duration.DurationInput) => Effect.Effect<boolean>
}

export const make = (options: DeliveryOptions): Effect.Effect<DispatcherService, never, Outputs | Metrics | Scope.Scope> =>
  Effect.gen(function*() {
    const outputs = yield* Outputs
    const metrics = yield* Metrics
    const scheduler = options.scheduler ?? makeLaneScheduler()
    const lanes = yield* Effect.forEach(outputs, (output) => makeLane(output, options, scheduler))
    let closing = false

    const snapshot = () => lanes.map((lane) => lane.snapshot())
    metrics.observeLanes(() => (closing ? [] : snapshot()))
    const pending = () => lanes.reduce((n, lane) => n + lane.pending(), 0)

    // Polls instead of racing a timeout: it runs in a finalizer, which is uninterruptible, and during a
    // SIGTERM the fiber is already interrupted, so an interruptible wait would end at once. The deadline is
    // wall time (live clock), so a test running on TestClock cannot freeze shutdown.
    const drain = (timeout: Duration.DurationInput) =>
      Effect.gen(function*() {
        const deadline = (yield* Clock.currentTimeMillis) + Duration.toMillis(Duration.decode(timeout))
        while (pending() > 0) {
          const left = deadline - (yield* Clock.currentTimeMillis)
          if (left <= 0) return false
          yield* Effect.sleep(Duration.millis(Math.min(20, left)))
        }
        return true
      }).pipe(Effect.withClock(Clock.make()))

    // Finalizers run in reverse: this one runs before the workers forked above are interrupted.
    yield* Effect.addFinalizer(() =>
      Effect.gen(function*() {
        const waiting = pending()
        if (waiting > 0) yield* Effect.logInfo(`draining ${waiting} queued events`)
        const drained = yield* drain(options.shutdownTimeout)
        if (!drained) {
          yield* Effect.logError(
            `shutdown deadline reached with ${pending()} events undelivered; counted as dropped (reason shutdown)`
          )
          for (const lane of lanes) lane.countShutdownDrops()
        }
        closing = true
      })
    )

    const unsafePublish = (event: FalcoEvent, parent: Tracer.AnySpan | undefined): PublishResult => {
      const eventRank = rank(event.priority)
      const envelope: Envelope = { event, parent, acceptedAt: performance.now() }
      let wanted = 0
      let refusedBy: Array<string> | undefined
      if (options.overflow === "reject") {
        for (const lane of lanes) {
          if (lane.wants(event, eventRank) && !lane.hasRoom()) (refusedBy ??= []).push(lane.output.name)
        }
        if (refusedBy) return { _tag: "Full", outputs: refusedBy }
      }
      for (const lane of lanes) {
        if (!lane.wants(event, eventRank)) continue
        wanted++
        if (!lane.offer(envelope)) (refusedBy ??= []).push(lane.output.name)
      }
      // every output that wanted the event refused it: tell the sender (503) rather than pretend
      return refusedBy !== undefined && refusedBy.length === wanted ? { _tag: "Full", outputs: refusedBy } : accepted
    }

    return {
      unsafePublish,
      publish: (event) =>
        Effect.flatMap(Effect.option(Effect.currentSpan), (span) => {
          const result = unsafePublish(event, span._tag === "Some" ? span.value : undefined)
          return result._tag === "Accepted" ? Effect.void : Effect.fail(new QueueFullError({ outputs: result.outputs }))
        }),
      outputs: outputs.map((o) => o.name),
      snapshot,
      pending,
      drain
    } satisfies DispatcherService
  })

export class Dispatcher extends Context.Tag("@sidekick/delivery/Dispatcher")<Dispatcher, DispatcherService>() {
  static readonly make = make
  static readonly layer = (options: DeliveryOptions = defaultDeliveryOptions): Layer.Layer<Dispatcher, never, Outputs | Metrics> =>
    Layer.scoped(Dispatcher, make(options))
}
