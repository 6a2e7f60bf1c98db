import { HttpClient, HttpClientRequest, HttpTraceContext } from "@effect/platform"
import { NodeHttpClient } from "@effect/platform-node"
import { Duration, Effect, Option } from "effect"
import { readFileSync } from "node:fs"
import { rootCertificates } from "node:tls"
import { gunzipSync, gzipSync } from "node:zlib"
import { EnvHttpProxyAgent } from "undici"
import type { HttpClientOptions, HttpRequestSpec, HttpResponseInfo, OutputHttpClient } from "../HttpTransport.js"
import { OutputError, OutputInitError } from "../Output.js"

/** Where the TLS material of the HTTP outputs lives (falcosidekick's global TLS keys, resolved). */
export interface TlsFiles {
  /** tlsclient.cacertfile: appended to the system roots for every HTTP output ("" = none) */
  readonly caCertFile: string
  /** client certificate for `mutualtls` outputs: mutualtlsclient.* or <mutualtlsfilespath>/client.crt|client.key|ca.crt */
  readonly mutualTls: { readonly certFile: string; readonly keyFile: string; readonly caCertFile: string }
}

/** falcosidekick's texts for the statuses it names (core-spec §4.6); others use the reason phrase. */
const statusText: Record<number, string> = {
  400: "header missing",
  401: "authentication error",
  403: "access denied",
  404: "resource not found",
  422: "bad request",
  429: "exceeding post rate limit",
  500: "internal server error",
  502: "bad gateway"
}

/** success by falcosidekick's rule: 200, 201, 202 and 204 only */
export const isSuccessStatus = (status: number) => status === 200 || status === 201 || status === 202 || status === 204

/** Retry-After: delay-seconds or an HTTP-date */
export const parseRetryAfter = (value: string | undefined, now: number): Duration.Duration | undefined => {
  if (value === undefined || value.trim() === "") return undefined
  const seconds = Number(value)
  if (Number.isFinite(seconds) && seconds >= 0) return Duration.seconds(seconds)
  const date = Date.parse(value)
  return Number.isNaN(date) ? undefined : Duration.millis(Math.max(0, date - now))
}

const maxBodyInMessage = 300

/** scheme://host[:port] of a URL: for messages and spans, which must not leak a path, query or userinfo holding a token */
export const originOf = (url: string) => {
  try {
    const u = new URL(url)
    return `${u.protocol}//${u.host}` // no userinfo, path or query: they may carry tokens
  } catch {
    return "<invalid url>"
  }
}

const readPem = (output: string, key: string, file: string) =>
  Effect.try({
    try: () => readFileSync(file, "utf8"),
    catch: (cause) =>
      new OutputInitError({ output, key, message: `cannot read ${key} file ${file}: ${(cause as Error).message}`, cause })
  })

