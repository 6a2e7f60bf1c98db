/**
 * OTLP Logs: one log record per event (falcosidekick's `otlp.logs`), over OTLP/HTTP protobuf (default),
 * OTLP/HTTP JSON or gRPC. The record is the one falcosidekick's slog bridge makes: scope `falco`, severity
 * INFO, the output as body, the event's priority, source, rule, hostname, tags (comma-joined) and time (Go's
 * `time.Time.String()`) as attributes, and the time it is sent as its timestamp (not the event's).
 *
 * As for traces (see Traces.ts), the record is made by the SDK (its own LoggerProvider, never the global
 * one) and the output calls the SDK's exporter itself, so a send returns once the collector accepted the
 * records and a failed export is a failed, retried attempt. falcosidekick's BatchProcessor becomes the
 * Dispatcher's batching (`batching.*`, its defaults: 512 records, 1 s); without batching one event is one request.
 */
import { ROOT_CONTEXT } from "@opentelemetry/api"
import { SeverityNumber } from "@opentelemetry/api-logs"
// types only: the SDK and its exporters are loaded by `make`, when the output is enabled
import type { OTLPLogExporter as GrpcLogExporter } from "@opentelemetry/exporter-logs-otlp-grpc"
import type { OTLPLogExporter as JsonLogExporter } from "@opentelemetry/exporter-logs-otlp-http"
import type { OTLPLogExporter as ProtoLogExporter } from "@opentelemetry/exporter-logs-otlp-proto"
import type { Resource } from "@opentelemetry/resources"
import type * as SdkLogs from "@opentelemetry/sdk-logs"
import type { LogRecordProcessor, ReadableLogRecord } from "@opentelemetry/sdk-logs"
import { eventJson, type FalcoEvent, goTimeString } from "@sidekick/event"
import { Clock, Effect } from "effect"
import type { NonEmptyReadonlyArray } from "effect/Array"
import { define } from "../Definition.js"
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

export const OtlpLogsConfig = outputSection("otlp.logs", {
  ...otlpFields(),
  /** Sidekick's: how events are grouped into one export request (falcosidekick: the SDK's BatchProcessor) */
  batching: batchingFields({ enabled: true, maxevents: 512, maxbytes: 4 * 1024 * 1024, flushinterval: "1s" })
})
export type OtlpLogsConfig = typeof OtlpLogsConfig.Type

/** the scope falcosidekick's slog bridge logs under; the resource is the traces' one */
export const logsScope = "falco"
export const logsServiceVersion = "v0.1.0"

/** the record's attributes, in falcosidekick's order */
export const logAttributes = (event: FalcoEvent) => ({
  priority: event.priority,
  source: event.source,
  rule: event.rule,
  hostname: event.hostname,
  tags: event.tags.join(","),
  timestamp: goTimeString(event)
})

/**
 * Records made by the SDK's own logger (`sdk`: @opentelemetry/sdk-logs, loaded by the caller), each handed back
 * as it is emitted. The provider is ours alone (never registered globally) and its limits are given.
 */
export const makeRecordBuilder = (sdk: typeof SdkLogs, resource: Resource) => {
  const emitted: Array<ReadableLogRecord> = []
  const capture: LogRecordProcessor = {
    onEmit: (record) => {
      emitted.push(record)
    },
    forceFlush: () => Promise.resolve(),
    shutdown: () => Promise.resolve()
  }
  const provider = new sdk.LoggerProvider({
    resource,
    logRecordLimits: { attributeCountLimit: 128, attributeValueLengthLimit: Infinity },
    processors: [capture]
  })
  const logger = provider.getLogger(logsScope)
  /** the event's record, stamped `nowNanos` */
  const build = (event: FalcoEvent, nowNanos: bigint): ReadableLogRecord | undefined => {
    const now = hrTimeOf(nowNanos)
    logger.emit({
      timestamp: now,
      observedTimestamp: now,
      severityNumber: SeverityNumber.INFO,
      severityText: "INFO",
      body: event.output,
      attributes: logAttributes(event),
      // ROOT_CONTEXT: never tied to whatever span of Sidekick's own tracing is active
      context: ROOT_CONTEXT
    })
    return emitted.pop()
  }
  return { provider, build }
}

/** the SDK's log exporters, per protocol */
export const logExporters: ExporterClasses<GrpcLogExporter | JsonLogExporter | ProtoLogExporter> = {
  grpc: () => import("@opentelemetry/exporter-logs-otlp-grpc").then(({ OTLPLogExporter }) => (options) => new OTLPLogExporter(options)),
  json: () => import("@opentelemetry/exporter-logs-otlp-http").then(({ OTLPLogExporter }) => (options) => new OTLPLogExporter(options)),
  proto: () => import("@opentelemetry/exporter-logs-otlp-proto").then(({ OTLPLogExporter }) => (options) => new OTLPLogExporter(options))
}

export const OtlpLogs = define({
  config: OtlpLogsConfig,
  displayName: "OTLPLogs",
  enabled: (c) => c.endpoint !== "",
  make: (c, ctx) =>
    Effect.gen(function*() {
      const settings = yield* otlpSettings("logs", c, ctx)
      const exporter = yield* otlpExporter(ctx, settings, logExporters)
      const sdk = yield* Effect.promise(() => import("@opentelemetry/sdk-logs"))
      const records = yield* Effect.acquireRelease(
        Effect.sync(() => makeRecordBuilder(sdk, falcoResource(logsServiceVersion, settings.resourceAttributes))),
        (b) => shutdownQuietly(`${ctx.name} logger provider`, () => b.provider.shutdown())
      )
      const send = (events: ReadonlyArray<FalcoEvent>) =>
        Effect.flatMap(Clock.currentTimeNanos, (now) => {
          const built = events.flatMap((event) => records.build(event, now) ?? [])
          // the logger emits nothing once its provider is shut down: the output is closing
          if (built.length < events.length) return Effect.fail(ctx.error("Transport", "the output is shutting down"))
          return exportWith(exporter, built, (e) => exportFailure(ctx, settings.protocol, e))
        })
      const batch = batchOptions(c.batching, (event) => Buffer.byteLength(eventJson(event)))
      return batch === undefined
        ? { kind: "single" as const, testRuleBypass: false, send: (event: FalcoEvent) => send([event]) }
        : { kind: "batch" as const, testRuleBypass: false, batch, send: (events: NonEmptyReadonlyArray<FalcoEvent>) => send(events) }
    })
})
