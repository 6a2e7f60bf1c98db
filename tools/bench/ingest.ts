// CPU cost of the ingest path (decode, enrich, metrics, publish) without HTTP and without outputs:
//   npx tsx --conditions=@sidekick/source tools/bench/ingest.ts
import { Dispatcher, Outputs } from "@sidekick/delivery"
import { Metrics } from "@sidekick/telemetry"
import { Effect, Layer } from "effect"
import { readFileSync } from "node:fs"
import { IngestHandler } from "../../apps/sidekick/src/IngestHandler.js"
import { makeFalcoEventLabels } from "../../apps/sidekick/src/FalcoEventLabels.js"
import { Either } from "effect"

const body = readFileSync(new URL("./sample-event.json", import.meta.url), "utf8")
const labels = Either.getOrThrow(makeFalcoEventLabels({ customFields: [], templatedFields: [], extraLabels: [] }))
const n = 200_000

await Effect.runPromise(Effect.gen(function*() {
  const ingest = yield* IngestHandler
  for (let round = 0; round < 3; round++) {
    const cpu = process.cpuUsage()
    for (let i = 0; i < n; i++) ingest.handle(body, {})
    const used = process.cpuUsage(cpu)
    console.log(`round ${round}: ${((used.user + used.system) / n).toFixed(2)} µs CPU/event`)
  }
}).pipe(
  Effect.provide(IngestHandler.layer({ enrichment: { customFields: [], templatedFields: [], customTags: [], bracketReplacer: "", outputFieldFormat: "" }, labels, debug: false, backpressureMaxWait: 0 }).pipe(
    Layer.provideMerge(Dispatcher.layer().pipe(Layer.provide(Layer.succeed(Outputs, [])))),
    Layer.provideMerge(Metrics.layer({ falcoEventLabels: [], defaultMetrics: false }))
  )),
  Effect.withTracerEnabled(false)
))
