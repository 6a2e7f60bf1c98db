/**
 * OTLP Traces: one span per event of the syscall source (falcosidekick's `otlp.traces`), over OTLP/HTTP
 * protobuf (default), OTLP/HTTP JSON or gRPC. The span is falcosidekick's: name = rule, kind SERVER, from the
 * event time (to the nanosecond) to `duration` ms later, a trace id that groups the events of one pod (or
 * container, or host), the event as attributes and one span event named after the output.
 *
 * How a send becomes an export. falcosidekick ends the span and leaves it to the SDK's span processor:
 * its send "succeeds" before anything left the process, and a failed export is only a log line. Here the
 * span is built with the SDK (its own BasicTracerProvider, never the global one) and handed to the SDK's
 * OTLP exporter by the output itself, so a send returns once the collector accepted the spans and a failed
 * export is a failed attempt that the Dispatcher retries. Batching comes from the Dispatcher too: with
 * `synced: false` (falcosidekick's default, its BatchSpanProcessor) the output is a batch output and one
 * batch is one export request (`batching.*`, the BatchSpanProcessor's defaults: 512 spans, 5 s); with
 * `synced: true` (its SimpleSpanProcessor) one event is one request.
 *
 * Differences from falcosidekick, each on purpose:
 * - the span id is derived from the event's uuid, so a retried export sends the same span again (backends
 *   keep one) instead of a second one with a random id;
 * - events of other sources are not an error: the Dispatcher has no notion of an output declining an
 *   event, so `send` succeeds without exporting them (counted as an ok attempt);
 * - an event without the fields the trace id is made of fails its attempt for good (Encode), where
 *   falcosidekick logs and drops it.
 */
import { ROOT_CONTEXT, SpanKind, type Attributes } from "@opentelemetry/api"
// types only: the SDK and its exporters are loaded by `make`, when the output is enabled
import type { OTLPTraceExporter as GrpcTraceExporter } from "@opentelemetry/exporter-trace-otlp-grpc"
import type { OTLPTraceExporter as JsonTraceExporter } from "@opentelemetry/exporter-trace-otlp-http"
import type { OTLPTraceExporter as ProtoTraceExporter } from "@opentelemetry/exporter-trace-otlp-proto"
import type { Resource } from "@opentelemetry/resources"
import type * as SdkTraceBase from "@opentelemetry/sdk-trace-base"
import type { ReadableSpan, SpanProcessor } from "@opentelemetry/sdk-trace-base"
import { Field } from "@sidekick/config"
import type { OutputError, PartialFailure } from "@sidekick/delivery"
import { compareBytewise, eventJson, type FalcoEvent } from "@sidekick/event"
import { sprintV } from "@sidekick/gotemplate"
import { Effect } from "effect"
import type { NonEmptyReadonlyArray } from "effect/Array"
import { define, type OutputContext } from "../Definition.js"
import { batchingFields, batchOptions, outputSection } from "../OutputConfig.js"
import {
  type ExporterClasses,
  exportFailure,
  exportWith,
  falcoResource,
  hrTimeOf,
  otlpExporter,
  otlpFields,
  otlpSettings,
  shutdownQuietly
} from "./common.js"

export const OtlpTracesConfig = outputSection("otlp.traces", {
  ...otlpFields(),
  /** falcosidekick's SimpleSpanProcessor: one export request per event (else batches, see `batching`) */
  synced: Field.bool(false),
  /** the span's length in milliseconds (falcosidekick's artificial duration) */
  duration: Field.int(1000, { min: 0 }),
  /** Sidekick's: with `synced: false`, how events are grouped into one export request */
  batching: batchingFields({ enabled: true, maxevents: 512, maxbytes: 4 * 1024 * 1024, flushinterval: "5s" })
})
export type OtlpTracesConfig = typeof OtlpTracesConfig.Type

/** falcosidekick's instrumentation scope and resource version of traces (and logs) */
export const tracesScope = "falco-event"
export const tracesServiceVersion = "v0.1.0"

