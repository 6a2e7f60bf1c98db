/**
 * The ingest path: body -> decoded, enriched event -> metrics -> span -> queued for every output.
 * Synchronous on purpose: it runs for every Falco event, straight from the node:http handler, so it
 * starts no fiber; only the per-output lanes behind the Dispatcher are Effect fibers.
 *
 * Backpressure: when the buffers are full, the request is held (up to `delivery.backpressure.maxwait`)
 * and queued again as soon as there is room, before it is answered 503. For Falco a slower 200 is
 * better than a lost alert: its own output queue absorbs the wait, and a 503 is an alert gone. Held
 * requests keep their order, and a new event waits behind them rather than overtaking them.
 */
import { Dispatcher } from "@sidekick/delivery"
import { type EnrichmentOptions, eventJson, type FalcoEvent, makeIngest } from "@sidekick/event"
import { Metrics, parentFromHeaders } from "@sidekick/telemetry"
import { Context, Data, Duration, Effect, Either, Exit, FiberRef, Layer, Runtime, type Scope, type Tracer } from "effect"
import type { IncomingHttpHeaders } from "node:http"
import type { FalcoEventLabels } from "./FalcoEventLabels.js"

/** What the event endpoint answers: 200 with no body, or a status with a one-line reason. */
export type IngestOutcome =
  | { readonly status: 200 }
  | { readonly status: 400; readonly message: string }
  | { readonly status: 503; readonly message: string }

/** The enrichment options cannot be used (a templated field that does not compile): the service refuses to start. */
export class IngestConfigError extends Data.TaggedError("IngestConfigError")<{ readonly message: string }> {}

/** The ingest path as the HTTP server calls it, straight from its node:http handler. */
export interface IngestHandlerService {
  /**
   * One request body of the event endpoint (POST / and /test): decode and enrich the event, count it,
   * queue it for every output that wants it. `headers` may carry a W3C or B3 trace context to continue.
   * 200 once queued; 400 with the reason for a body that is not a valid Falco event; 503 when every
   * output that wants the event still has a full queue after `backpressureMaxWait` (then the answer is
   * a promise: the request is held meanwhile).
   */
  readonly handle: (body: string, headers: IncomingHttpHeaders) => IngestOutcome | Promise<IngestOutcome>
  /** A request to the event endpoint with another method than POST: counted as rejected, and answered 400. */
  readonly wrongMethod: () => IngestOutcome
}

export interface IngestOptions {
  readonly enrichment: EnrichmentOptions
  readonly labels: FalcoEventLabels
  readonly debug: boolean
  /** how long a request may be held while the buffers are full (0: answer 503 at once) */
  readonly backpressureMaxWait: Duration.DurationInput
}

/** how often held requests try the buffers again */
const retryEveryMillis = 2

interface Held {
  readonly event: FalcoEvent
  readonly span: Tracer.Span | undefined
  readonly deadline: number
  readonly resolve: (outcome: IngestOutcome) => void
}

const ok: IngestOutcome = { status: 200 }

