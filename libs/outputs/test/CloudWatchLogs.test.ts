import { it } from "@effect/vitest"
import { HttpTransport } from "@sidekick/delivery"
import { eventWith, makeReceiver, type Receiver, type RecordedRequest, referenceEvent, referenceEventJson, type ScriptedResponse, withEnv } from "@sidekick/testing"
import { Effect, Exit, Scope } from "effect"
import { createHash, createHmac } from "node:crypto"
import { afterAll, beforeAll, describe, expect } from "vitest"
import { AwsConfig, AwsShared } from "../src/aws/Aws.js"
import { GlobalFieldKeys } from "../src/Definition.js"
import { CloudWatchLogs, CloudWatchLogsConfig, cloudWatchLogEvent, defaultLogStream, refusal } from "../src/aws/CloudWatchLogs.js"
import { config } from "./helpers.js"

const accessKeyId = "AKIAIOSFODNN7EXAMPLE"
const secretAccessKey = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
const region = "eu-west-3"

// ---------------------------------------------------------------------------------------------------------------------
// a fake AWS: CloudWatch Logs (AWS JSON 1.1, by X-Amz-Target) and STS (Query protocol, by Action)

/** the operation a request calls: "Logs_20140328.PutLogEvents", "sts:AssumeRole" */
const operation = (r: RecordedRequest): string =>
  r.headers["x-amz-target"] ?? `sts:${new URLSearchParams(r.body).get("Action") ?? "?"}`

const awsJson = (status: number, value: unknown): ScriptedResponse => ({
  status,
  body: JSON.stringify(value),
  headers: { "content-type": "application/x-amz-json-1.1", "x-amzn-requestid": "0f7e-request" }
})
const logsError = (status: number, type: string, message: string, extra: object = {}) => awsJson(status, { __type: type, message, ...extra })

const stsNs = `xmlns="https://sts.amazonaws.com/doc/2011-06-15/"`
const tempKeyId = "ASIAXAMPLETEMPORARY1"
const tempSecret = "tEmPoRaRy/SeCrEt+KeY/0123456789abcdefghij"
const tempToken = "FwoGZXIvYXdzEXAMPLE-session-token"
const assumeRoleOk: ScriptedResponse = {
  status: 200,
  headers: { "content-type": "text/xml" },
  body: `<AssumeRoleResponse ${stsNs}><AssumeRoleResult><Credentials><AccessKeyId>${tempKeyId}</AccessKeyId>` +
    `<SecretAccessKey>${tempSecret}</SecretAccessKey><SessionToken>${tempToken}</SessionToken>` +
    `<Expiration>2099-01-01T00:00:00Z</Expiration></Credentials><AssumedRoleUser><Arn>arn:aws:sts::123456789012:assumed-role/falco/s</Arn>` +
    `<AssumedRoleId>AROAEXAMPLE:s</AssumedRoleId></AssumedRoleUser></AssumeRoleResult>` +
    `<ResponseMetadata><RequestId>r-1</RequestId></ResponseMetadata></AssumeRoleResponse>`
}

/** answers by operation; an operation without an answer gets a 400 so that the test sees it */
const fakeAws = (answers: Readonly<Record<string, ScriptedResponse | ((r: RecordedRequest) => ScriptedResponse)>>) => (r: RecordedRequest) => {
  const answer = answers[operation(r)]
  return answer === undefined ? logsError(400, "UnexpectedOperation", operation(r)) : typeof answer === "function" ? answer(r) : answer
}

// ---------------------------------------------------------------------------------------------------------------------
// SigV4, recomputed here from the recorded request (an independent check of what the SDK signed)

const sha256Hex = (data: string | Buffer) => createHash("sha256").update(data).digest("hex")
const hmac = (key: string | Buffer, data: string) => createHmac("sha256", key).update(data).digest()

interface Authorization {
  readonly accessKeyId: string
  readonly date: string
  readonly region: string
  readonly service: string
  readonly signedHeaders: ReadonlyArray<string>
  readonly signature: string
}

