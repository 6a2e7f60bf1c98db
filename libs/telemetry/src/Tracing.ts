/**
 * OpenTelemetry traces, configured only by the standard OTEL_* environment variables and off when
 * none of them asks for an exporter. Effect spans go through @effect/opentelemetry's NodeSdk to a
 * batching OTLP/HTTP exporter (protobuf by default, JSON with `http/json`), which reads the
 * endpoint, headers and timeout from the same variables itself; the sampler comes from
 * OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG through the SDK's own defaults.
 */
import { NodeSdk } from "@effect/opentelemetry"
import { OTLPTraceExporter as OtlpJsonExporter } from "@opentelemetry/exporter-trace-otlp-http"
import { OTLPTraceExporter as OtlpProtoExporter } from "@opentelemetry/exporter-trace-otlp-proto"
import { BatchSpanProcessor, ConsoleSpanExporter, type SpanExporter } from "@opentelemetry/sdk-trace-base"
import { Config, ConfigError, Effect, Layer, Option } from "effect"

const env = (name: string) =>
  Config.option(Config.string(name)).pipe(
    Config.map((value) => Option.filter(Option.map(value, (v) => v.trim()), (v) => v !== ""))
  )

export type TraceExporterKind = "otlp-proto" | "otlp-json" | "console"

/** Which exporter the environment asks for, or none: tracing is off unless an endpoint or exporter is set. */
export const traceExporterFromEnv: Effect.Effect<Option.Option<TraceExporterKind>, ConfigError.ConfigError> = Effect.gen(
  function*() {
    const disabled = yield* env("OTEL_SDK_DISABLED")
    if (Option.getOrUndefined(disabled)?.toLowerCase() === "true") return Option.none()
    const exporter = Option.getOrUndefined(yield* env("OTEL_TRACES_EXPORTER"))?.toLowerCase()
    if (exporter === "none") return Option.none()
    if (exporter === "console") return Option.some("console")
    if (exporter !== undefined && exporter !== "otlp") {
      return yield* Effect.fail(
        ConfigError.InvalidData(["OTEL_TRACES_EXPORTER"], `OTEL_TRACES_EXPORTER: expected otlp, console or none, got "${exporter}"`)
      )
    }
    const endpoint = yield* env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    const anyEndpoint = Option.isSome(endpoint) || Option.isSome(yield* env("OTEL_EXPORTER_OTLP_ENDPOINT"))
    if (!anyEndpoint && exporter === undefined) return Option.none()
    const tracesProtocol = yield* env("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
    const protocol = yield* env("OTEL_EXPORTER_OTLP_PROTOCOL")
    const chosen = Option.getOrElse(Option.orElse(tracesProtocol, () => protocol), () => "http/protobuf")
    switch (chosen) {
      case "http/protobuf":
        return Option.some("otlp-proto")
      case "http/json":
        return Option.some("otlp-json")
      default:
        return yield* Effect.fail(
          ConfigError.InvalidData(
            ["OTEL_EXPORTER_OTLP_PROTOCOL"],
            `OTEL_EXPORTER_OTLP_PROTOCOL: expected http/protobuf or http/json (gRPC is not bundled), got "${chosen}"`
          )
        )
    }
  }
)

const exporterOf = (kind: TraceExporterKind): SpanExporter =>
  kind === "console" ? new ConsoleSpanExporter() : kind === "otlp-json" ? new OtlpJsonExporter() : new OtlpProtoExporter()

/**
 * The tracing layer: span creation disabled when tracing is off, otherwise an OTel tracer provider whose spans are
 * flushed when the layer closes (so the last events of a shutdown are still exported).
 */
export const TracingLive = (resource: { readonly serviceName: string; readonly serviceVersion: string }) =>
  Layer.unwrapEffect(
    Effect.gen(function*() {
      const kind = yield* traceExporterFromEnv
      // @effect/opentelemetry lets the configured name win over OTEL_SERVICE_NAME; the spec says the variable wins
      const serviceName = Option.getOrElse(yield* env("OTEL_SERVICE_NAME"), () => resource.serviceName)
      return Option.match(kind, {
        // no exporter: turn span creation off, so the hot paths skip it entirely
        onNone: () => Layer.setTracerEnabled(false),
        onSome: (k) =>
          Layer.discard(
            NodeSdk.layer(() => ({
              resource: { ...resource, serviceName },
              spanProcessor: new BatchSpanProcessor(exporterOf(k), { scheduledDelayMillis: 500 }),
              shutdownTimeout: "5 seconds"
            }))
          )
      })
    })
  )

