/**
 * The service as one Layer, wired at the edge: metrics, the HTTP transport, one layer per enabled
 * output, the Dispatcher, the ingest path and the HTTP server. Closing it stops accepting events,
 * drains the queues within delivery.shutdowntimeout, then closes the outputs.
 */
import { enrichmentOptions } from "@sidekick/config"
import { Dispatcher, HttpTransport, type Output, type OutputInitError, Outputs } from "@sidekick/delivery"
import { GlobalFieldKeys } from "@sidekick/outputs"
import { Metrics } from "@sidekick/telemetry"
import { Data, Effect, Either, Layer } from "effect"
import { type AppConfig, tlsFiles } from "./AppConfig.js"
import { makeFalcoEventLabels } from "./FalcoEventLabels.js"
import { Ingest } from "./Ingest.js"
import * as Server from "./Server.js"

export class StartupError extends Data.TaggedError("StartupError")<{ readonly message: string }> {}

export interface AppOverrides {
  /** listen here instead of listenaddress/listenport (tests use port 0) */
  readonly port?: number
  readonly host?: string
  /** process_* / nodejs_* metrics; off in tests that start many apps */
  readonly defaultMetrics?: boolean
}

/** One layer per enabled output, then the Outputs list in registry order. */
const outputsLayer = (config: AppConfig) => {
  const layers = config.outputs.map((o) => o.registered.definition.layer(o.config))
  const all = layers.reduce<Layer.Layer<Output, any, any>>((acc, l) => Layer.merge(acc, l), Layer.empty as any)
  return Layer.effect(Outputs, Effect.all(config.outputs.map((o) => o.registered.definition.tag))).pipe(
    Layer.provide(all)
  ) as Layer.Layer<Outputs, OutputInitError, HttpTransport | GlobalFieldKeys>
}

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
      const core = Dispatcher.layer(config.delivery).pipe(
        Layer.provide(outputsLayer(config)),
        Layer.provide(HttpTransport.layer(tlsFiles(g))),
        Layer.provide(GlobalFieldKeys.layer({
          customFields: customFields.map(([k]) => k),
          templatedFields: templatedFields.map(([k]) => k)
        })),
        Layer.provideMerge(metrics)
      )
      const ingest = Ingest.layer({
        enrichment,
        labels,
        debug: g.debug
      })
      const server = Server.layer({
        host: overrides.host ?? g.listenaddress,
        port: overrides.port ?? g.listenport,
        maxBodyBytes: 10 * 1024 * 1024,
        closeTimeout: "5 seconds"
      })
      return server.pipe(Layer.provideMerge(ingest), Layer.provideMerge(core))
    })
  )
