import { it, layer } from "@effect/vitest"
import { referenceEvent, referenceEventJson, status } from "@sidekick/testing"
import { Effect } from "effect"
import { describe, expect } from "vitest"
import { OpenObserve, openObserveBody, OpenObserveConfig, openObserveUrl } from "../src/OpenObserve.js"
import { chosenHeaders, config, jsonHeaders, Peer, peer, startSingle } from "./helpers.js"

const password = "o2-Pa55word"
const basic = (user: string, pass: string) => `Basic ${Buffer.from(`${user}:${pass}`).toString("base64")}`

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

  layer(Peer.layer)((it) => {
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
