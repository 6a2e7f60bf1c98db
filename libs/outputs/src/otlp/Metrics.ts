/**
 * OTLP Metrics: Sidekick's own counts pushed to an OTLP collector (falcosidekick's `otlp.metrics`). Not an
 * output of events: a metrics sink that hears every input, accepted event and output attempt from the
 * Metrics service and counts them in falcosidekick's three counters, with its names, descriptions and
 * attributes:
 * - `falcosecurity_falco_rules_matches_total`: source, priority, rule, hostname (`unknown` when empty), tags,
 *   then each global `customfields` key and each `extraattributes` output field (`.` becomes `_`; its value
 *   when a string, else "");
 * - `falcosecurity_falcosidekick_inputs`: source (`requests`), status (accepted, rejected);
 * - `falcosecurity_falcosidekick_outputs`: destination, status (ok, error).
 * Int64, monotonic, cumulative; read and pushed every `interval` (the SDK's default 60 s, as falcosidekick)
 * by a PeriodicExportingMetricReader of the sink's own MeterProvider (never the global one), which makes a
 * last push when the sink stops.
 *
 * Differences from falcosidekick:
 * - the descriptions are sent (falcosidekick's counter wrapper loses them: its `With` copies the name but not
 *   the description, so its metrics go out without one);
 * - an `extraattributes` entry that is not a valid attribute name refuses start-up (falcosidekick logs it and
 *   leaves it out);
 * - `interval` (and OTEL_METRIC_EXPORT_INTERVAL in `extraenvvars`) is Sidekick's; a failed push is logged as
 *   a warning (the counts stay, the next push carries them: the temporality is cumulative).
 */
import { type Attributes, ValueType } from "@opentelemetry/api"
// types only: the SDK and its exporters are loaded by `make`, when the sink is enabled
import type { OTLPMetricExporter as GrpcMetricExporter } from "@opentelemetry/exporter-metrics-otlp-grpc"
import type { OTLPMetricExporter as JsonMetricExporter } from "@opentelemetry/exporter-metrics-otlp-http"
import type { OTLPMetricExporter as ProtoMetricExporter } from "@opentelemetry/exporter-metrics-otlp-proto"
import type { AggregationTemporality, PushMetricExporter } from "@opentelemetry/sdk-metrics"
import { Field, section } from "@sidekick/config"
import type { FalcoEvent } from "@sidekick/event"
import type { MetricsListener } from "@sidekick/telemetry"
import { Duration, Effect, Runtime } from "effect"
import { defineMetricsSink } from "../Definition.js"
import { type ExporterClasses, falcoResource, otlpExporter, otlpFields, otlpSettings, shutdownQuietly } from "./common.js"

export const OtlpMetricsConfig = section("otlp.metrics", {
  ...otlpFields(),
  /** output fields to add as attributes of the rules counter: a comma-separated list, spaces removed */
  extraattributes: Field.list([], { removeSpaces: "always" }),
  /** Sidekick's: how often the counts are pushed; unset = OTEL_METRIC_EXPORT_INTERVAL in extraenvvars (ms), else 60s */
  interval: Field.optional(Field.duration("60s")),
  /** accepted for falcosidekick's configs; unused there too (a count is not an event) */
  minimumpriority: Field.minimumPriority()
})
export type OtlpMetricsConfig = typeof OtlpMetricsConfig.Type

/** falcosidekick's meter and resource version of metrics (`0.1.0`, without the traces' `v`) */
export const metricsMeter = "falcosecurity.falco.otlpmetrics.meter"
export const metricsServiceVersion = "0.1.0"

export const rulesMatchesCounter = { name: "falcosecurity_falco_rules_matches_total", description: "Number of times rules match" }
export const inputsCounter = { name: "falcosecurity_falcosidekick_inputs", description: "Number of times an input is received" }
export const outputsCounter = { name: "falcosecurity_falcosidekick_outputs", description: "Number of times an output is generated" }

/** what falcosidekick accepts as an attribute name (its Prometheus label rule) */
const attributeName = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/

/** the output field's attribute name: dots become underscores */
export const attributeNameOf = (field: string): string => field.replaceAll(".", "_")

/**
 * the attributes of one match of the rules counter; `fieldAttributes`: the global customfields keys, then the
 * `extraattributes` (customfields are in every event's output_fields since ingest)
 */
export const rulesMatchAttributes = (event: FalcoEvent, fieldAttributes: ReadonlyArray<string>): Attributes => {
  const attributes: Attributes = {
    source: event.source,
    priority: event.priority,
    rule: event.rule,
    hostname: event.hostname === "" ? "unknown" : event.hostname,
    tags: [...event.tags]
  }
  for (const field of fieldAttributes) {
    const value = event.output_fields[field]
    attributes[attributeNameOf(field)] = typeof value === "string" ? value : ""
  }
  return attributes
}

const defaultIntervalMillis = 60_000

type SdkMetricExporter = GrpcMetricExporter | JsonMetricExporter | ProtoMetricExporter

/**
 * The SDK's metric exporters, per protocol, with `cumulative` (the SDK's AggregationTemporality.CUMULATIVE)
 * whatever OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE says.
 */
