/**
 * What falcosidekick's three OpenTelemetry outputs (`otlp.traces`, `otlp.logs`, `otlp.metrics`) share: their
 * connection keys, the `headers` and `extraenvvars` syntaxes, the options of the SDK exporter those become,
 * the resource every signal carries, and how an export's result becomes a delivery attempt's outcome.
 *
 * falcosidekick hands its keys to the Go SDK by writing them into the process environment
 * (`OTEL_EXPORTER_OTLP_<SIGNAL>_*`, then every `extraenvvars` entry) before it builds an exporter. Sidekick
 * never changes its environment (its own tracing reads OTEL_* too, and three outputs would overwrite each
 * other's): every key goes straight into the exporter's constructor, and so do the `extraenvvars` entries
 * that name an exporter setting (listed at `otlpSettings`).
 */
// types only: gRPC and the SDK exporters are loaded when an output builds its exporter (`otlpExporter`)
import type * as Grpc from "@grpc/grpc-js"
import type { HrTime } from "@opentelemetry/api"
import type { OTLPTraceExporter as GrpcTraceExporter } from "@opentelemetry/exporter-trace-otlp-grpc"
import type { OTLPTraceExporter as ProtoTraceExporter } from "@opentelemetry/exporter-trace-otlp-proto"
import { type Resource, resourceFromAttributes } from "@opentelemetry/resources"
import { Field } from "@sidekick/config"
import type { OutputError, OutputInitError } from "@sidekick/delivery"
import { Config, Effect, Either, Option, Redacted, type Scope } from "effect"
import { readFileSync } from "node:fs"
import * as http from "node:http"
import * as https from "node:https"
import type { OutputContext } from "../Definition.js"
import { isHttpUrl } from "../Endpoint.js"

/** `http/json` is Sidekick's: the Go SDK falcosidekick uses has no JSON encoding */
export const otlpProtocols = ["http/protobuf", "grpc", "http/json"] as const
export type OtlpProtocol = (typeof otlpProtocols)[number]

export type OtlpSignal = "traces" | "logs" | "metrics"

/**
 * The keys the three sections share, with falcosidekick's defaults. falcosidekick treats any `protocol` but
 * `grpc` as HTTP protobuf; an unknown value here refuses start-up naming the key.
 */
export const otlpFields = () => ({
  /** the signal's URL (`http://otelcol:4318/v1/traces`; gRPC: `http://otelcol:4317`); enables the output */
  endpoint: Field.string(""),
  protocol: Field.literal(otlpProtocols, "http/protobuf"),
  /** milliseconds per export; 0 = the SDK default, 10000 */
  timeout: Field.int(10_000, { min: 0 }),
  /** `k=v,k2=v2`, values percent-decoded (the OTEL_EXPORTER_OTLP_HEADERS syntax) */
  headers: Field.secret(),
  /**
   * falcosidekick's environment variables for the SDK; env `OTLP_<SIGNAL>_EXTRAENVVARS=k:v,k2:v2`. A secret map
   * because a HEADERS entry carries credentials.
   */
  extraenvvars: Field.secretMap({ env: "cut" }),
  /** only with `checkcert: false`: true = TLS without verification, false = plaintext (gRPC; for HTTP the URL's scheme decides) */
  tls: Field.bool(false),
  checkcert: Field.bool(true)
})

/** the shared keys, decoded */
export interface OtlpCommonConfig {
  readonly endpoint: string
  readonly protocol: OtlpProtocol
  readonly timeout: number
  readonly headers: Redacted.Redacted<string>
  readonly extraenvvars: Redacted.Redacted<Readonly<Record<string, string>>>
  readonly tls: boolean
  readonly checkcert: boolean
}

/** What one exporter is built from, once the keys and the `extraenvvars` entries are merged. */
export interface OtlpSettings {
  readonly signal: OtlpSignal
  readonly url: string
  readonly protocol: OtlpProtocol
  readonly timeoutMillis: number
  readonly headers: Readonly<Record<string, string>>
  readonly compression: "gzip" | "none"
  readonly checkCert: boolean
  readonly tls: boolean
  /** PEM contents (OTEL_EXPORTER_OTLP_CERTIFICATE, _CLIENT_CERTIFICATE, _CLIENT_KEY) */
  readonly ca?: Buffer
  readonly clientCert?: Buffer
  readonly clientKey?: Buffer
  /** OTEL_RESOURCE_ATTRIBUTES */
  readonly resourceAttributes: Readonly<Record<string, string>>
  /** the `extraenvvars` entries the output reads itself (`ownVariables` of `otlpSettings`) */
  readonly own: Readonly<Record<string, string>>
}

