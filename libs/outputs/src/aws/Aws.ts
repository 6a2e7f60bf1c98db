/**
 * What every AWS output shares (falcosidekick's `aws.*` keys, catalog §8.0), declared once and built once
 * however many AWS outputs are enabled: the region, credentials and endpoint of their SDK clients, the
 * start-up identity check, and how an SDK failure becomes an attempt's failure.
 *
 * Credentials:
 * - `aws.accesskeyid` + `aws.secretaccesskey` when set (both or neither);
 * - else the SDK's default chain: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/AWS_SESSION_TOKEN, AWS_PROFILE and
 *   the shared config/credentials files, SSO, IRSA web identity (AWS_ROLE_ARN + AWS_WEB_IDENTITY_TOKEN_FILE),
 *   ECS/EKS pod identity, EC2 instance metadata;
 * - with `aws.rolearn` (+ `aws.externalid`), either of those is only the source of an STS AssumeRole.
 * 🐞 falcosidekick at its current head parses these keys and ignores them (it only uses the SDK's chain);
 * before that it exported them to the SDK's env vars and assumed the role. We honour the keys and the chain.
 *
 * Region: `aws.region` (whose env var, AWS_REGION, is also the SDK's), else AWS_DEFAULT_REGION (which Go's
 * SDK reads), else the SDK's chain (shared config file, EC2 instance metadata). None refuses start-up.
 *
 * Endpoint: `aws.endpoint` (Sidekick's own key) replaces the endpoint of every AWS service, STS included
 * (LocalStack, a proxy, tests). Empty, the SDK's AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_<SERVICE> still work.
 *
 * Identity check (`aws.checkidentity`, default true): one sts:GetCallerIdentity at start-up. falcosidekick
 * logs a failure and disables every AWS output while the service runs on; we refuse to start, naming the
 * key: an output that is configured but silently off loses every event, a pod that does not start gets
 * noticed. `aws.checkidentity: false` starts without the check (local development, endpoints without STS).
 */
// types only: the SDK is loaded by `make`, when an AWS output is enabled
import type * as Sts from "@aws-sdk/client-sts"
import type * as SmithyRetry from "@smithy/core/retry"
import { Field, section } from "@sidekick/config"
import { defaultClassify, type OutputError, Verdict } from "@sidekick/delivery"
import { Context, Effect, Redacted } from "effect"
import { randomUUID } from "node:crypto"
import { defineShared, type OutputContext } from "../Definition.js"
import { isHttpUrl } from "../Endpoint.js"

export const AwsConfig = section("aws", {
  accesskeyid: Field.string(),
  secretaccesskey: Field.secret(),
  region: Field.string(),
  rolearn: Field.string(),
  externalid: Field.string(),
  checkidentity: Field.bool(true),
  /** Sidekick's: the endpoint of every AWS service ("" = AWS's, or AWS_ENDPOINT_URL[_<SERVICE>]) */
  endpoint: Field.string()
})
export type AwsConfig = typeof AwsConfig.Type

/** what an AWS SDK client accepts as credentials */
export type AwsCredentials = NonNullable<Sts.STSClientConfig["credentials"]>

/** the settings every AWS output's SDK client is built with: `new XxxClient(aws.clientConfig)` */
export interface AwsClientConfig {
  readonly region: string
  readonly credentials: AwsCredentials
  /** only when `aws.endpoint` is set: otherwise the SDK's (and its AWS_ENDPOINT_URL env vars) */
  readonly endpoint?: string
  /**
   * 1: the Dispatcher retries, with its backoff, maxage, circuit breaker and per-attempt metrics. SDK
   * retries inside an attempt would multiply the attempts (3 per Dispatcher attempt), spend the attempt's
   * timeout, and hide throttling from the circuit breaker.
   */
  readonly maxAttempts: number
}

export interface AwsShape {
  readonly clientConfig: AwsClientConfig
  /** the configured secrets' texts, kept out of error messages */
  readonly secrets: ReadonlyArray<string>
  /** the classification of every AWS output (`awsClassify` with the SDK's rules) */
  readonly classify: (error: OutputError) => Verdict
}