const parseAuthorization = (header: string | undefined): Authorization => {
  const m = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, SignedHeaders=([^,]+), Signature=([0-9a-f]{64})$/.exec(header ?? "")
  if (m === null) throw new Error(`not a SigV4 Authorization header: ${header}`)
  return { accessKeyId: m[1]!, date: m[2]!, region: m[3]!, service: m[4]!, signedHeaders: m[5]!.split(";"), signature: m[6]! }
}

/** whether the request carries a valid SigV4 signature by this secret */
const signedWith = (r: RecordedRequest, secret: string): boolean => {
  const auth = parseAuthorization(r.headers["authorization"])
  const [path = "/", query = ""] = r.path.split("?")
  const canonicalHeaders = auth.signedHeaders.map((h) => `${h}:${(r.headers[h] ?? "").trim().replace(/\s+/g, " ")}\n`).join("")
  const canonicalRequest = [
    r.method,
    path,
    query.split("&").filter((q) => q !== "").sort().join("&"),
    canonicalHeaders,
    auth.signedHeaders.join(";"),
    r.headers["x-amz-content-sha256"] ?? sha256Hex(r.rawBody)
  ].join("\n")
  const scope = `${auth.date}/${auth.region}/${auth.service}/aws4_request`
  const stringToSign = ["AWS4-HMAC-SHA256", r.headers["x-amz-date"] ?? "", scope, sha256Hex(canonicalRequest)].join("\n")
  const key = hmac(hmac(hmac(hmac(`AWS4${secret}`, auth.date), auth.region), auth.service), "aws4_request")
  return hmac(key, stringToSign).toString("hex") === auth.signature
}

// ---------------------------------------------------------------------------------------------------------------------

let rx: Receiver
const scope = Effect.runSync(Scope.make())
beforeAll(async () => {
  rx = await Effect.runPromise(Scope.extend(makeReceiver(), scope))
})
afterAll(() => Effect.runPromise(Scope.close(scope, Exit.void)))

/** the shared aws.* section pointing at the fake, without the identity check unless asked */
const awsConfig = (extra: Readonly<Record<string, unknown>> = {}) =>
  config(AwsConfig, { accesskeyid: accessKeyId, secretaccesskey: secretAccessKey, region, endpoint: rx.url, checkidentity: false, ...extra })


const start = (c: Readonly<Record<string, unknown>>, aws = awsConfig()) =>
  Effect.map(
    CloudWatchLogs.make(config(CloudWatchLogsConfig, c)).pipe(
      Effect.provide(AwsShared.layer(aws)),
      Effect.provide(HttpTransport.layer()),
      Effect.provide(GlobalFieldKeys.empty)
    ),
    (output) => {
      if (output.kind !== "single") throw new Error("CloudWatch Logs sends one event per request")
      return output
    }
  )

const script = (answers: Parameters<typeof fakeAws>[0]) => Effect.zipRight(rx.clear, rx.respondWith(fakeAws(answers)))


const putOk = awsJson(200, { nextSequenceToken: "49612" })

/** the PutLogEvents body the SDK sends for the reference event (members in the API model's order) */
const putBody = (stream: string, extra = "") =>
  `{"logGroupName":"falco","logStreamName":"${stream}","logEvents":[{"timestamp":1714990830123,"message":${JSON.stringify(referenceEventJson)}}]${extra}}`