const defaultTimeoutMillis = 10_000

/** RFC 9110 token: what a header name may contain (the Go SDK drops other names) */
const headerName = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/
/** what a header value may hold: printable ASCII and tabs (Node refuses control characters, gRPC anything else) */
const headerValue = /^[\t\x20-\x7e]*$/

/**
 * The OTEL_EXPORTER_OTLP_HEADERS syntax (also OTEL_RESOURCE_ATTRIBUTES'): `k=v,k2=v2`, cut at the first `=`,
 * both sides trimmed, the value percent-decoded; empty items are skipped. Left: what is wrong, naming the
 * item by its position or its name, never its value.
 */
export const parseKeyValueList = (
  text: string,
  options: { readonly headers: boolean }
): Either.Either<Readonly<Record<string, string>>, string> => {
  const out: Record<string, string> = {}
  for (const [i, item] of text.split(",").entries()) {
    if (item.trim() === "") continue
    const at = item.indexOf("=")
    if (at < 0) return Either.left(`item ${i + 1} has no "=" (the syntax is key=value,key2=value2)`)
    const key = item.slice(0, at).trim()
    if (key === "" || (options.headers && !headerName.test(key))) return Either.left(`item ${i + 1} has an invalid name`)
    let value: string
    try {
      value = decodeURIComponent(item.slice(at + 1)).trim()
    } catch {
      return Either.left(`the value of "${key}" has an invalid %-escape`)
    }
    if (options.headers && !headerValue.test(value)) return Either.left(`the value of "${key}" may hold only printable ASCII`)
    out[key] = value
  }
  return Either.right(out)
}


const nanosPerSecond = 1_000_000_000n

/** nanoseconds since the epoch as the SDK's [seconds, nanoseconds] (a millisecond float would lose the digits) */
export const hrTimeOf = (unixNanos: bigint): HrTime => {
  let seconds = unixNanos / nanosPerSecond
  let nanos = unixNanos % nanosPerSecond
  if (nanos < 0n) {
    seconds -= 1n
    nanos += nanosPerSecond
  }
  return [Number(seconds), Number(nanos)]
}

/** the semantic conventions falcosidekick's resource declares (Go semconv v1.23.1) */
export const falcoSchemaUrl = "https://opentelemetry.io/schemas/1.23.1"

/**
 * falcosidekick's resource: `service.name=falco` and a version (`v0.1.0` for traces and logs, `0.1.0` for
 * metrics, as-built), nothing detected from the host or the process environment.
 */
export const falcoResource = (version: string, extra: Readonly<Record<string, string>>): Resource =>
  resourceFromAttributes({ ...extra, "service.name": "falco", "service.version": version }, { schemaUrl: falcoSchemaUrl })

type InitErrorOf = OutputContext["initError"]

/**
 * The section's keys and `extraenvvars`, merged and checked.
 *
 * The `extraenvvars` entries Sidekick applies, for the section's signal S (TRACES, LOGS or METRICS); each goes
 * into this output's exporter only:
 * - OTEL_EXPORTER_OTLP_S_ENDPOINT, _S_PROTOCOL, _S_TIMEOUT, _S_HEADERS override `endpoint`, `protocol`,
 *   `timeout`, `headers` (falcosidekick documents them as "override the other settings"; for otlp.metrics it
 *   actually let the keys win, one rule for the three is simpler to explain);
 * - OTEL_EXPORTER_OTLP_TIMEOUT and _HEADERS apply when `timeout` is 0 and `headers` is empty (the SDK prefers
 *   the signal's own variable, which falcosidekick always sets from the key);
 * - OTEL_EXPORTER_OTLP_[S_]COMPRESSION: gzip or none;
 * - OTEL_EXPORTER_OTLP_[S_]CERTIFICATE, _CLIENT_CERTIFICATE, _CLIENT_KEY: PEM files (the CA that signs the
 *   collector's certificate, a client certificate and its key), read at start-up;
 * - OTEL_RESOURCE_ATTRIBUTES: `k=v,...` added to the resource (service.name and service.version stay falco's);
 * - the output's own (otlp.metrics: OTEL_METRIC_EXPORT_INTERVAL).
 * Any other entry has no effect and is named in a warning at start-up (in falcosidekick it changed the whole
 * process: GODEBUG, proxies, another signal's settings...). A supported entry whose value cannot be used
 * refuses start-up naming `<section>.extraenvvars` and the variable, never the value.
 */
