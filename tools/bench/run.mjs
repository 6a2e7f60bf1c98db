// Loopback benchmark, one run: the bare node:http ceiling, a bare relay (200, then forward to the sink
// over keep-alive), then Sidekick's POST / with no output
// (what the prototype measured), with one webhook output (one process, the embedded spool, two processes on
// a JetStream stream when a NATS server answers on 127.0.0.1:4222, two processes sharing the port), then
// with ten output destinations (Slack, Loki, Elasticsearch, webhook, AlertManager x6),
// all delivering to a local sink process. Prints req/s as a ratio to the ceiling, p99 latency and
// the Sidekick process's peak RSS. Usage (repo root): npm run bench [-- seconds connections [rate]]
// Without a rate the load is closed-loop (as fast as answers come); with one, autocannon offers that many
// requests per second in all, which shows whether a rate is sustained (no 503, the sink keeps up).
import autocannon from "autocannon"
import { connect as connectNats } from "nats"
import { fork } from "node:child_process"
import { connect as connectSocket } from "node:net"
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"

const here = (p) => fileURLToPath(new URL(p, import.meta.url))
const seconds = Number(process.argv[2] ?? 10)
const connections = Number(process.argv[3] ?? 50)
const rate = process.argv[4] === undefined ? undefined : Number(process.argv[4])
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

const status = (pid) => readFileSync(`/proc/${pid}/status`, "utf8")
/** peak RSS of a process and of its children (the processes of `processes: N`), MiB */
const peakRss = (pid) => {
  const hwm = (text) => Number(/VmHWM:\s+(\d+) kB/.exec(text)?.[1] ?? 0) / 1024
  let total = hwm(status(pid))
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const text = status(entry)
      if (new RegExp(`\\nPPid:\\s+${pid}\\n`).test(text)) total += hwm(text)
    } catch {
      // gone meanwhile
    }
  }
  return total
}

const sinkCount = (sink) =>
  new Promise((resolve) => {
    const onMessage = (m) => {
      if (m.count !== undefined) {
        sink.off("message", onMessage)
        resolve(m.count)
      }
    }
    sink.on("message", onMessage)
    sink.send("count")
  })

/** the load, split evenly over one or several URLs (several processes of one service) */
const load = async (urls, duration) => {
  const share = [urls].flat()
  const results = await Promise.all(share.map((url) =>
    autocannon({
      url,
      method: "POST",
      headers: { "content-type": "application/json", "user-agent": "falcosecurity/falco" },
      body,
      connections: Math.ceil(connections / share.length),
      duration,
      ...(rate === undefined ? {} : { overallRate: rate / share.length })
    })
  ))
  const sum = (f) => results.reduce((n, r) => n + f(r), 0)
  return {
    rps: sum((r) => r.requests.total) / duration,
    ok: sum((r) => r.requests.total - r.non2xx) / duration,
    p99: Math.max(...results.map((r) => r.latency.p99)),
    non2xx: sum((r) => r.non2xx),
    errors: sum((r) => r.errors)
  }
}

const measure = async (name, urls) => {
  await load(urls, 2) // warm-up (JIT)
  await new Promise((r) => setTimeout(r, 2000)) // let the warm-up's deliveries finish
  const before = await sinkCount(sinkProcess)
  const r = await load(urls, seconds)
  await new Promise((r) => setTimeout(r, 1000))
  const delivered = ((await sinkCount(sinkProcess)) - before) / seconds
  return { name, ...r, delivered }
}

const { child: sinkProcess, message: sinkInfo } = await start(here("./sink.mjs"), [], {})
const sink = `http://127.0.0.1:${sinkInfo.port}`

const results = []
const bare = await start(here("./bare-server.mjs"), [], { PORT: "2899" })
results.push(await measure("bare node:http+JSON.parse (ceiling)", "http://127.0.0.1:2899/"))
bare.child.kill()
const relay = await start(here("./bare-server.mjs"), [], { PORT: "2894", TARGET: `${sink}/webhook` })
results.push(await measure("bare relay to the sink (keep-alive)", "http://127.0.0.1:2894/"))
relay.child.kill()

const app = here("../../apps/sidekick/dist/main.mjs")
// the heap bounds the chart and the image run Sidekick with (values.yaml `nodeOptions`); SIDEKICK_NODE_OPTIONS
// measures others
const common = {
  LISTENADDRESS: "127.0.0.1",
  OTEL_SDK_DISABLED: "true",
  NODE_OPTIONS: process.env.SIDEKICK_NODE_OPTIONS ?? "--max-old-space-size=192"
}

const none = await start(app, [], { ...common, LISTENPORT: "2896" }, "listening")
results.push({ ...(await measure("sidekick, no output (ingest only)", "http://127.0.0.1:2896/")), rss: peakRss(none.child.pid) })
none.child.kill("SIGTERM")

const one = await start(app, [], { ...common, LISTENPORT: "2898", WEBHOOK_ADDRESS: `${sink}/webhook`, WEBHOOK_MAXCONCURRENTREQUESTS: "32" }, "listening")
results.push({ ...(await measure("sidekick, 1 webhook output", "http://127.0.0.1:2898/")), rss: peakRss(one.child.pid) })
one.child.kill("SIGTERM")

