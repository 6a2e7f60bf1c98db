/**
 * Sidekick's own telemetry end to end: the app with OpenTelemetryLive around it, as main.ts runs it, exporting to
 * recording OTLP receivers over HTTP/JSON and over gRPC (protobuf, decoded with a minimal schema below).
 */
import { describe, expect, it } from "@effect/vitest"
import * as grpc from "@grpc/grpc-js"
import { makeSource } from "@sidekick/config"
import { exportOwnMetrics, Metrics, OpenTelemetryLive } from "@sidekick/telemetry"
import { makeReceiver, type RecordedRequest, withEnv } from "@sidekick/testing"
import { Context, Effect, Layer, Schedule, type Scope } from "effect"
import * as protobuf from "protobufjs"
import { appLayer } from "../src/App.js"
import { readAppConfig } from "../src/AppConfig.js"
import { ServerAddress } from "../src/Server.js"
import { falcoEvent, post, request } from "./support.js"

/**
 * Run `use` against the app wired as main.ts wires it (OpenTelemetryLive around it, the registry handed to the
 * OTLP metrics export); the app, then OpenTelemetryLive, are closed when `use` ends.
 */
const withApp = <A, E>(
  env: Record<string, string>,
  use: (url: string) => Effect.Effect<A, E, Scope.Scope>
) =>
  Effect.gen(function*() {
    const config = yield* readAppConfig(makeSource({ env: { DELIVERY_RETRY_INITIALDELAY: "10ms", ...env } }))
    return yield* Effect.scoped(Effect.gen(function*() {
      const ctx = yield* Layer.build(
        appLayer(config, { port: 0, host: "127.0.0.1", defaultMetrics: false }).pipe(
          Layer.tap((c) => exportOwnMetrics(Context.get(c, Metrics).registry)),
          Layer.provide(OpenTelemetryLive({ serviceName: "sidekick", serviceVersion: "test" }))
        )
      )
      return yield* use((ctx.unsafeMap.get(ServerAddress.key) as ServerAddress["Type"]).url)
    }))
  })

/** poll (real time) until `check` gives a value */
const eventually = <A>(check: () => A | undefined) =>
  Effect.suspend(() => {
    const a = check()
    return a === undefined ? Effect.fail("not yet") : Effect.succeed(a)
  }).pipe(Effect.retry(Schedule.spaced("20 millis").pipe(Schedule.intersect(Schedule.recurs(250)))), Effect.orDie)

// ---- OTLP/JSON (http/json) ----

interface Span {
  readonly name: string
  readonly traceId: string
  readonly spanId: string
  readonly parentSpanId: string | undefined
  readonly attributes: Record<string, unknown>
  readonly service: string | undefined
}

interface OtlpValue {
  readonly stringValue?: string
  readonly intValue?: string | number
  readonly boolValue?: boolean
  readonly doubleValue?: number
}
interface OtlpAttribute {
  readonly key: string
  readonly value?: OtlpValue
}
interface OtlpSpan {
  readonly name: string
  readonly traceId: string
  readonly spanId: string
  readonly parentSpanId?: string
  readonly attributes?: ReadonlyArray<OtlpAttribute>
}
interface OtlpTraces {
  readonly resourceSpans: ReadonlyArray<{
    readonly resource?: { readonly attributes?: ReadonlyArray<OtlpAttribute> }
    readonly scopeSpans: ReadonlyArray<{ readonly spans: ReadonlyArray<OtlpSpan> }>
  }>
}
interface OtlpNumberPoint {
  readonly attributes?: ReadonlyArray<OtlpAttribute>
  readonly asInt?: string | number
  readonly asDouble?: number
}
interface OtlpMetrics {
  readonly resourceMetrics: ReadonlyArray<{
    readonly resource?: { readonly attributes?: ReadonlyArray<OtlpAttribute> }
    readonly scopeMetrics: ReadonlyArray<{
      readonly metrics: ReadonlyArray<{
        readonly name: string
        readonly sum?: {
          readonly dataPoints: ReadonlyArray<OtlpNumberPoint>
          readonly isMonotonic?: boolean
          readonly aggregationTemporality?: number
        }
        readonly gauge?: { readonly dataPoints: ReadonlyArray<OtlpNumberPoint> }
        readonly histogram?: {
          readonly dataPoints: ReadonlyArray<{
            readonly attributes?: ReadonlyArray<OtlpAttribute>
            readonly count?: string | number
            readonly bucketCounts?: ReadonlyArray<string | number>
          }>
        }
      }>
    }>
  }>
}

