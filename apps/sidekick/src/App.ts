/**
 * The service as one Layer, wired at the edge: metrics, the HTTP transport, one layer per enabled
 * output, the Dispatcher, the ingest path and the HTTP server. Closing it stops accepting events,
 * drains the queues within delivery.shutdowntimeout, then closes the outputs.
 */
import { type ConfigError, type ConfigLoadError, enrichmentOptions } from "@sidekick/config"
import { Buffer, DeadLetters, Dispatcher, HttpTransport, type OutputInitError, Outputs } from "@sidekick/delivery"
import { GlobalFieldKeys, type OutputServices } from "@sidekick/outputs"
import { Metrics, type OtelConfigError } from "@sidekick/telemetry"
import { Data, Effect, Either, Layer } from "effect"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { type AppConfig, tlsFiles } from "./AppConfig.js"
import type { ClusterError } from "./Cluster.js"
import * as Exposition from "./Exposition.js"
import { makeFalcoEventLabels } from "./FalcoEventLabels.js"
import { type IngestConfigError, IngestHandler } from "./IngestHandler.js"
import * as Server from "./Server.js"

/** The app cannot be wired as configured (a label name, `tlsserver.notlspaths`, an unreadable TLS file). */
export class StartupError extends Data.TaggedError("StartupError")<{ readonly message: string }> {}

/**
 * Every error start-up can fail with; main.ts logs each as one line and exits 1. In start-up order:
 * the command line or config file, a configuration value, (with `processes` > 1) a process of the
 * cluster that failed to start, the OTEL_* variables, the app's wiring, the enrichment options, an
 * output, the listener.
 */
export type StartupFailure =
  | ConfigLoadError
  | ConfigError
  | ClusterError
  /** @sidekick/telemetry's OpenTelemetryLive: an OTEL_* variable that cannot be used */
  | OtelConfigError
  | StartupError
  | IngestConfigError
  | OutputInitError
  | Server.ServerStartError

export interface AppOverrides {
  /** listen here instead of listenaddress/listenport (tests use port 0) */
  readonly port?: number
  /** the plain side server's port instead of tlsserver.notlsport */
  readonly plainPort?: number
  readonly host?: string
  /** process_* / nodejs_* metrics; off in tests that start many apps */
  readonly defaultMetrics?: boolean
  /** this process is one of several (`processes` > 1): /metrics and /debug/vars come from the primary */
  readonly clusterWorker?: boolean
}

const readServerFile = (key: string, file: string) =>
  Effect.try({
    try: () => readFileSync(file, "utf8"),
    catch: (e) => new StartupError({ message: `cannot read ${key} ${file}: ${(e as Error).message}` })
  })

/** falcosidekick's tlsserver.*: HTTPS, optional client certificates, some routes on a plain side server */
const tlsServerOptions = (g: AppConfig["global"], overrides: AppOverrides) =>
  Effect.gen(function*() {
    const t = g.tlsserver
    if (!t.deploy) {
      if (t.mutualtls) yield* Effect.logWarning("tlsserver.mutualtls is true but tlsserver.deploy is false: serving plain HTTP")
      return {}
    }
    const unknown = t.notlspaths.filter((p) => !Server.isNotlsPath(p))
    if (unknown.length > 0) {
      return yield* new StartupError({
        message: `tlsserver.notlspaths (TLSSERVER_NOTLSPATHS) has ${unknown.map((p) => `"${p}"`).join(", ")}: expected some of ${
          Server.notlsPaths.join(", ")
        }`
      })
    }
    const tls = {
      cert: yield* readServerFile("tlsserver.certfile", t.certfile),
      key: yield* readServerFile("tlsserver.keyfile", t.keyfile),
      ...(t.mutualtls ? { caCert: yield* readServerFile("tlsserver.cacertfile", t.cacertfile) } : {})
    }
    const plain = t.notlspaths.length > 0
      ? { plain: { port: overrides.plainPort ?? t.notlsport, routes: t.notlspaths.filter(Server.isNotlsPath) } }
      : {}
    return { tls, ...plain }
  })

/** this process's spool directory: processes of a cluster never share one, and keep theirs across restarts */
const spoolDir = (spool: NonNullable<AppConfig["spool"]>) => {
  const index = process.env["SIDEKICK_PROCESS_INDEX"]
  return index === undefined ? spool.dir : join(spool.dir, `process-${index}`)
}

const cannotOpen = (dir: string, what: string) => (e: { readonly message: string }) =>
  new StartupError({ message: `delivery.spool.dir (DELIVERY_SPOOL_DIR) = "${dir}": cannot open the ${what}: ${e.message}` })

