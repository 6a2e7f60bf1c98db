import { it } from "@effect/vitest"
import { Metrics } from "@sidekick/telemetry"
import { eventWith, makeReceiver, type Receiver, type RecordedRequest, referenceEvent } from "@sidekick/testing"
import { Context, Effect, Either, Exit, Layer, Logger, Scope } from "effect"
import { afterAll, beforeAll, describe, expect } from "vitest"
import { GlobalFieldKeys, type GlobalFieldKeysShape } from "../src/index.js"
import { OtlpMetrics, OtlpMetricsConfig } from "../src/otlp/Metrics.js"
import { decodeMetrics, type DecodedMetric, requestsUnder, statusFromPath } from "./otlpProto.js"
import { config, decode } from "./helpers.js"

const scope = Effect.runSync(Scope.make())
let rx: Receiver

beforeAll(async () => {
  // a path under /status/<code>/ answers that status, anything else 200
  rx = await Effect.runPromise(Scope.extend(makeReceiver({
    responses: [statusFromPath]
  }), scope))
})
afterAll(() => Effect.runPromise(Scope.close(scope, Exit.void)))


const at = (prefix: string) => requestsUnder(rx, prefix)

/** wait (real time: the tests run under the TestClock) until `n` requests arrived under the prefix */
const waitAt = (prefix: string, n: number) =>
  Effect.gen(function*() {
    while (at(prefix).length < n) yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 10)))
    return at(prefix)
  })

const noKeys: GlobalFieldKeysShape = { customFields: [], templatedFields: [] }

/** a real Metrics service with the sink listening, in a scope of its own; the sink's log lines go to `logs` */
const startSink = (tree: Readonly<Record<string, unknown>>, logs: Array<string> = [], keys = noKeys) =>
  Effect.gen(function*() {
    const sinkScope = yield* Scope.make()
    const logger = Logger.replace(Logger.defaultLogger, Logger.make(({ message }) => logs.push([message].flat().join(" "))))
    const layer = Layer.provideMerge(OtlpMetrics.layer(config(OtlpMetricsConfig, tree)), Metrics.layer({ falcoEventLabels: [], defaultMetrics: false })).pipe(
      Layer.provide(GlobalFieldKeys.layer(keys)),
      Layer.provide(logger)
    )
    const context = yield* Layer.buildWithScope(layer, sinkScope)
    return { metrics: Context.get(context, Metrics), stop: Scope.close(sinkScope, Exit.void) }
  })

/** what goes through the pipeline: two requests, one of them rejected, two events, four output attempts */
const countSome = (metrics: Metrics["Type"]) => {
  const labels = ["", "", "", "", "", "", ""]
  metrics.input("accepted")
  metrics.falcoEvent(referenceEvent, labels)
  metrics.input("rejected", "malformed_json")
  metrics.falcoEvent(eventWith({ hostname: "", tags: [], output_fields: { "proc.pid": 1 } }), labels)
  const traces = metrics.output("otlptraces")
  traces.attempt("ok")
  traces.attempt("error")
  const webhook = metrics.output("webhook")
  webhook.attempt("ok")
  webhook.attempt("ok")
}

/** each data point of a metric as [attributes, value], sorted */
const points = (metric: DecodedMetric | undefined) =>
  (metric?.sum?.dataPoints ?? []).map((p) => [p.attributes, p.value] as const).sort((a, b) => JSON.stringify(a[0], bigints).localeCompare(JSON.stringify(b[0], bigints)))
const bigints = (_: string, v: unknown) => (typeof v === "bigint" ? v.toString() : v)