const value = (v: OtlpValue | undefined): unknown =>
  v?.stringValue ?? (v?.intValue !== undefined ? Number(v.intValue) : v?.boolValue ?? v?.doubleValue)

const attributesOf = (attributes: ReadonlyArray<OtlpAttribute> | undefined) =>
  Object.fromEntries((attributes ?? []).map((a) => [a.key, value(a.value)]))

/** the spans of OTLP trace requests; `id` turns the ids into hex (OTLP/JSON has them in hex already) */
const spansIn = (bodies: ReadonlyArray<OtlpTraces>, id: (raw: string) => string = (raw) => raw): Array<Span> =>
  bodies.flatMap((body) =>
    body.resourceSpans.flatMap((rs) => {
      const service = attributesOf(rs.resource?.attributes)["service.name"] as string | undefined
      return rs.scopeSpans.flatMap((ss) =>
        ss.spans.map((s): Span => ({
          name: s.name,
          traceId: id(s.traceId),
          spanId: id(s.spanId),
          parentSpanId: s.parentSpanId ? id(s.parentSpanId) : undefined,
          service,
          attributes: attributesOf(s.attributes)
        }))
      )
    })
  )

const spansOf = (requests: ReadonlyArray<RecordedRequest>): Array<Span> =>
  spansIn(requests.filter((r) => r.path === "/v1/traces").map((r) => JSON.parse(r.body) as OtlpTraces))

const metricsIn = (body: OtlpMetrics) => body.resourceMetrics.flatMap((rm) => rm.scopeMetrics.flatMap((sm) => sm.metrics))

/** every number point of one metrics request, as a /metrics series (`name{k="v",...}`) -> value, labels in order */
const seriesOf = (body: OtlpMetrics): Map<string, number> =>
  new Map(
    metricsIn(body).flatMap((m) =>
      (m.sum?.dataPoints ?? m.gauge?.dataPoints ?? []).map((p): [string, number] => {
        const labels = Object.entries(attributesOf(p.attributes)).map(([k, v]) => `${k}="${String(v)}"`)
        return [labels.length === 0 ? m.name : `${m.name}{${labels.join(",")}}`, Number(p.asInt ?? p.asDouble)]
      })
    )
  )

const ingestAndAttempts = (spans: ReadonlyArray<Span>) => {
  const ingest = spans.find((s) => s.name === "Sidekick.ingest")
  const attempts = spans.filter((s) => s.name === "Output.send").sort((a, b) =>
    Number(a.attributes["sidekick.attempt"]) - Number(b.attributes["sidekick.attempt"])
  )
  return { ingest, attempts }
}

// ---- OTLP/gRPC: a receiver with a minimal protobuf schema (only the fields the assertions read) ----

const otlpProto = protobuf.parse(`
  syntax = "proto3";
  package otlp;
  message AnyValue { oneof value { string string_value = 1; bool bool_value = 2; int64 int_value = 3; double double_value = 4; } }
  message KeyValue { string key = 1; AnyValue value = 2; }
  message Resource { repeated KeyValue attributes = 1; }
  message Span { bytes trace_id = 1; bytes span_id = 2; bytes parent_span_id = 4; string name = 5; repeated KeyValue attributes = 9; }
  message ScopeSpans { repeated Span spans = 2; }
  message ResourceSpans { Resource resource = 1; repeated ScopeSpans scope_spans = 2; }
  message ExportTraceServiceRequest { repeated ResourceSpans resource_spans = 1; }
  message NumberDataPoint { repeated KeyValue attributes = 7; oneof value { double as_double = 4; sfixed64 as_int = 6; } }
  message Sum { repeated NumberDataPoint data_points = 1; int32 aggregation_temporality = 2; bool is_monotonic = 3; }
  message HistogramDataPoint {
    repeated KeyValue attributes = 9; fixed64 count = 4; double sum = 5; repeated fixed64 bucket_counts = 6; repeated double explicit_bounds = 7;
  }
  message Histogram { repeated HistogramDataPoint data_points = 1; int32 aggregation_temporality = 2; }
  message Gauge { repeated NumberDataPoint data_points = 1; }
  message Metric { string name = 1; string description = 2; oneof data { Gauge gauge = 5; Sum sum = 7; Histogram histogram = 9; } }
  message ScopeMetrics { repeated Metric metrics = 2; }
  message ResourceMetrics { Resource resource = 1; repeated ScopeMetrics scope_metrics = 2; }
  message ExportMetricsServiceRequest { repeated ResourceMetrics resource_metrics = 1; }
`).root

