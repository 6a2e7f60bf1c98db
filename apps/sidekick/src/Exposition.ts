/**
 * What /metrics and /debug/vars show. With one process, this process's registry; with several
 * (`processes` > 1), the sum over all of them, gathered by the primary (see Cluster.ts), so a scrape
 * that lands on any process sees the whole service.
 */
import { Dispatcher } from "@sidekick/delivery"
import { Metrics } from "@sidekick/telemetry"
import { Context, Effect, Layer } from "effect"
import { cpus } from "node:os"
import * as Prom from "prom-client"
import { askPrimary, answerVarsRequests } from "./Cluster.js"

/** A /metrics answer: the Prometheus text and its content type. */
export interface Exposed {
  readonly contentType: string
  readonly body: string
}

/** What the HTTP server's /metrics and /debug/vars routes answer with. */
export interface ExpositionService {
  /** /metrics: the Prometheus text exposition, falcosidekick's families and Sidekick's own */
  readonly metrics: Effect.Effect<Exposed>
  /** /debug/vars: falcosidekick's expvar variables by name, and Sidekick's `sidekick.outputs`; keys sorted */
  readonly debugVars: Effect.Effect<Record<string, unknown>>
}

export class Exposition extends Context.Tag("@sidekick/app/Exposition")<Exposition, ExpositionService>() {}

/**
 * this process's expvar-style variables, with falcosidekick's names, and the Dispatcher's read model per
 * output under `sidekick.outputs` (counts add up across processes; error messages carry no URL path)
 */
export const localVars = (metrics: Metrics["Type"], dispatcher: Dispatcher["Type"]): Record<string, unknown> => ({
  ...metrics.debugVars(),
  "sidekick.outputs": Object.fromEntries(dispatcher.status().map(({ name, ...status }) => [name, status])),
  cmdline: process.argv,
  cpu: String(cpus().length),
  memstats: process.memoryUsage()
})

const sortedKeys = (vars: Record<string, unknown>) => Object.fromEntries(Object.keys(vars).sort().map((k) => [k, vars[k]]))

/** one process: its own registry */
export const local: Layer.Layer<Exposition, never, Metrics | Dispatcher> = Layer.effect(
  Exposition,
  Effect.map(Effect.all([Metrics, Dispatcher]), ([m, d]) => ({
    metrics: m.expose,
    debugVars: Effect.sync(() => sortedKeys(localVars(m, d)))
  }))
)

/** a process of a cluster: ask the primary, which sums every process's figures */
export const clusterWorker: Layer.Layer<Exposition, never, Metrics | Dispatcher> = Layer.effect(
  Exposition,
  Effect.map(Effect.all([Metrics, Dispatcher]), ([m, d]) => {
    // prom-client answers the primary's AggregatorRegistry from these registries (module state, one per
    // process); constructing one installs that answering listener in a worker
    Prom.AggregatorRegistry.setRegistries([m.registry])
    new Prom.AggregatorRegistry()
    answerVarsRequests(() => localVars(m, d))
    return {
      metrics: Effect.map(askPrimary("metrics"), (body) => ({ contentType: m.registry.contentType, body: String(body) })),
      debugVars: Effect.map(askPrimary("vars"), (vars) => sortedKeys(vars as Record<string, unknown>))
    }
  })
)
