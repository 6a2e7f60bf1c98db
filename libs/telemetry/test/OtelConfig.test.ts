import { describe, expect, it } from "@effect/vitest"
import { Either } from "effect"
import { type Env, type OtelConfigError, otelPlan, type OtelPlan } from "../src/index.js"

const plan = (env: Env): OtelPlan => Either.getOrThrowWith(otelPlan(env), (e) => new Error(e.message))
const refused = (env: Env): OtelConfigError =>
  Either.match(otelPlan(env), {
    onLeft: (e) => e,
    onRight: (p) => {
      throw new Error(`accepted: ${JSON.stringify(p)}`)
    }
  })

const endpoint = { OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318" }

describe("what the OTEL_* variables switch on", () => {
  it("nothing unless an exporter or an endpoint is set", () => {
    for (const env of [{}, { OTEL_EXPORTER_OTLP_ENDPOINT: " " }, { OTEL_SERVICE_NAME: "x" }, { OTEL_EXPORTER_OTLP_PROTOCOL: "grpc" }]) {
      const p = plan(env)
      expect([p.traces, p.metrics]).toEqual([[], []])
    }
  })

  it("traces over OTLP with an endpoint; the signal's protocol wins over the general one, http/protobuf by default", () => {
    expect(plan(endpoint)).toMatchObject({ traces: ["otlp"], tracesProtocol: "http/protobuf", metrics: [] })
    expect(plan({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "http://c:4318/v1/traces" }).traces).toEqual(["otlp"])
    expect(plan({ ...endpoint, OTEL_EXPORTER_OTLP_PROTOCOL: "grpc" }).tracesProtocol).toBe("grpc")
    expect(plan({ ...endpoint, OTEL_EXPORTER_OTLP_PROTOCOL: "http/json" }).tracesProtocol).toBe("http/json")
    expect(
      plan({ ...endpoint, OTEL_EXPORTER_OTLP_PROTOCOL: "http/json", OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: "grpc" }).tracesProtocol
    ).toBe("grpc")
  })

  it("OTEL_TRACES_EXPORTER names the exporters, none and OTEL_SDK_DISABLED turn everything off", () => {
    expect(plan({ OTEL_TRACES_EXPORTER: "console" }).traces).toEqual(["console"])
    expect(plan({ OTEL_TRACES_EXPORTER: "otlp, zipkin,otlp" }).traces).toEqual(["otlp", "zipkin"])
    expect(plan({ ...endpoint, OTEL_TRACES_EXPORTER: "none" }).traces).toEqual([])
    const disabled = plan({ ...endpoint, OTEL_METRICS_EXPORTER: "otlp", OTEL_SDK_DISABLED: "TRUE" })
    expect([disabled.traces, disabled.metrics]).toEqual([[], []])
    expect(plan({ ...endpoint, OTEL_SDK_DISABLED: "false" }).traces).toEqual(["otlp"])
  })

  it("Sidekick's metrics are exported only when OTEL_METRICS_EXPORTER asks, an endpoint alone is not enough", () => {
    expect(plan(endpoint).metrics).toEqual([])
    expect(plan({ OTEL_METRICS_EXPORTER: "otlp" })).toMatchObject({
      traces: [],
      metrics: ["otlp"],
      metricsProtocol: "http/protobuf",
      metricExportIntervalMillis: 60_000,
      metricExportTimeoutMillis: 30_000
    })
    expect(plan({ OTEL_METRICS_EXPORTER: "otlp,console", OTEL_EXPORTER_OTLP_PROTOCOL: "http/json" })).toMatchObject({
      metrics: ["otlp", "console"],
      metricsProtocol: "http/json"
    })
    expect(
      plan({ OTEL_METRICS_EXPORTER: "otlp", OTEL_EXPORTER_OTLP_PROTOCOL: "http/json", OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: "grpc" })
        .metricsProtocol
    ).toBe("grpc")
    expect(plan({ OTEL_METRICS_EXPORTER: "none" }).metrics).toEqual([])
    // the timeout never exceeds the interval (NodeSDK's rule)
    expect(plan({ OTEL_METRICS_EXPORTER: "otlp", OTEL_METRIC_EXPORT_INTERVAL: "250" })).toMatchObject({
      metricExportIntervalMillis: 250,
      metricExportTimeoutMillis: 250
    })
    expect(plan({ OTEL_METRICS_EXPORTER: "otlp", OTEL_METRIC_EXPORT_TIMEOUT: "1000" }).metricExportTimeoutMillis).toBe(1000)
  })

  it("OTEL_PROPAGATORS: unset means Sidekick's default, none the empty list", () => {
    expect(plan(endpoint).propagators).toBeUndefined()
    expect(plan({ ...endpoint, OTEL_PROPAGATORS: "b3multi, tracecontext" }).propagators).toEqual(["b3multi", "tracecontext"])
    expect(plan({ ...endpoint, OTEL_PROPAGATORS: "none" }).propagators).toEqual([])
  })
})

describe("a value that cannot be used is refused with one line naming the variable", () => {
  const cases: ReadonlyArray<readonly [Env, string, string]> = [
    [{ ...endpoint, OTEL_EXPORTER_OTLP_PROTOCOL: "http" }, "OTEL_EXPORTER_OTLP_PROTOCOL", `expected grpc, http/protobuf or http/json, got "http"`],
    [{ ...endpoint, OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: "GRPC" }, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", `got "GRPC"`],
    [{ OTEL_METRICS_EXPORTER: "otlp", OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: "udp" }, "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", `got "udp"`],
    [{ OTEL_TRACES_EXPORTER: "jaeger" }, "OTEL_TRACES_EXPORTER", `list of otlp, console, zipkin or none, got "jaeger"`],
    [{ OTEL_TRACES_EXPORTER: "otlp,none" }, "OTEL_TRACES_EXPORTER", `"none" alone`],
    [{ OTEL_METRICS_EXPORTER: "prometheus" }, "OTEL_METRICS_EXPORTER", "Sidekick serves Prometheus on its own /metrics"],
    [{ OTEL_METRICS_EXPORTER: "otlp", OTEL_METRIC_EXPORT_INTERVAL: "5s" }, "OTEL_METRIC_EXPORT_INTERVAL", `positive number of milliseconds, got "5s"`],
    [{ OTEL_METRICS_EXPORTER: "otlp", OTEL_METRIC_EXPORT_TIMEOUT: "0" }, "OTEL_METRIC_EXPORT_TIMEOUT", `got "0"`],
    [{ ...endpoint, OTEL_PROPAGATORS: "tracecontext,xray" }, "OTEL_PROPAGATORS", `got "xray"`],
    [{ ...endpoint, OTEL_SDK_DISABLED: "yes" }, "OTEL_SDK_DISABLED", `expected true or false, got "yes"`],
    [{ ...endpoint, OTEL_TRACES_SAMPLER: "ratio" }, "OTEL_TRACES_SAMPLER", `got "ratio"`],
    [{ ...endpoint, OTEL_TRACES_SAMPLER: "parentbased_traceidratio", OTEL_TRACES_SAMPLER_ARG: "10%" }, "OTEL_TRACES_SAMPLER_ARG", "between 0 and 1"],
    [{ ...endpoint, OTEL_NODE_RESOURCE_DETECTORS: "env,gcp" }, "OTEL_NODE_RESOURCE_DETECTORS", `got "gcp"`],
    [{ ...endpoint, OTEL_RESOURCE_ATTRIBUTES: "team=sec,zone" }, "OTEL_RESOURCE_ATTRIBUTES", `got "zone"`],
    [{ ...endpoint, OTEL_RESOURCE_ATTRIBUTES: "url=a=b" }, "OTEL_RESOURCE_ATTRIBUTES", `got "url=a=b"`],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: "collector 4318" }, "OTEL_EXPORTER_OTLP_ENDPOINT", "expected a URL"]
  ]
  it.each(cases)("%j: %s", (env, variable, says) => {
    const error = refused(env)
    expect(error._tag).toBe("OtelConfigError")
    expect(error.variable).toBe(variable)
    expect(error.message.startsWith(`${variable}: `)).toBe(true)
    expect(error.message).toContain(says)
    expect(error.message).not.toContain("\n")
  })

  it("the sampler's argument is only checked for the ratio samplers, which NodeSDK reads it for", () => {
    expect(plan({ ...endpoint, OTEL_TRACES_SAMPLER: "always_on", OTEL_TRACES_SAMPLER_ARG: "x" }).traces).toEqual(["otlp"])
    expect(plan({ ...endpoint, OTEL_TRACES_SAMPLER: "traceidratio", OTEL_TRACES_SAMPLER_ARG: "0.25" }).traces).toEqual(["otlp"])
    expect(plan({ ...endpoint, OTEL_RESOURCE_ATTRIBUTES: "deployment.environment=prod,team=a%2Cb" }).traces).toEqual(["otlp"])
  })
})
