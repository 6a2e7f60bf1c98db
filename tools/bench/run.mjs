// Loopback benchmark, one run: the bare node:http ceiling, then Sidekick's POST / with one webhook
// output, then with ten output destinations (Slack, Loki, Elasticsearch, webhook, AlertManager x6),
// all delivering to a local sink process. Prints req/s as a ratio to the ceiling, p99 latency and
// the Sidekick process's peak RSS. Usage (repo root): npm run bench [-- seconds connections]
import autocannon from "autocannon"
import { fork } from "node:child_process"
import { readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"

const here = (p) => fileURLToPath(new URL(p, import.meta.url))
const seconds = Number(process.argv[2] ?? 10)
const connections = Number(process.argv[3] ?? 50)
const body = readFileSync(here("./sample-event.json"), "utf8")
const children = []
process.on("exit", () => children.forEach((c) => c.kill("SIGKILL")))

const start = (script, args, env, readyWhen) =>
  new Promise((resolve, reject) => {
    const child = fork(script, args, { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe", "ipc"] })
    children.push(child)
    let out = ""
    const onData = (c) => {
      out += c
      if (readyWhen && out.includes(readyWhen)) resolve({ child })
    }
    child.stdout.on("data", onData)
    child.stderr.on("data", onData)
    child.on("message", (m) => (!readyWhen ? resolve({ child, message: m }) : undefined))
    child.on("exit", (code) => reject(new Error(`${script} exited ${code}: ${out}`)))
  })

const peakRss = (pid) => {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))
  return m ? Number(m[1]) / 1024 : NaN
}

const load = async (url, duration) => {
  const result = await autocannon({
    url,
    method: "POST",
    headers: { "content-type": "application/json", "user-agent": "falcosecurity/falco" },
    body,
    connections,
    duration
  })
  return { rps: result.requests.average, p99: result.latency.p99, non2xx: result.non2xx, errors: result.errors }
}

const measure = async (name, url) => {
  await load(url, 2) // warm-up (JIT)
  const r = await load(url, seconds)
  return { name, ...r }
}

const { message: sinkInfo } = await start(here("./sink.mjs"), [], {})
const sink = `http://127.0.0.1:${sinkInfo.port}`

const results = []
const bare = await start(here("./bare-server.mjs"), [], { PORT: "2899" })
results.push(await measure("bare node:http + JSON.parse (ceiling)", "http://127.0.0.1:2899/"))
bare.child.kill()

const app = here("../../apps/sidekick/dist/main.mjs")
const common = { LISTENADDRESS: "127.0.0.1", OTEL_SDK_DISABLED: "true" }

const one = await start(app, [], { ...common, LISTENPORT: "2898", WEBHOOK_ADDRESS: `${sink}/webhook`, WEBHOOK_MAXCONCURRENTREQUESTS: "32" }, "listening")
results.push({ ...(await measure("sidekick, 1 webhook output", "http://127.0.0.1:2898/")), rss: peakRss(one.child.pid) })
one.child.kill("SIGTERM")

const ten = await start(app, [], {
  ...common,
  LISTENPORT: "2897",
  WEBHOOK_ADDRESS: `${sink}/webhook`,
  WEBHOOK_MAXCONCURRENTREQUESTS: "32",
  SLACK_WEBHOOKURL: `${sink}/slack`,
  SLACK_MAXCONCURRENTREQUESTS: "32",
  LOKI_HOSTPORT: `${sink}/loki`,
  ELASTICSEARCH_HOSTPORT: sink,
  ELASTICSEARCH_BATCHING_ENABLED: "true",
  ALERTMANAGER_HOSTPORT: Array.from({ length: 6 }, (_, i) => `${sink}/am${i}`).join(","),
  ALERTMANAGER_MAXCONCURRENTREQUESTS: "32"
}, "listening")
results.push({ ...(await measure("sidekick, 10 destinations", "http://127.0.0.1:2897/")), rss: peakRss(ten.child.pid) })
ten.child.kill("SIGTERM")

const ceiling = results[0].rps
console.log(`\nloopback, ${connections} connections, ${seconds}s per target, node ${process.version}`)
console.log("target".padEnd(40), "req/s".padStart(9), "ratio".padStart(7), "p99 ms".padStart(8), "non-2xx".padStart(8), "peak RSS MiB".padStart(13))
for (const r of results) {
  console.log(
    r.name.padEnd(40),
    r.rps.toFixed(0).padStart(9),
    `${((r.rps / ceiling) * 100).toFixed(1)}%`.padStart(7),
    String(r.p99).padStart(8),
    String(r.non2xx + r.errors).padStart(8),
    (r.rss ? r.rss.toFixed(0) : "-").padStart(13)
  )
}
process.exit(0)
