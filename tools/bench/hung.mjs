// Memory under a storm with one output hung: Sidekick with one webhook whose peer accepts connections and
// never answers, offered RATE events/s for SECONDS. Prints the answers (200 / 503) and Sidekick's peak RSS
// against the chart's 512 MiB pod limit, and the same for a bare node:http server (the baseline).
// Usage (repo root, after `npm run build`): node tools/bench/hung.mjs [seconds] [rate]
import autocannon from "autocannon"
import { fork } from "node:child_process"
import { createServer } from "node:http"
import { readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"

const here = (p) => fileURLToPath(new URL(p, import.meta.url))
const seconds = Number(process.argv[2] ?? 60)
const rate = Number(process.argv[3] ?? 5000)
const body = readFileSync(here("./sample-event.json"), "utf8")

// the hung peer: reads every request and never answers
const held = []
const hung = createServer((req, res) => {
  req.resume()
  held.push(res)
})
await new Promise((r) => hung.listen(0, "127.0.0.1", r))
const hungUrl = `http://127.0.0.1:${hung.address().port}/hook`

const start = (script, env) =>
  new Promise((resolve, reject) => {
    const child = fork(script, [], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe", "ipc"] })
    let out = ""
    const onData = (c) => {
      out += c
      if (out.includes("listening")) resolve(child)
    }
    child.stdout.on("data", onData)
    child.stderr.on("data", onData)
    child.on("message", () => resolve(child))
    child.on("exit", (code) => reject(new Error(`${script} exited ${code}: ${out}`)))
  })

const peakRss = (pid) => Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0) / 1024

const run = async (name, script, env, url) => {
  const child = await start(script, env)
  const result = await autocannon({
    url,
    method: "POST",
    headers: { "content-type": "application/json" },
    body,
    connections: 50,
    duration: seconds,
    overallRate: rate
  })
  const rss = peakRss(child.pid)
  child.kill("SIGKILL")
  const ok = result.requests.total - result.non2xx
  console.log(
    `${name.padEnd(40)} ${String(ok).padStart(8)} x 200 ${String(result.non2xx).padStart(8)} x other  p99 ${
      String(result.latency.p99).padStart(5)
    } ms  peak RSS ${rss.toFixed(0).padStart(5)} MiB (${((rss / 512) * 100).toFixed(0)} % of 512 MiB)`
  )
  return rss
}

console.log(`one webhook output hung, ${rate} events/s offered for ${seconds} s, 50 connections, node ${process.version}`)
const bare = await run("bare node:http (baseline)", here("./bare-server.mjs"), { PORT: "2893" }, "http://127.0.0.1:2893/")
const side = await run(
  "sidekick, webhook hung",
  here("../../apps/sidekick/dist/main.mjs"),
  {
    LISTENADDRESS: "127.0.0.1",
    LISTENPORT: "2892",
    OTEL_SDK_DISABLED: "true",
    WEBHOOK_ADDRESS: hungUrl,
    WEBHOOK_MAXCONCURRENTREQUESTS: "32",
    // the heap bounds the chart and the image run Sidekick with
    NODE_OPTIONS: "--max-old-space-size=192"
  },
  "http://127.0.0.1:2892/"
)
console.log(`peak RSS: sidekick ${(side / bare).toFixed(1)} x the bare server's`)
for (const res of held) res.destroy()
hung.close()
process.exit(0)
