/**
 * Trace context in and out of Sidekick through the propagator OpenTelemetryLive registers globally: the ones
 * OTEL_PROPAGATORS names (NodeSDK builds them: tracecontext, baggage, b3, b3multi, jaeger; "none" ignores incoming
 * context and sends none), or, when the variable is unset, `sidekickPropagator`: what Sidekick has always done.
 * Call these only while tracing is on: with no SDK started the global propagator reads and writes nothing.
 */
import * as OtelTracer from "@effect/opentelemetry/Tracer"
import {
  type Context,
  isSpanContextValid,
  propagation,
  ROOT_CONTEXT,
  trace,
  TraceFlags,
  type TextMapGetter,
  type TextMapPropagator,
  type TextMapSetter
} from "@opentelemetry/api"
import { W3CTraceContextPropagator } from "@opentelemetry/core"
import { B3Propagator } from "@opentelemetry/propagator-b3"
import { Option, type Tracer } from "effect"

const w3c = new W3CTraceContextPropagator()
const b3 = new B3Propagator()

/**
 * Sidekick's default: an incoming W3C `traceparent` (with `tracestate`) is continued, else a B3 one (the single `b3`
 * header or the `X-B3-*` headers), which is what @effect/platform's HttpTraceContext accepts; outgoing requests
 * carry W3C `traceparent` only, so peers see no header they did not see before.
 */
export const sidekickPropagator: TextMapPropagator = {
  inject: (context: Context, carrier: unknown, setter: TextMapSetter) => w3c.inject(context, carrier, setter),
  extract: (context: Context, carrier: unknown, getter: TextMapGetter) => {
    const continued = w3c.extract(context, carrier, getter)
    return trace.getSpanContext(continued) !== trace.getSpanContext(context) ? continued : b3.extract(context, carrier, getter)
  },
  // the headers it writes
  fields: () => w3c.fields()
}

export type IncomingHeaders = Readonly<Record<string, string | ReadonlyArray<string> | undefined>>

/** The remote parent that `headers` (lower-case names, as node:http gives them) ask to continue, if any. */
export const parentFromHeaders = (headers: IncomingHeaders): Option.Option<Tracer.ExternalSpan> => {
  const remote = trace.getSpanContext(propagation.extract(ROOT_CONTEXT, headers))
  return remote !== undefined && isSpanContextValid(remote)
    ? Option.some(OtelTracer.makeExternalSpan(remote))
    : Option.none()
}

/** The headers that carry `span` to a peer (`traceparent` by default), added to `headers`. */
export const injectContext = (span: Tracer.AnySpan, headers: Record<string, string>): void => {
  const context = trace.setSpanContext(ROOT_CONTEXT, {
    traceId: span.traceId,
    spanId: span.spanId,
    traceFlags: span.sampled ? TraceFlags.SAMPLED : TraceFlags.NONE,
    isRemote: false
  })
  propagation.inject(context, headers)
}
