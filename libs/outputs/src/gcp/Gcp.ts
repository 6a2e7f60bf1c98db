/**
 * What every GCP output shares (falcosidekick's `gcp.credentials`), declared once and built once however
 * many GCP outputs are enabled: the Google credentials, through google-auth-library.
 *
 * `gcp.credentials` is a service-account key file (or any Google credentials JSON) in base64, as
 * falcosidekick takes it; empty means Application Default Credentials (GOOGLE_APPLICATION_CREDENTIALS,
 * gcloud's application_default_credentials.json, GKE workload identity / the metadata server). Either is
 * checked at start-up: a value that is not base64 of a credentials JSON, or no ADC at all, refuses to start
 * naming `gcp.credentials` (falcosidekick disables the GCP outputs).
 *
 * One token source with the cloud-platform scope serves every GCP output (falcosidekick asks Pub/Sub and
 * Storage for narrower scopes; IAM roles, not scopes, decide what a service account may do).
 *
 * A service account's `token_uri` is honoured, as Go's golang.org/x/oauth2/google does for falcosidekick
 * (the token request goes there and the JWT's audience is it): google-auth-library always posts to
 * https://oauth2.googleapis.com/token, so its transport is redirected for such a key. No library option does it.
 */
import { Field, section } from "@sidekick/config"
import type { OutputError } from "@sidekick/delivery"
import { Context, Effect, Either, Redacted } from "effect"
// types only: the library is loaded by `make`, when a GCP output is enabled
import type { gaxios, GoogleAuth, JWTInput } from "google-auth-library"
import { defineShared, type OutputContext } from "../Definition.js"
import { isHttpUrl } from "../Endpoint.js"

export const GcpConfig = section("gcp", {
  /** base64 of a credentials JSON; "" = Application Default Credentials */
  credentials: Field.secret()
})
export type GcpConfig = typeof GcpConfig.Type

export const cloudPlatformScope = "https://www.googleapis.com/auth/cloud-platform"

/** where google-auth-library always sends a service account's token request */
const googleTokenUrl = "https://oauth2.googleapis.com/token"

export interface GcpShape {
  /** the credentials of every GCP output (scope cloud-platform); tokens are cached and refreshed by the library */
  readonly auth: GoogleAuth
  /** true when `gcp.credentials` gave them (Cloud Storage requires that, as falcosidekick does); false: ADC */
  readonly fromKey: boolean
}

export class Gcp extends Context.Tag("@sidekick/outputs/Gcp")<Gcp, GcpShape>() {}

/** Go's base64.StdEncoding.DecodeString: padded standard alphabet, line breaks ignored */
const standardBase64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/

/** the credentials JSON in `gcp.credentials`, or why it is not one (never quoting it: it holds a private key) */
export const decodeCredentials = (encoded: string): Either.Either<JWTInput & Record<string, unknown>, string> => {
  const compact = encoded.replace(/[\r\n]/g, "")
  if (!standardBase64.test(compact)) return Either.left("gcp.credentials is not standard base64 (of the credentials JSON file)")
  let parsed: unknown
  try {
    parsed = JSON.parse(Buffer.from(compact, "base64").toString("utf8"))
  } catch {
    return Either.left("gcp.credentials is base64, but not of a JSON document (the credentials file)")
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    return Either.left("gcp.credentials is base64 of JSON, but not of a JSON object (the credentials file)")
  }
  return Either.right(parsed as JWTInput & Record<string, unknown>)
}


/** a transport sending the library's token requests to `tokenUri` instead of Google's fixed URL */
const redirectTokenRequests = (library: typeof gaxios, tokenUri: string): gaxios.Gaxios => {
  const transporter = new library.Gaxios()
  transporter.interceptors.request.add({
    resolved: (options) => {
      if (String(options.url) === googleTokenUrl) options.url = new URL(tokenUri)
      return Promise.resolve(options)
    }
  })
  return transporter
}

const errorText = (error: unknown): string => (error instanceof Error ? error.message : String(error))

export const GcpShared = defineShared({
  config: GcpConfig,
  tag: Gcp,
  make: (c, ctx) =>
    Effect.gen(function*() {
      // the library is loaded here, when a GCP output is enabled, not with the registry (a failure to load is a defect)
      const library = yield* Effect.promise(() => import("google-auth-library"))
      const encoded = Redacted.value(c.credentials)
      if (encoded === "") {
        const auth = new library.GoogleAuth({ scopes: [cloudPlatformScope] })
        yield* Effect.tryPromise({
          try: () => auth.getClient(),
          catch: (error) =>
            ctx.initError(
              `gcp.credentials is empty and no Application Default Credentials were found (GOOGLE_APPLICATION_CREDENTIALS, ` +
                `gcloud's application_default_credentials.json, the metadata server): ${errorText(error)}`,
              { key: "credentials" }
            )
        })
        return { auth, fromKey: false } satisfies GcpShape
      }
      const decoded = decodeCredentials(encoded)
      if (Either.isLeft(decoded)) return yield* Effect.fail(ctx.initError(decoded.left, { key: "credentials" }))
      const json = decoded.right
      const tokenUri = json.type === "service_account" && typeof json["token_uri"] === "string" ? json["token_uri"] : googleTokenUrl
      if (!isHttpUrl(tokenUri)) {
        return yield* Effect.fail(ctx.initError("the token_uri of the service account in gcp.credentials is not an http(s) URL", { key: "credentials" }))
      }
      const auth = new library.GoogleAuth({
        credentials: json,
        scopes: [cloudPlatformScope],
        ...(tokenUri === googleTokenUrl ? {} : { clientOptions: { transporter: redirectTokenRequests(library.gaxios, tokenUri), additionalClaims: { aud: tokenUri } } })
      })
      // builds the client from the JSON (no request): a key without client_email or private_key fails here
      yield* Effect.tryPromise({
        try: () => auth.getClient(),
        catch: (error) => ctx.initError(`gcp.credentials is not usable credentials: ${errorText(error)}`, { key: "credentials" })
      })
      return { auth, fromKey: true } satisfies GcpShape
    })
})

/** what a failed token request tells: the HTTP status of the token endpoint when it answered */
interface TokenErrorLike {
  readonly status?: unknown
  readonly response?: { readonly status?: unknown }
}

/**
 * A bearer token for one request (google-auth-library caches it and refreshes it before it expires). A
 * token endpoint's refusal (revoked key, disabled account: 4xx) is permanent like any 4xx, its 5xx and a
 * network failure retried. The library's error is not kept as the cause: its request holds the signed JWT.
 */
export const gcpAccessToken = (ctx: Pick<OutputContext, "error">, gcp: GcpShape): Effect.Effect<string, OutputError> =>
  Effect.tryPromise({
    try: () => gcp.auth.getAccessToken(),
    catch: (error) => {
      const e = (typeof error === "object" && error !== null ? error : {}) as TokenErrorLike
      const status = typeof e.status === "number" ? e.status : typeof e.response?.status === "number" ? e.response.status : undefined
      const message = `getting a Google access token failed: ${errorText(error)}`
      return status === undefined ? ctx.error("Transport", message) : ctx.error("Status", `${message} (HTTP ${status})`, { status })
    }
  }).pipe(
    Effect.flatMap((token) =>
      typeof token === "string" && token !== "" ? Effect.succeed(token) : Effect.fail(ctx.error("Transport", "Google returned no access token"))
    )
  )