const spoolDir = mkdtempSync(join(tmpdir(), "sidekick-bench-spool-"))
process.on("exit", () => rmSync(spoolDir, { recursive: true, force: true }))
const spooled = await start(app, [], {
  ...common,
  LISTENPORT: "2890",
  WEBHOOK_ADDRESS: `${sink}/webhook`,
  WEBHOOK_MAXCONCURRENTREQUESTS: "32",
  DELIVERY_SPOOL_DIR: spoolDir
}, "listening")
results.push({ ...(await measure("sidekick, 1 webhook, spool (write)", "http://127.0.0.1:2890/")), rss: peakRss(spooled.child.pid) })
spooled.child.kill("SIGTERM")

// two Sidekick processes (two pods, say) sharing a JetStream stream, when a NATS server answers on 4222
const natsUp = await new Promise((resolve) => {
  const socket = connectSocket(4222, "127.0.0.1")
  socket.once("connect", () => (socket.destroy(), resolve(true)))
  socket.once("error", () => resolve(false))
})
if (natsUp) {
  const stream = `sidekick-bench-${process.pid}`
  const nats = {
    ...common,
    WEBHOOK_ADDRESS: `${sink}/webhook`,
    WEBHOOK_MAXCONCURRENTREQUESTS: "32",
    DELIVERY_SPOOL_NATS_URL: "nats://127.0.0.1:4222",
    DELIVERY_SPOOL_NATS_STREAM: stream,
    DELIVERY_SPOOL_NATS_SUBJECT: `sidekick.bench.${process.pid}`
  }
  const replicas = [
    await start(app, [], { ...nats, LISTENPORT: "2892" }, "listening"),
    await start(app, [], { ...nats, LISTENPORT: "2893" }, "listening")
  ]
  results.push({
    ...(await measure("sidekick, 1 webhook, JetStream, 2 procs", ["http://127.0.0.1:2892/", "http://127.0.0.1:2893/"])),
    rss: Math.max(...replicas.map((r) => peakRss(r.child.pid)))
  })
  for (const r of replicas) r.child.kill("SIGTERM")
  const nc = await connectNats({ servers: "nats://127.0.0.1:4222" })
  await (await nc.jetstreamManager()).streams.delete(stream).catch(() => false)
  await nc.close()
} else {
  console.log("no NATS server on 127.0.0.1:4222: the JetStream run is skipped")
}

const two = await start(app, [], {
  ...common,
  PROCESSES: "2",
  LISTENPORT: "2895",
  WEBHOOK_ADDRESS: `${sink}/webhook`,
  WEBHOOK_MAXCONCURRENTREQUESTS: "32"
}, "listening")
await new Promise((r) => setTimeout(r, 3000)) // the second process
results.push({ ...(await measure("sidekick, 1 webhook, processes: 2", "http://127.0.0.1:2895/")), rss: peakRss(two.child.pid) })
two.child.kill("SIGTERM")

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

const ceiling = results[0].ok
console.log(
  `\nloopback, ${connections} connections, ${rate === undefined ? "closed loop" : `${rate} req/s offered`}, ${seconds}s per target, node ${process.version}`
)
console.log("2xx/s: requests answered 200 (accepted); ratio: 2xx/s to the ceiling's; sink req/s: requests the outputs made")
console.log("delivered vs relay: one webhook's sink req/s as a share of the bare relay's, in this run")
console.log(
  "target".padEnd(40), "req/s".padStart(8), "2xx/s".padStart(8), "ratio".padStart(7), "p99 ms".padStart(7),
  "non-2xx".padStart(8), "sink req/s".padStart(11), "peak RSS MiB".padStart(13)
)
for (const r of results) {
  console.log(
    r.name.padEnd(40),
    r.rps.toFixed(0).padStart(8),
    r.ok.toFixed(0).padStart(8),
    `${((r.ok / ceiling) * 100).toFixed(1)}%`.padStart(7),
    String(r.p99).padStart(7),
    String(r.non2xx + r.errors).padStart(8),
    (r.name.startsWith("bare node") ? "-" : r.delivered.toFixed(0)).padStart(11),
    (r.rss ? r.rss.toFixed(0) : "-").padStart(13)
  )
}
const relayed = results.find((r) => r.name.startsWith("bare relay"))
for (const r of results.filter((r) => r.name.includes("1 webhook"))) {
  console.log(`${r.name}: delivered ${r.delivered.toFixed(0)}/s = ${((r.delivered / relayed.delivered) * 100).toFixed(1)} % of the bare relay's ${relayed.delivered.toFixed(0)}/s`)
}
const spool = results.find((r) => r.name.includes("spool (write)"))
const jetstream = results.find((r) => r.name.includes("JetStream"))
if (spool !== undefined && jetstream !== undefined) {
  console.log(`JetStream, 2 processes: delivered ${jetstream.delivered.toFixed(0)}/s = ${((jetstream.delivered / spool.delivered) * 100).toFixed(1)} % of one process on the embedded spool`)
}
process.exit(0)