// ---------------------------------------------------------------------------------------------------------------
// Trace id: FNV-1a 128 (Go's hash/fnv New128a), written by hand because no maintained npm package has the
// 128-bit variant; BigInt keeps it to a few lines.
// ---------------------------------------------------------------------------------------------------------------

const fnv128Offset = 0x6c62272e07bb014262b821756295c58dn
const fnv128Prime = 0x0000000001000000000000000000013bn
const mask128 = (1n << 128n) - 1n

/** FNV-1a 128 of the bytes */
export const fnv1a128 = (bytes: Uint8Array): bigint => {
  let hash = fnv128Offset
  for (const byte of bytes) hash = ((hash ^ BigInt(byte)) * fnv128Prime) & mask128
  return hash
}

/** FNV-1a 128 of the text's UTF-8 bytes, as 32 hex digits */
export const fnv1a128Hex = (text: string): string => fnv1a128(Buffer.from(text, "utf8")).toString(16).padStart(32, "0")

const stringField = (event: FalcoEvent, key: string): string => {
  const value = event.output_fields[key]
  return typeof value === "string" ? value : ""
}

/**
 * What the trace id is made of: `<k8s.ns.name>:<k8s.pod.name>` when both are set, else `container.id`
 * (unless `host`), else `evt.hostname`; only string values count. undefined: none of them.
 */
export const traceIdSource = (event: FalcoEvent): string | undefined => {
  const namespace = stringField(event, "k8s.ns.name")
  const pod = stringField(event, "k8s.pod.name")
  if (namespace !== "" && pod !== "") return `${namespace}:${pod}`
  const container = stringField(event, "container.id")
  if (container !== "" && container !== "host") return container
  const host = stringField(event, "evt.hostname")
  return host === "" ? undefined : host
}

/** the event's trace id (32 hex digits), or undefined when nothing identifies where it happened */
export const otlpTraceId = (event: FalcoEvent): string | undefined => {
  const source = traceIdSource(event)
  return source === undefined ? undefined : fnv1a128Hex(source)
}

/** the span's attributes: the event's, then every output field as Go's `%v` text, in key order */
export const spanAttributes = (event: FalcoEvent): Attributes => {
  const attributes: Attributes = {
    uuid: event.uuid,
    source: event.source,
    priority: event.priority,
    rule: event.rule,
    hostname: event.hostname,
    tags: [...event.tags]
  }
  for (const key of Object.keys(event.output_fields).sort(compareBytewise)) attributes[key] = sprintV(event.output_fields[key])
  return attributes
}

/** falcosidekick sends only the syscall source's events */
export const isSyscallEvent = (event: FalcoEvent): boolean => event.source === "syscall" || event.source === "syscalls"

const nanosPerMilli = 1_000_000n

/**
 * Spans made by the SDK's own tracer (`sdk`: @opentelemetry/sdk-trace-base, loaded by the caller), each handed
 * back when it ends. The provider is ours alone (never registered globally); its sampler and limits are given,
 * so the OTEL_* variables of Sidekick's own tracing do not apply. The tracer asks its id generator for the
 * ids: it answers with the ones the event gives.
 */
export const makeSpanBuilder = (sdk: typeof SdkTraceBase, resource: Resource, durationMillis: number) => {
  const random = new sdk.RandomIdGenerator()
  let traceId = ""
  let spanId = ""
  const ended: Array<ReadableSpan> = []
  const capture: SpanProcessor = {
    onStart: () => {},
    onEnd: (span) => {
      ended.push(span)
    },
    forceFlush: () => Promise.resolve(),
    shutdown: () => Promise.resolve()
  }
  const provider = new sdk.BasicTracerProvider({
    resource,
    sampler: new sdk.AlwaysOnSampler(),
    idGenerator: { generateTraceId: () => traceId, generateSpanId: () => spanId },
    spanLimits: {
      attributeCountLimit: 128,
      attributeValueLengthLimit: Infinity,
      eventCountLimit: 128,
      linkCountLimit: 128,
      attributePerEventCountLimit: 128,
      attributePerLinkCountLimit: 128
    },
    spanProcessors: [capture]
  })
  const tracer = provider.getTracer(tracesScope)
  const duration = BigInt(durationMillis) * nanosPerMilli
  /** the event's span, ended; undefined when the event has no trace id */
  const build = (event: FalcoEvent): ReadableSpan | undefined => {
    const id = otlpTraceId(event)
    if (id === undefined) return undefined
    traceId = id
    const fromUuid = event.uuid === "" ? "" : fnv1a128Hex(event.uuid).slice(16)
    spanId = fromUuid === "" || /^0+$/.test(fromUuid) ? random.generateSpanId() : fromUuid
    const start = hrTimeOf(event.timeUnixNanos)
    // ROOT_CONTEXT: never a child of whatever span of Sidekick's own tracing is active
    const span = tracer.startSpan(event.rule, { kind: SpanKind.SERVER, startTime: start, root: true }, ROOT_CONTEXT)
    span.setAttributes(spanAttributes(event))
    span.addEvent(event.output, start)
    span.end(hrTimeOf(event.timeUnixNanos + duration))
    return ended.pop()
  }
  return { provider, build }
}

