import { it, layer } from "@effect/vitest"
import { LosslessNumber } from "@sidekick/event"
import { eventWith, referenceEvent, referenceEventJson, status } from "@sidekick/testing"
import { Effect, Either, Redacted } from "effect"
import { describe, expect } from "vitest"
import { Splunk, splunkBody, SplunkConfig } from "../src/Splunk.js"
import { chosenHeaders, config, decode, jsonHeaders, Peer, peer, startSingle } from "./helpers.js"

const token = "5f7e2a9c-1b3d-4e6f-8a0b-c2d4e6f8a0b2"

/** catalog §3.7: the event embedded as an object, with the trailing newline of Go's json.Encoder */
const catalogExample = `{"event":${referenceEventJson},"sourcetype":"falcosidekick"}\n`

describe("Splunk", () => {
  it("payload: the catalog's example, byte for byte", () => {
    expect(splunkBody(referenceEvent)).toBe(catalogExample)
  })

  it("payload: int64 digits survive; an event without tags or hostname leaves them out as falcosidekick does", () => {
    const e = eventWith({ output_fields: { "evt.time": new LosslessNumber("1714990830123456789") }, tags: [], hostname: "" })
    expect(splunkBody(e)).toBe(
      `{"event":{"uuid":"3f0c0b0e-5c1a-4d2e-9f3a-1b2c3d4e5f60","output":"${referenceEvent.output}","priority":"Critical","rule":"Terminal shell in container","time":"2024-05-06T10:20:30.123456789Z","output_fields":{"evt.time":1714990830123456789},"source":"syscall"},"sourcetype":"falcosidekick"}\n`
    )
  })

  it("config: host first and enabling; checkcert only; customheaders from YAML and SPLUNK_CUSTOMHEADERS k:v,k:v", () => {
    expect(SplunkConfig.keys.map((k) => k.key).slice(0, 4)).toEqual(["splunk.host", "splunk.token", "splunk.customheaders", "splunk.checkcert"])
    expect(SplunkConfig.keys.map((k) => k.key)).not.toContain("splunk.mutualtls")
    expect(SplunkConfig.keys.map((k) => k.key)).not.toContain("splunk.maxconcurrentrequests")
    const c = config(SplunkConfig, {})
    expect(c.checkcert).toBe(true)
    expect(Splunk.enabled(c)).toBe(false)
    expect(Splunk.enabled(config(SplunkConfig, { token }))).toBe(false)
    const fromEnv = config(SplunkConfig, { customheaders: { "X-Index": "main" } }, {
      SPLUNK_HOST: "http://splunk:8088/services/collector/event",
      SPLUNK_CUSTOMHEADERS: "X-Env:yes,X-Index:falco"
    })
    expect(Splunk.enabled(fromEnv)).toBe(true)
    expect(Redacted.value(fromEnv.customheaders)).toEqual({ "X-Index": "falco", "X-Env": "yes" })
    const bad = decode(SplunkConfig, { host: "http://splunk" }, { SPLUNK_CUSTOMHEADERS: `X-Token:${token}:x` })
    expect(Either.isLeft(bad)).toBe(true)
    if (Either.isLeft(bad)) {
      expect(bad.left.message).toContain("splunk.customheaders")
      expect(bad.left.message).not.toContain(token)
    }
  })

  it.scoped("a host that is not an http(s) URL refuses start-up naming splunk.host", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(startSingle(Splunk, config(SplunkConfig, { host: "splunk:8088", token })))
      expect(error.key).toBe("splunk.host")
      expect(error.message).not.toContain(token)
    }))

  layer(Peer.layer)((it) => {
    it.scoped("POSTs to host with Authorization: Splunk <token> and the custom headers; minimumpriority is read", () =>
      Effect.gen(function*() {
        const rx = yield* peer(status(200, "{\"text\":\"Success\",\"code\":0}"))
        const c = config(
          SplunkConfig,
          { host: `${rx.url}/services/collector/event`, token, minimumpriority: "alert" },
          { SPLUNK_CUSTOMHEADERS: "X-Env:yes" }
        )
        const output = yield* startSingle(Splunk, c)
        expect(output.name).toBe("splunk")
        expect(output.minimumPriority).toBe(7)
        expect(output.maxConcurrentRequests).toBe(1)
        yield* output.send(referenceEvent)
        const [r] = yield* rx.waitFor(1)
        expect(r!.method).toBe("POST")
        expect(r!.path).toBe("/services/collector/event")
        expect(chosenHeaders(r!.headers)).toEqual({ ...jsonHeaders, authorization: `Splunk ${token}`, "x-env": "yes" })
        expect(r!.body).toBe(catalogExample)
      }))

    it.scoped("the token wins over a custom Authorization header; without a token the custom one is sent", () =>
      Effect.gen(function*() {
        const rx = yield* peer(status(200))
        const customheaders = { authorization: "Basic c3BsdW5rOnNwbHVuaw==" }
        const withToken = yield* startSingle(Splunk, config(SplunkConfig, { host: rx.url, token, customheaders }))
        yield* withToken.send(referenceEvent)
        const tokenless = yield* startSingle(Splunk, config(SplunkConfig, { host: rx.url, customheaders }))
        yield* tokenless.send(referenceEvent)
        const none = yield* startSingle(Splunk, config(SplunkConfig, { host: rx.url }))
        yield* none.send(referenceEvent)
        const [a, b, n] = yield* rx.waitFor(3)
        expect(a!.headers["authorization"]).toBe(`Splunk ${token}`)
        expect(b!.headers["authorization"]).toBe("Basic c3BsdW5rOnNwbHVuaw==")
        expect(n!.headers["authorization"]).toBeUndefined()
      }))

    it.scoped("a 4xx is permanent, a 5xx retryable; neither message shows the token", () =>
      Effect.gen(function*() {
        const rx = yield* peer(status(403, "{\"text\":\"Invalid token\",\"code\":4}"), status(503, "{\"text\":\"Server is busy\",\"code\":9}"))
        const output = yield* startSingle(Splunk, config(SplunkConfig, { host: rx.url, token }))
        const forbidden = yield* Effect.flip(output.send(referenceEvent))
        expect(forbidden.status).toBe(403)
        expect(forbidden.retryable).toBe(false)
        expect(forbidden.message).toContain("Invalid token")
        expect(forbidden.message).not.toContain(token)
        const busy = yield* Effect.flip(output.send(referenceEvent))
        expect(busy.status).toBe(503)
        expect(busy.retryable).toBe(true)
        expect(rx.requests).toHaveLength(2)
      }))
  })
})
