import { describe, expect, it } from "@effect/vitest"
import { propagation, trace } from "@opentelemetry/api"
import { makeReceiver, type RecordedRequest, withEnv } from "@sidekick/testing"
import { Effect, Exit, FiberRef, Layer, Logger, Option, Schedule, Scope, Tracer } from "effect"
import {
  diagnosticLine,
  exportOwnMetrics,
  injectContext,
  Metrics,
  OpenTelemetryLive,
  parentFromHeaders
} from "../src/index.js"

const identity = { serviceName: "sidekick", serviceVersion: "test" }

interface OtlpAttribute {
  readonly key: string
  readonly value?: { readonly stringValue?: string; readonly intValue?: string | number }
}
const attribute = (attributes: ReadonlyArray<OtlpAttribute> | undefined, key: string) =>
  attributes?.find((a) => a.key === key)?.value?.stringValue

interface OtlpTraces {
  readonly resourceSpans: ReadonlyArray<{
    readonly resource?: { readonly attributes?: ReadonlyArray<OtlpAttribute> }
    readonly scopeSpans: ReadonlyArray<{ readonly spans: ReadonlyArray<{ readonly name: string; readonly traceId: string; readonly parentSpanId?: string }> }>
  }>
}

interface OtlpMetrics {
  readonly resourceMetrics: ReadonlyArray<{
    readonly resource?: { readonly attributes?: ReadonlyArray<OtlpAttribute> }
    readonly scopeMetrics: ReadonlyArray<{
      readonly metrics: ReadonlyArray<{
        readonly name: string
        readonly sum?: {
          readonly dataPoints: ReadonlyArray<{ readonly attributes?: ReadonlyArray<OtlpAttribute>; readonly asInt?: string | number }>
        }
      }>
    }>
  }>
}

/** the accepted-inputs count in one OTLP/JSON metrics request, if the request has it */
const acceptedInputs = (request: RecordedRequest): number | undefined => {
  const body = JSON.parse(request.body) as OtlpMetrics
  const point = body.resourceMetrics.flatMap((rm) => rm.scopeMetrics.flatMap((sm) => sm.metrics))
    .find((m) => m.name === "falcosecurity_falcosidekick_inputs_total")
    ?.sum?.dataPoints.find((p) => attribute(p.attributes, "status") === "accepted")
  return point?.asInt === undefined ? undefined : Number(point.asInt)
}

