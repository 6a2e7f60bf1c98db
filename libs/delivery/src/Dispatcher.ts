/**
 * The Dispatcher: what every output gets for free. One lane per output (see `internal/lane.ts`), each
 * with its own bounded buffer (overflow policy, every drop counted), its own workers
 * (maxconcurrentrequests), a timeout on every attempt, retries through a Schedule (exponential + jitter,
 * capped, Retry-After honoured), its own circuit breaker and optional rate limit, priority filtering,
 * batching, metrics and a span per attempt whose parent is the span the event was accepted under. A
 * failing, slow or hung output only fills its own lane. Policy is global (`delivery.*`) with per-output
 * overrides (`<output>.delivery.*`).
 */
import { type FalcoEvent, rank } from "@sidekick/event"
import { Metrics } from "@sidekick/telemetry"
import { Clock, Context, Data, Duration, Effect, FiberRef, Layer, Runtime, Scheduler, type Scope, type Tracer } from "effect"
import { Buffer, type Envelope } from "./Buffer.js"
import { type DeadLetter, DeadLetters, type DeadLettersService } from "./DeadLetters.js"
import { traceparentOf } from "./internal/attempt.js"
import { type Lane, makeLane, type OutputStatus } from "./internal/lane.js"
import { type DeliveryPolicy, destinationOf, Outputs, resolvePolicy } from "./Output.js"

export type { CircuitState, OutputStatus } from "./internal/lane.js"
export { retrySchedule } from "./internal/lane.js"

/** The global delivery policy (`delivery.*`) and the Dispatcher's own settings. */
export interface DeliveryOptions extends DeliveryPolicy {
  /** bytes (of event JSON) all outputs together may hold waiting, each event counted once per output */
  readonly maxBytes: number
  /** on shutdown, how long queued events may take to leave */
  readonly shutdownTimeout: Duration.DurationInput
  /**
   * false with a durable buffer: nothing needs to leave before the process does (the next start resumes);
   * in-flight attempts are given back, the store keeps them
   */
  readonly drainOnShutdown?: boolean
  /** workers of an output whose maxconcurrentrequests is 0 (unlimited) */
  readonly maxConcurrency: number
  readonly deadLetter: {
    /** dead letters kept in memory (the newest) */
    readonly maxEntries: number
    /** an output that also gets every other output's dead letters (an S3 bucket, a webhook); "" = none */
    readonly output: string
  }
  /**
   * Where the lanes' fibers run. Default: batched on setImmediate (see `makeLaneScheduler`). Unit tests pass
   * Effect's default scheduler, whose microtask turns `yieldNow` can step through deterministically.
   */
  readonly scheduler?: Scheduler.Scheduler
}

export const defaultDeliveryOptions: DeliveryOptions = {
  queueCapacity: 10_000,
  queueMaxBytes: 32 * 1024 * 1024,
  maxBytes: 128 * 1024 * 1024,
  overflow: "dropnewest",
  timeout: "10 seconds",
  retry: { maxAge: "1 hour", maxAttempts: 0, initialDelay: "500 millis", maxDelay: "30 seconds" },
  circuitBreaker: { failures: 5, resetAfter: "30 seconds" },
  shutdownTimeout: "10 seconds",
  maxConcurrency: 64,
  deadLetter: { maxEntries: 1000, output: "" }
}

/** The ingest side refused an event: every output that wanted it had a full queue. */
export class QueueFullError extends Data.TaggedError("QueueFullError")<{ readonly outputs: ReadonlyArray<string> }> {
  override get message() {
    return `queue full for ${this.outputs.join(", ")}`
  }
}

/**
 * "accepted": queued for every output that wants it (minus counted drops), and stored durably once
 * `durable` resolves (the spool with fsync durability; absent: already); "full": refused, answer 503
 */
export type PublishResult =
  | { readonly _tag: "Accepted"; readonly durable?: Promise<void> | undefined }
  | { readonly _tag: "Full"; readonly outputs: ReadonlyArray<string> }

const accepted: PublishResult = { _tag: "Accepted" }

const circuitLevel = { Closed: 0, HalfOpen: 1, Open: 2 } as const

/**
 * The lanes' fibers resume in batches on setImmediate rather than one microtask turn per fiber (Effect's
 * default): with dozens of workers waiting on I/O this cut the CPU per delivery by about a quarter
 * (tools/bench/lane.ts), and it lets the HTTP server's I/O in between batches.
 */
export const makeLaneScheduler = (): Scheduler.Scheduler => Scheduler.makeBatched((runBatch) => setImmediate(runBatch))

