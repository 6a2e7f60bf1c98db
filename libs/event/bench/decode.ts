/**
 * Hand-run micro-benchmark of the ingestion hot path (not part of CI):
 *   npx tsx --conditions=@sidekick/source libs/event/bench/decode.ts
 * Prints µs per call for a realistic Falco event, plain and with an enrichment config (customfields, templatedfields, tags).
 */
import { Either } from "effect"
import { eventJson, makeIngest, parseJson } from "../src/index.js"

const body =
  `{"hostname":"node-1","output":"10:20:05.408091526: Notice A shell was spawned in a container with an attached terminal (user=root process=bash k8s_ns=default k8s_pod_name=nginx-7c)","output_fields":{"evt.time":1700000000408091526,"k8s.ns.name":"default","k8s.pod.name":"nginx-7c","proc.aname[2]":"containerd-shim","proc.name":"bash","proc.tty":34816,"user.name":"root"},"priority":"Notice","rule":"Terminal shell in container","source":"syscall","tags":["container","shell","mitre_execution"],"time":"2023-11-14T22:13:20.408091526Z"}`

const plain = Either.getOrThrow(
  makeIngest({ customFields: [], templatedFields: [], customTags: [], bracketReplacer: "", outputFieldFormat: "" })
)
const enriched = Either.getOrThrow(makeIngest({
  customFields: [["env", "prod"]],
  templatedFields: [["ns_label", "{{ or (index . \"k8s.ns.name\") \"none\" }}"]],
  customTags: ["team-a"],
  bracketReplacer: "_",
  outputFieldFormat: "<timestamp>: <priority> <output> <custom_fields> <templated_fields>"
}))

const bench = (name: string, f: () => unknown): void => {
  const rounds = 5
  const n = 100_000
  for (let i = 0; i < n; i++) f() // warm-up
  const results: Array<number> = []
  for (let r = 0; r < rounds; r++) {
    const start = process.hrtime.bigint()
    for (let i = 0; i < n; i++) f()
    results.push(Number(process.hrtime.bigint() - start) / n / 1000)
  }
  results.sort((a, b) => a - b)
  console.log(`${name.padEnd(44)} best ${results[0]!.toFixed(2)} µs  median ${results[2]!.toFixed(2)} µs`)
}

bench("JSON.parse (lossy baseline)", () => JSON.parse(body))
bench("parseJson (lossless)", () => parseJson(body))
bench("decode, no enrichment", () => plain.decode(body))
bench("decode, with enrichment", () => enriched.decode(body))
bench("decode + eventJson (cached)", () => {
  const e = plain.decode(body)
  return Either.isRight(e) ? eventJson(e.right) : undefined
})