export const make = (
  options: IngestOptions
): Effect.Effect<IngestHandlerService, IngestConfigError, Dispatcher | Metrics | Scope.Scope> =>
  Effect.gen(function*() {
    const dispatcher = yield* Dispatcher
    const metrics = yield* Metrics
    const tracer = yield* Effect.tracer
    // no span at all when tracing is off (see the Dispatcher): it would go nowhere
    const tracing = yield* FiberRef.get(FiberRef.currentTracerEnabled)
    const clock = yield* Effect.clock
    const runtime = yield* Effect.runtime<never>()
    const runLog = Runtime.runFork(runtime)
    const ingest = yield* Either.match(makeIngest(options.enrichment), {
      onLeft: (message) => Effect.fail(new IngestConfigError({ message })),
      onRight: Effect.succeed
    })

    const reject = (reason: "malformed_json" | "invalid_event", message: string): IngestOutcome => {
      metrics.input("rejected", reason)
      if (options.debug) runLog(Effect.logDebug(`rejected event: ${message}`))
      return { status: 400, message }
    }

    const handle = (body: string, headers: IncomingHttpHeaders): IngestOutcome | Promise<IngestOutcome> => {
      const span = tracing
        ? tracer.span(
          "Sidekick.ingest",
          parentFromHeaders(headers),
          Context.empty(),
          [],
          clock.unsafeCurrentTimeNanos(),
          "server",
          { captureStackTrace: false }
        )
        : undefined
      const decoded = ingest.decode(body)
      if (Either.isLeft(decoded)) {
        const message = decoded.left
        span?.attribute("sidekick.outcome", "rejected")
        span?.end(clock.unsafeCurrentTimeNanos(), Exit.fail(message))
        return reject(message.startsWith("malformed JSON") ? "malformed_json" : "invalid_event", message)
      }
      const event = decoded.right
      span?.attribute("falco.rule", event.rule)
      span?.attribute("falco.priority", event.priority)
      span?.attribute("falco.source", event.source)
      span?.attribute("falco.uuid", event.uuid)
      if (event.hostname !== "") span?.attribute("falco.hostname", event.hostname)
      if (held.length === 0) {
        const published = dispatcher.unsafePublish(event, span)
        if (published._tag === "Accepted") return published.durable === undefined ? accepted(event, span) : whenDurable(published.durable, event, span)
        if (maxWaitMillis <= 0) return full(published.outputs, span)
      }
      // full, or others are already waiting: wait behind them
      return new Promise<IngestOutcome>((resolve) => {
        held.push({ event, span, deadline: Date.now() + maxWaitMillis, resolve })
        timer ??= setInterval(retryHeld, retryEveryMillis)
      })
    }

    const accepted = (event: FalcoEvent, span: Tracer.Span | undefined): IngestOutcome => {
      metrics.input("accepted")
      metrics.falcoEvent(event, options.labels.values(event))
      if (options.debug) runLog(Effect.logDebug(`Falco's payload : ${eventJson(event)}`))
      span?.attribute("sidekick.outcome", "accepted")
      span?.end(clock.unsafeCurrentTimeNanos(), Exit.void)
      return ok
    }

    /** the spool with fsync durability: 200 once the group commit covering the event is done */
    const whenDurable = (durable: Promise<void>, event: FalcoEvent, span: Tracer.Span | undefined): Promise<IngestOutcome> =>
      durable.then(
        () => accepted(event, span),
        (e: unknown) => {
          const message = `the spool could not store the event: ${e instanceof Error ? e.message : String(e)}`
          metrics.input("rejected", "spool_error")
          span?.end(clock.unsafeCurrentTimeNanos(), Exit.fail(message))
          return { status: 503, message }
        }
      )

    const full = (outputs: ReadonlyArray<string>, span: Tracer.Span | undefined): IngestOutcome => {
      const message = `queue full for ${outputs.join(", ")}`
      metrics.input("rejected", "queue_full")
      span?.attribute("sidekick.outcome", "queue_full")
      span?.end(clock.unsafeCurrentTimeNanos(), Exit.fail(message))
      return { status: 503, message }
    }

    const maxWaitMillis = Duration.toMillis(Duration.decode(options.backpressureMaxWait))
    const held: Array<Held> = []
    let timer: ReturnType<typeof setInterval> | undefined
    /** queue the held requests in order while there is room; answer 503 to those whose wait is over */
    const retryHeld = () => {
      const now = Date.now()
      while (held.length > 0) {
        const first = held[0]!
        const published = dispatcher.unsafePublish(first.event, first.span)
        if (published._tag === "Accepted") {
          held.shift()
          if (published.durable === undefined) first.resolve(accepted(first.event, first.span))
          else void whenDurable(published.durable, first.event, first.span).then(first.resolve)
          continue
        }
        // deadlines grow along the line: the expired ones are at its head
        while (held.length > 0 && held[0]!.deadline <= now) {
          const expired = held.shift()!
          expired.resolve(full(published.outputs, expired.span))
        }
        break
      }
      if (held.length === 0 && timer !== undefined) {
        clearInterval(timer)
        timer = undefined
      }
    }
    // shutting down: whatever is still held is answered 503 now
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        if (timer !== undefined) clearInterval(timer)
        timer = undefined
        for (const h of held.splice(0)) h.resolve(full(dispatcher.outputs, h.span))
      })
    )

    const wrongMethod = (): IngestOutcome => {
      metrics.input("rejected", "method")
      return { status: 400, message: "Please send with post http method" }
    }

    return { handle, wrongMethod }
  })

export class IngestHandler extends Context.Tag("@sidekick/app/IngestHandler")<IngestHandler, IngestHandlerService>() {
  static readonly layer = (options: IngestOptions): Layer.Layer<IngestHandler, IngestConfigError, Dispatcher | Metrics> =>
    Layer.scoped(IngestHandler, make(options))
}
