// The relay baseline: node:http + JSON.parse + 200, then the body forwarded to the sink over a keep-alive
// agent (32 sockets, as the webhook output's maxconcurrentrequests in the benchmark). What "one webhook
// output" costs with nothing else: no queue, no retry, no metrics — and it loses whatever the sink drops.
import { Agent, createServer, request } from "node:http"

const port = Number(process.env.PORT ?? 2894)
const target = new URL(process.env.TARGET)
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
    const out = request(target, { method: "POST", agent, headers: { "content-type": "application/json" } }, (r) => r.resume())
    out.on("error", () => {})
    out.end(body)
  })
}).listen(port, "127.0.0.1", () => process.send?.("ready"))
