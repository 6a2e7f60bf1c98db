/**
 * Sidekick's own OpenTelemetry: traces of its pipeline, and the OTLP export of its own metrics beside /metrics.
 * @opentelemetry/sdk-node's NodeSDK sets both up from the standard OTEL_* variables (exporters, gRPC / HTTP
 * protobuf / HTTP JSON, endpoints, headers, sampler, OTEL_PROPAGATORS, resource detectors); OtelConfig.ts decides
 * what is switched on and refuses values NodeSDK would silently replace. Effect's spans reach NodeSDK's tracer
 * provider through @effect/opentelemetry's tracer over the global provider. No auto-instrumentation is
 * registered (no http instrumentation on the ingest path), and with tracing off no span is created at all.
 *
 * NodeSDK registers globally, as the OpenTelemetry API requires: the tracer provider (when tracing is on), the
 * meter provider (when metrics are exported), the propagator and an AsyncLocalStorage context manager. They are
 * unregistered when the layer closes, after the last export.
 */
import * as Resource from "@effect/opentelemetry/Resource"
import * as Tracer from "@effect/opentelemetry/Tracer"
import { context, diag, DiagLogLevel, metrics, propagation, trace } from "@opentelemetry/api"
import { defaultResource, resourceFromAttributes } from "@opentelemetry/resources"
// types only: the SDK is loaded by `startSdk`, when a variable asks for telemetry
import type { PushMetricExporter } from "@opentelemetry/sdk-metrics"
import type { NodeSDK } from "@opentelemetry/sdk-node"
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from "@opentelemetry/semantic-conventions"
import { Context, Effect, Layer, Runtime } from "effect"
import type * as Prom from "prom-client"
import { type OtelConfigError, otelPlan, type OtelPlan, type OtlpProtocol } from "./OtelConfig.js"
import { registryProducer } from "./OwnMetrics.js"
import { sidekickPropagator } from "./Propagation.js"

export interface OwnMetricsExportService {
  /**
   * Export the Sidekick families of `registry` (the one behind /metrics) until the layer closes, the last time
   * when it closes; nothing when OTEL_METRICS_EXPORTER does not ask for it.
   */
  readonly readFrom: (registry: Prom.Registry) => Effect.Effect<void>
}

export class OwnMetricsExport extends Context.Tag("@sidekick/telemetry/OwnMetricsExport")<
  OwnMetricsExport,
  OwnMetricsExportService
>() {}

export interface ServiceIdentity {
  /** service.name unless OTEL_SERVICE_NAME (or service.name in OTEL_RESOURCE_ATTRIBUTES) says otherwise */
  readonly serviceName: string
  readonly serviceVersion: string
}

const shutdownTimeout = "5 seconds"

// loaded only when a variable asks for telemetry: NodeSDK pulls in every exporter it knows (gRPC included)
const otlpMetricExporter = async (protocol: OtlpProtocol): Promise<PushMetricExporter> => {
  // each reads OTEL_EXPORTER_OTLP_METRICS_* / OTEL_EXPORTER_OTLP_* (endpoint, headers, timeout, compression) itself
  switch (protocol) {
    case "grpc":
      return new (await import("@opentelemetry/exporter-metrics-otlp-grpc")).OTLPMetricExporter()
    case "http/json":
      return new (await import("@opentelemetry/exporter-metrics-otlp-http")).OTLPMetricExporter()
    case "http/protobuf":
      return new (await import("@opentelemetry/exporter-metrics-otlp-proto")).OTLPMetricExporter()
  }
}

const unregisterGlobals = () => {
  trace.disable()
  metrics.disable()
  propagation.disable()
  context.disable()
}

/** one line out of an OpenTelemetry diagnostic: its error handler passes exceptions as JSON with the stack */
export const diagnosticLine = (message: string, args: ReadonlyArray<unknown>): string => {
  try {
    const e = JSON.parse(message) as { readonly name?: unknown; readonly message?: unknown; readonly code?: unknown }
    if (typeof e === "object" && e !== null && typeof e.message === "string") {
      const name = typeof e.name === "string" && e.name !== "" ? `${e.name}: ` : ""
      return `${name}${e.message}${e.code === undefined ? "" : ` (${String(e.code)})`}`
    }
  } catch {
    // not JSON: an ordinary message
  }
  return [message, ...args.map(String)].join(" ").replaceAll("\n", " ")
}

/**
 * The SDK's warnings and errors (an export that failed, a collector that cannot be reached) in Sidekick's log,
 * instead of nowhere: OpenTelemetry reports them only to a diagnostic logger, which NodeSDK installs (on the
 * console) only when OTEL_LOG_LEVEL is set, and then that one is kept.
 */
