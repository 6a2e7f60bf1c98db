import { it } from "@effect/vitest"
import { HttpTransport } from "@sidekick/delivery"
import { eventWith, makeReceiver, type Receiver, type RecordedRequest, referenceEvent, referenceEventJson, type ScriptedResponse, withEnv } from "@sidekick/testing"
import { Effect, Either, Exit, Layer, Scope, TestClock } from "effect"
import { generateKeyPairSync, verify } from "node:crypto"
import { afterAll, beforeAll, describe, expect } from "vitest"
import { GlobalFieldKeys } from "../src/Definition.js"
import { Chronicle, chronicleBody, ChronicleConfig, chronicleUrl } from "../src/gcp/Chronicle.js"
import { cloudPlatformScope, decodeCredentials, GcpConfig, GcpShared } from "../src/gcp/Gcp.js"
import { config } from "./helpers.js"

const { privateKey, publicKey } = generateKeyPairSync("rsa", {
  modulusLength: 2048,
  privateKeyEncoding: { type: "pkcs8", format: "pem" },
  publicKeyEncoding: { type: "spki", format: "pem" }
})
const clientEmail = "falco@sidekick-test.iam.gserviceaccount.com"
const accessToken = "ya29.c.test-access-token"

/** a service-account key file whose token_uri is the fake token endpoint, as gcp.credentials takes it */
const credentialsFor = (tokenUri: string, patch: Readonly<Record<string, unknown>> = {}) =>
  Buffer.from(JSON.stringify({
    type: "service_account",
    project_id: "sidekick-test",
    private_key_id: "0123456789abcdef",
    private_key: privateKey,
    client_email: clientEmail,
    client_id: "1234567890",
    token_uri: tokenUri,
    ...patch
  })).toString("base64")

const tokenOk: ScriptedResponse = {
  status: 200,
  headers: { "content-type": "application/json" },
  body: JSON.stringify({ access_token: accessToken, expires_in: 3599, token_type: "Bearer" })
}

let rx: Receiver
const scope = Effect.runSync(Scope.make())
beforeAll(async () => {
  rx = await Effect.runPromise(Scope.extend(makeReceiver(), scope))
})
afterAll(() => Effect.runPromise(Scope.close(scope, Exit.void)))

/** the token endpoint at /token, Chronicle everywhere else */
const script = (chronicle: ScriptedResponse, token: ScriptedResponse = tokenOk) =>
  Effect.zipRight(rx.clear, rx.respondWith((r: RecordedRequest) => (r.path === "/token" ? token : chronicle)))


const ids = { projectid: "my-project", instanceid: "0a1b2c3d-instance", region: "europe-west12" }

const start = (tree: Readonly<Record<string, unknown>>, credentials = credentialsFor(`${rx.url}/token`)) =>
  Effect.map(
    Chronicle.make(config(ChronicleConfig, { ...ids, endpoint: rx.url, ...tree })).pipe(
      Effect.provide(GcpShared.layer(config(GcpConfig, { credentials }))),
      Effect.provide(HttpTransport.layer()),
      Effect.provide(GlobalFieldKeys.empty)
    ),
    (output) => {
      if (output.kind !== "single") throw new Error("Chronicle sends one event per request")
      return output
    }
  )

const importPath = "/v1beta/projects/my-project/locations/europe-west12/instances/0a1b2c3d-instance/logTypes/FALCO_IDS/logs:import"
const referenceData = Buffer.from(referenceEventJson).toString("base64")
const later = Date.parse("2024-05-06T10:25:00.750Z")


const decodeJwt = (jwt: string) => {
  const [header, payload, signature] = jwt.split(".")
  return {
    header: JSON.parse(Buffer.from(header!, "base64url").toString("utf8")) as Record<string, unknown>,
    payload: JSON.parse(Buffer.from(payload!, "base64url").toString("utf8")) as Record<string, unknown>,
    signedBy: (key: string) => verify("RSA-SHA256", Buffer.from(`${header}.${payload}`), key, Buffer.from(signature!, "base64url")),
    /** the same signature over another payload: what a verification that checks nothing would accept */
    tamperedSignedBy: (key: string) => verify("RSA-SHA256", Buffer.from(`${header}.${payload}x`), key, Buffer.from(signature!, "base64url"))
  }
}