export const otlpSettings = (
  signal: OtlpSignal,
  c: OtlpCommonConfig,
  ctx: { readonly name: string; readonly initError: InitErrorOf },
  ownVariables: ReadonlyArray<string> = []
): Effect.Effect<OtlpSettings, OutputInitError> =>
  Effect.gen(function*() {
    const S = signal.toUpperCase()
    const extra = Redacted.value(c.extraenvvars)
    const used = new Set<string>()
    const entry = (name: string): string | undefined => {
      const value = extra[name]
      if (value !== undefined) used.add(name)
      return value
    }
    const specific = (setting: string) => entry(`OTEL_EXPORTER_OTLP_${S}_${setting}`)
    const generic = (setting: string) => entry(`OTEL_EXPORTER_OTLP_${setting}`)
    const badEntry = (variable: string, why: string) =>
      ctx.initError(`${ctx.name}.extraenvvars: ${variable} ${why}`, { key: "extraenvvars" })

    const endpointVariable = `OTEL_EXPORTER_OTLP_${S}_ENDPOINT`
    const url = (specific("ENDPOINT") ?? c.endpoint).trim()
    if (!isHttpUrl(url)) {
      return yield* Effect.fail(
        extra[endpointVariable] !== undefined
          ? badEntry(endpointVariable, "must be an http:// or https:// URL")
          : ctx.initError(`${ctx.name}.endpoint must be an http:// or https:// URL`, { key: "endpoint" })
      )
    }

    const protocolVariable = `OTEL_EXPORTER_OTLP_${S}_PROTOCOL`
    const protocolText = specific("PROTOCOL")?.trim()
    const protocol = protocolText === undefined ? c.protocol : otlpProtocols.find((p) => p === protocolText)
    if (protocol === undefined) return yield* Effect.fail(badEntry(protocolVariable, `must be one of ${otlpProtocols.join(", ")}`))

    const timeoutOf = (variable: string, text: string | undefined) => {
      if (text === undefined) return Either.right(undefined)
      return /^\s*[0-9]+\s*$/.test(text)
        ? Either.right(Number(text))
        : Either.left(badEntry(variable, "must be a number of milliseconds"))
    }
    const specificTimeout = yield* timeoutOf(`OTEL_EXPORTER_OTLP_${S}_TIMEOUT`, specific("TIMEOUT"))
    const genericTimeout = yield* timeoutOf("OTEL_EXPORTER_OTLP_TIMEOUT", generic("TIMEOUT"))
    const timeout = specificTimeout ?? (c.timeout !== 0 ? c.timeout : genericTimeout ?? 0)

    const configuredHeaders = Redacted.value(c.headers).trim()
    const specificHeaders = specific("HEADERS")
    const genericHeaders = generic("HEADERS")
    const [headersText, headersFrom] = specificHeaders !== undefined
      ? [specificHeaders, `extraenvvars ${`OTEL_EXPORTER_OTLP_${S}_HEADERS`}`]
      : configuredHeaders !== "" || genericHeaders === undefined
      ? [configuredHeaders, "headers"]
      : [genericHeaders, "extraenvvars OTEL_EXPORTER_OTLP_HEADERS"]
    const headers = parseKeyValueList(headersText, { headers: true })
    if (Either.isLeft(headers)) {
      const key = headersFrom === "headers" ? "headers" : "extraenvvars"
      return yield* Effect.fail(ctx.initError(`${ctx.name}.${headersFrom}: ${headers.left}`, { key }))
    }
    if (protocol === "grpc") {
      // gRPC metadata names are stricter than HTTP's (lower-case letters, digits, "_.-"; "-bin" means binary)
      const invalid = Object.entries(headers.right).find(([k, v]) =>
        !/^[0-9a-z_.-]+$/.test(k.toLowerCase()) || k.toLowerCase().endsWith("-bin") || v.includes("\t")
      )?.[0]
      if (invalid !== undefined) {
        const key = headersFrom === "headers" ? "headers" : "extraenvvars"
        return yield* Effect.fail(ctx.initError(`${ctx.name}.${headersFrom}: "${invalid}" cannot be sent as gRPC metadata (names: lower-case letters, digits, "_.-"; values: no tab)`, { key }))
      }
    }

    const compressionVariable = extra[`OTEL_EXPORTER_OTLP_${S}_COMPRESSION`] !== undefined
      ? `OTEL_EXPORTER_OTLP_${S}_COMPRESSION`
      : "OTEL_EXPORTER_OTLP_COMPRESSION"
    const compressionText = (specific("COMPRESSION") ?? generic("COMPRESSION"))?.trim().toLowerCase()
    if (compressionText !== undefined && compressionText !== "gzip" && compressionText !== "none") {
      return yield* Effect.fail(badEntry(compressionVariable, "must be gzip or none"))
    }

    const pem = (setting: string) =>
      Effect.gen(function*() {
        const variable = extra[`OTEL_EXPORTER_OTLP_${S}_${setting}`] !== undefined ? `OTEL_EXPORTER_OTLP_${S}_${setting}` : `OTEL_EXPORTER_OTLP_${setting}`
        const path = specific(setting) ?? generic(setting)
        if (path === undefined || path.trim() === "") return undefined
        return yield* Effect.try({
          try: () => readFileSync(path.trim()),
          catch: (cause) => ctx.initError(`${ctx.name}.extraenvvars: ${variable}: cannot read ${path.trim()}: ${String(cause)}`, { key: "extraenvvars", cause })
        })
      })
    const ca = yield* pem("CERTIFICATE")
    const clientCert = yield* pem("CLIENT_CERTIFICATE")
    const clientKey = yield* pem("CLIENT_KEY")
    if ((clientCert === undefined) !== (clientKey === undefined)) {
      return yield* Effect.fail(badEntry(`OTEL_EXPORTER_OTLP_[${S}_]CLIENT_CERTIFICATE`, "and CLIENT_KEY must be given together"))
    }

    const resourceText = entry("OTEL_RESOURCE_ATTRIBUTES")
    const resourceAttributes = resourceText === undefined ? Either.right({}) : parseKeyValueList(resourceText, { headers: false })
    if (Either.isLeft(resourceAttributes)) return yield* Effect.fail(badEntry("OTEL_RESOURCE_ATTRIBUTES", resourceAttributes.left))

    const own: Record<string, string> = {}
    for (const name of ownVariables) {
      const value = entry(name)
      if (value !== undefined) own[name] = value
    }

    const ignored = Object.keys(extra).filter((name) => !used.has(name))
    if (ignored.length > 0) {
      yield* Effect.logWarning(
        `${ctx.name}.extraenvvars: ${ignored.join(", ")} ${ignored.length === 1 ? "has" : "have"} no effect in Sidekick, ` +
          `which never changes its process environment (see the README for the variables it applies)`
      )
    }
    yield* warnAboutSdkEnvironment(signal, ctx.name)

    return {
      signal,
      url,
      protocol,
      timeoutMillis: timeout === 0 ? defaultTimeoutMillis : timeout,
      headers: headers.right,
      compression: compressionText === "gzip" ? "gzip" : "none",
      checkCert: c.checkcert,
      tls: c.tls,
      ...(ca === undefined ? {} : { ca }),
      ...(clientCert === undefined ? {} : { clientCert }),
      ...(clientKey === undefined ? {} : { clientKey }),
      resourceAttributes: resourceAttributes.right,
      own
    } satisfies OtlpSettings
  })


