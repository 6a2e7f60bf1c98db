// CPU cost of one delivery through HttpTransport to a local sink, against raw undici:
//   node tools/bench/sink.mjs & ; npx tsx --conditions=@sidekick/source tools/bench/transport.ts http://127.0.0.1:PORT/webhook
import { HttpTransport } from "@sidekick/delivery"
import { Effect } from "effect"
import { Agent } from "undici"

const url = process.argv[2]!
const n = 20_000
const body = `{"output":"x","priority":"Notice","rule":"r","time":"2023-11-14T22:13:20.408091526Z","output_fields":{"a":"b"}}\n`
const measure = async (name: string, send: () => Promise<unknown>) => {
  for (let i = 0; i < 2000; i++) await send()
  const cpu = process.cpuUsage()
  const start = performance.now()
  let done = 0
  await Promise.all(Array.from({ length: 32 }, async () => {
    while (done < n) {
      done++
      await send()
    }
  }))
  const used = process.cpuUsage(cpu)
  console.log(`${name}: ${((used.user + used.system) / n).toFixed(1)} µs CPU/request, ${(n / (performance.now() - start) * 1000).toFixed(0)} req/s`)
}

const agent = new Agent({ keepAliveTimeout: 30_000 })
const u = new URL(url)
await measure("raw undici", async () => {
  const res = await agent.request({ origin: u.origin, path: u.pathname, method: "POST", body, headers: { "content-type": "application/json" } })
  await res.body.arrayBuffer()
})

await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
  const client = yield* (yield* HttpTransport).client({ output: "webhook", checkCert: true, mutualTls: false })
  const runtime = yield* Effect.runtime<never>()
  const run = (eff: Effect.Effect<unknown, unknown>) => Effect.runPromise(eff)
  void runtime
  yield* Effect.promise(() => measure("HttpTransport", () => run(client.send({ url, body }))))
})).pipe(Effect.provide(HttpTransport.layer())))
process.exit(0)
