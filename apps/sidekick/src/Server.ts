/**
 * The HTTP server. Every route is in one table, `routeTable`: the control endpoints (/ping, /healthz,
 * /test, /metrics, /debug/vars) are an Effect HttpRouter served through @effect/platform-node's handler;
 * the event endpoint is a hand-written node:http fast path. The platform's request pipeline costs 5-10x
 * a bare node:http handler per request (measured on a 2-core loopback benchmark: about 70,000 requests
 * a second for a bare node:http handler that parses the JSON, about 11,000 for the platform's server
 * reading the same body), and POST / is the one route that sees every Falco event.
 * Like falcosidekick, every path that is not a control endpoint is the event endpoint, except the paths
 * under `/api/`, which Sidekick keeps for its own API.
 */
import { HttpRouter, HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import { testEventBody } from "@sidekick/event"
import { Dispatcher } from "@sidekick/delivery"
import { Context, Data, Duration, Effect, Layer } from "effect"
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http"
import { createServer as createHttpsServer } from "node:https"
import type { AddressInfo } from "node:net"
import * as DeadLetterApi from "./DeadLetterApi.js"
import { Exposition } from "./Exposition.js"
import { IngestHandler, type IngestOutcome } from "./IngestHandler.js"

/** what a control route's handler may use */
type ControlContext = HttpServerRequest.HttpServerRequest | Exposition | IngestHandler | Dispatcher

/** A control route's answer, run by the control router. */
export type ControlHandler = Effect.Effect<HttpServerResponse.HttpServerResponse, never, ControlContext>

export interface Route {
  /** `"event"`: the event endpoint (the node:http fast path); else the control router runs this handler */
  readonly handler: "event" | ControlHandler
  /** falcosidekick has this route: `tlsserver.notlspaths` may name it, which moves it to the plain side server */
  readonly notls: boolean
}

/**
 * Paths under this prefix are never taken as a Falco event: the control router answers them, with
 * `404 page not found` when no route of the table serves the path. Only the main server serves them.
 */
export const reservedPrefix = "/api/" as const

const plain = (text: string, status: number) =>
  HttpServerResponse.text(text, { status, contentType: "text/plain; charset=utf-8" })

/** Go's http.NotFound */
const notFoundBody = "404 page not found\n"
const notFoundHeaders = { "content-type": "text/plain; charset=utf-8", "x-content-type-options": "nosniff" }

/** falcosidekick's /test: its test event, through the event endpoint's path, to every enabled output */
const testEvent: ControlHandler = Effect.gen(function*() {
  const request = yield* HttpServerRequest.HttpServerRequest
  const ingest = yield* IngestHandler
  if (request.method !== "POST") return plain("Please send with post http method\n", 400)
  const handled = ingest.handle(testEventBody(new Date()), {})
  const outcome = handled instanceof Promise ? yield* Effect.promise(() => handled) : handled
  return outcome.status === 200 ? HttpServerResponse.empty({ status: 200 }) : plain(`${outcome.message}\n`, outcome.status)
})

/**
 * Every route, by path. The router, the dispatch of each server and the `tlsserver.notlspaths` check
 * are derived from this table. Paths are exact (Go's ServeMux: `/ping/` is not `/ping`); "/" also takes
 * every path that no route and no reserved prefix takes. A route under `/api/` is one more line here,
 * with `notls: false` (it may use path parameters: `/api/deadletters/:id`).
 */
export const routeTable = {
  "/": { handler: "event", notls: true },
  "/ping": { handler: Effect.succeed(plain("pong\n", 200)), notls: true },
  "/healthz": {
    handler: Effect.succeed(HttpServerResponse.text(`{"status": "ok"}`, { contentType: "application/json" })),
    notls: true
  },
  "/test": { handler: testEvent, notls: true },
  "/metrics": {
    handler: Effect.flatMap(Exposition, (e) => e.metrics).pipe(
      Effect.map(({ body, contentType }) => HttpServerResponse.text(body, { contentType }))
    ),
    notls: true
  },
  // falcosidekick's README lists it but its server never mounts it (there /debug/vars is the event route)
  "/debug/vars": { handler: Effect.flatMap(Exposition, (e) => Effect.map(e.debugVars, HttpServerResponse.unsafeJson)), notls: false },
  "/api/v1/deadletters": { handler: DeadLetterApi.list, notls: false },
  "/api/v1/deadletters/replay": { handler: DeadLetterApi.replay, notls: false }
} as const satisfies {
  readonly [path: string]: Route
  readonly [path: `${typeof reservedPrefix}${string}`]: Route & { readonly notls: false }
}

type RouteTable = typeof routeTable

/** falcosidekick's route keys, the ones `tlsserver.notlspaths` may name */
export type NotlsPath = { readonly [P in keyof RouteTable]: RouteTable[P]["notls"] extends true ? P : never }[keyof RouteTable]

const routes: ReadonlyArray<readonly [string, Route]> = Object.entries(routeTable)

/** the paths `tlsserver.notlspaths` may name, in table order */
export const notlsPaths: ReadonlyArray<NotlsPath> = routes.filter(([, r]) => r.notls).map(([p]) => p as NotlsPath)

export const isNotlsPath = (path: string): path is NotlsPath => (notlsPaths as ReadonlyArray<string>).includes(path)

export interface ServerOptions {
  /** "" = all interfaces */
  readonly host: string
  readonly port: number
  /** serve HTTPS (falcosidekick `tlsserver.deploy`); `caCert` set = require client certificates signed by it */
  readonly tls?: { readonly cert: string; readonly key: string; readonly caCert?: string }
  /** with TLS: these routes move to a plain HTTP server on `port` (falcosidekick `notlsport`/`notlspaths`) */
  readonly plain?: { readonly port: number; readonly routes: ReadonlyArray<NotlsPath> }
  /** larger request bodies get 413 (falcosidekick had no limit) */
  readonly maxBodyBytes: number
  /** how long in-flight requests may finish once shutdown starts */
  readonly closeTimeout: Duration.DurationInput
}

/** Where the server listens. */
export interface ServerAddressService {
  /** the host to connect to: the listen address, 127.0.0.1 when that is all interfaces */
  readonly host: string
  /** the actual port (port 0 picks one: tests) */
  readonly port: number
  /** `http(s)://host:port` of the main server */
  readonly url: string
  /** the plain HTTP side server, when TLS moved some routes there */
  readonly plainUrl?: string
}

/** Where the server actually listens (port 0 picks one: tests). */
export class ServerAddress extends Context.Tag("@sidekick/app/ServerAddress")<ServerAddress, ServerAddressService>() {}

/** the control router: every route of the table but the event endpoint; 404 for any other path */
const controlApp = routes.reduce<HttpRouter.HttpRouter<never, ControlContext>>(
  (router, [path, route]) => route.handler === "event" ? router : HttpRouter.all(router, path as HttpRouter.PathInput, route.handler),
  HttpRouter.empty
).pipe(
  Effect.catchTag("RouteNotFound", () =>
    Effect.succeed(
      HttpServerResponse.text(notFoundBody, {
        status: 404,
        contentType: notFoundHeaders["content-type"],
        headers: { "x-content-type-options": notFoundHeaders["x-content-type-options"] }
      })
    ))
)

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

type NodeHandler = (req: IncomingMessage, res: ServerResponse) => void

const notFound: NodeHandler = (req, res) => {
  req.resume()
  res.writeHead(404, notFoundHeaders)
  res.end(notFoundBody)
}

const pathOf = (url: string) => {
  const q = url.indexOf("?")
  return q === -1 ? url : url.slice(0, q)
}

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
      const ingest = yield* IngestHandler
      const control: NodeHandler = yield* NodeHttpServer.makeHandler(controlApp)
      const maxBody = options.maxBodyBytes

      const onEvent: NodeHandler = (req, res) => {
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
          const outcome = ingest.handle(body, req.headers)
          // a held request (full buffers: backpressure) is answered when it is queued or its wait is over
          if (outcome instanceof Promise) void outcome.then((o) => respond(res, o))
          else respond(res, outcome)
        })
      }

      // Go's ServeMux: the table's paths are exact routes, "/" catches every other path. A server that
      // does not serve a route hands its path to "/" if it serves that, else answers 404 (as Go does).
      // Paths under the reserved prefix never reach "/": the main server's control router answers them.
      const handlerFor = (served: ReadonlyArray<readonly [string, Route]>, ownsReserved: boolean): NodeHandler => {
        const exact = new Map(served.map(([path, route]) => [path, route.handler === "event" ? onEvent : control]))
        const rest = exact.get("/") ?? notFound
        const reserved = ownsReserved ? control : notFound
        return (req, res) => {
          const path = pathOf(req.url ?? "/")
          const handler = exact.get(path) ?? (path.startsWith(reservedPrefix) ? reserved : rest)
          handler(req, res)
        }
      }
      const plainPaths: ReadonlyArray<string> = options.plain?.routes ?? []
      const mainRoutes = routes.filter(([path]) => !plainPaths.includes(path))
      const plainRoutes = routes.filter(([path]) => plainPaths.includes(path))
      const serverOptions = { requestTimeout: 60_000, headersTimeout: 60_000, keepAliveTimeout: 60_000 }
      const tls = options.tls
      const server: Server = tls
        ? createHttpsServer({
          ...serverOptions,
          cert: tls.cert,
          key: tls.key,
          minVersion: "TLSv1.2",
          ...(tls.caCert ? { ca: tls.caCert, requestCert: true, rejectUnauthorized: true } : {})
        }, handlerFor(mainRoutes, true))
        : createServer(serverOptions, handlerFor(mainRoutes, true))
      const serve = (s: Server, port: number) =>
        Effect.acquireRelease(
          listen(s, options.host, port).pipe(
            Effect.mapError((e) => new ServerStartError({ message: `cannot listen on ${options.host}:${port}: ${e.message}` }))
          ),
          () => close(s, options.closeTimeout)
        )
      const address = yield* serve(server, options.port)
      const side = tls && options.plain && plainRoutes.length > 0
        ? yield* serve(createServer(serverOptions, handlerFor(plainRoutes, false)), options.plain.port)
        : undefined
      // registered last, so it runs first: before the servers wait for their in-flight requests
      yield* Effect.addFinalizer(() => Effect.logInfo("shutting down: no longer accepting events"))
      const where = (port: number) => `${options.host}:${port}`
      yield* Effect.logInfo(
        side
          ? `Sidekick is up and listening on ${where(address.port)} for TLS and ${where(side.port)} for non-TLS (${
            [...new Set(plainPaths)].join(", ")
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