/** bytes as base64, 64-bit integers as numbers: the shape of OTLP/JSON but for the ids */
const decode = <A>(type: string, bytes: Buffer): A => {
  const t = otlpProto.lookupType(`otlp.${type}`)
  return t.toObject(t.decode(bytes), { longs: Number, bytes: String, oneofs: false }) as A
}

const base64ToHex = (base64: string) => Buffer.from(base64, "base64").toString("hex")

interface GrpcExport {
  readonly method: "traces" | "metrics"
  readonly body: Buffer
}

/** a gRPC server answering OTLP's TraceService/Export and MetricsService/Export, recording the raw requests */
const makeGrpcReceiver = Effect.acquireRelease(
  Effect.async<{ readonly url: string; readonly exports: Array<GrpcExport>; readonly server: grpc.Server }>((resume) => {
    const exports: Array<GrpcExport> = []
    const server = new grpc.Server()
    const raw = (b: Buffer) => b
    const empty = () => Buffer.alloc(0)
    const method = (path: string) => ({
      path,
      requestStream: false,
      responseStream: false,
      requestSerialize: raw,
      requestDeserialize: raw,
      responseSerialize: empty,
      responseDeserialize: empty
    })
    const record = (m: GrpcExport["method"]): grpc.handleUnaryCall<Buffer, Buffer> => (call, callback) => {
      exports.push({ method: m, body: call.request })
      callback(null, Buffer.alloc(0))
    }
    server.addService({ Export: method("/opentelemetry.proto.collector.trace.v1.TraceService/Export") }, { Export: record("traces") })
    server.addService({ Export: method("/opentelemetry.proto.collector.metrics.v1.MetricsService/Export") }, {
      Export: record("metrics")
    })
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (error, port) =>
      resume(error ? Effect.die(error) : Effect.succeed({ url: `http://127.0.0.1:${port}`, exports, server })))
  }),
  ({ server }) => Effect.sync(() => server.forceShutdown())
)

