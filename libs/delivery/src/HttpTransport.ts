/**
 * The one HTTP machinery every HTTP output shares: falcosidekick's default headers, customheaders,
 * basic auth, checkcert, mutual TLS, proxy from the environment, a client span per request with
 * `traceparent` propagation, and falcosidekick's success rule (200, 201, 202, 204).
 */
import { Context, type Effect, Layer, type Scope } from "effect"
import { makeClient, type TlsFiles } from "./internal/httpTransport.js"
import type { OutputError, OutputInitError } from "./Output.js"

export interface HttpClientOptions {
  /** the output's name, used in errors and spans */
  readonly output: string
  /** false: do not verify the server certificate (falcosidekick `checkcert`) */
  readonly checkCert: boolean
  /** present the client certificate from mutualtlsclient.* / mutualtlsfilespath (falcosidekick `mutualtls`) */
  readonly mutualTls: boolean
  /** set on every request after the defaults and the request's own headers (falcosidekick `customheaders`) */
  readonly customHeaders?: Readonly<Record<string, string>>
  readonly basicAuth?: { readonly user: string; readonly password: string }
  /** default "application/json; charset=utf-8" */
  readonly contentType?: string
}

export interface HttpRequestSpec {
  /** default POST */
  readonly method?: "POST" | "PUT" | "GET"
  readonly url: string
  readonly body?: string | Uint8Array
  /** per-request headers, applied after the defaults and before customHeaders */
  readonly headers?: Readonly<Record<string, string>>
  /** gzip the body, send Content-Encoding: gzip */
  readonly gzip?: boolean
}

export interface HttpResponseInfo {
  readonly status: number
  readonly headers: Readonly<Record<string, string>>
  readonly body: string
}

export interface OutputHttpClient {
  /**
   * One attempt. Succeeds on 200, 201, 202 and 204 (falcosidekick's rule); any other status fails with
   * OutputError reason "Status" (Retry-After parsed), a network failure with reason "Transport".
   */
  readonly send: (request: HttpRequestSpec) => Effect.Effect<HttpResponseInfo, OutputError>
  /** One attempt that returns whatever status came back; only a network failure fails. */
  readonly exchange: (request: HttpRequestSpec) => Effect.Effect<HttpResponseInfo, OutputError>
}

export class HttpTransport extends Context.Tag("@sidekick/delivery/HttpTransport")<HttpTransport, {
  /** an HTTP client for one output; its connection pool lives as long as the scope */
  readonly client: (options: HttpClientOptions) => Effect.Effect<OutputHttpClient, OutputInitError, Scope.Scope>
  /** the global TLS files, for the outputs that open their own TLS sockets (Logstash) */
  readonly tls: TlsFiles
}>() {
  /** the real transport (undici), with the global TLS files */
  static readonly layer = (tls: TlsFiles = noTls): Layer.Layer<HttpTransport> =>
    Layer.succeed(HttpTransport, { client: makeClient(tls), tls })
}

const noTls: TlsFiles = { caCertFile: "", mutualTls: { certFile: "", keyFile: "", caCertFile: "" } }

export type { TlsFiles }
export { isSuccessStatus, originOf, parseRetryAfter, statusError } from "./internal/httpTransport.js"