/**
 * The SDK exporters still read the header variables of the process environment and add the headers the
 * section does not set (the one setting they take from the environment whatever they are given). Those
 * variables may be meant for Sidekick's own tracing: say so rather than send them to falco's collector unseen.
 */
const warnAboutSdkEnvironment = (signal: OtlpSignal, name: string): Effect.Effect<void> =>
  Effect.forEach(["OTEL_EXPORTER_OTLP_HEADERS", `OTEL_EXPORTER_OTLP_${signal.toUpperCase()}_HEADERS`], (variable) =>
    Config.option(Config.string(variable)).pipe(
      Effect.orElseSucceed(() => Option.none<string>()),
      Effect.flatMap((value) =>
        Option.isSome(value) && value.value.trim() !== ""
          ? Effect.logWarning(
            `${name}: ${variable} is set in the environment; the OpenTelemetry exporter adds its headers to ${name}'s requests too (those the ${name}.headers key does not set)`
          )
          : Effect.void
      )
    ), { discard: true })

// ---------------------------------------------------------------------------------------------------------------
// Exporter options
// ---------------------------------------------------------------------------------------------------------------

/** the options every OTLP/HTTP exporter class takes (traces, logs and metrics share them) */
export type HttpExporterOptions = NonNullable<ConstructorParameters<typeof ProtoTraceExporter>[0]>
/** the options every OTLP/gRPC exporter class takes */
export type GrpcExporterOptions = NonNullable<ConstructorParameters<typeof GrpcTraceExporter>[0]>
type Compression = NonNullable<HttpExporterOptions["compression"]>