const logDiagnostics = Effect.gen(function*() {
  if (process.env["OTEL_LOG_LEVEL"]?.trim()) return
  const run = Runtime.runFork(yield* Effect.runtime<never>())
  const log = (effect: (line: string) => Effect.Effect<void>) => (message: string, ...args: Array<unknown>) => {
    run(effect(`OpenTelemetry: ${diagnosticLine(message, args)}`))
  }
  const ignore = () => {}
  yield* Effect.acquireRelease(
    Effect.sync(() =>
      diag.setLogger(
        { error: log(Effect.logError), warn: log(Effect.logWarning), info: ignore, debug: ignore, verbose: ignore },
        { logLevel: DiagLogLevel.WARN, suppressOverrideMessage: true }
      )
    ),
    () => Effect.sync(() => diag.disable())
  )
})

const startSdk = (plan: OtelPlan, identity: ServiceIdentity, registry: () => Prom.Registry | undefined) =>
  Effect.acquireRelease(
    Effect.promise(async (): Promise<NodeSDK> => {
      const { NodeSDK } = await import("@opentelemetry/sdk-node")
      const { ConsoleMetricExporter, PeriodicExportingMetricReader } = await import("@opentelemetry/sdk-metrics")
      const producer = registryProducer(registry, { name: identity.serviceName, version: identity.serviceVersion })
      const metricReaders = await Promise.all(plan.metrics.map(async (exporter) =>
        new PeriodicExportingMetricReader({
          exporter: exporter === "console" ? new ConsoleMetricExporter() : await otlpMetricExporter(plan.metricsProtocol),
          exportIntervalMillis: plan.metricExportIntervalMillis,
          exportTimeoutMillis: plan.metricExportTimeoutMillis,
          metricProducers: [producer]
        })
      ))
      const sdk = new NodeSDK({
        // NodeSDK merges the detected resource over this one: OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME win
        resource: defaultResource().merge(resourceFromAttributes({
          [ATTR_SERVICE_NAME]: identity.serviceName,
          [ATTR_SERVICE_VERSION]: identity.serviceVersion
        })),
        // left out, NodeSDK builds span processors from OTEL_TRACES_EXPORTER (otlp when unset)
        ...(plan.traces.length === 0 ? { spanProcessors: [] } : {}),
        // given, NodeSDK ignores OTEL_METRICS_EXPORTER (it would export its own empty meter provider by default)
        metricReaders,
        // Sidekick's logs go to stdout in falcosidekick's format; NodeSDK would otherwise export logs by default
        logRecordProcessors: [],
        instrumentations: [],
        ...(plan.propagators === undefined ? { textMapPropagator: sidekickPropagator } : {})
      })
      sdk.start()
      return sdk
    }),
    // spans still buffered and the metrics' final values are exported here, after the app has closed
    (sdk) =>
      Effect.tryPromise(() => sdk.shutdown()).pipe(
        Effect.interruptible,
        Effect.timeoutFail({ duration: shutdownTimeout, onTimeout: () => new Error(`no answer within ${shutdownTimeout}`) }),
        Effect.catchAll((e) =>
          Effect.logWarning(`OpenTelemetry: the last export failed: ${e instanceof Error ? e.message : String(e)}`)
        ),
        Effect.ensuring(Effect.sync(unregisterGlobals))
      )
  )

/**
 * Sidekick's own telemetry, as the OTEL_* variables ask: with no exporter asked for, span creation is turned off
 * (the hot paths skip it entirely) and nothing is exported. Fails with OtelConfigError on a value that cannot be
 * used. Provide it around the app: it must close after the app, so the last spans and counts are exported.
 */
export const OpenTelemetryLive = (identity: ServiceIdentity): Layer.Layer<OwnMetricsExport, OtelConfigError> =>
  Layer.unwrapScoped(
    Effect.gen(function*() {
      const plan = yield* otelPlan(process.env)
      if (plan.traces.length === 0 && plan.metrics.length === 0) {
        return Layer.merge(Layer.setTracerEnabled(false), Layer.succeed(OwnMetricsExport, { readFrom: () => Effect.void }))
      }
      // the variable's value also names the tracer, whatever resource detectors OTEL_NODE_RESOURCE_DETECTORS keeps
      const serviceName = process.env["OTEL_SERVICE_NAME"]?.trim() || identity.serviceName
      const resolved = { ...identity, serviceName }
      let registry: Prom.Registry | undefined
      yield* logDiagnostics
      yield* startSdk(plan, resolved, () => registry)
      const tracing = plan.traces.length > 0
        ? Layer.discard(Tracer.layerGlobal.pipe(Layer.provide(Resource.layer(resolved))))
        : Layer.setTracerEnabled(false)
      return Layer.merge(
        tracing,
        Layer.succeed(OwnMetricsExport, {
          readFrom: (r) =>
            Effect.sync(() => {
              registry = r
            })
        })
      )
    })
  )

/** Export `registry`'s Sidekick families over OTLP when OTEL_METRICS_EXPORTER asks (see OwnMetricsExport). */
export const exportOwnMetrics = (registry: Prom.Registry): Effect.Effect<void, never, OwnMetricsExport> =>
  Effect.flatMap(OwnMetricsExport, (e) => e.readFrom(registry))
