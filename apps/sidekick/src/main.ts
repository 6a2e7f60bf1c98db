/**
 * Entry point: read the configuration (refusing to start on a bad value), then run the service until
 * SIGTERM/SIGINT, which stops accepting, drains the queues and exits 0.
 */
import { NodeRuntime } from "@effect/platform-node"
import { loadSource, usage } from "@sidekick/config"
import { Logging, TracingLive } from "@sidekick/telemetry"
import { Effect, Layer } from "effect"
import cluster from "node:cluster"
import { appLayer } from "./App.js"
import { readAppConfig } from "./AppConfig.js"
import { runPrimary, signalReady } from "./Cluster.js"
import { version } from "./Version.js"

/** one line for any start-up failure: config, labels, output init, listen */
const describe = (error: unknown): string => {
  if (typeof error !== "object" || error === null || !("message" in error) || typeof error.message !== "string") {
    return String(error)
  }
  // an output that cannot start is named the way falcosidekick names outputs in its logs
  return "_tag" in error && error._tag === "OutputInitError" && "output" in error
    ? `${String(error.output)} - ${error.message}`
    : error.message
}

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
  yield* Effect.logInfo(`Enabled Outputs: [${config.outputs.map((o) => o.registered.definition.displayName).join(" ")}]`)
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
    Layer.tap(() => signalReady),
    Layer.provide(TracingLive({ serviceName: "sidekick", serviceVersion: version })),
    Layer.provide(Logging.minimumLevel(config.global.debug))
  )
  return yield* Layer.launch(app)
}).pipe(
  Effect.tapError((error) => Effect.logError(describe(error))),
  Effect.provide(Logging.layer({ debug: false }))
)

NodeRuntime.runMain(program, { disableErrorReporting: true, disablePrettyLogger: true })