/**
 * The agent of an output's OTLP/HTTP exporter, with the section's TLS settings (`checkcert: false` accepts any
 * certificate). Ours rather than the SDK's so that the output's finalizer closes its sockets (the exporter's
 * shutdown leaves them open) and so that OTEL_EXPORTER_OTLP_CERTIFICATE & co. of the process do not apply.
 */
export const httpAgent = (s: OtlpSettings): http.Agent =>
  s.url.startsWith("https:")
    ? new https.Agent({
      keepAlive: true,
      rejectUnauthorized: s.checkCert,
      ...(s.ca === undefined ? {} : { ca: s.ca }),
      ...(s.clientCert === undefined ? {} : { cert: s.clientCert }),
      ...(s.clientKey === undefined ? {} : { key: s.clientKey })
    })
    : new http.Agent({ keepAlive: true })

/** OTLP/HTTP exporter options: everything the SDK would otherwise take from the process environment is given, except headers (see above) */
export const httpExporterOptions = (s: OtlpSettings, agent: http.Agent): HttpExporterOptions => ({
  url: s.url,
  headers: { ...s.headers },
  timeoutMillis: s.timeoutMillis,
  compression: s.compression as Compression,
  httpAgentOptions: () => agent
})

/**
 * OTLP/gRPC exporter options, with falcosidekick's transport security: `checkcert: true` lets the URL's scheme
 * decide (https = TLS, verified; http = plaintext); `checkcert: false` means TLS without verification when
 * `tls` is true, plaintext otherwise (the Go SDK's WithInsecure), whatever the scheme. `grpc` is
 * @grpc/grpc-js, loaded by the caller.
 */
export const grpcExporterOptions = (grpc: Pick<typeof Grpc, "credentials" | "Metadata">, s: OtlpSettings): GrpcExporterOptions => {
  const metadata = new grpc.Metadata()
  for (const [k, v] of Object.entries(s.headers)) metadata.set(k, v)
  const secure = s.checkCert ? s.url.startsWith("https:") : s.tls
  const credentials = secure
    ? grpc.credentials.createSsl(s.ca ?? null, s.clientKey ?? null, s.clientCert ?? null, s.checkCert ? {} : {
      rejectUnauthorized: false,
      checkServerIdentity: () => undefined
    })
    : grpc.credentials.createInsecure()
  return { url: s.url, metadata, credentials, timeoutMillis: s.timeoutMillis, compression: s.compression as Compression }
}

/**
 * A signal's three SDK exporter classes, each behind a dynamic import of its package: only the protocol an
 * output uses is loaded, when it starts (the gRPC ones pull in @grpc/grpc-js).
 */
export interface ExporterClasses<E> {
  readonly grpc: () => Promise<(options: GrpcExporterOptions) => E>
  readonly json: () => Promise<(options: HttpExporterOptions) => E>
  readonly proto: () => Promise<(options: HttpExporterOptions) => E>
}

/**
 * The section's SDK exporter, shut down (then its HTTP agent closed) when the output's scope closes. An exporter
 * constructor's failure (a URL it cannot use...) refuses start-up; a package that cannot be loaded is a defect.
 */
export const otlpExporter = <E extends { shutdown(): Promise<void> }>(
  ctx: { readonly name: string; readonly initError: InitErrorOf },
  s: OtlpSettings,
  classes: ExporterClasses<E>
): Effect.Effect<E, OutputInitError, Scope.Scope> =>
  Effect.gen(function*() {
    const build = (construct: () => E) =>
      Effect.acquireRelease(
        Effect.try({
          try: construct,
          catch: (cause) => ctx.initError(`${ctx.name}: cannot build the OTLP exporter: ${cause instanceof Error ? cause.message : String(cause)}`, { cause })
        }),
        (exporter) => shutdownQuietly(`${ctx.name} exporter`, () => exporter.shutdown())
      )
    if (s.protocol === "grpc") {
      const [grpc, construct] = yield* Effect.promise(() => Promise.all([import("@grpc/grpc-js"), classes.grpc()]))
      return yield* build(() => construct(grpcExporterOptions(grpc, s)))
    }
    const construct = yield* Effect.promise(() => (s.protocol === "http/json" ? classes.json() : classes.proto()))
    const agent = yield* Effect.acquireRelease(Effect.sync(() => httpAgent(s)), (a) => Effect.sync(() => a.destroy()))
    const options = httpExporterOptions(s, agent)
    return yield* build(() => construct(options))
  })