export class Aws extends Context.Tag("@sidekick/outputs/Aws")<Aws, AwsShape>() {}

/** the AWS SDK's name of an error, and what its services add to it */
interface SdkErrorLike {
  readonly name?: unknown
  readonly message?: unknown
  readonly code?: unknown
  readonly $fault?: unknown
  readonly $metadata?: { readonly httpStatusCode?: number }
}

const asSdkError = (u: unknown): SdkErrorLike & Error =>
  (u instanceof Error ? u : new Error(String(u))) as SdkErrorLike & Error

/** the text with every secret replaced */
const scrub = (text: string, secrets: ReadonlyArray<string>): string =>
  secrets.reduce((t, s) => (s === "" ? t : t.split(s).join("<redacted>")), text)

/** "AccessDeniedException: User ... is not authorized ..." (the SDK's message, secrets scrubbed) */
export const awsErrorText = (error: unknown, secrets: ReadonlyArray<string>): string => {
  const e = asSdkError(error)
  const name = typeof e.name === "string" && e.name !== "Error" ? `${e.name}: ` : ""
  const code = typeof e.code === "string" && e.code !== e.name ? ` (${e.code})` : ""
  return scrub(`${name}${String(e.message)}${code}`, secrets)
}

/**
 * One attempt's failure from an SDK failure: `Status` with the HTTP status when AWS answered, `Transport`
 * otherwise (connection, DNS, credentials source unreachable). The SDK error stays the cause, for `awsClassify`.
 */
export const awsError = (ctx: Pick<OutputContext, "error">, error: unknown, secrets: ReadonlyArray<string>): OutputError => {
  const status = asSdkError(error).$metadata?.httpStatusCode
  const text = awsErrorText(error, secrets)
  return status === undefined
    ? ctx.error("Transport", text, { cause: error })
    : ctx.error("Status", `${text} (HTTP ${status})`, { status, cause: error })
}

/**
 * The SDK's own error classification, the one its retry strategy uses (@smithy/core/retry), passed in
 * because it is loaded with the first AWS output.
 */
export type AwsRetryRules = Pick<typeof SmithyRetry, "isServerError" | "isThrottlingError" | "isTransientError">

/**
 * The SDK's own verdict on a failure it returned (`$retryable`, throttling codes such as ThrottlingException
 * that AWS JSON services answer with a 400, 5xx, clock skew corrected, timeouts and network codes): retried
 * or not. A failure without an HTTP answer (connection refused, credentials source down) is retried;
 * AccessDenied, validation errors, missing resources are not.
 */
export const awsRetryable = (rules: AwsRetryRules, error: unknown): boolean => {
  const e = asSdkError(error) as Parameters<AwsRetryRules["isThrottlingError"]>[0]
  if (e.$metadata?.httpStatusCode === undefined) return e.name !== "AbortError"
  return rules.isThrottlingError(e) || rules.isTransientError(e) || rules.isServerError(e)
}

/** the classification of every AWS output: the SDK's verdict when the failure came from the SDK */
export const awsClassify = (rules: AwsRetryRules) => (error: OutputError): Verdict =>
  error.cause === undefined ? defaultClassify(error) : awsRetryable(rules, error.cause) ? Verdict.retry : Verdict.drop

/**
 * One SDK call as one attempt: interrupting it (the Dispatcher's timeout) aborts the request; a failure
 * becomes an OutputError (`awsError`).
 */
export const awsCall = <A>(
  ctx: Pick<OutputContext, "error">,
  aws: AwsShape,
  call: (abortSignal: AbortSignal) => Promise<A>
): Effect.Effect<A, OutputError> =>
  Effect.tryPromise({ try: call, catch: (error) => awsError(ctx, error, aws.secrets) })

/** credentials are fetched again 5 minutes before they expire (the SDK's own margin) */
const refreshMargin = 5 * 60_000
const expiresSoon = (c: { readonly expiration?: Date }) => c.expiration !== undefined && c.expiration.getTime() - Date.now() < refreshMargin
const expires = (c: { readonly expiration?: Date }) => c.expiration !== undefined


