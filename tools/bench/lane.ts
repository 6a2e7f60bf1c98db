// Micro-benchmark of the Dispatcher's per-event cost with a no-op output (no I/O):
//   npx tsx --conditions=@sidekick/source tools/bench/lane.ts
import { Dispatcher, type Output, Outputs } from "@sidekick/delivery"
import { Metrics } from "@sidekick/telemetry"
import { eventWith } from "@sidekick/testing"
import { Effect, Layer } from "effect"

const n = Number(process.argv[2] ?? 200_000)
const noop: Output = {
  name: "noop", minimumPriority: 0, testRuleBypass: true, maxConcurrentRequests: 32,
  enforcesTimeout: process.env["GENERIC_TIMEOUT"] === undefined, send: () => Effect.void
}
const event = eventWith({})

const program = Effect.gen(function*() {
  const d = yield* Dispatcher
  for (let round = 0; round < 3; round++) {
    const start = performance.now()
    let published = 0
    while (published < n) {
      // publish in bursts, let the lane catch up, as an HTTP server would
      for (let i = 0; i < 5000; i++, published++) d.unsafePublish(event, undefined)
      yield* d.drain("10 seconds")
    }
    const ms = performance.now() - start
    console.log(`round ${round}: ${(ms * 1000 / n).toFixed(2)} µs/event, ${(n / ms * 1000).toFixed(0)} events/s`)
  }
})

await Effect.runPromise(
  program.pipe(
    Effect.provide(
      Dispatcher.layer({
        queueCapacity: 10_000, overflow: "dropnewest", timeout: "10 seconds",
        retry: { maxAttempts: 5, initialDelay: "500 millis", maxDelay: "30 seconds" },
        circuitBreaker: { failures: 5, resetAfter: "30 seconds" }, shutdownTimeout: "1 second", maxConcurrency: 64
      }).pipe(Layer.provide(Layer.succeed(Outputs, [noop])), Layer.provideMerge(Metrics.layer({ falcoEventLabels: [], defaultMetrics: false })))
    ),
    Effect.withTracerEnabled(process.env["NOTRACE"] === undefined)
  )
)
