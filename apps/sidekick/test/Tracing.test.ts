import { describe, expect, it } from "@effect/vitest"
import { makeReceiver, type RecordedRequest } from "@sidekick/testing"
import { TracingLive } from "@sidekick/telemetry"
import { Effect, Layer, Schedule } from "effect"
import { appLayer } from "../src/App.js"
import { readAppConfig } from "../src/AppConfig.js"
import { ServerAddress } from "../src/Server.js"
import { makeSource } from "@sidekick/config"
import { falcoEvent, post } from "./support.js"

interface Span {
  readonly name: string
  readonly traceId: string
  readonly spanId: string
  readonly parentSpanId: string | undefined
  readonly attributes: Record<string, unknown>
  readonly service: string | undefined
}

/** the parts of OTLP/HTTP JSON (ExportTraceServiceRequest) the assertions read */
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

const value = (v: OtlpValue | undefined): unknown =>
  v?.stringValue ?? (v?.intValue !== undefined ? Number(v.intValue) : v?.boolValue ?? v?.doubleValue)

const spansOf = (requests: ReadonlyArray<RecordedRequest>): Array<Span> =>
  requests.filter((r) => r.path === "/v1/traces").flatMap((r) =>
    (JSON.parse(r.body) as OtlpTraces).resourceSpans.flatMap((rs) => {
      const service = value(rs.resource?.attributes?.find((a) => a.key === "service.name")?.value) as string | undefined
      return rs.scopeSpans.flatMap((ss) =>
        ss.spans.map((s): Span => ({
          name: s.name,
          traceId: s.traceId,
          spanId: s.spanId,
          parentSpanId: s.parentSpanId || undefined,
          service,
          attributes: Object.fromEntries((s.attributes ?? []).map((a) => [a.key, value(a.value)]))
        }))
      )
    })
  )

describe("tracing", () => {
  it.scopedLive("every accepted event is one trace: the ingest span, a child span per output attempt, traceparent sent on", () =>
    Effect.gen(function*() {
      const otlp = yield* makeReceiver()
      const hook = yield* makeReceiver({ responses: [{ status: 503 }, { status: 200 }] })
      process.env["OTEL_EXPORTER_OTLP_ENDPOINT"] = otlp.url
      process.env["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/json"
      process.env["OTEL_SERVICE_NAME"] = "sidekick-test"
      const config = yield* readAppConfig(makeSource({
        env: { WEBHOOK_ADDRESS: hook.url, DELIVERY_RETRY_INITIALDELAY: "10ms" }
      }))
      yield* Effect.scoped(Effect.gen(function*() {
        const ctx = yield* Layer.build(
          appLayer(config, { port: 0, host: "127.0.0.1", defaultMetrics: false }).pipe(
            Layer.provide(TracingLive({ serviceName: "sidekick", serviceVersion: "test" }))
          )
        )
        const address = ctx.unsafeMap.get(ServerAddress.key) as ServerAddress["Type"]
        expect((yield* post(address.url, falcoEvent)).status).toBe(200)
        yield* hook.waitFor(2)
      }))
      // the app's scope is closed: the span processor has flushed
      const spans = yield* Effect.suspend(() => {
        const s = spansOf(otlp.requests)
        return s.filter((x) => x.name === "Output.send").length >= 2 ? Effect.succeed(s) : Effect.fail("not yet")
      }).pipe(Effect.retry(Schedule.spaced("50 millis").pipe(Schedule.intersect(Schedule.recurs(100)))))

      const ingest = spans.find((s) => s.name === "Sidekick.ingest")!
      expect(ingest).toBeDefined()
      expect(ingest.service).toBe("sidekick-test")
      expect(ingest.attributes["falco.rule"]).toBe("Terminal shell in container")
      const attempts = spans.filter((s) => s.name === "Output.send").sort((a, b) =>
        Number(a.attributes["sidekick.attempt"]) - Number(b.attributes["sidekick.attempt"])
      )
      expect(attempts.map((a) => a.parentSpanId)).toEqual([ingest.spanId, ingest.spanId])
      expect(attempts.map((a) => a.traceId)).toEqual([ingest.traceId, ingest.traceId])
      expect(attempts.map((a) => a.attributes["sidekick.attempt"])).toEqual([1, 2])
      expect(attempts.map((a) => a.attributes["sidekick.output"])).toEqual(["webhook", "webhook"])
      expect(attempts.map((a) => a.attributes["http.response.status_code"])).toEqual([503, 200])
      expect(attempts[0]!.attributes["sidekick.outcome"]).toBe("retryable_error")
      // no URL path (tokens live there) in any attribute
      for (const s of spans) for (const v of Object.values(s.attributes)) expect(String(v)).not.toContain(`${hook.url}/`)
      // the outgoing requests carried each attempt's context
      const [first, second] = hook.requests
      expect(first!.headers["traceparent"]).toBe(`00-${ingest.traceId}-${attempts[0]!.spanId}-01`)
      expect(second!.headers["traceparent"]).toBe(`00-${ingest.traceId}-${attempts[1]!.spanId}-01`)
    }))
})