describe("Sidekick's own traces", () => {
  it.scopedLive("every accepted event is one trace: the ingest span, a child span per output attempt, traceparent sent on", () =>
    Effect.gen(function*() {
      const otlp = yield* makeReceiver()
      const hook = yield* makeReceiver({ responses: [{ status: 503 }, { status: 200 }] })
      yield* withEnv({
        OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url,
        OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
        OTEL_SERVICE_NAME: "sidekick-test"
      }, { clearing: "OTEL_" })
      yield* withApp({ WEBHOOK_ADDRESS: hook.url }, (url) =>
        Effect.gen(function*() {
          expect((yield* post(url, falcoEvent)).status).toBe(200)
          yield* hook.waitFor(2)
        }))
      // the app's scope is closed: the span processor has flushed
      const spans = yield* eventually(() => {
        const s = spansOf(otlp.requests)
        return s.filter((x) => x.name === "Output.send").length >= 2 ? s : undefined
      })

      const { ingest, attempts } = ingestAndAttempts(spans)
      expect(ingest).toBeDefined()
      expect(ingest!.service).toBe("sidekick-test")
      expect(ingest!.attributes["falco.rule"]).toBe("Terminal shell in container")
      expect(attempts.map((a) => a.parentSpanId)).toEqual([ingest!.spanId, ingest!.spanId])
      expect(attempts.map((a) => a.traceId)).toEqual([ingest!.traceId, ingest!.traceId])
      expect(attempts.map((a) => a.attributes["sidekick.attempt"])).toEqual([1, 2])
      expect(attempts.map((a) => a.attributes["sidekick.output"])).toEqual(["webhook", "webhook"])
      expect(attempts.map((a) => a.attributes["http.response.status_code"])).toEqual([503, 200])
      expect(attempts[0]!.attributes["sidekick.outcome"]).toBe("retryable_error")
      // no URL path (tokens live there) in any attribute
      for (const s of spans) for (const v of Object.values(s.attributes)) expect(String(v)).not.toContain(`${hook.url}/`)
      // the outgoing requests carried each attempt's context
      const [first, second] = hook.requests
      expect(first!.headers["traceparent"]).toBe(`00-${ingest!.traceId}-${attempts[0]!.spanId}-01`)
      expect(second!.headers["traceparent"]).toBe(`00-${ingest!.traceId}-${attempts[1]!.spanId}-01`)
      // only what was asked for: no metrics export without OTEL_METRICS_EXPORTER
      expect(otlp.requests.map((r) => r.path).filter((p) => p !== "/v1/traces")).toEqual([])
    }))

  it.scopedLive("trace context: an incoming B3 header is continued, peers get W3C traceparent only; a bad OTEL_PROPAGATORS refuses start-up", () =>
    Effect.gen(function*() {
      const otlp = yield* makeReceiver()
      const hook = yield* makeReceiver()
      yield* withEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url, OTEL_EXPORTER_OTLP_PROTOCOL: "http/json" }, { clearing: "OTEL_" })
      const traceId = "463ac35c9f6413ad48485a3953bb6124"
      const spanId = "a2fb4a1d1a96d312"
      yield* withApp({ WEBHOOK_ADDRESS: hook.url }, (url) =>
        Effect.gen(function*() {
          const headers = { "content-type": "application/json", b3: `${traceId}-${spanId}-1` }
          expect((yield* post(url, falcoEvent, headers)).status).toBe(200)
          yield* hook.waitFor(1)
        }))
      const { ingest, attempts } = ingestAndAttempts(
        yield* eventually(() => {
          const s = spansOf(otlp.requests)
          return s.some((x) => x.name === "Output.send") ? s : undefined
        })
      )
      expect([ingest!.traceId, ingest!.parentSpanId]).toEqual([traceId, spanId])
      expect(hook.requests[0]!.headers["traceparent"]).toBe(`00-${traceId}-${attempts[0]!.spanId}-01`)
      expect(hook.requests[0]!.headers["b3"]).toBeUndefined()

      yield* withEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url, OTEL_PROPAGATORS: "tracecontext,aws-xray" }, { clearing: "OTEL_" })
      const refused = yield* Effect.flip(withApp({ WEBHOOK_ADDRESS: hook.url }, () => Effect.void))
      expect(refused).toMatchObject({
        _tag: "OtelConfigError",
        message:
          `OTEL_PROPAGATORS: expected a comma-separated list of tracecontext, baggage, b3, b3multi, jaeger or none, got "aws-xray"`
      })
    }))

  it.scopedLive("OTEL_PROPAGATORS=b3: B3 in and out, an incoming traceparent is not continued", () =>
    Effect.gen(function*() {
      const otlp = yield* makeReceiver()
      const hook = yield* makeReceiver()
      yield* withEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url, OTEL_EXPORTER_OTLP_PROTOCOL: "http/json", OTEL_PROPAGATORS: "b3" }, { clearing: "OTEL_" })
      const traceId = "463ac35c9f6413ad48485a3953bb6124"
      const spanId = "a2fb4a1d1a96d312"
      yield* withApp({ WEBHOOK_ADDRESS: hook.url }, (url) =>
        Effect.gen(function*() {
          expect((yield* post(url, falcoEvent, { "content-type": "application/json", traceparent: `00-${traceId}-${spanId}-01` })).status).toBe(200)
          expect((yield* post(url, falcoEvent, { "content-type": "application/json", b3: `${traceId}-${spanId}-1` })).status).toBe(200)
          yield* hook.waitFor(2)
        }))
      const spans = yield* eventually(() => {
        const s = spansOf(otlp.requests)
        return s.filter((x) => x.name === "Output.send").length >= 2 ? s : undefined
      })
      const ingests = spans.filter((s) => s.name === "Sidekick.ingest")
      expect(ingests.map((s) => s.traceId === traceId).sort()).toEqual([false, true])
      expect(ingests.find((s) => s.traceId === traceId)!.parentSpanId).toBe(spanId)
      expect(ingests.find((s) => s.traceId !== traceId)!.parentSpanId).toBeUndefined()
      for (const r of hook.requests) {
        expect(r.headers["traceparent"]).toBeUndefined()
        expect(r.headers["b3"]).toMatch(/^[0-9a-f]{32}-[0-9a-f]{16}-1$/)
      }
    }))

  it.scopedLive("OTLP over gRPC: the spans, and Sidekick's own metrics, reach a gRPC collector as protobuf", () =>
    Effect.gen(function*() {
      const collector = yield* makeGrpcReceiver
      const hook = yield* makeReceiver()
      yield* withEnv({
        OTEL_EXPORTER_OTLP_ENDPOINT: collector.url,
        OTEL_EXPORTER_OTLP_PROTOCOL: "grpc",
        OTEL_METRICS_EXPORTER: "otlp",
        OTEL_SERVICE_NAME: "sidekick-grpc"
      }, { clearing: "OTEL_" })
      yield* withApp({ WEBHOOK_ADDRESS: hook.url }, (url) =>
        Effect.gen(function*() {
          expect((yield* post(url, falcoEvent)).status).toBe(200)
          yield* hook.waitFor(1)
        }))
      // both exported at shutdown: the batch of spans, and the metrics' last values (the interval is 60 s)
      const spans = spansIn(
        collector.exports.filter((e) => e.method === "traces").map((e) => decode<OtlpTraces>("ExportTraceServiceRequest", e.body)),
        base64ToHex
      )
      const { ingest, attempts } = ingestAndAttempts(spans)
      expect(ingest!.service).toBe("sidekick-grpc")
      expect(attempts.map((a) => [a.traceId, a.parentSpanId])).toEqual([[ingest!.traceId, ingest!.spanId]])
      expect(hook.requests[0]!.headers["traceparent"]).toBe(`00-${ingest!.traceId}-${attempts[0]!.spanId}-01`)

      const exports = collector.exports.filter((e) => e.method === "metrics")
      expect(exports.length).toBeGreaterThan(0)
      const last = decode<OtlpMetrics>("ExportMetricsServiceRequest", exports.at(-1)!.body)
      const series = seriesOf(last)
      expect(series.get(`falcosecurity_falcosidekick_inputs_total{source="requests",status="accepted"}`)).toBe(1)
      expect(series.get(`falcosecurity_falcosidekick_outputs_total{destination="webhook",status="ok"}`)).toBe(1)
      const inputs = metricsIn(last).find((m) => m.name === "falcosecurity_falcosidekick_inputs_total")!
      expect([inputs.sum?.isMonotonic, inputs.sum?.aggregationTemporality]).toEqual([true, 2]) // 2: cumulative
      const delivery = metricsIn(last).find((m) => m.name === "sidekick_output_delivery_duration_seconds")!
      expect(
        delivery.histogram!.dataPoints.map((p) => [
          attributesOf(p.attributes),
          Number(p.count),
          (p.bucketCounts ?? []).reduce((n: number, c) => n + Number(c), 0)
        ])
      ).toEqual([[{ destination: "webhook", outcome: "delivered" }, 1, 1]])
    }))
})

