// Micro-benchmark of one Dispatcher lane, without the HTTP server:
//   npx tsx --conditions=@sidekick/source tools/bench/lane.ts [events] [sink URL]
// Without a URL the output does nothing (the lane's own cost); with one (start tools/bench/sink.mjs), it
// posts every event there through the real HttpTransport. Prints wall and CPU time per event.
// Tracing is off, as in production without OTEL_* variables.
import { defaultDeliveryOptions, Dispatcher, HttpTransport, Outputs, type SingleOutput } from "@sidekick/delivery"
import { Metrics } from "@sidekick/telemetry"
import { eventWith } from "@sidekick/testing"
import { Effect, Layer } from "effect"

const n = Number(process.argv[2] ?? 200_000)
const sinkUrl = process.argv[3]
const base: SingleOutput = {
  kind: "single",
  name: "noop",
  minimumPriority: 0,
  testRuleBypass: true,
  maxConcurrentRequests: 32,
  enforcesTimeout: true,
  send: () => Effect.void
}
const event = eventWith({})

const outputs = sinkUrl === undefined
  ? Effect.succeed([base])
  : Effect.gen(function*() {
    const http = yield* (yield* HttpTransport).client({ output: "webhook", checkCert: true, mutualTls: false })
    return [{ ...base, name: "webhook", send: () => Effect.asVoid(http.send({ url: sinkUrl, body: "{}" })) }]
  }).pipe(Effect.provide(HttpTransport.layer()))

const program = Effect.gen(function*() {
  const d = yield* Dispatcher
  for (let round = 0; round < 3; round++) {
    const cpu = process.cpuUsage()
    const start = performance.now()
    let published = 0
    while (published < n) {
      // bursts, as an HTTP server would publish them, then let the lane catch up
      for (let i = 0; i < 5000; i++, published++) d.unsafePublish(event, undefined)
      yield* d.drain("10 seconds")
    }
    const ms = performance.now() - start
    const used = process.cpuUsage(cpu)
    console.log(
      `round ${round}: ${(ms * 1000 / n).toFixed(1)} µs/event wall, ${((used.user + used.system) / n).toFixed(1)} µs CPU/event, ${
        (n / ms * 1000).toFixed(0)
      } events/s`
    )
  }
})

await Effect.runPromise(
  program.pipe(
    Effect.provide(
      Dispatcher.layer(defaultDeliveryOptions).pipe(
        Layer.provide(Layer.scoped(Outputs, outputs)),
        Layer.provideMerge(Metrics.layer({ falcoEventLabels: [], defaultMetrics: false }))
      )
    ),
    Effect.withTracerEnabled(false)
  )
)
