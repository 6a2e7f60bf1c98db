import { it, layer } from "@effect/vitest"
import { makeReceiver, type Receiver, referenceEvent, referenceEventJson, type Responder, status } from "@sidekick/testing"
import { Context, Effect, Layer } from "effect"
import { describe, expect } from "vitest"
import { OpenObserve, openObserveBody, OpenObserveConfig, openObserveUrl } from "../src/OpenObserve.js"
import { config, jsonHeaders, startSingle } from "./helpers.js"

const password = "o2-Pa55word"
const basic = (user: string, pass: string) => `Basic ${Buffer.from(`${user}:${pass}`).toString("base64")}`

/** the headers the output chose: the connection's own (host, connection, content-length) left out */
const chosenHeaders = (headers: Readonly<Record<string, string>>) =>
  Object.fromEntries(Object.entries(headers).filter(([k]) => k !== "host" && k !== "connection" && k !== "content-length"))

/** one recording receiver for the whole file; each test scripts it afresh */
class Peer extends Context.Tag("OpenObserve.test/Peer")<Peer, Receiver>() {}
const peer = (...responses: Array<Responder>) =>
  Effect.gen(function*() {
    const rx = yield* Peer
    yield* rx.clear
    yield* rx.respondWith(...responses)
    return rx
  })

const accepted = status(200, "{\"code\":200,\"status\":[{\"name\":\"falco\",\"successful\":1,\"failed\":0}]}")

describe("OpenObserve", () => {
  it("body: the event JSON plus a newline (one NDJSON line); URL: /api/{organizationname}/{streamname}/_multi", () => {
    expect(openObserveBody(referenceEvent)).toBe(referenceEventJson + "\n")
    expect(openObserveUrl({ hostport: "http://o2:5080", organizationname: "default", streamname: "falco" })).toBe(
      "http://o2:5080/api/default/falco/_multi"
    )
  })

  it("config: enabled by hostport; falcosidekick's defaults; the +H keys", () => {
    expect(OpenObserveConfig.keys[0]!.key).toBe("openobserve.hostport")
    const c = config(OpenObserveConfig, {})
    expect(c).toMatchObject({ organizationname: "default", streamname: "falco", username: "", checkcert: true, mutualtls: false, maxconcurrentrequests: 1 })
    expect(OpenObserve.enabled(c)).toBe(false)
    expect(OpenObserve.enabled(config(OpenObserveConfig, {}, { OPENOBSERVE_HOSTPORT: "http://o2:5080" }))).toBe(true)
  })

  layer(Layer.scoped(Peer, makeReceiver()))((it) => {
    it.scoped("POSTs to /api/{org}/{stream}/_multi with Basic auth and the custom headers", () =>
      Effect.gen(function*() {
        const rx = yield* peer(accepted)
        const c = config(
          OpenObserveConfig,
          { hostport: rx.url, organizationname: "sec", streamname: "falco_events", username: "root@example.com", password, customheaders: { "X-Org": "a" } },
          { OPENOBSERVE_CUSTOMHEADERS: "X-Env:yes" }
        )
        const output = yield* startSingle(OpenObserve, c)
        expect(output.name).toBe("openobserve")
        yield* output.send(referenceEvent)
        const [r] = yield* rx.waitFor(1)
        expect(r!.method).toBe("POST")
        expect(r!.path).toBe("/api/sec/falco_events/_multi")
        expect(chosenHeaders(r!.headers)).toEqual({
          ...jsonHeaders,
          authorization: basic("root@example.com", password),
          "x-org": "a",
          "x-env": "yes"
        })
        expect(r!.body).toBe(referenceEventJson + "\n")
      }))

    it.scoped("defaults: /api/default/falco/_multi without auth; a custom Authorization header replaces Basic auth", () =>
      Effect.gen(function*() {
        const rx = yield* peer(accepted)
        yield* (yield* startSingle(OpenObserve, config(OpenObserveConfig, { hostport: rx.url }))).send(referenceEvent)
        const token = config(OpenObserveConfig, {
          hostport: rx.url,
          username: "u",
          password,
          customheaders: { Authorization: "Bearer o2-token" }
        })
        yield* (yield* startSingle(OpenObserve, token)).send(referenceEvent)
        const [plain, custom] = yield* rx.waitFor(2)
        expect(plain!.path).toBe("/api/default/falco/_multi")
        expect(plain!.headers["authorization"]).toBeUndefined()
        expect(custom!.headers["authorization"]).toBe("Bearer o2-token")
      }))

    it.scoped("a 4xx is permanent and a 5xx retryable; neither message shows the password", () =>
      Effect.gen(function*() {
        const rx = yield* peer(status(400, "{\"code\":400,\"message\":\"bad stream name\"}"), status(502))
        const output = yield* startSingle(OpenObserve, config(OpenObserveConfig, { hostport: rx.url, username: "u", password }))
        const refused = yield* Effect.flip(output.send(referenceEvent))
        expect([refused.reason, refused.status, refused.retryable]).toEqual(["Status", 400, false])
        expect(refused.message).toContain("bad stream name")
        const gateway = yield* Effect.flip(output.send(referenceEvent))
        expect([gateway.reason, gateway.status, gateway.retryable]).toEqual(["Status", 502, true])
        expect(refused.message + gateway.message).not.toContain(password)
      }))
  })
})