export const metricExporters = (cumulative: AggregationTemporality): ExporterClasses<SdkMetricExporter> => {
  const cumulativeOnly = { temporalityPreference: cumulative }
  return {
    grpc: () => import("@opentelemetry/exporter-metrics-otlp-grpc").then(({ OTLPMetricExporter }) => (o) => new OTLPMetricExporter({ ...o, ...cumulativeOnly })),
    json: () => import("@opentelemetry/exporter-metrics-otlp-http").then(({ OTLPMetricExporter }) => (o) => new OTLPMetricExporter({ ...o, ...cumulativeOnly })),
    proto: () => import("@opentelemetry/exporter-metrics-otlp-proto").then(({ OTLPMetricExporter }) => (o) => new OTLPMetricExporter({ ...o, ...cumulativeOnly }))
  }
}

/** the exporter, telling `onFailure` of each failed push (the reader itself would only tell the SDK's diagnostic log) */
const reportingFailures = (exporter: SdkMetricExporter, onFailure: (error: unknown) => void): PushMetricExporter => ({
  export: (metrics, done) =>
    exporter.export(metrics, (result) => {
      if (result.code !== 0) onFailure(result.error)
      done(result)
    }),
  forceFlush: () => exporter.forceFlush(),
  shutdown: () => exporter.shutdown(),
  selectAggregationTemporality: (type) => exporter.selectAggregationTemporality(type),
  selectAggregation: (type) => exporter.selectAggregation(type)
})

export const OtlpMetrics = defineMetricsSink({
  config: OtlpMetricsConfig,
  displayName: "OTLPMetrics",
  enabled: (c) => c.endpoint !== "",
  make: (c, ctx) =>
    Effect.gen(function*() {
      const intervalVariable = "OTEL_METRIC_EXPORT_INTERVAL"
      const settings = yield* otlpSettings("metrics", c, ctx, [intervalVariable])
      const invalid = c.extraattributes.find((field) => !attributeNameOf(field).match(attributeName))
      if (invalid !== undefined) {
        return yield* Effect.fail(ctx.initError(`${ctx.name}.extraattributes: "${invalid}" cannot be an attribute name`, { key: "extraattributes" }))
      }
      const fromEnv = settings.own[intervalVariable]?.trim()
      if (fromEnv !== undefined && !/^[1-9][0-9]*$/.test(fromEnv)) {
        return yield* Effect.fail(
          ctx.initError(`${ctx.name}.extraenvvars: ${intervalVariable} must be a number of milliseconds above 0`, { key: "extraenvvars" })
        )
      }
      const intervalMillis = c.interval !== undefined ? Duration.toMillis(c.interval) : fromEnv !== undefined ? Number(fromEnv) : defaultIntervalMillis
      if (!(intervalMillis >= 1)) return yield* Effect.fail(ctx.initError(`${ctx.name}.interval must be at least 1ms`, { key: "interval" }))

      const runtime = yield* Effect.runtime<never>()
      const reportFailure = (error: unknown) =>
        Runtime.runFork(runtime)(
          Effect.logWarning(`${ctx.name}: pushing the counts failed (the next push carries them): ${error instanceof Error ? error.message : String(error)}`)
        )
      const sdk = yield* Effect.promise(() => import("@opentelemetry/sdk-metrics"))
      const exporter = reportingFailures(yield* otlpExporter(ctx, settings, metricExporters(sdk.AggregationTemporality.CUMULATIVE)), reportFailure)
      // released first: the provider's shutdown pushes the last counts (then the exporter and its agent close)
      const provider = yield* Effect.acquireRelease(
        Effect.sync(() =>
          new sdk.MeterProvider({
            resource: falcoResource(metricsServiceVersion, settings.resourceAttributes),
            readers: [
              new sdk.PeriodicExportingMetricReader({
                exporter,
                exportIntervalMillis: intervalMillis,
                exportTimeoutMillis: Math.min(settings.timeoutMillis, intervalMillis)
              })
            ]
          })
        ),
        (p) => shutdownQuietly(`${ctx.name} meter provider`, () => p.shutdown())
      )
      const meter = provider.getMeter(metricsMeter)
      const counter = (spec: { readonly name: string; readonly description: string }) =>
        meter.createCounter(spec.name, { description: spec.description, valueType: ValueType.INT })
      const matches = counter(rulesMatchesCounter)
      const inputs = counter(inputsCounter)
      const outputs = counter(outputsCounter)
      // customfields keys that cannot be attribute names stay out, as they stay out of Prometheus' labels
      const fieldAttributes = [
        ...ctx.globalFieldKeys.customFields.filter((key) => attributeName.test(attributeNameOf(key))),
        ...c.extraattributes
      ]
      return {
        input: (status) => inputs.add(1, { source: "requests", status }),
        falcoEvent: (event) => matches.add(1, rulesMatchAttributes(event, fieldAttributes)),
        outputAttempt: (destination, status) => outputs.add(1, { destination, status })
      } satisfies MetricsListener
    })
})
