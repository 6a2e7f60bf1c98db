// A receiver for every output of the benchmark: answers 200 (204 for Loki's path), counts requests.
import { createServer } from "node:http"

let count = 0
const server = createServer((req, res) => {
  req.resume()
  req.on("end", () => {
    count++
    res.statusCode = req.url?.startsWith("/loki") ? 204 : 200
    res.end(req.url?.includes("_bulk") ? `{"errors":false,"items":[]}` : "")
  })
})
server.keepAliveTimeout = 60_000
server.listen(Number(process.env.PORT ?? 0), "127.0.0.1", () => process.send?.({ port: server.address().port }))
process.on("message", (m) => m === "count" && process.send?.({ count }))
