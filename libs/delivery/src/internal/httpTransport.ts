import { Duration, Effect } from "effect"
import { readFileSync } from "node:fs"
import { rootCertificates } from "node:tls"
import { gunzipSync, gzipSync } from "node:zlib"
import { Agent, type Dispatcher, EnvHttpProxyAgent } from "undici"
import type { HttpClientOptions, HttpRequestSpec, HttpResponseInfo, OutputHttpClient } from "../HttpTransport.js"
import { injectContext } from "@sidekick/telemetry"
import { currentAttemptTimeout, OutputError, OutputInitError } from "../Output.js"

/** Where the TLS material of the HTTP outputs lives (falcosidekick's global TLS keys, resolved). */
export interface TlsFiles {
  /** tlsclient.cacertfile: appended to the system roots for every HTTP output ("" = none) */
  readonly caCertFile: string
  /** client certificate for `mutualtls` outputs: mutualtlsclient.* or <mutualtlsfilespath>/client.crt|client.key|ca.crt */
  readonly mutualTls: { readonly certFile: string; readonly keyFile: string; readonly caCertFile: string }
}

/** falcosidekick's texts for the statuses it names (how it words a refused request); others use the reason phrase. */
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

const proxyConfigured = () =>
  ["HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy"].some((name) => (process.env[name] ?? "") !== "")

interface Target {
  readonly origin: string
  readonly path: string
  /** Basic credentials from the URL's userinfo, as Go's client sends them */
  readonly userinfo?: string
}