describe("GCP Chronicle", () => {
  it("body: base64 of J(E′), logEntryTime at whole seconds, collectionTime now in UTC", () => {
    expect(chronicleBody(referenceEvent, later)).toBe(
      `{"inlineSource":{"logs":[{"collectionTime":"2024-05-06T10:25:00Z","data":"${referenceData}","logEntryTime":"2024-05-06T10:20:30Z"}]}}`
    )
    expect(Buffer.from(referenceData, "base64").toString("utf8")).toBe(referenceEventJson)
  })

  it("body: collectionTime is after logEntryTime as sent, even within the event's second or before it", () => {
    const at = (nowMillis: number, patch = {}) => JSON.parse(chronicleBody(eventWith(patch), nowMillis)).inlineSource.logs[0]
    // now = 10:20:30.900, the event 10:20:30.123: Go would send both as 10:20:30
    expect(at(Date.parse("2024-05-06T10:20:30.900Z"))).toMatchObject({ logEntryTime: "2024-05-06T10:20:30Z", collectionTime: "2024-05-06T10:20:31Z" })
    expect(at(Date.parse("2024-05-06T10:00:00Z"))).toMatchObject({ collectionTime: "2024-05-06T10:20:31Z" })
    expect(at(Date.parse("2024-05-06T10:20:31Z"))).toMatchObject({ collectionTime: "2024-05-06T10:20:31Z" })
    // the event's own offset is kept, as Go's Format does
    const offset = { time: "2024-05-06T12:20:30.5+02:00", timeUnixNanos: 1714990830500000000n }
    expect(at(later, offset)).toMatchObject({ logEntryTime: "2024-05-06T12:20:30+02:00", collectionTime: "2024-05-06T10:25:00Z" })
    expect(at(0, offset)).toMatchObject({ collectionTime: "2024-05-06T12:20:31+02:00" })
  })

  it("config: gcp.chronicle, enabled by projectid + instanceid + region, logtype FALCO_IDS, the regional URL", () => {
    expect(Chronicle.name).toBe("gcp.chronicle")
    expect(Chronicle.displayName).toBe("GCPChronicle")
    expect(Chronicle.sharedSection).toBe(GcpConfig)
    expect(ChronicleConfig.keys.map((k) => k.key).slice(0, 5)).toEqual([
      "gcp.chronicle.projectid", "gcp.chronicle.instanceid", "gcp.chronicle.region", "gcp.chronicle.logtype", "gcp.chronicle.endpoint"
    ])
    const c = config(ChronicleConfig, {})
    expect(c.logtype).toBe("FALCO_IDS")
    expect(Chronicle.enabled(c)).toBe(false)
    expect(Chronicle.enabled(config(ChronicleConfig, { projectid: "p", instanceid: "i" }))).toBe(false)
    expect(Chronicle.enabled(config(ChronicleConfig, {}, { GCP_CHRONICLE_PROJECTID: "p", GCP_CHRONICLE_INSTANCEID: "i", GCP_CHRONICLE_REGION: "us" }))).toBe(true)
    expect(chronicleUrl(config(ChronicleConfig, { ...ids }))).toBe(`https://chronicle.europe-west12.rep.googleapis.com${importPath}`)
    expect(chronicleUrl(config(ChronicleConfig, { ...ids, endpoint: "http://proxy:8080/", logtype: "MY_LOGS" }))).toBe(
      `http://proxy:8080${importPath.replace("FALCO_IDS", "MY_LOGS")}`
    )
    expect(GcpConfig.keys.map((k) => [k.key, k.envVar, k.field.secret])).toEqual([["gcp.credentials", "GCP_CREDENTIALS", true]])
  })

  it.scoped("imports the event with a token from the service account's JWT flow (signed with its key, sent to its token_uri)", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(later)
      yield* script({ status: 200, body: "{}" })
      const output = yield* start({})
      expect(output.name).toBe("gcp.chronicle")
      yield* output.send(referenceEvent)
      yield* output.send(referenceEvent)
      const [token, first, second] = yield* rx.waitFor(3)
      expect(rx.count).toBe(3)

      expect(token!.method).toBe("POST")
      expect(token!.path).toBe("/token")
      const form = new URLSearchParams(token!.body)
      expect(form.get("grant_type")).toBe("urn:ietf:params:oauth:grant-type:jwt-bearer")
      const jwt = decodeJwt(form.get("assertion")!)
      expect(jwt.header).toMatchObject({ alg: "RS256" })
      expect(jwt.payload).toMatchObject({ iss: clientEmail, scope: cloudPlatformScope, aud: `${rx.url}/token` })
      expect(jwt.signedBy(publicKey)).toBe(true)
      expect(jwt.tamperedSignedBy(publicKey)).toBe(false)

      for (const r of [first!, second!]) {
        expect(r.method).toBe("POST")
        expect(r.path).toBe(importPath)
        expect(r.headers["authorization"]).toBe(`Bearer ${accessToken}`)
        expect(r.headers["content-type"]).toBe("application/json")
        expect(r.body).toBe(
          `{"inlineSource":{"logs":[{"collectionTime":"2024-05-06T10:25:00Z","data":"${referenceData}","logEntryTime":"2024-05-06T10:20:30Z"}]}}`
        )
      }
    }))

  it.scoped("any 2xx is success; 403 permanent, 500 retried; the token never in the error", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(later)
      yield* script({ status: 203, body: "{}" })
      const output = yield* start({})
      yield* output.send(referenceEvent)

      yield* script({ status: 403, body: `{"error":{"code":403,"message":"Permission denied on resource"}}` })
      const denied = yield* Effect.flip(output.send(referenceEvent))
      expect(denied).toMatchObject({ reason: "Status", status: 403 })
      expect(denied.retryable).toBe(false)
      expect(denied.message).toContain("Permission denied")
      expect(denied.message).not.toContain(accessToken)

      yield* script({ status: 500, body: "backend error" })
      const down = yield* Effect.flip(output.send(referenceEvent))
      expect(down).toMatchObject({ reason: "Status", status: 500 })
      expect(down.retryable).toBe(true)
    }))

  it.scoped("a token endpoint refusing the key is a permanent failure; one unreachable is retried", () =>
    Effect.gen(function*() {
      yield* script({ status: 200, body: "{}" }, {
        status: 400,
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ error: "invalid_grant", error_description: "Invalid JWT Signature." })
      })
      const output = yield* start({})
      const refused = yield* Effect.flip(output.send(referenceEvent))
      expect(refused).toMatchObject({ reason: "Status", status: 400 })
      expect(refused.retryable).toBe(false)
      expect(refused.message).toContain("invalid_grant: Invalid JWT Signature.")
      expect(refused.message).not.toContain("PRIVATE KEY")
      expect(rx.requests.every((r) => r.path === "/token")).toBe(true)

      const unreachable = yield* start({}, credentialsFor("http://127.0.0.1:1/token"))
      const down = yield* Effect.flip(unreachable.send(referenceEvent))
      expect(down.reason).toBe("Transport")
      expect(down.retryable).toBe(true)
    }))

  it.scoped("ids that do not match falcosidekick's pattern refuse start-up naming the key", () =>
    Effect.gen(function*() {
      yield* script({ status: 200 })
      for (const [key, value] of [["region", "us/../x"], ["projectid", "-p"], ["instanceid", "a.b"], ["logtype", ""]] as const) {
        const error = yield* Effect.flip(start({ [key]: value }))
        expect(error._tag).toBe("OutputInitError")
        expect(error.key).toBe(`gcp.chronicle.${key}`)
        expect(error.message).toContain("^[a-zA-Z0-9][a-zA-Z0-9_-]*$")
      }
      expect((yield* Effect.flip(start({ endpoint: "proxy:8080" }))).key).toBe("gcp.chronicle.endpoint")
      expect(rx.count).toBe(0)
    }))

  it("gcp.credentials: base64 of a JSON object, decoded as Go's StdEncoding does", () => {
    const json = credentialsFor("http://x/token")
    expect(Either.isRight(decodeCredentials(json))).toBe(true)
    expect(Either.isRight(decodeCredentials(json.replace(/(.{76})/g, "$1\n")))).toBe(true)
    const padded = Buffer.from(`{"a":1}`).toString("base64")
    expect(padded).toBe("eyJhIjoxfQ==")
    expect(Either.isRight(decodeCredentials(padded))).toBe(true)
    // Go's StdEncoding wants the padding
    expect(Either.isLeft(decodeCredentials("eyJhIjoxfQ"))).toBe(true)
    expect(Either.isLeft(decodeCredentials("{\"type\":\"service_account\"}"))).toBe(true)
    expect(Either.isLeft(decodeCredentials(Buffer.from("not json").toString("base64")))).toBe(true)
    expect(Either.isLeft(decodeCredentials(Buffer.from("[1]").toString("base64")))).toBe(true)
  })

  it.scoped("bad gcp.credentials refuse start-up naming the key, without quoting it", () =>
    Effect.gen(function*() {
      const build = (credentials: string) => Effect.flip(Layer.build(GcpShared.layer(config(GcpConfig, { credentials }))))
      const raw = JSON.stringify({ type: "service_account", private_key: privateKey, client_email: clientEmail })
      const notBase64 = yield* build(raw)
      expect(notBase64).toMatchObject({ _tag: "OutputInitError", output: "gcp", key: "gcp.credentials" })
      expect(notBase64.message).not.toContain("PRIVATE KEY")
      const noEmail = yield* build(credentialsFor("http://x/token", { client_email: undefined }))
      expect(noEmail.key).toBe("gcp.credentials")
      expect(noEmail.message).toContain("client_email")
      expect(noEmail.message).not.toContain("PRIVATE KEY")
      expect((yield* build(credentialsFor("file:///etc/passwd"))).message).toContain("token_uri")
    }))

  it.scoped("empty gcp.credentials and no Application Default Credentials: start-up refused naming gcp.credentials", () =>
    Effect.gen(function*() {
      yield* withEnv({
        GOOGLE_APPLICATION_CREDENTIALS: undefined,
        CLOUDSDK_CONFIG: "/nonexistent/sidekick-test/gcloud",
        HOME: "/nonexistent/sidekick-test",
        METADATA_SERVER_DETECTION: "none"
      })
      const error = yield* Effect.flip(Layer.build(GcpShared.layer(config(GcpConfig, {}))))
      expect(error).toMatchObject({ _tag: "OutputInitError", key: "gcp.credentials" })
      expect(error.message).toContain("Application Default Credentials")
    }))
})
