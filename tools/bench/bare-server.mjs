// The ceiling: node:http + JSON.parse + 200, nothing else.
import { createServer } from "node:http"

const port = Number(process.env.PORT ?? 2899)
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
  })
}).listen(port, "127.0.0.1", () => process.send?.("ready"))