// ---------------------------------------------------------------------------------------------------------------
// Exports
// ---------------------------------------------------------------------------------------------------------------

/** an export's outcome as the SDK reports it (`code` 0 is ExportResultCode.SUCCESS) */
export interface ExportResultLike {
  readonly code: number
  readonly error?: Error
}

/** what every SDK exporter offers: export these items, tell me how it went */
export interface ExporterLike<A> {
  export(items: A, done: (result: ExportResultLike) => void): void
}

/**
 * One export as one delivery attempt: it succeeds when the collector accepted the request, and fails with the
 * exporter's error otherwise. The callback comes once the request is answered, so a send that returns means
 * exported. (The SDK's span and log processors swallow this result into a diagnostic log, which is why the
 * outputs call their exporter themselves.)
 */
export const exportWith = <A>(
  exporter: ExporterLike<A>,
  items: A,
  failure: (error: unknown) => OutputError
): Effect.Effect<void, OutputError> =>
  Effect.async<void, OutputError>((resume) => {
    exporter.export(items, (result) => resume(result.code === 0 ? Effect.void : Effect.fail(failure(result.error))))
  })

/** gRPC status codes the OTLP specification calls retryable: CANCELLED, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, ABORTED, OUT_OF_RANGE, UNAVAILABLE, DATA_LOSS */
const retryableGrpcCodes: ReadonlySet<number> = new Set([1, 4, 8, 10, 11, 14, 15])
const grpcDeadlineExceeded = 4

/**
 * An export's failure as an attempt's error, classified as the team's rules want it:
 * - HTTP: the SDK fails with the status for an answer it does not retry (4xx: permanent; 500, 501...:
 *   retried); 429, 502, 503, 504 and connection errors it retries itself within `timeout`, and what still
 *   fails then is a Transport error (retried later by the Dispatcher), a timeout a Timeout;
 * - gRPC: the status code decides (the OTLP specification's retryable codes are retried, the others are
 *   permanent: INVALID_ARGUMENT, UNAUTHENTICATED, PERMISSION_DENIED, UNIMPLEMENTED...).
 */
export const exportFailure = (ctx: Pick<OutputContext, "error">, protocol: OtlpProtocol, error: unknown): OutputError => {
  const e = (typeof error === "object" && error !== null ? error : {}) as { readonly message?: unknown; readonly code?: unknown }
  const message = typeof e.message === "string" && e.message !== "" ? e.message : String(error)
  if (protocol === "grpc" && typeof e.code === "number") {
    const details = { status: e.code, cause: error }
    if (e.code === grpcDeadlineExceeded) return ctx.error("Timeout", `gRPC export: ${message}`, details)
    return ctx.error(retryableGrpcCodes.has(e.code) ? "Transport" : "Rejected", `gRPC export: ${message}`, details)
  }
  if (typeof e.code === "number") {
    return ctx.error("Status", `the collector answered ${e.code}${message === "" || message === "undefined" ? "" : ` ${message}`}`, {
      status: e.code
    })
  }
  if (message === "Request timed out") return ctx.error("Timeout", "OTLP export timed out", { cause: error })
  if (message === "Export failed with retryable status") {
    return ctx.error("Transport", "the collector kept answering with a retryable status (429, 502, 503 or 504)", { cause: error })
  }
  return ctx.error("Transport", `OTLP export: ${message}`, { cause: error })
}

/** close an SDK object at the end of the output's scope; a failure there is worth a warning, not a crash */
export const shutdownQuietly = (what: string, shutdown: () => Promise<void>): Effect.Effect<void> =>
  Effect.tryPromise(shutdown).pipe(
    Effect.catchAll((e) => Effect.logWarning(`${what}: shutdown failed: ${e.error instanceof Error ? e.error.message : String(e.error)}`))
  )
