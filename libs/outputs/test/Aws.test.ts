import { it } from "@effect/vitest"
import { Field, makeSource, unknownKeys } from "@sidekick/config"
import { HttpTransport, type OutputError } from "@sidekick/delivery"
import { makeReceiver, type Receiver, type RecordedRequest, type ScriptedResponse, withEnv } from "@sidekick/testing"
import * as retryRules from "@smithy/core/retry"
import { Context, Effect, Either, Exit, Layer, Option, Scope } from "effect"
import { afterAll, beforeAll, describe, expect } from "vitest"
import { Aws, awsClassify, awsError, AwsConfig, awsRetryable, AwsShared } from "../src/aws/Aws.js"
import { CloudWatchLogs } from "../src/aws/CloudWatchLogs.js"
import { define, GlobalFieldKeys, type OutputContext } from "../src/Definition.js"
import { outputSection } from "../src/OutputConfig.js"
import { config, decode } from "./helpers.js"

const accessKeyId = "AKIAIOSFODNN7EXAMPLE"
const secretAccessKey = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
const region = "ap-southeast-2"

const stsNs = `xmlns="https://sts.amazonaws.com/doc/2011-06-15/"`
const xml = (status: number, body: string): ScriptedResponse => ({ status, body, headers: { "content-type": "text/xml" } })
const identityOk = xml(
  200,
  `<GetCallerIdentityResponse ${stsNs}><GetCallerIdentityResult><Arn>arn:aws:iam::123456789012:user/falco</Arn>` +
    `<UserId>AIDAEXAMPLE</UserId><Account>123456789012</Account></GetCallerIdentityResult>` +
    `<ResponseMetadata><RequestId>r-1</RequestId></ResponseMetadata></GetCallerIdentityResponse>`
)
/** STS's answer to a key it does not know; this peer echoes the secret, which must not reach our message */
const identityRefused = xml(
  403,
  `<ErrorResponse ${stsNs}><Error><Type>Sender</Type><Code>InvalidClientTokenId</Code>` +
    `<Message>The security token included in the request is invalid (${secretAccessKey})</Message></Error><RequestId>r-2</RequestId></ErrorResponse>`
)


const action = (r: RecordedRequest) => new URLSearchParams(r.body).get("Action")

let rx: Receiver
const scope = Effect.runSync(Scope.make())
beforeAll(async () => {
  rx = await Effect.runPromise(Scope.extend(makeReceiver(), scope))
})
afterAll(() => Effect.runPromise(Scope.close(scope, Exit.void)))

const awsTree = (extra: Readonly<Record<string, unknown>> = {}) => ({
  accesskeyid: accessKeyId,
  secretaccesskey: secretAccessKey,
  region,
  endpoint: rx.url,
  ...extra
})

/** build the shared section's layer, as the app does when an AWS output starts */
const buildShared = (tree: Readonly<Record<string, unknown>>) => Layer.build(AwsShared.layer(config(AwsConfig, tree)))

/** a second AWS output, to show that the shared part is built once for both */
const AwsTestSink = define({
  config: outputSection("aws.testsink", { target: Field.string() }),
  displayName: "AWSTestSink",
  enabled: (c) => c.target !== "",
  shared: AwsShared,
  make: () => Effect.succeed({ kind: "single", send: () => Effect.void })
})

const ctx: Pick<OutputContext, "error"> = { error: (reason, message, details) => ({ reason, message, ...details }) as unknown as OutputError }
const sdkError = (name: string, status: number | undefined, extra: object = {}) =>
  Object.assign(new Error(`${name} happened`), { name, ...(status === undefined ? {} : { $metadata: { httpStatusCode: status } }), ...extra })

