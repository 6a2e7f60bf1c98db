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
import { Context, Data, Duration, Effect, Layer } from "effect"
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http"
import { createServer as createHttpsServer } from "node:https"
import type { AddressInfo } from "node:net"
import { Exposition } from "./Exposition.js"
import { Ingest, type IngestOutcome } from "./Ingest.js"

/** falcosidekick's route keys, the ones `tlsserver.notlspaths` may name */
export const routes = ["/", "/ping", "/healthz", "/test", "/metrics"] as const
export type Route = (typeof routes)[number]

export interface ServerOptions {
  /** "" = all interfaces */
  readonly host: string
  readonly port: number
  /** serve HTTPS (falcosidekick `tlsserver.deploy`); `caCert` set = require client certificates signed by it */
  readonly tls?: { readonly cert: string; readonly key: string; readonly caCert?: string }
  /** with TLS: these routes move to a plain HTTP server on `port` (falcosidekick `notlsport`/`notlspaths`) */
  readonly plain?: { readonly port: number; readonly routes: ReadonlyArray<Route> }
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
  /** the plain HTTP side server, when TLS moved some routes there */
  readonly plainUrl?: string
}>() {}

const controlPaths = new Set(["/ping", "/healthz", "/test", "/metrics", "/debug/vars"])

const respond = (res: ServerResponse, outcome: IngestOutcome | { readonly status: 413; readonly message: string }) => {
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
    Effect.flatMap(Exposition, (e) => e.metrics).pipe(
      Effect.map(({ body, contentType }) => HttpServerResponse.text(body, { contentType }))
    )
  ),
  HttpRouter.all("/debug/vars", Effect.flatMap(Exposition, (e) => Effect.map(e.debugVars, HttpServerResponse.unsafeJson))),
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

export class ServerStartError extends Data.TaggedError("ServerStartError")<{ readonly message: string }> {}

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
            return respond(res, { status: 413, message: `request body larger than ${maxBody} bytes` })
          }
          const body = chunks.length === 1 ? chunks[0]!.toString("utf8") : Buffer.concat(chunks).toString("utf8")
          respond(res, ingest.handle(body, req.headers))
        })
      }

      // Go's ServeMux: the control paths are exact routes, "/" catches every other path. A server that
      // does not serve a route hands its path to "/" if it serves that, else answers 404 (as Go does).
      const handlerFor = (served: ReadonlySet<string>) => (req: IncomingMessage, res: ServerResponse) => {
        const url = req.url ?? "/"
        const q = url.indexOf("?")
        const path = q === -1 ? url : url.slice(0, q)
        if (controlPaths.has(path) && served.has(path)) return control(req, res)
        if (served.has("/")) return onEvent(req, res)
        req.resume()
        res.writeHead(404, { "content-type": "text/plain; charset=utf-8" })
        res.end("404 page not found\n")
      }
      const plainRoutes = new Set<string>(options.plain?.routes ?? [])
      const mainRoutes = new Set<string>([...routes, "/debug/vars"].filter((r) => !plainRoutes.has(r)))
      const serverOptions = { requestTimeout: 60_000, headersTimeout: 60_000, keepAliveTimeout: 60_000 }
      const tls = options.tls
      const server: Server = tls
        ? createHttpsServer({
          ...serverOptions,
          cert: tls.cert,
          key: tls.key,
          minVersion: "TLSv1.2",
          ...(tls.caCert ? { ca: tls.caCert, requestCert: true, rejectUnauthorized: true } : {})
        }, handlerFor(mainRoutes))
        : createServer(serverOptions, handlerFor(mainRoutes))
      const serve = (s: Server, port: number) =>
        Effect.acquireRelease(
          listen(s, options.host, port).pipe(
            Effect.mapError((e) => new ServerStartError({ message: `cannot listen on ${options.host}:${port}: ${e.message}` }))
          ),
          () => close(s, options.closeTimeout)
        )
      const address = yield* serve(server, options.port)
      const side = tls && options.plain && plainRoutes.size > 0
        ? yield* serve(createServer(serverOptions, handlerFor(plainRoutes)), options.plain.port)
        : undefined
      // registered last, so it runs first: before the servers wait for their in-flight requests
      yield* Effect.addFinalizer(() => Effect.logInfo("shutting down: no longer accepting events"))
      const where = (port: number) => `${options.host}:${port}`
      yield* Effect.logInfo(
        side
          ? `Sidekick is up and listening on ${where(address.port)} for TLS and ${where(side.port)} for non-TLS (${
            [...plainRoutes].join(", ")
          })`
          : `Sidekick is up and listening on ${where(address.port)}${tls ? " (TLS)" : ""}`
      )
      const host = options.host === "" ? "127.0.0.1" : options.host
      const url = (scheme: string, port: number) => `${scheme}://${host.includes(":") ? `[${host}]` : host}:${port}`
      return {
        host,
        port: address.port,
        url: url(tls ? "https" : "http", address.port),
        ...(side ? { plainUrl: url("http", side.port) } : {})
      }
    })
  )