describe("OpenTelemetryLive", () => {
  it.scoped("with no OTEL_* variable asking, span creation is off and nothing is registered", () =>
    Effect.gen(function*() {
      yield* withEnv({ OTEL_SERVICE_NAME: "quiet", OTEL_PROPAGATORS: "b3" }, { clearing: "OTEL_" })
      const context = yield* Layer.build(OpenTelemetryLive(identity))
      const enabled = yield* FiberRef.get(FiberRef.currentTracerEnabled).pipe(Effect.provide(context))
      expect(enabled).toBe(false)
      expect(propagation.fields()).toEqual([])
    }))

  it.scopedLive("traces: NodeSDK exports Effect's spans, OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES name the resource, OTEL_PROPAGATORS is the global propagator", () =>
    Effect.gen(function*() {
      const otlp = yield* makeReceiver()
      yield* withEnv({
        OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url,
        OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
        OTEL_SERVICE_NAME: "sidekick-eu",
        OTEL_RESOURCE_ATTRIBUTES: "deployment.environment=prod,service.name=ignored",
        OTEL_PROPAGATORS: "b3multi"
      }, { clearing: "OTEL_" })
      const scope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(OpenTelemetryLive(identity), scope)
      const parent = Tracer.externalSpan({ traceId: "0af7651916cd43dd8448eb211c80319c", spanId: "b7ad6b7169203331", sampled: true })
      yield* Effect.void.pipe(Effect.withSpan("unit.work", { parent }), Effect.provide(context))

      // b3multi only: X-B3-* is read and written, traceparent is neither
      expect(Option.map(parentFromHeaders({ "x-b3-traceid": parent.traceId, "x-b3-spanid": parent.spanId }), (s) => s.spanId))
        .toEqual(Option.some(parent.spanId))
      expect(parentFromHeaders({ traceparent: `00-${parent.traceId}-${parent.spanId}-01` })).toEqual(Option.none())
      const headers: Record<string, string> = {}
      injectContext(parent, headers)
      expect(headers).toEqual({ "x-b3-traceid": parent.traceId, "x-b3-spanid": parent.spanId, "x-b3-sampled": "1" })

      // closing flushes the span (the batch processor would otherwise wait 5 s) and unregisters the globals
      yield* Scope.close(scope, Exit.void)
      expect(propagation.fields()).toEqual([])
      expect(trace.getTracer("x").startSpan("y").isRecording()).toBe(false)
      const [request] = yield* otlp.waitFor(1)
      expect(request!.path).toBe("/v1/traces")
      const body = JSON.parse(request!.body) as OtlpTraces
      const resource = body.resourceSpans[0]!.resource?.attributes
      expect(attribute(resource, "service.name")).toBe("sidekick-eu")
      expect(attribute(resource, "service.version")).toBe("test")
      expect(attribute(resource, "deployment.environment")).toBe("prod")
      const spans = body.resourceSpans.flatMap((rs) => rs.scopeSpans.flatMap((ss) => ss.spans))
      expect(spans.map((s) => [s.name, s.traceId, s.parentSpanId])).toEqual([["unit.work", parent.traceId, parent.spanId]])
    }))

  it.scopedLive("metrics only: the registry's families go out every OTEL_METRIC_EXPORT_INTERVAL and once more at shutdown; no span is created", () =>
    Effect.gen(function*() {
      const otlp = yield* makeReceiver()
      yield* withEnv({
        OTEL_METRICS_EXPORTER: "otlp",
        OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: `${otlp.url}/own/metrics`,
        OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: "http/json",
        OTEL_METRIC_EXPORT_INTERVAL: "50"
      }, { clearing: "OTEL_" })
      const metrics = yield* Metrics.pipe(Effect.provide(Metrics.layer({ falcoEventLabels: [], defaultMetrics: false })))
      const scope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(OpenTelemetryLive(identity), scope)
      expect(yield* FiberRef.get(FiberRef.currentTracerEnabled).pipe(Effect.provide(context))).toBe(false)
      yield* exportOwnMetrics(metrics.registry).pipe(Effect.provide(context))
      metrics.input("accepted")
      // periodic exports until one carries the count (an export may run before the registry was handed over)
      yield* Effect.suspend(() =>
        otlp.requests.some((r) => acceptedInputs(r) === 1) ? Effect.void : Effect.fail("not yet")
      ).pipe(Effect.retry(Schedule.spaced("20 millis").pipe(Schedule.intersect(Schedule.recurs(250)))), Effect.orDie)
      metrics.input("accepted")
      metrics.input("accepted")
      yield* Scope.close(scope, Exit.void)
      const last = otlp.requests.at(-1)!
      expect(last.path).toBe("/own/metrics")
      expect(acceptedInputs(last)).toBe(3)
      expect(otlp.requests.every((r) => r.path === "/own/metrics")).toBe(true)
    }))

  it.scopedLive("a failed export is a line in Sidekick's log (OpenTelemetry would only tell a diagnostic logger)", () =>
    Effect.gen(function*() {
      const otlp = yield* makeReceiver({ responses: [{ status: 400, body: "no" }] })
      yield* withEnv({
        OTEL_METRICS_EXPORTER: "otlp",
        OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url,
        OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: "http/json",
        OTEL_METRIC_EXPORT_INTERVAL: "50"
      }, { clearing: "OTEL_" })
      const lines: Array<string> = []
      const capture = Logger.replace(Logger.defaultLogger, Logger.make(({ logLevel, message }) => lines.push(`${logLevel.label} ${String(message)}`)))
      const scope = yield* Scope.make()
      yield* Layer.buildWithScope(OpenTelemetryLive(identity), scope).pipe(Effect.provide(capture))
      const line = yield* Effect.suspend(() => {
        const l = lines.find((x) => x.includes("OpenTelemetry:"))
        return l === undefined ? Effect.fail("not yet") : Effect.succeed(l)
      }).pipe(Effect.retry(Schedule.spaced("20 millis").pipe(Schedule.intersect(Schedule.recurs(250)))), Effect.orDie)
      expect(line).toMatch(/^(ERROR|WARN) OpenTelemetry: .*Bad Request/)
      expect(line).not.toContain("\n")
      yield* Scope.close(scope, Exit.void)
    }))

  it("a diagnostic is one line: an exception's name, message and code, without its stack", () => {
    const exception = JSON.stringify({ stack: "OTLPExporterError: Bad Request\n    at x (y.js:1:1)", message: "Bad Request", name: "OTLPExporterError", code: "400" })
    expect(diagnosticLine(exception, [])).toBe("OTLPExporterError: Bad Request (400)")
    expect(diagnosticLine("Dropped %d spans", [3])).toBe("Dropped %d spans 3")
  })

  it.scoped("a value NodeSDK would ignore refuses start-up, naming the variable", () =>
    Effect.gen(function*() {
      yield* withEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:4318", OTEL_EXPORTER_OTLP_PROTOCOL: "grpc+tls" }, { clearing: "OTEL_" })
      const error = yield* Effect.flip(Layer.build(OpenTelemetryLive(identity)))
      expect(error._tag).toBe("OtelConfigError")
      expect(error.message).toBe(`OTEL_EXPORTER_OTLP_PROTOCOL: expected grpc, http/protobuf or http/json, got "grpc+tls"`)
    }))
})
