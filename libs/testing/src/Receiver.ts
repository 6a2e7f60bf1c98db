/**
 * A recording HTTP(S) receiver for tests and benchmarks: listens on 127.0.0.1 with an ephemeral port,
 * records every request (method, path with query, headers, raw and decoded body) and answers from a
 * script of responses (the last one repeats). Lives as long as its Scope.
 */
import * as http from "node:http"
import * as https from "node:https"
import type { AddressInfo } from "node:net"
import type { TLSSocket } from "node:tls"
import * as zlib from "node:zlib"
import { Data, Duration, Effect, type Scope } from "effect"
import type { TlsMaterial } from "./Tls.js"

/** One request as the receiver saw it. */
export interface RecordedRequest {
  /** 0-based arrival order */
  readonly index: number
  readonly method: string
  /** path with the query string, as sent: "/falco-2024.05.06/_doc?pipeline=p" */
  readonly path: string
  /** header names lower-cased (node's view; repeated headers joined with ", ") */
  readonly headers: Readonly<Record<string, string>>
  /** header name/value pairs in arrival order with their original case */
  readonly rawHeaders: ReadonlyArray<readonly [string, string]>
  /** the body bytes as received (still compressed when Content-Encoding is gzip) */
  readonly rawBody: Buffer
  /** the body bytes, gunzipped when Content-Encoding is gzip */
  readonly bodyBuffer: Buffer
  /** `bodyBuffer` as UTF-8 */
  readonly body: string
  /** true when the body arrived gzip-encoded */
  readonly gzipped: boolean
  /** HTTPS only: whether the client presented a certificate the receiver's CA verified, and its subject CN */
  readonly tlsClient?: { readonly authorized: boolean; readonly subjectCN?: string }
}

/** What to answer to one request. */
export interface ScriptedResponse {
  /** default 200 */
  readonly status?: number
  /** default "" */
  readonly body?: string | Uint8Array
  readonly headers?: Readonly<Record<string, string>>
  /** wait this long (real time) before answering */
  readonly delay?: Duration.DurationInput
  /** never answer: the request stays open until the client gives up or the receiver closes */
  readonly hang?: boolean
}

/** A response, or a function choosing one from the request (e.g. by path). */
export type Responder = ScriptedResponse | ((request: RecordedRequest) => ScriptedResponse)

export const ok: ScriptedResponse = { status: 200 }
export const hang: ScriptedResponse = { hang: true }
export const status = (code: number, body = "", headers?: Readonly<Record<string, string>>): ScriptedResponse =>
  headers === undefined ? { status: code, body } : { status: code, body, headers }
export const json = (code: number, value: unknown): ScriptedResponse => ({
  status: code,
  body: JSON.stringify(value),
  headers: { "content-type": "application/json" }
})

export class WaitTimeout extends Data.TaggedError("WaitTimeout")<{
  readonly expected: number
  readonly received: number
  readonly message: string
}> {}

export interface ReceiverOptions {
  /** the response script: request i gets responses[min(i, length-1)]; default [ok] */
  readonly responses?: ReadonlyArray<Responder>
  /** serve HTTPS with `tls.serverCert`/`tls.serverKey` */
  readonly tls?: TlsMaterial
  /** HTTPS only: ask for a client certificate and refuse clients without one signed by `tls.caCert` */
  readonly requestCert?: boolean
}

export interface Receiver {
  /** "http://127.0.0.1:<port>" or "https://127.0.0.1:<port>" (no trailing slash) */
  readonly url: string
  readonly port: number
  /** snapshot of the requests received so far, in arrival order */
  readonly requests: ReadonlyArray<RecordedRequest>
  /** how many requests were received so far (cheaper than `requests` for benchmarks) */
  readonly count: number
  /** requests currently held open (hang mode or delay) */
  readonly pending: number
  /** replace the response script; the position restarts at the next request */
  readonly respondWith: (...responses: ReadonlyArray<Responder>) => Effect.Effect<void>
  /** forget the recorded requests (the script position restarts too) */
  readonly clear: Effect.Effect<void>
  /**
   * Wait (polling with the real clock, so it works under TestClock) until at least `n` requests arrived;
   * returns the first `n`. Fails with WaitTimeout after `timeout` (default 5 s).
   */
  readonly waitFor: (n: number, timeout?: Duration.DurationInput) => Effect.Effect<ReadonlyArray<RecordedRequest>, WaitTimeout>
}

const realSleep = (ms: number): Effect.Effect<void> =>
  Effect.async<void>((resume) => {
    const t = setTimeout(() => resume(Effect.void), ms)
    return Effect.sync(() => clearTimeout(t))
  })

const pairs = (raw: ReadonlyArray<string>): Array<readonly [string, string]> => {
  const out: Array<readonly [string, string]> = []
  for (let i = 0; i + 1 < raw.length; i += 2) out.push([raw[i]!, raw[i + 1]!])
  return out
}

