/**
 * What the standard OTEL_* variables ask of Sidekick's own telemetry. NodeSDK (@opentelemetry/sdk-node) reads
 * these variables itself: exporters, protocols, endpoints, headers, timeouts, sampler, propagators, resource.
 * This module decides two things NodeSDK does not:
 * - what is switched on: NodeSDK exports traces, metrics and logs to localhost:4318 when nothing is set, while
 *   Sidekick stays silent (and creates no span) unless a variable asks;
 * - which values are refused: NodeSDK only warns through its diagnostic logger (silent unless OTEL_LOG_LEVEL is
 *   set) and falls back to a default, so a typo would send telemetry elsewhere or nowhere without a word.
 *   Here a value NodeSDK would not use stops start-up with one line naming the variable.
 * Values are compared the way NodeSDK compares them (case-sensitive, lists split on commas).
 */
import { Data, Either } from "effect"

/** An OTEL_* variable holds a value Sidekick's telemetry cannot use; `message` is one line naming it. */
export class OtelConfigError extends Data.TaggedError("OtelConfigError")<{
  readonly variable: string
  readonly message: string
}> {}

export type Env = Readonly<Record<string, string | undefined>>

export const otlpProtocols = ["grpc", "http/protobuf", "http/json"] as const
export type OtlpProtocol = (typeof otlpProtocols)[number]

export const spanExporters = ["otlp", "console", "zipkin"] as const
export type SpanExporterName = (typeof spanExporters)[number]

export const metricExporters = ["otlp", "console"] as const
export type MetricExporterName = (typeof metricExporters)[number]

/** the propagators NodeSDK builds from OTEL_PROPAGATORS (or "none") */
export const propagatorNames = ["tracecontext", "baggage", "b3", "b3multi", "jaeger"] as const
export type PropagatorName = (typeof propagatorNames)[number]

const samplers = [
  "always_on",
  "always_off",
  "traceidratio",
  "parentbased_always_on",
  "parentbased_always_off",
  "parentbased_traceidratio"
] as const
const resourceDetectors = ["env", "host", "os", "process", "serviceinstance", "all"] as const

export interface OtelPlan {
  /** the span exporters NodeSDK builds from OTEL_TRACES_EXPORTER; empty: tracing off, no span is created */
  readonly traces: ReadonlyArray<SpanExporterName>
  /** OTEL_EXPORTER_OTLP_TRACES_PROTOCOL, else OTEL_EXPORTER_OTLP_PROTOCOL, else http/protobuf */
  readonly tracesProtocol: OtlpProtocol
  /** the exporters of Sidekick's own metrics (OTEL_METRICS_EXPORTER); empty: not exported (only /metrics) */
  readonly metrics: ReadonlyArray<MetricExporterName>
  /** OTEL_EXPORTER_OTLP_METRICS_PROTOCOL, else OTEL_EXPORTER_OTLP_PROTOCOL, else http/protobuf */
  readonly metricsProtocol: OtlpProtocol
  /** OTEL_METRIC_EXPORT_INTERVAL (60000 ms) */
  readonly metricExportIntervalMillis: number
  /** OTEL_METRIC_EXPORT_TIMEOUT (30000 ms), at most the interval */
  readonly metricExportTimeoutMillis: number
  /** OTEL_PROPAGATORS ([] for "none"), or undefined when unset: then Sidekick's default (see Propagation.ts) */
  readonly propagators: ReadonlyArray<PropagatorName> | undefined
}

const off: OtelPlan = {
  traces: [],
  tracesProtocol: "http/protobuf",
  metrics: [],
  metricsProtocol: "http/protobuf",
  metricExportIntervalMillis: 60_000,
  metricExportTimeoutMillis: 30_000,
  propagators: undefined
}

/** a set value, as NodeSDK sees it: unset and blank are the same */
const value = (env: Env, name: string): string | undefined => {
  const raw = env[name]
  return raw === undefined || raw.trim() === "" ? undefined : raw
}

const invalid = (variable: string, expected: string, got: string) =>
  Either.left(new OtelConfigError({ variable, message: `${variable}: expected ${expected}, got "${got}"` }))

const choices = (allowed: ReadonlyArray<string>) =>
  allowed.length === 1 ? allowed[0]! : `${allowed.slice(0, -1).join(", ")} or ${allowed.at(-1)!}`

const oneOf = <A extends string>(env: Env, name: string, allowed: ReadonlyArray<A>): Either.Either<A | undefined, OtelConfigError> => {
  const v = value(env, name)
  if (v === undefined) return Either.right(undefined)
  return allowed.includes(v as A) ? Either.right(v as A) : invalid(name, choices(allowed), v)
}

/**
 * A comma-separated list of names (OTEL_TRACES_EXPORTER, OTEL_METRICS_EXPORTER, OTEL_PROPAGATORS): undefined when
 * unset; "none" alone is the empty list, and with other names a contradiction NodeSDK resolves differently per
 * variable, so it is refused.
 */