describe("Sidekick's own metrics over OTLP (OTEL_METRICS_EXPORTER=otlp)", () => {
  it.scopedLive("the /metrics families, same names, labels and values, every OTEL_METRIC_EXPORT_INTERVAL; tracing stays off", () =>
    Effect.gen(function*() {
      const otlp = yield* makeReceiver()
      const hook = yield* makeReceiver()
      yield* withEnv({
        OTEL_METRICS_EXPORTER: "otlp",
        OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: `${otlp.url}/v1/metrics`,
        OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: "http/json",
        OTEL_METRIC_EXPORT_INTERVAL: "100"
      }, { clearing: "OTEL_" })
      yield* withApp({ WEBHOOK_ADDRESS: hook.url }, (url) =>
        Effect.gen(function*() {
          expect((yield* post(url, falcoEvent)).status).toBe(200)
          expect((yield* post(url, "{not json")).status).toBe(400)
          yield* hook.waitFor(1)
          const accepted = `falcosecurity_falcosidekick_inputs_total{source="requests",status="accepted"}`
          const exported = yield* eventually(() => {
            const bodies = otlp.requests.map((r) => seriesOf(JSON.parse(r.body) as OtlpMetrics))
            return bodies.find((s) => s.get(accepted) === 1 && s.has(`falcosecurity_falcosidekick_outputs_total{destination="webhook",status="ok"}`))
          })
          // every exported series is a line of /metrics with the same value
          const exposition = new Set((yield* request(`${url}/metrics`)).body.split("\n"))
          for (const [series, v] of exported) expect(exposition.has(`${series} ${v}`), series).toBe(true)
          expect([...exported.keys()]).toEqual(expect.arrayContaining([
            accepted,
            `falcosecurity_falcosidekick_inputs_total{source="requests",status="rejected"}`,
            `sidekick_ingest_rejected_total{reason="malformed_json"}`,
            `falcosecurity_falcosidekick_falco_events_total{hostname="node-1",rule="Terminal shell in container",priority="3",priority_raw="notice",source="syscall",k8s_ns_name="default",k8s_pod_name="nginx-7c"}`,
            `sidekick_output_queue_capacity{destination="webhook"}`
          ]))
        }))
      expect(otlp.requests.every((r) => r.path === "/v1/metrics")).toBe(true)
      // no span was created: the webhook got no trace context
      expect(hook.requests[0]!.headers["traceparent"]).toBeUndefined()
    }))
})
