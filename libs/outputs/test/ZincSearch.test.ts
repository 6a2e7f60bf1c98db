import { it, layer } from "@effect/vitest"
import { referenceEvent, referenceEventJson, status } from "@sidekick/testing"
import { Effect } from "effect"
import { describe, expect } from "vitest"
import { ZincSearch, zincSearchBody, ZincSearchConfig, zincSearchUrl } from "../src/ZincSearch.js"
import { chosenHeaders, config, jsonHeaders, Peer, peer, startSingle } from "./helpers.js"

const password = "zinc-Pa55word"

describe("ZincSearch", () => {
  it("body: the event JSON plus a newline; URL: {hostport}/api/{index}/_doc", () => {
    expect(zincSearchBody(referenceEvent)).toBe(referenceEventJson + "\n")
    expect(zincSearchUrl({ hostport: "http://zinc:4080", index: "falco" })).toBe("http://zinc:4080/api/falco/_doc")
  })

  it("config: enabled by hostport; falcosidekick's defaults; checkcert only (+C)", () => {
    expect(ZincSearchConfig.keys[0]!.key).toBe("zincsearch.hostport")
    const c = config(ZincSearchConfig, {})
    expect(c).toMatchObject({ hostport: "", index: "falco", username: "", checkcert: true })
    expect(ZincSearch.enabled(c)).toBe(false)
    expect(ZincSearch.enabled(config(ZincSearchConfig, {}, { ZINCSEARCH_HOSTPORT: "http://zinc:4080" }))).toBe(true)
    const keys = ZincSearchConfig.keys.map((k) => k.key)
    expect(keys).not.toContain("zincsearch.mutualtls")
    expect(keys).not.toContain("zincsearch.maxconcurrentrequests")
  })

  layer(Peer.layer)((it) => {
    it.scoped("POSTs the event to /api/{index}/_doc with Basic auth when username and password are set", () =>
      Effect.gen(function*() {
        const rx = yield* peer(status(200, "{\"id\":\"x\"}"))
        const c = config(ZincSearchConfig, { hostport: rx.url, index: "alerts", username: "admin", password, minimumpriority: "error" })
        const output = yield* startSingle(ZincSearch, c)
        expect(output.name).toBe("zincsearch")
        expect(output.minimumPriority).toBe(5)
        yield* output.send(referenceEvent)
        const [r] = yield* rx.waitFor(1)
        expect(r!.method).toBe("POST")
        expect(r!.path).toBe("/api/alerts/_doc")
        expect(chosenHeaders(r!.headers)).toEqual({ ...jsonHeaders, authorization: `Basic ${Buffer.from(`admin:${password}`).toString("base64")}` })
        expect(r!.body).toBe(referenceEventJson + "\n")
      }))

    it.scoped("no Authorization unless both username and password are set", () =>
      Effect.gen(function*() {
        const rx = yield* peer(status(200))
        yield* (yield* startSingle(ZincSearch, config(ZincSearchConfig, { hostport: rx.url, username: "admin" }))).send(referenceEvent)
        yield* (yield* startSingle(ZincSearch, config(ZincSearchConfig, { hostport: rx.url, password }))).send(referenceEvent)
        const reqs = yield* rx.waitFor(2)
        expect(reqs.map((r) => [r.path, r.headers["authorization"]])).toEqual([["/api/falco/_doc", undefined], ["/api/falco/_doc", undefined]])
      }))

    it.scoped("a 4xx is permanent and a 5xx retryable; neither message shows the password", () =>
      Effect.gen(function*() {
        const rx = yield* peer(status(401, "{\"auth\":false}"), status(503, "busy"))
        const output = yield* startSingle(ZincSearch, config(ZincSearchConfig, { hostport: rx.url, username: "admin", password }))
        const refused = yield* Effect.flip(output.send(referenceEvent))
        expect([refused.reason, refused.status, refused.retryable]).toEqual(["Status", 401, false])
        const busy = yield* Effect.flip(output.send(referenceEvent))
        expect([busy.reason, busy.status, busy.retryable]).toEqual(["Status", 503, true])
        expect(refused.message + busy.message).not.toContain(password)
      }))
  })
})