/** The durable spool when `delivery.spool.dir` is set, JetStream when `delivery.spool.nats.url` is, else memory. */
const bufferLayer = (config: AppConfig): Layer.Layer<Buffer, StartupError> => {
  if (config.jetstream !== undefined) {
    return Buffer.layerJetStream(config.jetstream).pipe(
      Layer.mapError((e) => new StartupError({ message: `delivery.spool.nats.url (DELIVERY_SPOOL_NATS_URL): ${e.message}` }))
    )
  }
  if (config.spool === undefined) return Buffer.layerMemory({ maxBytes: config.delivery.maxBytes })
  const dir = spoolDir(config.spool)
  return Buffer.layerSpool({ dir, durability: config.spool.durability, maxBytes: config.spool.maxBytes }).pipe(
    Layer.mapError(cannotOpen(dir, "spool"))
  )
}

/** Dead letters beside the spool (they survive a restart), else in memory. */
const deadLettersLayer = (config: AppConfig): Layer.Layer<DeadLetters, StartupError> => {
  const maxEntries = config.delivery.deadLetter.maxEntries
  if (config.spool === undefined) return DeadLetters.layerMemory(maxEntries)
  const dir = join(spoolDir(config.spool), "deadletters")
  return DeadLetters.layerSpool({ dir, maxEntries }).pipe(Layer.mapError(cannotOpen(dir, "dead letters")))
}

/** One layer per enabled output of events, then the Outputs list in registry order. */
const outputsLayer = (config: AppConfig): Layer.Layer<Outputs, OutputInitError, OutputServices> => {
  const events = config.outputs.filter((o) => o.kind === "events")
  const collect = Layer.effect(Outputs, Effect.all(events.map((o) => o.tag)))
  const [first, ...rest] = events.map((o) => o.layer)
  return first === undefined ? Layer.succeed(Outputs, []) : Layer.provide(collect, Layer.mergeAll(first, ...rest))
}

/** The outputs of Sidekick's own metrics (StatsD, DogStatsD, OTLP metrics): each listens while the app lives. */
const metricsSinksLayer = (config: AppConfig): Layer.Layer<never, OutputInitError, Metrics | GlobalFieldKeys> =>
  Layer.mergeAll(Layer.empty, ...config.outputs.flatMap((o) => (o.kind === "metrics" ? [o.layer] : [])))

export const appLayer = (config: AppConfig, overrides: AppOverrides = {}) =>
  Layer.unwrapEffect(
    Effect.gen(function*() {
      const g = config.global
      const enrichment = enrichmentOptions(g)
      const { customFields, templatedFields } = enrichment
      const labels = yield* Either.match(
        makeFalcoEventLabels({
          customFields,
          templatedFields: templatedFields.map(([k]) => k),
          extraLabels: g.prometheus.extralabels
        }),
        { onLeft: (e) => Effect.fail(new StartupError({ message: e.message })), onRight: Effect.succeed }
      )
      for (const skipped of labels.skipped) {
        yield* Effect.logWarning(`${skipped} is not a valid Prometheus label name; it is not a label of falco_events_total`)
      }

      const metrics = Metrics.layer({ falcoEventLabels: labels.names, defaultMetrics: overrides.defaultMetrics ?? true })
      const globalFieldKeys = GlobalFieldKeys.layer({
        customFields: customFields.map(([k]) => k),
        templatedFields: templatedFields.map(([k]) => k)
      })
      const core = Dispatcher.layerWithStores(config.delivery).pipe(
        Layer.provide(bufferLayer(config)),
        Layer.provide(deadLettersLayer(config)),
        Layer.provide(outputsLayer(config)),
        Layer.provide(HttpTransport.layer(tlsFiles(g))),
        Layer.provide(globalFieldKeys),
        // the sinks are built before the outputs and closed after them: they hear every attempt
        Layer.provideMerge(Layer.provideMerge(metricsSinksLayer(config).pipe(Layer.provide(globalFieldKeys)), metrics))
      )
      const ingest = IngestHandler.layer({
        enrichment,
        labels,
        debug: g.debug,
        backpressureMaxWait: config.backpressureMaxWait
      })
      const server = Server.layer({
        host: overrides.host ?? g.listenaddress,
        port: overrides.port ?? g.listenport,
        maxBodyBytes: 10 * 1024 * 1024,
        closeTimeout: "5 seconds",
        ...(yield* tlsServerOptions(g, overrides))
      })
      const exposition = overrides.clusterWorker ? Exposition.clusterWorker : Exposition.local
      return server.pipe(Layer.provide(exposition), Layer.provideMerge(ingest), Layer.provideMerge(core))
    })
  )