/** origin and path+query of a URL; outputs send to a handful of URLs over and over, so each client caches them */
const makeUrlSplitter = () => {
  const cache = new Map<string, Target>()
  return (url: string): Target | undefined => {
    const cached = cache.get(url)
    if (cached) return cached
    let parsed: URL
    try {
      parsed = new URL(url)
    } catch {
      return undefined
    }
    if (parsed.protocol !== "http:" && parsed.protocol !== "https:") return undefined
    const path = `${parsed.pathname}${parsed.search}`
    const result: Target = parsed.username === ""
      ? { origin: parsed.origin, path }
      : {
        origin: parsed.origin,
        path,
        userinfo: `Basic ${
          Buffer.from(`${decodeURIComponent(parsed.username)}:${decodeURIComponent(parsed.password)}`).toString("base64")
        }`
      }
    if (cache.size >= 1024) cache.clear()
    cache.set(url, result)
    return result
  }
}

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
    // HTTP(S)_PROXY / NO_PROXY from the environment, as Go's transport does; TLS options apply to the origin.
    // Read once at start-up (as Go does): EnvHttpProxyAgent consults process.env on every request.
    const dispatcher = proxyConfigured()
      ? new EnvHttpProxyAgent({ connect, requestTls: connect, keepAliveTimeout: 30_000 })
      : new Agent({ connect, keepAliveTimeout: 30_000 })
    yield* Effect.addFinalizer(() => Effect.promise(() => dispatcher.close()).pipe(Effect.ignore))

    const splitUrl = makeUrlSplitter()
    const contentType = options.contentType ?? "application/json; charset=utf-8"
    const authorization = options.basicAuth
      ? `Basic ${Buffer.from(`${options.basicAuth.user}:${options.basicAuth.password}`).toString("base64")}`
      : undefined

    // undici directly rather than @effect/platform's HttpClient: this runs once per event per output, and the
    // platform client's request/response wrappers cost more than the request itself on loopback (profiled);
    // its automatic span would also record url.full and every header, where webhook URLs and custom headers
    // carry tokens. We set our own span attributes (origin only) and the traceparent header instead.
    const exchange = (request: HttpRequestSpec): Effect.Effect<HttpResponseInfo, OutputError> =>
      Effect.withFiberRuntime<HttpResponseInfo, OutputError>((fiber) => {
        const span = fiber.currentSpan
        const ours = span?._tag === "Span" ? span : undefined
        const timeout = fiber.getFiberRef(currentAttemptTimeout)
        const method = request.method ?? "POST"
        const target = splitUrl(request.url)
        if (target === undefined) {
          return Effect.fail(new OutputError({ output, reason: "Encode", message: `invalid URL for ${method} ${originOf(request.url)}` }))
        }
        const headers: Record<string, string> = { "content-type": contentType, "user-agent": "Falcosidekick" }
        if (target.userinfo) headers["authorization"] = target.userinfo
        if (authorization) headers["authorization"] = authorization
        if (request.headers) for (const k in request.headers) headers[k.toLowerCase()] = request.headers[k]!
        if (options.customHeaders) for (const k in options.customHeaders) headers[k.toLowerCase()] = options.customHeaders[k]!
        if (span) {
          injectContext(span, headers)
          ours?.attribute("http.request.method", method)
          ours?.attribute("server.address", target.origin)
        }
        let body = method === "GET" ? undefined : request.body
        if (request.gzip && body !== undefined) {
          body = gzipSync(typeof body === "string" ? Buffer.from(body) : body)
          headers["content-encoding"] = "gzip"
          headers["accept-encoding"] = "gzip"
        }
        return Effect.async<HttpResponseInfo, OutputError>((resume) => {
          // undici's dispatch API with a handler: about half the CPU of request() and its body stream
          // (measured on loopback), which matters at one request per event per output
          let abort: ((reason?: Error) => void) | undefined
          let finished = false
          let timedOut = false
          let status = 0
          let responseHeaders: Record<string, string> = {}
          const chunks: Array<Buffer> = []
          const finish = (effect: Effect.Effect<HttpResponseInfo, OutputError>) => {
            if (finished) return
            finished = true
            if (timer !== undefined) clearTimeout(timer)
            resume(effect)
          }
          // the Dispatcher's per-attempt timeout, enforced here with a timer instead of racing fibers
          const timer = Duration.isFinite(timeout)
            ? setTimeout(() => {
              timedOut = true
              abort?.(new Error("attempt timed out"))
              finish(Effect.fail(
                new OutputError({
                  output,
                  reason: "Timeout",
                  message: `${method} ${target.origin}: no answer within ${Duration.format(timeout)}`
                })
              ))
            }, Duration.toMillis(timeout))
            : undefined
          dispatcher.dispatch(
            { origin: target.origin, path: target.path, method, headers, body: body ?? null },
            {
              onConnect: (abortRequest: (reason?: Error) => void) => {
                abort = abortRequest
                if (finished) abortRequest()
              },
              onHeaders: (statusCode: number, rawHeaders: Array<Buffer>) => {
                status = statusCode
                responseHeaders = headersOf(rawHeaders)
                return true
              },
              onData: (chunk: Buffer) => {
                chunks.push(chunk)
                return true
              },
              onComplete: () => {
                const bytes = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)
                // we asked for gzip when compressing (as falcosidekick does), so we must read it
                const gzipped = bytes.length > 0 && (responseHeaders["content-encoding"] ?? "").includes("gzip")
                let text: string
                try {
                  text = (gzipped ? gunzipSync(bytes) : bytes).toString("utf8")
                } catch (cause) {
                  text = `<unreadable gzip body: ${describeCause(cause)}>`
                }
                ours?.attribute("http.response.status_code", status)
                finish(Effect.succeed({ status, headers: responseHeaders, body: text }))
              },
              onError: (cause: Error) => {
                if (timedOut) return
                finish(Effect.fail(
                  new OutputError({
                    output,
                    reason: "Transport",
                    message: `${method} ${target.origin}: ${describeCause(cause)}`,
                    cause
                  })
                ))
              }
            } as unknown as Dispatcher.DispatchHandler
          )
          return Effect.sync(() => {
            finished = true
            if (timer !== undefined) clearTimeout(timer)
            abort?.(new Error("delivery interrupted"))
          })
        })
      })

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

/** undici's raw header list, names lower-cased, repeated headers joined as node does */
const headersOf = (raw: Array<Buffer>): Record<string, string> => {
  const out: Record<string, string> = {}
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!.toString("latin1").toLowerCase()
    const value = raw[i + 1]!.toString("latin1")
    out[name] = out[name] === undefined ? value : `${out[name]}, ${value}`
  }
  return out
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