const listOf = <A extends string>(
  env: Env,
  name: string,
  allowed: ReadonlyArray<A>,
  hint: (unknown: string) => string = () => ""
): Either.Either<ReadonlyArray<A> | undefined, OtelConfigError> => {
  const v = value(env, name)
  if (v === undefined) return Either.right(undefined)
  const names = [...new Set(v.split(",").map((s) => s.trim()).filter((s) => s !== ""))]
  const unknown = names.find((n) => n !== "none" && !allowed.includes(n as A))
  if (unknown !== undefined) {
    return Either.left(
      new OtelConfigError({
        variable: name,
        message: `${name}: expected a comma-separated list of ${choices([...allowed, "none"])}, got "${unknown}"${hint(unknown)}`
      })
    )
  }
  if (names.includes("none")) {
    return names.length === 1 ? Either.right([]) : invalid(name, `"none" alone or a list without it`, v)
  }
  return Either.right(names as Array<A>)
}

const positiveMillis = (env: Env, name: string): Either.Either<number | undefined, OtelConfigError> => {
  const v = value(env, name)
  if (v === undefined) return Either.right(undefined)
  const n = Number(v)
  return Number.isFinite(n) && n > 0 ? Either.right(n) : invalid(name, "a positive number of milliseconds", v)
}

const url = (env: Env, name: string): Either.Either<void, OtelConfigError> => {
  const v = value(env, name)
  if (v === undefined) return Either.void
  try {
    new URL(v.trim())
    return Either.void
  } catch {
    return invalid(name, "a URL such as http://collector:4318", v)
  }
}

/** `key=value` pairs separated by commas, "," and "=" percent-encoded: NodeSDK drops the whole variable otherwise */
const resourceAttributes = (env: Env): Either.Either<void, OtelConfigError> => {
  const name = "OTEL_RESOURCE_ATTRIBUTES"
  const v = value(env, name)
  if (v === undefined) return Either.void
  for (const pair of v.split(",").filter((p) => p.trim() !== "")) {
    const parts = pair.split("=")
    let decodes = true
    try {
      parts.forEach((p) => decodeURIComponent(p.trim()))
    } catch {
      decodes = false
    }
    if (parts.length !== 2 || parts[0]!.trim() === "" || !decodes) {
      return invalid(name, `key=value pairs separated by commas (',' and '=' percent-encoded)`, pair)
    }
  }
  return Either.void
}

const sampler = (env: Env): Either.Either<void, OtelConfigError> =>
  Either.gen(function*() {
    const name = yield* oneOf(env, "OTEL_TRACES_SAMPLER", samplers)
    if (name !== "traceidratio" && name !== "parentbased_traceidratio") return
    const arg = value(env, "OTEL_TRACES_SAMPLER_ARG")
    if (arg === undefined) return
    const ratio = Number(arg)
    if (!(Number.isFinite(ratio) && ratio >= 0 && ratio <= 1)) {
      return yield* invalid("OTEL_TRACES_SAMPLER_ARG", `a ratio between 0 and 1 for ${name}`, arg)
    }
  })

/**
 * What `env` asks for, or the first variable with a value that cannot be used. Tracing is on when
 * OTEL_TRACES_EXPORTER names an exporter, or, with OTEL_TRACES_EXPORTER unset, when an OTLP endpoint is set
 * (OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT); the export of Sidekick's own metrics is on
 * only when OTEL_METRICS_EXPORTER names an exporter. OTEL_SDK_DISABLED=true turns everything off.
 */
export const otelPlan = (env: Env): Either.Either<OtelPlan, OtelConfigError> =>
  Either.gen(function*() {
    const disabled = value(env, "OTEL_SDK_DISABLED")?.trim().toLowerCase()
    if (disabled !== undefined && disabled !== "true" && disabled !== "false") {
      return yield* invalid("OTEL_SDK_DISABLED", "true or false", env["OTEL_SDK_DISABLED"]!)
    }
    if (disabled === "true") return off

    const protocol = yield* oneOf(env, "OTEL_EXPORTER_OTLP_PROTOCOL", otlpProtocols)
    const tracesProtocol = (yield* oneOf(env, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", otlpProtocols)) ?? protocol ?? "http/protobuf"
    const metricsProtocol = (yield* oneOf(env, "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", otlpProtocols)) ?? protocol ??
      "http/protobuf"
    for (const name of ["OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"]) {
      yield* url(env, name)
    }

    const tracesExporters = yield* listOf(env, "OTEL_TRACES_EXPORTER", spanExporters)
    const endpoint = value(env, "OTEL_EXPORTER_OTLP_ENDPOINT") ?? value(env, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    const traces = tracesExporters ?? (endpoint === undefined ? [] : ["otlp" as const])
    yield* sampler(env)

    const metrics = (yield* listOf(
      env,
      "OTEL_METRICS_EXPORTER",
      metricExporters,
      (unknown) => unknown === "prometheus" ? " (Sidekick serves Prometheus on its own /metrics)" : ""
    )) ?? []
    const metricExportIntervalMillis = (yield* positiveMillis(env, "OTEL_METRIC_EXPORT_INTERVAL")) ?? off.metricExportIntervalMillis
    const metricExportTimeoutMillis = Math.min(
      (yield* positiveMillis(env, "OTEL_METRIC_EXPORT_TIMEOUT")) ?? off.metricExportTimeoutMillis,
      metricExportIntervalMillis
    )

    const propagators = yield* listOf(env, "OTEL_PROPAGATORS", propagatorNames)
    yield* listOf(env, "OTEL_NODE_RESOURCE_DETECTORS", resourceDetectors)
    yield* resourceAttributes(env)

    return {
      traces,
      tracesProtocol,
      metrics,
      metricsProtocol,
      metricExportIntervalMillis,
      metricExportTimeoutMillis,
      propagators
    }
  })