/** the SDK's span exporters, per protocol */
export const traceExporters: ExporterClasses<GrpcTraceExporter | JsonTraceExporter | ProtoTraceExporter> = {
  grpc: () => import("@opentelemetry/exporter-trace-otlp-grpc").then(({ OTLPTraceExporter }) => (options) => new OTLPTraceExporter(options)),
  json: () => import("@opentelemetry/exporter-trace-otlp-http").then(({ OTLPTraceExporter }) => (options) => new OTLPTraceExporter(options)),
  proto: () => import("@opentelemetry/exporter-trace-otlp-proto").then(({ OTLPTraceExporter }) => (options) => new OTLPTraceExporter(options))
}

const noTraceId = (ctx: Pick<OutputContext, "error">): OutputError =>
  ctx.error("Encode", "no trace id: the event has none of k8s.ns.name + k8s.pod.name, container.id, evt.hostname")

export const OtlpTraces = define({
  config: OtlpTracesConfig,
  displayName: "OTLPTraces",
  enabled: (c) => c.endpoint !== "",
  make: (c, ctx) =>
    Effect.gen(function*() {
      const settings = yield* otlpSettings("traces", c, ctx)
      const exporter = yield* otlpExporter(ctx, settings, traceExporters)
      const sdk = yield* Effect.promise(() => import("@opentelemetry/sdk-trace-base"))
      const spans = yield* Effect.acquireRelease(
        Effect.sync(() => makeSpanBuilder(sdk, falcoResource(tracesServiceVersion, settings.resourceAttributes), c.duration)),
        (b) => shutdownQuietly(`${ctx.name} tracer provider`, () => b.provider.shutdown())
      )
      const exportSpans = (items: Array<ReadableSpan>) => exportWith(exporter, items, (e) => exportFailure(ctx, settings.protocol, e))

      const sendOne = (event: FalcoEvent): Effect.Effect<void, OutputError> =>
        Effect.suspend(() => {
          if (!isSyscallEvent(event)) return Effect.void
          const span = spans.build(event)
          return span === undefined ? Effect.fail(noTraceId(ctx)) : exportSpans([span])
        })

      const sendBatch = (events: NonEmptyReadonlyArray<FalcoEvent>): Effect.Effect<void | PartialFailure, OutputError> =>
        Effect.suspend(() => {
          const built: Array<ReadableSpan> = []
          const failures: Array<PartialFailure["failures"][number]> = []
          events.forEach((event, index) => {
            if (!isSyscallEvent(event)) return
            const span = spans.build(event)
            if (span === undefined) failures.push({ index, error: noTraceId(ctx) })
            else built.push(span)
          })
          const outcome: void | PartialFailure = failures.length === 0 ? undefined : { _tag: "PartialFailure", failures }
          return built.length === 0 ? Effect.succeed(outcome) : Effect.as(exportSpans(built), outcome)
        })

      const batch = c.synced ? undefined : batchOptions(c.batching, (event) => Buffer.byteLength(eventJson(event)))
      return batch === undefined
        ? { kind: "single" as const, testRuleBypass: false, send: sendOne }
        : { kind: "batch" as const, testRuleBypass: false, batch, send: sendBatch }
    })
})
