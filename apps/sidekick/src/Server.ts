/**
 * The HTTP server. Control endpoints (/ping, /healthz, /test, /metrics, /debug/vars) are an Effect
 * HttpRouter served through @effect/platform-node's handler. The event endpoint is a hand-written
 * node:http fast path: the platform's request pipeline costs 5-10x a bare node:http handler per
 * request (measured: effect-nx.md §4), and POST / is the one route that sees every Falco event.
 * Like falcosidekick, every path that is not a control endpoint is the event endpoint.
 */
import { HttpRouter, HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import { testEventBody } from "@sidekick/event"
import { Metrics } from "@sidekick/telemetry"
import { Context, Duration, Effect, Layer } from "effect"
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"
import { cpus } from "node:os"
import { Ingest, type IngestOutcome } from "./Ingest.js"

export interface ServerOptions {
  /** "" = all interfaces */
  readonly host: string
  readonly port: number
  /** larger request bodies get 413 (falcosidekick had no limit) */
  readonly maxBodyBytes: number
  /** how long in-flight requests may finish once shutdown starts */
  readonly closeTimeout: Duration.DurationInput
}

/** Where the server actually listens (port 0 picks one: tests). */
export class ServerAddress extends Context.Tag("@sidekick/app/ServerAddress")<ServerAddress, {
  readonly host: string
  readonly port: number
  readonly url: string
}>() {}

const controlPaths = new Set(["/ping", "/healthz", "/test", "/metrics", "/debug/vars"])

const respond = (res: ServerResponse, outcome: IngestOutcome) => {
  if (outcome.status === 200) {
    // end() without a body sets Content-Length: 0 itself, as falcosidekick's answer has
    res.statusCode = 200
    res.end()
    return
  }
  const body = `${outcome.message}\n`
  res.writeHead(outcome.status, {
    "content-type": "text/plain; charset=utf-8",
    "x-content-type-options": "nosniff",
    "content-length": Buffer.byteLength(body)
  })
  res.end(body)
}

const plain = (text: string, status: number) =>
  HttpServerResponse.text(text, { status, contentType: "text/plain; charset=utf-8" })

const controlRouter = HttpRouter.empty.pipe(
  HttpRouter.all("/ping", Effect.succeed(plain("pong\n", 200))),
  HttpRouter.all(
    "/healthz",
    Effect.succeed(HttpServerResponse.text(`{"status": "ok"}`, { contentType: "application/json" }))
  ),
  HttpRouter.all(
    "/metrics",
    Effect.flatMap(Metrics, (m) => m.expose).pipe(
      Effect.map(({ body, contentType }) => HttpServerResponse.text(body, { contentType }))
    )
  ),
  HttpRouter.all(
    "/debug/vars",
    Effect.flatMap(Metrics, (m) =>
      Effect.sync(() => {
        const vars: Record<string, unknown> = {
          ...m.debugVars(),
          cmdline: process.argv,
          cpu: String(cpus().length),
          memstats: process.memoryUsage()
        }
        const sorted = Object.fromEntries(Object.keys(vars).sort().map((k) => [k, vars[k]]))
        return HttpServerResponse.unsafeJson(sorted)
      }))
  ),
  HttpRouter.all(
    "/test",
    Effect.gen(function*() {
      const request = yield* HttpServerRequest.HttpServerRequest
      const ingest = yield* Ingest
      if (request.method !== "POST") return plain("Please send with post http method\n", 400)
      const outcome = ingest.handle(testEventBody(new Date()), {})
      return outcome.status === 200 ? HttpServerResponse.empty({ status: 200 }) : plain(`${outcome.message}\n`, outcome.status)
    })
  )
)

const listen = (server: Server, host: string, port: number) =>
  Effect.async<AddressInfo, Error>((resume) => {
    const onError = (error: Error) => resume(Effect.fail(error))
    server.once("error", onError)
    server.listen(port, host === "" ? undefined : host, () => {
      server.off("error", onError)
      resume(Effect.succeed(server.address() as AddressInfo))
    })
  })

const close = (server: Server, timeout: Duration.DurationInput) =>
  Effect.async<void>((resume) => {
    server.close(() => resume(Effect.void))
    server.closeIdleConnections()
  }).pipe(
    Effect.timeoutTo({ duration: timeout, onTimeout: () => server.closeAllConnections(), onSuccess: () => undefined })
  )

export class ServerStartError extends Error {}

export const layer = (options: ServerOptions) =>
  Layer.scoped(
    ServerAddress,
    Effect.gen(function*() {
      const ingest = yield* Ingest
      const control = yield* NodeHttpServer.makeHandler(controlRouter)
      const maxBody = options.maxBodyBytes

      const onEvent = (req: IncomingMessage, res: ServerResponse) => {
        if (req.method !== "POST") {
          req.resume()
          return respond(res, ingest.wrongMethod())
        }
        const chunks: Array<Buffer> = []
        let size = 0
        req.on("data", (chunk: Buffer) => {
          size += chunk.length
          if (size <= maxBody) chunks.push(chunk)
        })
        req.on("end", () => {
          if (size > maxBody) {
            return respond(res, { status: 400, message: `request body larger than ${maxBody} bytes` })
          }
          const body = chunks.length === 1 ? chunks[0]!.toString("utf8") : Buffer.concat(chunks).toString("utf8")
          respond(res, ingest.handle(body, req.headers))
        })
      }

      const server = createServer({ requestTimeout: 60_000, headersTimeout: 60_000, keepAliveTimeout: 60_000 }, (req, res) => {
        const url = req.url ?? "/"
        const q = url.indexOf("?")
        const path = q === -1 ? url : url.slice(0, q)
        if (controlPaths.has(path)) control(req, res)
        else onEvent(req, res)
      })
      const address = yield* Effect.acquireRelease(
        listen(server, options.host, options.port).pipe(
          Effect.mapError((e) => new ServerStartError(`cannot listen on ${options.host}:${options.port}: ${e.message}`))
        ),
        () => Effect.zipRight(Effect.logInfo("shutting down: no longer accepting events"), close(server, options.closeTimeout))
      )
      yield* Effect.logInfo(`Sidekick is up and listening on ${options.host}:${address.port}`)
      const host = options.host === "" ? "127.0.0.1" : options.host
      return { host, port: address.port, url: `http://${host.includes(":") ? `[${host}]` : host}:${address.port}` }
    })
  )
