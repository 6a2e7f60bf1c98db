import { Metrics } from "@sidekick/telemetry"
import { Context, Effect, Layer, Scheduler, Scope } from "effect"
import {
  Buffer,
  DeadLetters,
  defaultDeliveryOptions,
  type DeliveryOptions,
  Dispatcher,
  type Output,
  Outputs
} from "../src/index.js"

export const options: DeliveryOptions = {
  ...defaultDeliveryOptions,
  queueCapacity: 16,
  timeout: "2 seconds",
  retry: { maxAge: "1 hour", maxAttempts: 3, initialDelay: "100 millis", maxDelay: "1 second" },
  circuitBreaker: { failures: 100, resetAfter: "1 minute" },
  shutdownTimeout: "100 millis",
  maxConcurrency: 4,
  // deterministic stepping with yieldNow/TestClock; the production scheduler is exercised by the app's tests
  scheduler: Scheduler.defaultScheduler
}

export const MetricsTest = Metrics.layer({ falcoEventLabels: [], defaultMetrics: false })

/** Dispatcher + Metrics over the given outputs */
export const dispatcherLayer = (outputs: ReadonlyArray<Output>, opts: DeliveryOptions = options) =>
  Dispatcher.layer(opts).pipe(Layer.provide(Layer.succeed(Outputs, outputs)), Layer.provideMerge(MetricsTest))

/**
 * A Dispatcher (and its Buffer) over the given store, in a scope of its own: closing it is a restart of
 * the service, or a replica stopping.
 */
export const startOn = <E>(outputs: ReadonlyArray<Output>, buffer: Layer.Layer<Buffer, E>, opts: DeliveryOptions) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const layer = Dispatcher.layerWithStores(opts).pipe(
      Layer.provide(Layer.succeed(Outputs, outputs)),
      Layer.provideMerge(buffer),
      Layer.provide(DeadLetters.layerMemory(100)),
      Layer.provideMerge(MetricsTest)
    )
    const ctx = yield* Layer.buildWithScope(layer, scope)
    return { d: Context.get(ctx, Dispatcher), buffer: Context.get(ctx, Buffer), scope }
  })

/** a counter/gauge sample from the registry, 0 when absent */
export const sample = (name: string, labels: Record<string, string>) =>
  Effect.flatMap(Metrics, (m) =>
    Effect.promise(async () => {
      const metric = m.registry.getSingleMetric(name)
      if (!metric) throw new Error(`no metric ${name}`)
      const { values } = await metric.get()
      const found = values.find((v) => Object.entries(labels).every(([k, l]) => String(v.labels[k]) === l))
      return found?.value ?? 0
    }))
