/**
 * Entry point: read the configuration (refusing to start on a bad value), then run the service until
 * SIGTERM/SIGINT, which stops accepting, drains the queues and exits 0.
 */
import { NodeRuntime } from "@effect/platform-node"
import { loadSource, usage } from "@sidekick/config"
import { exportOwnMetrics, Logging, Metrics, OpenTelemetryLive } from "@sidekick/telemetry"
import { Context, Data, Effect, Layer } from "effect"
import cluster from "node:cluster"
import { appLayer, type StartupFailure } from "./App.js"
import { readAppConfig } from "./AppConfig.js"
import { runPrimary, signalReady } from "./Cluster.js"
import { version } from "./Version.js"

const program = Effect.gen(function*() {
  const source = yield* loadSource({ argv: process.argv.slice(2), env: process.env })
  if (source.action === "help") return yield* Effect.sync(() => process.stdout.write(usage))
  if (source.action === "version") {
    return yield* Effect.sync(() => process.stdout.write(`GitVersion:  ${version}\nNodeVersion: ${process.version}\nPlatform:    ${process.platform}/${process.arch}\n`))
  }
  yield* Effect.logInfo(`Sidekick version: ${version}`)
  const config = yield* readAppConfig(source)
  if (config.global.processes > 1 && cluster.isPrimary) {
    yield* Effect.logInfo(`starting ${config.global.processes} processes sharing ${config.global.listenaddress}:${config.global.listenport}`)
    return yield* runPrimary(config.global.processes)
  }
  if (source.file) yield* Effect.logInfo(`configuration file: ${source.file}`)
  for (const key of config.unknownKeys) {
    yield* Effect.logWarning(`unknown configuration key "${key}" is ignored (a typo, or an output Sidekick does not have yet)`)
  }
  yield* Effect.logInfo(`Enabled Outputs: [${config.outputs.map((o) => o.displayName).join(" ")}]`)
  if (config.global.debug) yield* Effect.logDebug("Debug mode: true")
  if (cluster.isWorker) {
    // Ctrl-C reaches every process of the group and the primary then sends SIGTERM as well: a second
    // signal must not kill a process that is draining (runMain handles only the first)
    yield* Effect.sync(() => {
      process.on("SIGINT", () => {})
      process.on("SIGTERM", () => {})
    })
  }
  const app = appLayer(config, { clusterWorker: cluster.isWorker }).pipe(
    // OTEL_METRICS_EXPORTER=otlp: the registry behind /metrics is exported over OTLP as well
    Layer.tap((context) => exportOwnMetrics(Context.get(context, Metrics).registry)),
    Layer.tap(() => signalReady),
    // around the app, so it closes last: spans and counts of the drain are exported before exit
    Layer.provide(OpenTelemetryLive({ serviceName: "sidekick", serviceVersion: version })),
    Layer.provide(Logging.minimumLevel(config.global.debug))
  )
  return yield* Layer.launch(app)
})

/**
 * `self`, once TypeScript agrees that it fails with StartupFailure, no more and no less: a new kind of
 * start-up failure must join the union (and get its line below) before this compiles.
 */
const failingWithStartupFailure = <A, E, R>(
  self: Effect.Effect<A, E, R>,
  _exactly: [E] extends [StartupFailure] ? [StartupFailure] extends [E] ? true : false : false
) => self

/** A start-up failure, already logged as its one line: runMain exits 1 without reporting it again. */
class StartupRefused extends Data.TaggedError("StartupRefused") {}

const refuse = (line: string) => Effect.zipRight(Effect.logError(line), Effect.fail(new StartupRefused()))

const main: Effect.Effect<void, StartupRefused> = failingWithStartupFailure(program, true).pipe(
  Effect.catchTags({
    ConfigLoadError: (error) => refuse(error.message),
    ConfigError: (error) => refuse(error.message),
    OtelConfigError: (error) => refuse(error.message),
    ClusterError: (error) => refuse(error.message),
    StartupError: (error) => refuse(error.message),
    IngestConfigError: (error) => refuse(error.message),
    // an output that cannot start is named the way falcosidekick names outputs in its logs
    OutputInitError: (error) => refuse(`${error.output} - ${error.message}`),
    ServerStartError: (error) => refuse(error.message)
  }),
  Effect.provide(Logging.layer({ debug: false }))
)

NodeRuntime.runMain(main, { disableErrorReporting: true, disablePrettyLogger: true })