describe("AWS shared settings", () => {
  it("config: falcosidekick's aws.* keys, their env vars and defaults; the secret redacted; Sidekick's aws.endpoint", () => {
    expect(AwsConfig.path).toBe("aws")
    expect(AwsConfig.keys.map((k) => [k.key, k.envVar])).toEqual([
      ["aws.accesskeyid", "AWS_ACCESSKEYID"],
      ["aws.secretaccesskey", "AWS_SECRETACCESSKEY"],
      ["aws.region", "AWS_REGION"],
      ["aws.rolearn", "AWS_ROLEARN"],
      ["aws.externalid", "AWS_EXTERNALID"],
      ["aws.checkidentity", "AWS_CHECKIDENTITY"],
      ["aws.endpoint", "AWS_ENDPOINT"]
    ])
    const c = config(AwsConfig, {})
    expect(c.checkidentity).toBe(true)
    expect(c.region).toBe("")
    expect(c.endpoint).toBe("")
    expect(config(AwsConfig, {}, { AWS_CHECKIDENTITY: "false", AWS_REGION: "eu-west-1" })).toMatchObject({ checkidentity: false, region: "eu-west-1" })
    expect(String(config(AwsConfig, { secretaccesskey: secretAccessKey }).secretaccesskey)).not.toContain(secretAccessKey)
    const bad = decode(AwsConfig, { checkidentity: "maybe" })
    expect(Either.isLeft(bad) && bad.left.message).toContain("aws.checkidentity")
  })

  it("the config reader knows the shared keys through the outputs that share them", () => {
    const source = makeSource({ tree: { aws: { region, checkidentity: false, endpoint: "http://x", cloudwatchlogs: { loggroup: "g" }, typo: 1 } } })
    const sections = [CloudWatchLogs.sharedSection!, CloudWatchLogs.section]
    expect(unknownKeys(source, sections)).toEqual(["aws.typo"])
    expect(AwsTestSink.sharedSection).toBe(CloudWatchLogs.sharedSection)
  })

  it.scoped("identity check: one signed sts:GetCallerIdentity at start-up", () =>
    Effect.gen(function*() {
      yield* rx.clear
      yield* rx.respondWith(identityOk)
      const context = yield* buildShared(awsTree())
      const [call] = yield* rx.waitFor(1)
      expect(rx.count).toBe(1)
      expect(call!.method).toBe("POST")
      expect(call!.body).toBe("Action=GetCallerIdentity&Version=2011-06-15")
      expect(call!.headers["authorization"]).toMatch(
        new RegExp(`^AWS4-HMAC-SHA256 Credential=${accessKeyId}/\\d{8}/${region}/sts/aws4_request, SignedHeaders=[^,]+, Signature=[0-9a-f]{64}$`)
      )
      expect(call!.headers["x-amz-date"]).toMatch(/^\d{8}T\d{6}Z$/)
      expect(Context.get(context, Aws).clientConfig).toMatchObject({ region, maxAttempts: 1, endpoint: rx.url })
    }))

  it.scoped("identity check failed: start-up refused naming aws.checkidentity, the SDK's reason given, no secret", () =>
    Effect.gen(function*() {
      yield* rx.clear
      yield* rx.respondWith(identityRefused)
      const error = yield* Effect.flip(buildShared(awsTree()))
      expect(error._tag).toBe("OutputInitError")
      expect(error.output).toBe("aws")
      expect(error.key).toBe("aws.checkidentity")
      expect(error.message).toContain("sts:GetCallerIdentity")
      expect(error.message).toContain("InvalidClientTokenId: The security token included in the request is invalid")
      expect(error.message).toContain("aws.checkidentity to false")
      expect(error.message).not.toContain(secretAccessKey)
      expect(rx.count).toBe(1)
    }))

  it.scoped("checkidentity false: no STS call at start-up", () =>
    Effect.gen(function*() {
      yield* rx.clear
      yield* rx.respondWith(identityRefused)
      yield* buildShared(awsTree({ checkidentity: false }))
      expect(rx.count).toBe(0)
    }))

  it.scoped("several AWS outputs from one configuration: the shared part (and its identity check) is built once", () =>
    Effect.gen(function*() {
      yield* rx.clear
      yield* rx.respondWith(identityOk)
      const source = makeSource({ tree: { aws: { ...awsTree(), cloudwatchlogs: { loggroup: "falco", logstream: "s" }, testsink: { target: "t" } } } })
      const enabled = (yield* Effect.forEach([CloudWatchLogs, AwsTestSink], (d) => d.read(source))).flatMap(Option.toArray)
      expect(enabled.map((o) => o.displayName)).toEqual(["AWSCloudWatchLogs", "AWSTestSink"])
      const layers = enabled.flatMap((o) => (o.kind === "events" ? [o.layer] : []))
      yield* Layer.build(Layer.mergeAll(layers[0]!, ...layers.slice(1))).pipe(
        Effect.provide(HttpTransport.layer()),
        Effect.provide(GlobalFieldKeys.empty)
      )
      expect(rx.requests.map(action)).toEqual(["GetCallerIdentity"])
    }))

  it.scoped("a disabled AWS output still has its shared keys checked", () =>
    Effect.gen(function*() {
      const source = makeSource({ tree: { aws: { checkidentity: "maybe" } } })
      const error = yield* Effect.flip(CloudWatchLogs.read(source))
      expect(error.message).toContain("aws.checkidentity")
    }))

  it.scoped("bad settings refuse start-up naming the key", () =>
    Effect.gen(function*() {
      const noSecret = yield* Effect.flip(buildShared({ accesskeyid: accessKeyId, region, checkidentity: false }))
      expect(noSecret.key).toBe("aws.secretaccesskey")
      const noKeyId = yield* Effect.flip(buildShared({ secretaccesskey: secretAccessKey, region, checkidentity: false }))
      expect(noKeyId.key).toBe("aws.accesskeyid")
      expect(noKeyId.message).not.toContain(secretAccessKey)
      const endpoint = yield* Effect.flip(buildShared(awsTree({ endpoint: "127.0.0.1:4566", checkidentity: false })))
      expect(endpoint.key).toBe("aws.endpoint")
    }))

  it.scoped("no region anywhere refuses start-up naming aws.region", () =>
    Effect.gen(function*() {
      // no AWS_REGION/AWS_DEFAULT_REGION, no config file, no instance metadata
      yield* withEnv({
        AWS_REGION: undefined,
        AWS_DEFAULT_REGION: undefined,
        AWS_PROFILE: undefined,
        AWS_CONFIG_FILE: "/nonexistent/sidekick-test/config",
        AWS_SHARED_CREDENTIALS_FILE: "/nonexistent/sidekick-test/credentials",
        AWS_EC2_METADATA_DISABLED: "true"
      })
      const error = yield* Effect.flip(buildShared(awsTree({ region: "", checkidentity: false })))
      expect(error.key).toBe("aws.region")
      yield* withEnv({ AWS_DEFAULT_REGION: "us-west-2" })
      const context = yield* buildShared(awsTree({ region: "", checkidentity: false }))
      expect(Context.get(context, Aws).clientConfig.region).toBe("us-west-2")
    }))

  it("classification: the SDK's verdict (throttling, 5xx, network retried; AccessDenied, validation not)", () => {
    const verdict = (e: Error) => awsClassify(retryRules)(awsError(ctx, e, []))._tag
    expect(verdict(sdkError("ThrottlingException", 400))).toBe("Retry")
    expect(verdict(sdkError("TooManyRequestsException", 429))).toBe("Retry")
    expect(verdict(sdkError("InternalFailure", 500))).toBe("Retry")
    expect(verdict(sdkError("ServiceUnavailable", 503))).toBe("Retry")
    expect(verdict(sdkError("Whatever", 400, { $retryable: {} }))).toBe("Retry")
    expect(verdict(Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" }))).toBe("Retry")
    expect(verdict(sdkError("CredentialsProviderError", undefined))).toBe("Retry")
    expect(verdict(sdkError("AccessDeniedException", 400))).toBe("Drop")
    expect(verdict(sdkError("AccessDenied", 403))).toBe("Drop")
    expect(verdict(sdkError("ValidationException", 400))).toBe("Drop")
    expect(verdict(sdkError("ResourceNotFoundException", 400))).toBe("Drop")
    expect(awsRetryable(retryRules, sdkError("AbortError", undefined))).toBe(false)
    const e = awsError(ctx, sdkError("AccessDeniedException", 400), [])
    expect(e).toMatchObject({ reason: "Status", status: 400, message: "AccessDeniedException: AccessDeniedException happened (HTTP 400)" })
    expect(awsError(ctx, new Error(`bad ${secretAccessKey}`), [secretAccessKey]).message).toBe("bad <redacted>")
  })
})
