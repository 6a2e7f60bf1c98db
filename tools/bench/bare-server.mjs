// The baselines. Without TARGET, the ceiling: node:http + JSON.parse + 200, nothing else. With TARGET,
// the bare relay: the same, then the body forwarded there over a keep-alive agent (32 sockets, as the
// webhook output's maxconcurrentrequests in the benchmark) — what "one webhook output" costs with no
// queue, no retry, no metrics (and it loses whatever the target drops).
import { Agent, createServer, request } from "node:http"

const port = Number(process.env.PORT ?? 2899)
const target = process.env.TARGET === undefined ? undefined : new URL(process.env.TARGET)
const agent = new Agent({ keepAlive: true, maxSockets: 32 })
createServer((req, res) => {
  let body = ""
  req.setEncoding("utf8")
  req.on("data", (c) => (body += c))
  req.on("end", () => {
    try {
      JSON.parse(body)
    } catch {
      res.statusCode = 400
      return res.end("bad json")
    }
    res.statusCode = 200
    res.end()
    if (target === undefined) return
    const out = request(target, { method: "POST", agent, headers: { "content-type": "application/json" } }, (r) => r.resume())
    out.on("error", () => {})
    out.end(body)
  })
}).listen(port, "127.0.0.1", () => process.send?.("ready"))