describe("OTLPMetrics", () => {
  it("keys and defaults as falcosidekick's; enabled by endpoint; extraattributes a comma list without spaces", () => {
    const c = config(OtlpMetricsConfig, {})
    expect(c).toMatchObject({ protocol: "http/protobuf", timeout: 10000, tls: false, checkcert: true, extraattributes: [], interval: undefined })
    expect(OtlpMetrics.enabled(c)).toBe(false)
    expect(OtlpMetrics.enabled(config(OtlpMetricsConfig, { endpoint: "http://otelcol:4318/v1/metrics" }))).toBe(true)
    expect(config(OtlpMetricsConfig, {}, { OTLP_METRICS_EXTRAATTRIBUTES: "k8s.ns.name, proc.name" }).extraattributes).toEqual(["k8s.ns.name", "proc.name"])
    const refused = decode(OtlpMetricsConfig, { protocol: "udp" })
    expect(Either.isLeft(refused) && refused.left.message).toContain("otlp.metrics.protocol")
  })

  it.scoped("the global customfields label the rules counter as falcosidekick does (keys that cannot be attribute names left out)", () =>
    Effect.gen(function*() {
      const sink = yield* startSink({ endpoint: `${rx.url}/customfields/v1/metrics` }, [], {
        customFields: ["cluster", "team.name", "bad-key"],
        templatedFields: []
      })
      sink.metrics.falcoEvent(eventWith({ output_fields: { cluster: "prod-eu", "team.name": "sec", "bad-key": "x" } }), ["", "", "", "", "", "", ""])
      yield* sink.stop
      const [request] = at("/customfields/")
      const matches = decodeMetrics(request!.bodyBuffer).find((m) => m.name === "falcosecurity_falco_rules_matches_total")
      expect(points(matches)).toEqual([[{
        source: "syscall",
        priority: "Critical",
        rule: "Terminal shell in container",
        hostname: "node-1",
        tags: ["T1059", "container", "mitre_execution", "shell"],
        cluster: "prod-eu",
        team_name: "sec"
      }, 1n]])
    }))

  it.scoped("falcosidekick's three counters, cumulative Int64 sums with their attributes, pushed when the sink stops", () =>
    Effect.gen(function*() {
      const sink = yield* startSink({
        endpoint: `${rx.url}/final/v1/metrics`,
        headers: "X-Scope-OrgID=tenant-1",
        extraattributes: "k8s.ns.name,proc.pid"
      })
      countSome(sink.metrics)
      // the default interval is a minute: nothing before the stop, then exactly one push
      expect(at("/final/")).toHaveLength(0)
      yield* sink.stop
      const requests = at("/final/")
      expect(requests).toHaveLength(1)
      expect(requests[0]!.headers["content-type"]).toBe("application/x-protobuf")
      expect(requests[0]!.headers["x-scope-orgid"]).toBe("tenant-1")

      const metrics = decodeMetrics(requests[0]!.bodyBuffer)
      expect(metrics.map((m) => m.name).sort()).toEqual([
        "falcosecurity_falco_rules_matches_total",
        "falcosecurity_falcosidekick_inputs",
        "falcosecurity_falcosidekick_outputs"
      ])
      for (const m of metrics) {
        expect(m.resource).toEqual({
          attributes: { "service.name": "falco", "service.version": "0.1.0" },
          schemaUrl: "https://opentelemetry.io/schemas/1.23.1"
        })
        expect(m.scope.name).toBe("falcosecurity.falco.otlpmetrics.meter")
        expect(m.sum).toMatchObject({ aggregationTemporality: 2, isMonotonic: true }) // CUMULATIVE
      }
      const byName = (name: string) => metrics.find((m) => m.name === name)
      expect(byName("falcosecurity_falco_rules_matches_total")!.description).toBe("Number of times rules match")
      expect(byName("falcosecurity_falcosidekick_inputs")!.description).toBe("Number of times an input is received")
      expect(byName("falcosecurity_falcosidekick_outputs")!.description).toBe("Number of times an output is generated")

      expect(points(byName("falcosecurity_falco_rules_matches_total"))).toEqual([
        [{ source: "syscall", priority: "Critical", rule: "Terminal shell in container", hostname: "node-1", tags: ["T1059", "container", "mitre_execution", "shell"], k8s_ns_name: "default", proc_pid: "" }, 1n],
        [{ source: "syscall", priority: "Critical", rule: "Terminal shell in container", hostname: "unknown", tags: [], k8s_ns_name: "", proc_pid: "" }, 1n]
      ].sort((a, b) => JSON.stringify(a[0]).localeCompare(JSON.stringify(b[0]))))
      expect(points(byName("falcosecurity_falcosidekick_inputs"))).toEqual([
        [{ source: "requests", status: "accepted" }, 1n],
        [{ source: "requests", status: "rejected" }, 1n]
      ])
      expect(points(byName("falcosecurity_falcosidekick_outputs"))).toEqual([
        [{ destination: "otlptraces", status: "error" }, 1n],
        [{ destination: "otlptraces", status: "ok" }, 1n],
        [{ destination: "webhook", status: "ok" }, 2n]
      ])
    }))

  it.scoped("interval: pushed periodically, each push carrying the counts so far (cumulative)", () =>
    Effect.gen(function*() {
      const sink = yield* startSink({ endpoint: `${rx.url}/periodic/v1/metrics`, interval: "50ms" })
      sink.metrics.input("accepted")
      sink.metrics.input("accepted")
      const [first, second] = yield* waitAt("/periodic/", 2)
      const inputs = (r: RecordedRequest) => points(decodeMetrics(r.bodyBuffer).find((m) => m.name === "falcosecurity_falcosidekick_inputs"))
      expect(inputs(first!)).toEqual([[{ source: "requests", status: "accepted" }, 2n]])
      expect(inputs(second!)).toEqual([[{ source: "requests", status: "accepted" }, 2n]])
      yield* sink.stop
    }))

  it.scoped("a refused push is logged as a warning; the counts stay for the next one", () =>
    Effect.gen(function*() {
      const logs: Array<string> = []
      const sink = yield* startSink({ endpoint: `${rx.url}/status/400/v1/metrics`, interval: "50ms" }, logs)
      sink.metrics.input("accepted")
      yield* waitAt("/status/400/", 2)
      yield* sink.stop
      expect(logs.some((l) => l.startsWith("otlp.metrics: pushing the counts failed"))).toBe(true)
      const inputs = at("/status/400/").map((r) =>
        points(decodeMetrics(r.bodyBuffer).find((m) => m.name === "falcosecurity_falcosidekick_inputs"))
      )
      expect(inputs.at(-1)).toEqual([[{ source: "requests", status: "accepted" }, 1n]])
    }))

  it.scoped("extraenvvars OTEL_METRIC_EXPORT_INTERVAL sets the interval; a bad extraattributes or interval refuses start-up naming the key", () =>
    Effect.gen(function*() {
      const sink = yield* startSink({ endpoint: `${rx.url}/env/v1/metrics`, extraenvvars: { OTEL_METRIC_EXPORT_INTERVAL: "50" } })
      sink.metrics.input("rejected", "method")
      const [pushed] = yield* waitAt("/env/", 1)
      expect(decodeMetrics(pushed!.bodyBuffer).map((m) => m.name)).toEqual(["falcosecurity_falcosidekick_inputs"])
      yield* sink.stop

      const badName = yield* Effect.flip(startSink({ endpoint: rx.url, extraattributes: "k8s.ns.name,evt.arg[0]" }))
      expect(badName).toMatchObject({ _tag: "OutputInitError", output: "otlp.metrics", key: "otlp.metrics.extraattributes" })
      const badInterval = yield* Effect.flip(startSink({ endpoint: rx.url, extraenvvars: { OTEL_METRIC_EXPORT_INTERVAL: "1m" } }))
      expect(badInterval).toMatchObject({ key: "otlp.metrics.extraenvvars" })
      expect(badInterval.message).toContain("OTEL_METRIC_EXPORT_INTERVAL")
    }))
})