export interface DispatcherService {
  /**
   * Queue an event for every output that wants it, synchronously (the HTTP fast path calls this
   * without running an Effect). `parent` becomes the parent span of its delivery attempts.
   */
  readonly unsafePublish: (event: FalcoEvent, parent: Tracer.AnySpan | undefined) => PublishResult
  readonly publish: (event: FalcoEvent) => Effect.Effect<void, QueueFullError>
  /** the outputs' names, in registry order */
  readonly outputs: ReadonlyArray<string>
  /** the read model: per output, what is queued, in flight, delivered, dropped by reason, its circuit, its last error */
  readonly status: () => ReadonlyArray<OutputStatus>
  /** events queued or being delivered, all outputs together */
  readonly pending: () => number
  /** the events the outputs will never deliver */
  readonly deadLetters: DeadLettersService
  /**
   * Put an output's dead letters back in its queue (as many as it has room for; the others stay dead
   * letters). Undefined when there is no such output.
   */
  readonly replay: (output: string) => { readonly replayed: number; readonly left: number } | undefined
  /** wait until every queue is empty and every worker idle (or `timeout` passed); true when drained */
  readonly drain: (timeout: Duration.DurationInput) => Effect.Effect<boolean>
}

export const make = (
  options: DeliveryOptions
): Effect.Effect<DispatcherService, never, Outputs | Metrics | Buffer | DeadLetters | Scope.Scope> =>
  Effect.gen(function*() {
    const outputs = yield* Outputs
    const metrics = yield* Metrics
    const buffer = yield* Buffer
    const deadLetters = yield* DeadLetters
    metrics.observeDeadLetters(() => ({ stored: deadLetters.size(), forgotten: deadLetters.forgotten() }))
    // filled in once the lanes exist: the lane of `deadletter.output`
    let forwardTo: Lane | undefined = undefined
    const deadLettered = (letters: ReadonlyArray<Omit<DeadLetter, "id">>) => {
      if (letters.length === 0) return
      deadLetters.add(letters)
      const from = letters[0]!.output
      if (forwardTo === undefined || forwardTo.output.name === from) return
      // a dead letter the forward output cannot take either is counted there, and not forwarded again
      let forwarded = 0
      for (const letter of letters) {
        if (letter.envelope === undefined) continue // a summary: no event to forward
        const [outcome] = buffer.offer(letter.envelope, [forwardTo.buffer])
        if (outcome === "queued") forwarded++
        else if (outcome === "full") forwardTo.dropped("queue_full", 1)
        else {
          forwarded++
          forwardTo.dropped("queue_full", outcome!.evicted.length)
        }
      }
      metrics.deadLettersForwarded(from, forwarded)
    }
    const clock = yield* Effect.clock
    const runLog = Runtime.runFork(yield* Effect.runtime<never>())
    const scheduler = options.scheduler ?? makeLaneScheduler()
    // no span at all when tracing is off (no OTEL_* exporter): even a no-op span is measurable per event
    const tracing = yield* FiberRef.get(FiberRef.currentTracerEnabled)
    const lanes: ReadonlyArray<Lane> = yield* Effect.forEach(outputs, (output) =>
      Effect.gen(function*() {
        const policy = resolvePolicy(options, output.policy)
        const laneBuffer = yield* buffer.lane(output.name, {
          capacity: policy.queueCapacity,
          maxBytes: policy.queueMaxBytes,
          overflow: policy.overflow
        })
        return yield* makeLane({
          output,
          policy,
          buffer: laneBuffer,
          scheduler,
          metrics,
          maxConcurrency: options.maxConcurrency,
          tracing,
          deadLettered
        })
      }))
    forwardTo = lanes.find((lane) => lane.output.name === options.deadLetter.output)
    // a full spool dropped its oldest segment (or a bounded stream its oldest messages): what a lane had not
    // read of it is lost to that output
    buffer.onOverflow((name, events) => {
      const lane = lanes.find((l) => l.output.name === name)
      if (lane === undefined) return
      lane.dropped("queue_full", events)
      const error = `the spool was full and dropped its oldest events (delivery.spool.maxbytes, or the stream's delivery.spool.nats.maxbytes): ${events} not yet delivered to this output`
      deadLettered([{ output: name, reason: "queue_full", at: clock.unsafeCurrentTimeMillis(), error, attempts: 0, summary: { events } }])
      runLog(Effect.logError(`${events} events dropped (queue_full): the spool was full and dropped its oldest`).pipe(
        Effect.annotateLogs("output", name)
      ))
    })
    let closing = false

    const status = () => lanes.map((lane) => lane.status())
    metrics.observeLanes(() =>
      closing ? [] : lanes.map((lane) => ({
        destination: destinationOf(lane.output.name),
        depth: lane.buffer.size(),
        capacity: lane.buffer.capacity,
        bytes: lane.buffer.bytes(),
        circuit: circuitLevel[lane.status().circuit]
      }))
    )
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
        if (options.drainOnShutdown === false) {
          closing = true
          const kept = pending()
          if (kept > 0) yield* Effect.logInfo(`${kept} events kept in the spool for the next start`)
          return
        }
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
      const wanting: Array<Lane> = []
      let refusedBy: Array<string> | undefined
      for (const lane of lanes) {
        if (!lane.wants(event, eventRank)) continue
        wanting.push(lane)
        // reject: an output with a full queue refuses the event for every output (the sender gets a 503)
        if (lane.policy.overflow === "reject" && !lane.buffer.hasRoom()) (refusedBy ??= []).push(lane.output.name)
        // The spool takes an outage's backlog (an output whose circuit is open), but an output that is up and
        // more than queuecapacity behind pushes back on the sender (held, then 503): measured in a closed
        // loop, a spool that took everything let ingest starve the lanes, which then read their backlog
        // back from disk — 44 % of the relay's deliveries instead of 80 % in memory.
        else if (buffer.persistent && lane.buffer.size() >= lane.policy.queueCapacity && lane.healthy()) {
          (refusedBy ??= []).push(lane.output.name)
        }
      }
      if (refusedBy) return { _tag: "Full", outputs: refusedBy }
      if (wanting.length === 0) return accepted
      const envelope: Envelope = {
        id: buffer.nextId(),
        event,
        traceparent: tracing && parent ? traceparentOf(parent) : undefined,
        acceptedAt: clock.unsafeCurrentTimeMillis()
      }
      const outcomes = buffer.offer(envelope, wanting.map((lane) => lane.buffer))
      const refused: Array<string> = []
      outcomes.forEach((outcome, i) => {
        if (outcome === "queued") return
        const lane = wanting[i]!
        if (outcome === "full") refused.push(lane.output.name)
        else overflowed(lane, outcome.evicted)
      })
      // every output that wanted the event refused it: tell the sender (503) rather than pretend
      if (refused.length === wanting.length) {
        for (const lane of wanting) lane.dropped("queue_full", 1)
        return { _tag: "Full", outputs: refused }
      }
      // accepted, but some outputs had no room: for them it is a dead letter
      if (refused.length > 0) {
        outcomes.forEach((outcome, i) => outcome === "full" && overflowed(wanting[i]!, [envelope]))
      }
      const durable = buffer.durable()
      return durable === undefined ? accepted : { _tag: "Accepted", durable }
    }

    /** events a full buffer refused or pushed out, for an event that was accepted */
    const overflowed = (lane: Lane, envelopes: ReadonlyArray<Envelope>) => {
      lane.dropped("queue_full", envelopes.length)
      const at = clock.unsafeCurrentTimeMillis()
      const error = `queue full (${lane.buffer.capacity} events, or its bytes bound)`
      deadLettered(envelopes.map((envelope) => ({ output: lane.output.name, reason: "queue_full", at, error, attempts: 0, envelope })))
    }

    const replay = (name: string) => {
      const lane = lanes.find((l) => l.output.name === name)
      if (lane === undefined) return undefined
      const letters = deadLetters.take(name)
      const left: Array<Omit<DeadLetter, "id">> = []
      let replayed = 0
      for (const letter of letters) {
        if (letter.envelope === undefined) continue // a summary is read, not replayed: replay acknowledges it
        const [outcome] = buffer.offer(letter.envelope, [lane.buffer])
        if (outcome === "full") left.push(letter)
        else {
          replayed++
          if (outcome !== "queued") lane.dropped("queue_full", outcome!.evicted.length)
        }
      }
      deadLetters.add(left)
      metrics.deadLettersReplayed(name, replayed)
      return { replayed, left: left.length }
    }

    return {
      unsafePublish,
      publish: (event) =>
        Effect.flatMap(Effect.option(Effect.currentSpan), (span) => {
          const result = unsafePublish(event, span._tag === "Some" ? span.value : undefined)
          if (result._tag === "Full") return Effect.fail(new QueueFullError({ outputs: result.outputs }))
          const durable = result.durable
          return durable === undefined ? Effect.void : Effect.promise(() => durable)
        }),
      outputs: outputs.map((o) => o.name),
      status,
      pending,
      drain,
      deadLetters,
      replay
    } satisfies DispatcherService
  })

export class Dispatcher extends Context.Tag("@sidekick/delivery/Dispatcher")<Dispatcher, DispatcherService>() {
  static readonly make = make
  /** the Dispatcher over in-memory buffers and dead letters */
  static readonly layer = (options: DeliveryOptions = defaultDeliveryOptions): Layer.Layer<Dispatcher, never, Outputs | Metrics> =>
    Layer.scoped(Dispatcher, make(options)).pipe(
      Layer.provide(Buffer.layerMemory({ maxBytes: options.maxBytes })),
      Layer.provide(DeadLetters.layerMemory(options.deadLetter.maxEntries))
    )
  /** the Dispatcher over whichever Buffer and dead-letter store are provided (the durable spool) */
  static readonly layerWithStores = (
    options: DeliveryOptions = defaultDeliveryOptions
  ): Layer.Layer<Dispatcher, never, Outputs | Metrics | Buffer | DeadLetters> => Layer.scoped(Dispatcher, make(options))
}
