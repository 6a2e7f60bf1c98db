import { describe, expect, it } from "@effect/vitest"
import { propagation } from "@opentelemetry/api"
import { sidekickPropagator } from "@sidekick/telemetry"
import { makeReceiver, makeTlsMaterial, opensslAvailable, status } from "@sidekick/testing"
import { Duration, Effect } from "effect"
import { createServer, request as httpRequest } from "node:http"
import { connect } from "node:net"
import type { AddressInfo } from "node:net"
import { type HttpClientOptions, HttpTransport, type TlsFiles } from "../src/index.js"

const base: HttpClientOptions = { output: "webhook", checkCert: true, mutualTls: false }

const clientWith = (options: Partial<HttpClientOptions> = {}, tls?: TlsFiles) =>
  Effect.flatMap(HttpTransport, (t) => t.client({ ...base, ...options })).pipe(
    Effect.provide(HttpTransport.layer(tls))
  )

/**
 * A forward proxy on 127.0.0.1 that records what it was asked for: CONNECT tunnels (how undici's
 * ProxyAgent reaches its targets) and absolute-form requests.
 */
const recordingProxy = Effect.acquireRelease(
  Effect.async<{ url: string; seen: Array<string>; close: () => void }>((resume) => {
    const seen: Array<string> = []
    const server = createServer((req, res) => {
      seen.push(`${req.method} ${req.url}`)
      const target = new URL(req.url!)
      const upstream = httpRequest(
        { host: target.hostname, port: target.port, path: target.pathname + target.search, method: req.method, headers: req.headers },
        (up) => {
          res.writeHead(up.statusCode ?? 502, up.headers)
          up.pipe(res)
        }
      )
      req.pipe(upstream)
    })
    server.on("connect", (req, socket, head) => {
      seen.push(`CONNECT ${req.url}`)
      const [host, port] = req.url!.split(":")
      const upstream = connect(Number(port), host, () => {
        socket.write("HTTP/1.1 200 Connection Established\r\n\r\n")
        upstream.write(head)
        upstream.pipe(socket)
        socket.pipe(upstream)
      })
      upstream.on("error", () => socket.destroy())
      socket.on("error", () => upstream.destroy())
    })
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo
      resume(Effect.succeed({
        url: `http://127.0.0.1:${port}`,
        seen,
        close: () => {
          server.closeAllConnections()
          server.close()
        }
      }))
    })
  }),
  (proxy) => Effect.sync(proxy.close)
)

/** set an environment variable for the scope */
const scopedEnv = (name: string, value: string) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const before = process.env[name]
      process.env[name] = value
      return before
    }),
    (before) => Effect.sync(() => (before === undefined ? delete process.env[name] : (process.env[name] = before)))
  )