export const AwsShared = defineShared({
  config: AwsConfig,
  tag: Aws,
  make: (c, ctx) =>
    Effect.gen(function*() {
      const secretAccessKey = Redacted.value(c.secretaccesskey)
      if (c.accesskeyid !== "" && secretAccessKey === "") {
        return yield* Effect.fail(ctx.initError("aws.accesskeyid is set without aws.secretaccesskey", { key: "secretaccesskey" }))
      }
      if (c.accesskeyid === "" && secretAccessKey !== "") {
        return yield* Effect.fail(ctx.initError("aws.secretaccesskey is set without aws.accesskeyid", { key: "accesskeyid" }))
      }
      if (c.endpoint !== "" && !isHttpUrl(c.endpoint)) {
        return yield* Effect.fail(ctx.initError(`aws.endpoint must be an http(s) URL, got ${JSON.stringify(c.endpoint)}`, { key: "endpoint" }))
      }
      const endpoint = c.endpoint === "" ? {} : { endpoint: c.endpoint }

      // the SDK is loaded here, when an AWS output is enabled, not with the registry (a failure to load is a defect);
      // @smithy/core holds the SDK's own credential cache and its own error classification
      const [sts, providers, { memoize }, retryRules] = yield* Effect.promise(() =>
        Promise.all([
          import("@aws-sdk/client-sts"),
          import("@aws-sdk/credential-providers"),
          import("@smithy/core/config"),
          import("@smithy/core/retry")
        ])
      )
      const region = c.region !== "" ? c.region : process.env["AWS_DEFAULT_REGION"] || (yield* sdkRegion(sts, endpoint))
      if (region === undefined) {
        return yield* Effect.fail(ctx.initError(
          "no AWS region: set aws.region (env AWS_REGION), AWS_DEFAULT_REGION, or region in the AWS config file; on EC2 the instance metadata gives it",
          { key: "region" }
        ))
      }

      const source: AwsCredentials = c.accesskeyid !== ""
        ? { accessKeyId: c.accesskeyid, secretAccessKey }
        : providers.fromNodeProviderChain()
      const credentials: AwsCredentials = c.rolearn === "" ? source : memoize(
        providers.fromTemporaryCredentials({
          masterCredentials: source,
          params: {
            RoleArn: c.rolearn,
            // falcosidekick's session name
            RoleSessionName: `session-${randomUUID()}`,
            ...(c.externalid === "" ? {} : { ExternalId: c.externalid })
          },
          clientConfig: { region, ...endpoint }
        }),
        expiresSoon,
        expires
      )
      const secrets = [secretAccessKey]

      if (c.checkidentity) {
        const identity = yield* Effect.acquireUseRelease(
          Effect.sync(() => new sts.STSClient({ region, credentials, ...endpoint })),
          (client) =>
            Effect.tryPromise({
              try: (abortSignal) => client.send(new sts.GetCallerIdentityCommand({}), { abortSignal }),
              catch: (error) =>
                ctx.initError(
                  `the AWS identity check (sts:GetCallerIdentity) failed: ${awsErrorText(error, secrets)}. ` +
                    "No AWS output can work without valid credentials; set aws.checkidentity to false to start without the check",
                  { key: "checkidentity" }
                )
            }),
          (client) => Effect.sync(() => client.destroy())
        )
        yield* Effect.logInfo(`AWS - identity ${identity.Arn ?? "?"} (account ${identity.Account ?? "?"}, region ${region})`)
      }

      return { clientConfig: { region, credentials, maxAttempts: 1, ...endpoint }, secrets, classify: awsClassify(retryRules) } satisfies AwsShape
    })
})

/** the region the SDK's own chain finds (AWS_REGION, the config file, EC2 instance metadata), or undefined */
const sdkRegion = (sts: typeof Sts, endpoint: { readonly endpoint?: string }): Effect.Effect<string | undefined> =>
  Effect.acquireUseRelease(
    Effect.sync(() => new sts.STSClient(endpoint)),
    (client) => Effect.orElseSucceed(Effect.tryPromise(() => client.config.region()), () => undefined),
    (client) => Effect.sync(() => client.destroy())
  )
