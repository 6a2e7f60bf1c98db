// Micro-benchmark of the Dispatcher's per-event cost with a no-op output (no I/O):
//   npx tsx --conditions=@sidekick/source tools/bench/lane.ts
import { Dispatcher, HttpTransport, type Output, Outputs } from "@sidekick/delivery"
import { Metrics } from "@sidekick/telemetry"
import { eventWith } from "@sidekick/testing"
import { Effect, Layer, Scheduler } from "effect"

const n = Number(process.argv[2] ?? 200_000)
// with a URL argument: a webhook-like output through the real HttpTransport to that URL (a sink)
const sinkUrl = process.argv[3]
const noop: Output = {
  name: "noop", minimumPriority: 0, testRuleBypass: true, maxConcurrentRequests: 32,
  enforcesTimeout: process.env["GENERIC_TIMEOUT"] === undefined, send: () => Effect.void
}
const event = eventWith({})

const outputs = sinkUrl === undefined
  ? Effect.succeed([noop])
  : Effect.gen(function*() {
    const http = yield* (yield* HttpTransport).client({ output: "webhook", checkCert: true, mutualTls: false })
    const { Agent } = yield* Effect.promise(() => import("undici"))
    const agent = new Agent()
    const u = new URL(sinkUrl)
    const raw = () =>
      Effect.async<void>((resume) => {
        agent.dispatch({ origin: u.origin, path: u.pathname, method: "POST", body: "{}", headers: { "content-type": "application/json" } }, {
          onConnect() {}, onHeaders: () => true, onData: () => true, onComplete: () => resume(Effect.void), onError: () => resume(Effect.void)
        } as never)
      })
    const webhook: Output = {
      ...noop, name: "webhook", enforcesTimeout: true,
      send: process.env["RAW"] ? raw : () => Effect.asVoid(http.send({ url: sinkUrl, body: "{}" }))
    }
    return [webhook]
  }).pipe(Effect.provide(HttpTransport.layer()))

const program = Effect.gen(function*() {
  const d = yield* Dispatcher
  const cpu = process.cpuUsage()
  for (let round = 0; round < 3; round++) {
    const start = performance.now()
    let published = 0
    while (published < n) {
      // publish in bursts, let the lane catch up, as an HTTP server would
      for (let i = 0; i < 5000; i++, published++) d.unsafePublish(event, undefined)
      yield* d.drain("10 seconds")
    }
    const ms = performance.now() - start
    const used = process.cpuUsage(cpu)
    console.log(`round ${round}: ${(ms * 1000 / n).toFixed(2)} µs/event wall, ${((used.user + used.system) / n / (round + 1)).toFixed(1)} µs CPU/event, ${(n / ms * 1000).toFixed(0)} events/s`)
  }
})

await Effect.runPromise(
  program.pipe(
    Effect.provide(
      Dispatcher.layer({
        queueCapacity: 10_000, overflow: "dropnewest", timeout: "10 seconds",
        retry: { maxAttempts: 5, initialDelay: "500 millis", maxDelay: "30 seconds" },
        circuitBreaker: { failures: 5, resetAfter: "30 seconds" }, shutdownTimeout: "1 second", maxConcurrency: 64
      }).pipe(Layer.provide(Layer.scoped(Outputs, outputs)), Layer.provideMerge(Metrics.layer({ falcoEventLabels: [], defaultMetrics: false })))
    ),
    Effect.withTracerEnabled(process.env["NOTRACE"] === undefined),
    process.env["SCHED"] ? Effect.withScheduler(Scheduler.makeBatched((run) => setImmediate(run))) : (e) => e
  )
)