const flatHeaders = (headers: http.IncomingHttpHeaders): Record<string, string> => {
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(headers)) {
    if (v === undefined) continue
    out[k] = Array.isArray(v) ? v.join(", ") : v
  }
  return out
}

/** Start a recording receiver; it stops (open connections destroyed) when the scope closes. */
export const makeReceiver = (options: ReceiverOptions = {}): Effect.Effect<Receiver, never, Scope.Scope> =>
  Effect.gen(function*() {
    const recorded: Array<RecordedRequest> = []
    let script: ReadonlyArray<Responder> = options.responses ?? [ok]
    let scriptStart = 0
    let pending = 0
    const tls = options.tls

    const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => {
      const chunks: Array<Buffer> = []
      req.on("data", (c: Buffer) => chunks.push(c))
      req.on("end", () => {
        const rawBody = Buffer.concat(chunks)
        const gzipped = (req.headers["content-encoding"] ?? "").toLowerCase().includes("gzip")
        let bodyBuffer = rawBody
        if (gzipped && rawBody.length > 0) {
          try {
            bodyBuffer = zlib.gunzipSync(rawBody)
          } catch {
            bodyBuffer = rawBody
          }
        }
        let tlsClient: RecordedRequest["tlsClient"]
        if (tls !== undefined) {
          const socket = req.socket as TLSSocket
          const peer = socket.getPeerCertificate?.()
          const rawCn: string | ReadonlyArray<string> | undefined = peer !== undefined && peer !== null && typeof peer.subject === "object"
            ? peer.subject.CN
            : undefined
          const cn = typeof rawCn === "string" ? rawCn : rawCn?.[0]
          tlsClient = cn === undefined ? { authorized: socket.authorized } : { authorized: socket.authorized, subjectCN: cn }
        }
        const index = recorded.length
        const base = {
          index,
          method: req.method ?? "",
          path: req.url ?? "",
          headers: flatHeaders(req.headers),
          rawHeaders: pairs(req.rawHeaders),
          rawBody,
          bodyBuffer,
          body: bodyBuffer.toString("utf8"),
          gzipped
        }
        const request: RecordedRequest = tlsClient === undefined ? base : { ...base, tlsClient }
        recorded.push(request)
        const position = index - scriptStart
        const responder = script.length === 0 ? ok : script[Math.min(Math.max(position, 0), script.length - 1)]!
        const response = typeof responder === "function" ? responder(request) : responder
        if (response.hang === true) {
          pending++
          res.on("close", () => pending--)
          return
        }
        const answer = () => {
          res.statusCode = response.status ?? 200
          for (const [k, v] of Object.entries(response.headers ?? {})) res.setHeader(k, v)
          res.end(response.body ?? "")
        }
        if (response.delay !== undefined) {
          pending++
          const t = setTimeout(() => {
            pending--
            answer()
          }, Duration.toMillis(Duration.decode(response.delay)))
          res.on("close", () => clearTimeout(t))
        } else {
          answer()
        }
      })
    }

    const server: http.Server = tls === undefined
      ? http.createServer(handler)
      : https.createServer({
        key: tls.serverKey,
        cert: tls.serverCert,
        ca: tls.caCert,
        requestCert: options.requestCert === true,
        rejectUnauthorized: options.requestCert === true
      }, handler)
    server.keepAliveTimeout = 60_000

    const port = yield* Effect.acquireRelease(
      Effect.async<number>((resume) => {
        server.listen(0, "127.0.0.1", () => resume(Effect.succeed((server.address() as AddressInfo).port)))
      }),
      () =>
        Effect.async<void>((resume) => {
          server.close(() => resume(Effect.void))
          server.closeAllConnections()
        })
    )

    const url = `${tls === undefined ? "http" : "https"}://127.0.0.1:${port}`

    const waitFor = (n: number, timeout: Duration.DurationInput = "5 seconds") => {
      const deadline = Date.now() + Duration.toMillis(Duration.decode(timeout))
      const loop: Effect.Effect<ReadonlyArray<RecordedRequest>, WaitTimeout> = Effect.suspend(() => {
        if (recorded.length >= n) return Effect.succeed(recorded.slice(0, n))
        if (Date.now() >= deadline) {
          return Effect.fail(
            new WaitTimeout({
              expected: n,
              received: recorded.length,
              message: `receiver ${url}: expected ${n} request(s), received ${recorded.length} within ${Duration.format(Duration.decode(timeout))}`
            })
          )
        }
        return Effect.zipRight(realSleep(10), loop)
      })
      return loop
    }

    const receiver: Receiver = {
      url,
      port,
      get requests() {
        return recorded.slice()
      },
      get count() {
        return recorded.length
      },
      get pending() {
        return pending
      },
      respondWith: (...responses) =>
        Effect.sync(() => {
          script = responses
          scriptStart = recorded.length
        }),
      clear: Effect.sync(() => {
        recorded.length = 0
        scriptStart = 0
      }),
      waitFor
    }
    return receiver
  })