export const makeClient = (tls: TlsFiles) => (options: HttpClientOptions) =>
  Effect.gen(function*() {
    const output = options.output
    const extraCa = tls.caCertFile !== "" ? [yield* readPem(output, "tlsclient.cacertfile", tls.caCertFile)] : []
    const mtls = options.mutualTls
      ? {
        cert: yield* readPem(output, "mutualtlsclient.certfile", tls.mutualTls.certFile),
        key: yield* readPem(output, "mutualtlsclient.keyfile", tls.mutualTls.keyFile),
        ca: yield* readPem(output, "mutualtlsclient.cacertfile", tls.mutualTls.caCertFile)
      }
      : undefined
    const connect = {
      // falcosidekick: checkcert is ignored when mutualtls is on (the server is always verified then)
      rejectUnauthorized: options.checkCert || options.mutualTls,
      ...(extraCa.length > 0 || mtls ? { ca: [...rootCertificates, ...extraCa, ...(mtls ? [mtls.ca] : [])] } : {}),
      ...(mtls ? { cert: mtls.cert, key: mtls.key } : {})
    }
    // HTTP(S)_PROXY / NO_PROXY from the environment, as Go's transport does; TLS options apply to the origin
    const dispatcher = new EnvHttpProxyAgent({ connect, requestTls: connect, keepAliveTimeout: 30_000 })
    yield* Effect.addFinalizer(() => Effect.promise(() => dispatcher.close()).pipe(Effect.ignore))
    // Our own span attributes instead of the client's automatic span: it records url.full and every
    // request header, and webhook URLs and custom headers carry tokens.
    const client = NodeHttpClient.makeUndici(dispatcher).pipe(HttpClient.withTracerDisabledWhen(() => true))

    const contentType = options.contentType ?? "application/json; charset=utf-8"
    const authorization = options.basicAuth
      ? `Basic ${Buffer.from(`${options.basicAuth.user}:${options.basicAuth.password}`).toString("base64")}`
      : undefined

    const exchange = (request: HttpRequestSpec): Effect.Effect<HttpResponseInfo, OutputError> =>
      Effect.gen(function*() {
        const method = request.method ?? "POST"
        const headers: Record<string, string> = { "content-type": contentType, "user-agent": "Falcosidekick" }
        if (authorization) headers["authorization"] = authorization
        if (request.headers) for (const k in request.headers) headers[k.toLowerCase()] = request.headers[k]!
        if (options.customHeaders) for (const k in options.customHeaders) headers[k.toLowerCase()] = options.customHeaders[k]!
        const span = yield* Effect.option(Effect.currentSpan)
        if (Option.isSome(span)) Object.assign(headers, HttpTraceContext.toHeaders(span.value))
        let body = request.body
        if (request.gzip && body !== undefined) {
          body = gzipSync(typeof body === "string" ? Buffer.from(body) : body)
          headers["content-encoding"] = "gzip"
          headers["accept-encoding"] = "gzip"
        }
        let req = HttpClientRequest.make(method)(request.url).pipe(HttpClientRequest.setHeaders(headers))
        if (body !== undefined && method !== "GET") {
          req = typeof body === "string"
            ? HttpClientRequest.bodyText(req, body, headers["content-type"])
            : HttpClientRequest.bodyUint8Array(req, body, headers["content-type"])
        }
        yield* Effect.annotateCurrentSpan({ "http.request.method": method, "server.address": originOf(request.url) })
        const response = yield* client.execute(req).pipe(
          Effect.flatMap((res) => Effect.map(res.arrayBuffer, (bytes) => ({ res, bytes: Buffer.from(bytes) })))
        )
        yield* Effect.annotateCurrentSpan("http.response.status_code", response.res.status)
        // we asked for gzip when compressing (as falcosidekick does), so we must read it
        const gzipped = (response.res.headers["content-encoding"] ?? "").includes("gzip") && response.bytes.length > 0
        const text = (gzipped ? gunzipSync(response.bytes) : response.bytes).toString("utf8")
        return { status: response.res.status, headers: response.res.headers, body: text }
      }).pipe(
        Effect.catchTags({
          RequestError: (e) =>
            Effect.fail(
              new OutputError({
                output,
                reason: "Transport",
                message: `${request.method ?? "POST"} ${originOf(request.url)}: ${describeCause(e.cause ?? e)}`,
                cause: e
              })
            ),
          ResponseError: (e) =>
            Effect.fail(
              new OutputError({
                output,
                reason: "Transport",
                message: `${request.method ?? "POST"} ${originOf(request.url)}: reading the response failed: ${describeCause(e.cause ?? e)}`,
                cause: e
              })
            )
        })
      )

    const send = (request: HttpRequestSpec) =>
      Effect.flatMap(exchange(request), (response) =>
        isSuccessStatus(response.status) ? Effect.succeed(response) : Effect.fail(statusError(output, response, request.url)))

    return { send, exchange } satisfies OutputHttpClient
  })

/**
 * The OutputError for a non-success answer: falcosidekick's text for the status, the peer's body
 * (shortened), Retry-After. For outputs that use `exchange` and judge the response themselves.
 */
export const statusError = (output: string, response: HttpResponseInfo, url: string): OutputError => {
  const text = statusText[response.status] ?? "unexpected response"
  const detail = response.body.trim().slice(0, maxBodyInMessage)
  const retryAfter = parseRetryAfter(headerOf(response.headers, "retry-after"), Date.now())
  return new OutputError({
    output,
    reason: "Status",
    status: response.status,
    message: `${text} (${response.status}) from ${originOf(url)}${detail ? `: ${detail}` : ""}`,
    ...(retryAfter ? { retryAfter } : {})
  })
}

const headerOf = (headers: Readonly<Record<string, string>>, name: string): string | undefined => {
  if (headers[name] !== undefined) return headers[name]
  for (const k in headers) if (k.toLowerCase() === name) return headers[k]
  return undefined
}

const describeCause = (cause: unknown): string => {
  if (cause instanceof Error) {
    const inner = (cause as Error & { cause?: unknown }).cause
    const code = (cause as Error & { code?: string }).code ?? (inner as { code?: string } | undefined)?.code
    const message = inner instanceof Error && inner.message !== "" ? inner.message : cause.message
    return code && !message.includes(code) ? `${code} ${message}` : message
  }
  return String(cause)
}