describe("AWS CloudWatch Logs", () => {
  it("log event: J(E′) at the event time in milliseconds, truncated toward zero like Go", () => {
    expect(cloudWatchLogEvent(referenceEvent)).toEqual({ message: referenceEventJson, timestamp: 1714990830123 })
    expect(cloudWatchLogEvent(eventWith({ time: "1969-12-31T23:59:59.9985Z", timeUnixNanos: -1_500_000n })).timestamp).toBe(-1)
  })

  it("config: section aws.cloudwatchlogs, enabled by loggroup, falcosidekick's display name", () => {
    expect(CloudWatchLogs.name).toBe("aws.cloudwatchlogs")
    expect(CloudWatchLogs.displayName).toBe("AWSCloudWatchLogs")
    expect(CloudWatchLogsConfig.keys[0]!.key).toBe("aws.cloudwatchlogs.loggroup")
    expect(CloudWatchLogs.sharedSection).toBe(AwsConfig)
    const c = config(CloudWatchLogsConfig, {})
    expect(c.logstream).toBe("")
    expect(c.minimumpriority).toBe("")
    expect(CloudWatchLogs.enabled(c)).toBe(false)
    expect(CloudWatchLogs.enabled(config(CloudWatchLogsConfig, { loggroup: "falco" }))).toBe(true)
    expect(config(CloudWatchLogsConfig, { loggroup: "falco", logstream: "s" }, { AWS_CLOUDWATCHLOGS_LOGSTREAM: "env" }).logstream).toBe("env")
    expect(CloudWatchLogs.enabled(config(CloudWatchLogsConfig, {}, { AWS_CLOUDWATCHLOGS_LOGGROUP: "falco" }))).toBe(true)
  })

  it("refusal: CloudWatch's rejectedLogEventsInfo for a one-event batch", () => {
    expect(refusal(undefined)).toBeUndefined()
    expect(refusal({})).toBeUndefined()
    expect(refusal({ tooNewLogEventStartIndex: 0 })).toContain("future")
    expect(refusal({ tooOldLogEventEndIndex: 0 })).toContain("14 days")
    expect(refusal({ expiredLogEventEndIndex: 0 })).toContain("retention")
  })

  it.scoped("without logstream: CreateLogStream falcosidekick-logstream once, then PutLogEvents, SigV4-signed", () =>
    Effect.gen(function*() {
      yield* script({ "Logs_20140328.CreateLogStream": awsJson(200, {}), "Logs_20140328.PutLogEvents": putOk })
      const output = yield* start({ loggroup: "falco" })
      expect(output.name).toBe("aws.cloudwatchlogs")
      yield* output.send(referenceEvent)
      yield* output.send(referenceEvent)
      const [create, put, again] = yield* rx.waitFor(3)
      expect([create, put, again].map((r) => operation(r!))).toEqual([
        "Logs_20140328.CreateLogStream",
        "Logs_20140328.PutLogEvents",
        "Logs_20140328.PutLogEvents"
      ])
      expect(create!.body).toBe(`{"logGroupName":"falco","logStreamName":"${defaultLogStream}"}`)
      expect(put!.method).toBe("POST")
      expect(put!.path).toBe("/")
      expect(put!.body).toBe(putBody(defaultLogStream))
      expect(JSON.parse(put!.body).logEvents[0].message).toBe(referenceEventJson)
      expect(put!.headers["content-type"]).toBe("application/x-amz-json-1.1")
      for (const r of [create!, put!]) {
        const auth = parseAuthorization(r.headers["authorization"])
        expect(auth).toMatchObject({ accessKeyId, region, service: "logs" })
        expect(auth.signedHeaders).toEqual(expect.arrayContaining(["host", "x-amz-date", "x-amz-target", "content-type"]))
        expect(r.headers["x-amz-date"]).toMatch(/^\d{8}T\d{6}Z$/)
        expect(auth.date).toBe(r.headers["x-amz-date"]!.slice(0, 8))
        expect(signedWith(r, secretAccessKey)).toBe(true)
        expect(signedWith(r, "another secret")).toBe(false)
        expect(r.headers["x-amz-security-token"]).toBeUndefined()
      }
    }))

  it.scoped("a log stream that already exists is reused; a configured logstream is never created", () =>
    Effect.gen(function*() {
      yield* script({
        "Logs_20140328.CreateLogStream": logsError(400, "ResourceAlreadyExistsException", "The specified log stream already exists"),
        "Logs_20140328.PutLogEvents": putOk
      })
      const created = yield* start({ loggroup: "falco" })
      yield* created.send(referenceEvent)
      yield* created.send(referenceEvent)
      expect((yield* rx.waitFor(3)).map(operation)).toEqual([
        "Logs_20140328.CreateLogStream",
        "Logs_20140328.PutLogEvents",
        "Logs_20140328.PutLogEvents"
      ])

      yield* script({ "Logs_20140328.PutLogEvents": putOk })
      const configured = yield* start({ loggroup: "falco", logstream: "node-1" })
      yield* configured.send(referenceEvent)
      const [put] = yield* rx.waitFor(1)
      expect(operation(put!)).toBe("Logs_20140328.PutLogEvents")
      expect(put!.body).toBe(putBody("node-1"))
      expect(rx.count).toBe(1)
    }))

  it.scoped("a CreateLogStream refused fails the attempt; the next attempt creates it again", () =>
    Effect.gen(function*() {
      yield* script({ "Logs_20140328.CreateLogStream": logsError(400, "AccessDeniedException", "not authorized to perform: logs:CreateLogStream") })
      const output = yield* start({ loggroup: "falco" })
      const error = yield* Effect.flip(output.send(referenceEvent))
      expect(error.status).toBe(400)
      expect(error.message).toContain("AccessDeniedException")
      expect(output.classify!(error)._tag).toBe("Drop")
      yield* script({ "Logs_20140328.CreateLogStream": awsJson(200, {}), "Logs_20140328.PutLogEvents": putOk })
      yield* output.send(referenceEvent)
      expect((yield* rx.waitFor(2)).map(operation)).toEqual(["Logs_20140328.CreateLogStream", "Logs_20140328.PutLogEvents"])
    }))

  it.scoped("AccessDenied (400) is permanent, 500 and throttling retried, a refused connection retried; no secret in errors", () =>
    Effect.gen(function*() {
      // a peer that echoes the secret back must not get it into our message
      yield* script({ "Logs_20140328.PutLogEvents": logsError(400, "AccessDeniedException", `User is not authorized (key ${secretAccessKey})`) })
      const output = yield* start({ loggroup: "falco", logstream: "s" })
      const denied = yield* Effect.flip(output.send(referenceEvent))
      expect(denied.reason).toBe("Status")
      expect(denied.status).toBe(400)
      expect(denied.message).toContain("AccessDeniedException: User is not authorized")
      expect(denied.message).not.toContain(secretAccessKey)
      expect(output.classify!(denied)._tag).toBe("Drop")

      yield* script({ "Logs_20140328.PutLogEvents": logsError(500, "ServiceUnavailableException", "try again") })
      const unavailable = yield* Effect.flip(output.send(referenceEvent))
      expect(unavailable.status).toBe(500)
      expect(output.classify!(unavailable)._tag).toBe("Retry")

      yield* script({ "Logs_20140328.PutLogEvents": logsError(400, "ThrottlingException", "Rate exceeded") })
      const throttled = yield* Effect.flip(output.send(referenceEvent))
      expect(throttled.status).toBe(400)
      expect(output.classify!(throttled)._tag).toBe("Retry")

      yield* script({ "Logs_20140328.PutLogEvents": logsError(400, "ResourceNotFoundException", "The specified log group does not exist.") })
      const missing = yield* Effect.flip(output.send(referenceEvent))
      expect(output.classify!(missing)._tag).toBe("Drop")
      // one attempt per send: the SDK does not retry behind the Dispatcher's back
      expect(rx.count).toBe(1)

      const unreachable = yield* start({ loggroup: "falco", logstream: "s" }, awsConfig({ endpoint: "http://127.0.0.1:1" }))
      const refused = yield* Effect.flip(unreachable.send(referenceEvent))
      expect(refused.reason).toBe("Transport")
      expect(output.classify!(refused)._tag).toBe("Retry")
      expect(refused.message).not.toContain(secretAccessKey)
    }))

  it.scoped("InvalidSequenceTokenException: sent again at once with the expected token; DataAlreadyAccepted counts as delivered", () =>
    Effect.gen(function*() {
      yield* rx.clear
      yield* rx.respondWith(
        logsError(400, "InvalidSequenceTokenException", "The given sequenceToken is invalid", { expectedSequenceToken: "4961234" }),
        putOk
      )
      const output = yield* start({ loggroup: "falco", logstream: "s" })
      yield* output.send(referenceEvent)
      const [first, second] = yield* rx.waitFor(2)
      expect(first!.body).toBe(putBody("s"))
      expect(second!.body).toBe(putBody("s", `,"sequenceToken":"4961234"`))

      yield* rx.clear
      yield* rx.respondWith(logsError(400, "InvalidSequenceTokenException", "again", { expectedSequenceToken: "1" }))
      const raced = yield* Effect.flip(output.send(referenceEvent))
      expect(rx.count).toBe(2)
      expect(output.classify!(raced)._tag).toBe("Retry")

      yield* script({ "Logs_20140328.PutLogEvents": logsError(400, "DataAlreadyAcceptedException", "already accepted", { expectedSequenceToken: "2" }) })
      yield* output.send(referenceEvent)
    }))

  it.scoped("an event CloudWatch refuses in a 200 (rejectedLogEventsInfo) is a permanent failure", () =>
    Effect.gen(function*() {
      yield* script({ "Logs_20140328.PutLogEvents": awsJson(200, { rejectedLogEventsInfo: { tooOldLogEventEndIndex: 0 } }) })
      const output = yield* start({ loggroup: "falco", logstream: "s" })
      const error = yield* Effect.flip(output.send(referenceEvent))
      expect(error.reason).toBe("Rejected")
      expect(error.message).toContain("14 days")
      expect(output.classify!(error)._tag).toBe("Drop")
    }))

  it.scoped("rolearn: AssumeRole with RoleArn and ExternalId, signed by the configured keys; its credentials sign PutLogEvents", () =>
    Effect.gen(function*() {
      yield* script({ "sts:AssumeRole": assumeRoleOk, "Logs_20140328.PutLogEvents": putOk })
      const roleArn = "arn:aws:iam::123456789012:role/falco"
      const output = yield* start({ loggroup: "falco", logstream: "s" }, awsConfig({ rolearn: roleArn, externalid: "ext-42" }))
      yield* output.send(referenceEvent)
      yield* output.send(referenceEvent)
      const [assume, put, again] = yield* rx.waitFor(3)
      expect(rx.count).toBe(3)
      expect(operation(assume!)).toBe("sts:AssumeRole")
      const params = new URLSearchParams(assume!.body)
      expect(params.get("RoleArn")).toBe(roleArn)
      expect(params.get("ExternalId")).toBe("ext-42")
      expect(params.get("RoleSessionName")).toMatch(/^session-[0-9a-f-]{36}$/)
      expect(parseAuthorization(assume!.headers["authorization"])).toMatchObject({ accessKeyId, region, service: "sts" })
      expect(signedWith(assume!, secretAccessKey)).toBe(true)
      for (const r of [put!, again!]) {
        expect(operation(r)).toBe("Logs_20140328.PutLogEvents")
        expect(parseAuthorization(r.headers["authorization"])).toMatchObject({ accessKeyId: tempKeyId, region, service: "logs" })
        expect(r.headers["x-amz-security-token"]).toBe(tempToken)
        expect(signedWith(r, tempSecret)).toBe(true)
        expect(signedWith(r, secretAccessKey)).toBe(false)
      }
    }))

  it.scoped("without aws.endpoint the SDK's AWS_ENDPOINT_URL_CLOUDWATCH_LOGS still applies", () =>
    Effect.gen(function*() {
      yield* script({ "Logs_20140328.PutLogEvents": putOk })
      yield* withEnv({ AWS_ENDPOINT_URL_CLOUDWATCH_LOGS: rx.url })
      const output = yield* start({ loggroup: "falco", logstream: "s" }, awsConfig({ endpoint: "" }))
      yield* output.send(referenceEvent)
      const [put] = yield* rx.waitFor(1)
      expect(put!.body).toBe(putBody("s"))
    }))
})