describe("HttpTransport", () => {
  it.scoped("goes through HTTP_PROXY when the environment names one, as Go's transport does", () =>
    Effect.gen(function*() {
      const receiver = yield* makeReceiver()
      const proxy = yield* recordingProxy
      yield* scopedEnv("HTTP_PROXY", proxy.url)
      yield* scopedEnv("NO_PROXY", "")
      const http = yield* clientWith()
      yield* http.send({ url: `${receiver.url}/via-proxy`, body: "{}" })
      const [req] = yield* receiver.waitFor(1)
      expect(req!.path).toBe("/via-proxy")
      expect(proxy.seen.length).toBeGreaterThan(0)
      expect(proxy.seen[0]).toContain(`127.0.0.1:${receiver.port}`)
    }))

  it.scoped("sends falcosidekick's default headers, the body as given, then customheaders over everything", () =>
    Effect.gen(function*() {
      const receiver = yield* makeReceiver()
      const http = yield* clientWith({ customHeaders: { "X-Team": "sec", "User-Agent": "custom-agent" } })
      yield* http.send({ url: `${receiver.url}/hook?x=1`, body: `{"a":1}\n`, headers: { "X-Per-Request": "yes" } })
      const [req] = yield* receiver.waitFor(1)
      expect(req!.method).toBe("POST")
      expect(req!.path).toBe("/hook?x=1")
      expect(req!.body).toBe(`{"a":1}\n`)
      expect(req!.headers["content-type"]).toBe("application/json; charset=utf-8")
      expect(req!.headers["user-agent"]).toBe("custom-agent")
      expect(req!.headers["x-team"]).toBe("sec")
      expect(req!.headers["x-per-request"]).toBe("yes")
      expect(req!.headers["authorization"]).toBeUndefined()
    }))

  it.scoped("basic auth, PUT, a content type of the output's own, gzip", () =>
    Effect.gen(function*() {
      const receiver = yield* makeReceiver()
      const http = yield* clientWith({ basicAuth: { user: "user", password: "pass" }, contentType: "application/x-ndjson" })
      yield* http.send({ url: receiver.url, method: "PUT", body: "line\n", gzip: true })
      const [req] = yield* receiver.waitFor(1)
      expect(req!.method).toBe("PUT")
      expect(req!.headers["authorization"]).toBe("Basic dXNlcjpwYXNz")
      expect(req!.headers["content-type"]).toBe("application/x-ndjson")
      expect(req!.gzipped).toBe(true)
      expect(req!.body).toBe("line\n")
    }))

  it.scoped("only 200, 201, 202 and 204 succeed; other statuses fail with falcosidekick's text and the peer's body", () =>
    Effect.gen(function*() {
      const receiver = yield* makeReceiver({
        responses: [status(201), status(204), status(404, "no_service"), status(206), status(422)]
      })
      const http = yield* clientWith()
      expect((yield* http.send({ url: `${receiver.url}/secret-token-path` })).status).toBe(201)
      expect((yield* http.send({ url: receiver.url })).status).toBe(204)
      const notFound = yield* Effect.flip(http.send({ url: `${receiver.url}/secret-token-path` }))
      expect(notFound).toMatchObject({ _tag: "OutputError", reason: "Status", status: 404, output: "webhook" })
      expect(notFound.message).toBe(`resource not found (404) from ${receiver.url}: no_service`)
      expect(notFound.message).not.toContain("secret-token-path")
      expect(notFound.retryable).toBe(false)
      const partial = yield* Effect.flip(http.send({ url: receiver.url }))
      expect(partial.status).toBe(206)
      expect(partial.message).toBe(`unexpected response (206) from ${receiver.url}`)
      const unprocessable = yield* Effect.flip(http.send({ url: receiver.url }))
      expect(unprocessable.message).toBe(`bad request (422) from ${receiver.url}`)
      // exchange hands any status back
      expect((yield* http.exchange({ url: receiver.url })).status).toBe(422)
    }))

  it.scoped("429 and 5xx are retryable and carry Retry-After", () =>
    Effect.gen(function*() {
      const receiver = yield* makeReceiver({
        responses: [status(429, "", { "retry-after": "7" }), status(503)]
      })
      const http = yield* clientWith()
      const limited = yield* Effect.flip(http.send({ url: receiver.url }))
      expect(limited.retryable).toBe(true)
      expect(limited.retryAfter && Duration.toSeconds(limited.retryAfter)).toBe(7)
      expect(limited.message).toBe(`exceeding post rate limit (429) from ${receiver.url}`)
      const unavailable = yield* Effect.flip(http.send({ url: receiver.url }))
      expect(unavailable.retryable).toBe(true)
      expect(unavailable.retryAfter).toBeUndefined()
    }))

  it.scoped("a refused connection is a retryable Transport error that names the host, not the path", () =>
    Effect.gen(function*() {
      const http = yield* clientWith()
      const error = yield* Effect.flip(http.send({ url: "http://127.0.0.1:1/services/T000/B000/XXXX" }))
      expect(error.reason).toBe("Transport")
      expect(error.retryable).toBe(true)
      expect(error.message).toContain("POST http://127.0.0.1:1")
      expect(error.message).toContain("ECONNREFUSED")
      expect(error.message).not.toContain("XXXX")
    }))

  it.scoped("propagates the current span as a W3C traceparent header", () =>
    Effect.gen(function*() {
      // what OpenTelemetryLive registers when tracing is on and OTEL_PROPAGATORS is unset
      yield* Effect.acquireRelease(
        Effect.sync(() => propagation.setGlobalPropagator(sidekickPropagator)),
        () => Effect.sync(() => propagation.disable())
      )
      const receiver = yield* makeReceiver()
      const http = yield* clientWith()
      const traceId = yield* http.send({ url: receiver.url }).pipe(
        Effect.zipRight(Effect.map(Effect.currentSpan, (s) => s.traceId)),
        Effect.withSpan("test")
      )
      const [req] = yield* receiver.waitFor(1)
      expect(req!.headers["traceparent"]).toMatch(new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`))
    }))

  describe.skipIf(!opensslAvailable())("TLS", () => {
    it.scoped("checkcert: a self-signed server is refused unless checkcert is false", () =>
      Effect.gen(function*() {
        const tls = yield* makeTlsMaterial
        const receiver = yield* makeReceiver({ tls })
        const strict = yield* clientWith()
        const error = yield* Effect.flip(strict.send({ url: receiver.url }))
        expect(error.reason).toBe("Transport")
        const lax = yield* clientWith({ checkCert: false })
        expect((yield* lax.send({ url: receiver.url })).status).toBe(200)
        // tlsclient.cacertfile: trusting the CA works with checkcert on
        const trusting = yield* clientWith({}, { caCertFile: tls.caCertPath, mutualTls: { certFile: "", keyFile: "", caCertFile: "" } })
        expect((yield* trusting.send({ url: receiver.url })).status).toBe(200)
      }))

    it.scoped("mutualtls presents the client certificate from the mutual TLS files", () =>
      Effect.gen(function*() {
        const tls = yield* makeTlsMaterial
        const receiver = yield* makeReceiver({ tls, requestCert: true })
        const files: TlsFiles = {
          caCertFile: "",
          mutualTls: { certFile: tls.clientCertPath, keyFile: tls.clientKeyPath, caCertFile: tls.caCertPath }
        }
        const mtls = yield* clientWith({ mutualTls: true }, files)
        yield* mtls.send({ url: receiver.url, body: "{}" })
        const [req] = yield* receiver.waitFor(1)
        expect(req!.tlsClient?.authorized).toBe(true)
      }))

    it.scoped("a missing client certificate file stops the output at start-up, naming the key and the file", () =>
      Effect.gen(function*() {
        const files: TlsFiles = {
          caCertFile: "",
          mutualTls: { certFile: "/nonexistent/client.crt", keyFile: "/nonexistent/client.key", caCertFile: "/nonexistent/ca.crt" }
        }
        const error = yield* Effect.flip(clientWith({ mutualTls: true }, files))
        expect(error._tag).toBe("OutputInitError")
        expect(error.message).toContain("mutualtlsclient.certfile")
        expect(error.message).toContain("/nonexistent/client.crt")
      }))
  })
})
