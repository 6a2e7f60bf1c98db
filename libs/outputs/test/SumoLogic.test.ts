import { it, layer } from "@effect/vitest"
import { referenceEvent, referenceEventJson, status } from "@sidekick/testing"
import { Effect } from "effect"
import { describe, expect } from "vitest"
import { SumoLogic, SumoLogicConfig, sumoLogicHeaders } from "../src/SumoLogic.js"
import { chosenHeaders, config, jsonHeaders, Peer, peer, startSingle } from "./helpers.js"

/** the unique collector code of an HTTP Source: whoever has it can post logs */
const collectorCode = "ZaVnC4dhaV2ZKxLEcpqXHr1m5wCh0YHx_secret=="

describe("SumoLogic", () => {
  it("headers: X-Sumo-Category, X-Sumo-Host and X-Sumo-Name, each only when set", () => {
    expect(sumoLogicHeaders({ sourcecategory: "", sourcehost: "", name: "" })).toEqual({})
    expect(sumoLogicHeaders({ sourcecategory: "prod/falco", sourcehost: "", name: "falco" })).toEqual({
      "X-Sumo-Category": "prod/falco",
      "X-Sumo-Name": "falco"
    })
  })

  it("config: receiverurl first and enabling (a secret), defaults, env", () => {
    expect(SumoLogicConfig.keys[0]!.key).toBe("sumologic.receiverurl")
    expect(SumoLogicConfig.keys[0]!.field.secret).toBe(true)
    const c = config(SumoLogicConfig, {})
    expect([c.sourcecategory, c.sourcehost, c.name]).toEqual(["", "", ""])
    expect(c.checkcert).toBe(true)
    expect(c.mutualtls).toBe(false)
    expect(c.maxconcurrentrequests).toBe(1)
    expect(SumoLogic.enabled(c)).toBe(false)
    const fromEnv = config(SumoLogicConfig, {}, {
      SUMOLOGIC_RECEIVERURL: `https://endpoint1.collection.sumologic.com/receiver/v1/http/${collectorCode}`,
      SUMOLOGIC_SOURCECATEGORY: "k8s/falco"
    })
    expect(SumoLogic.enabled(fromEnv)).toBe(true)
    expect(fromEnv.sourcecategory).toBe("k8s/falco")
    // falcosidekick's docs spell the keys receiverURL, sourceCategory, sourceHost, Name: YAML keys match in any case
    const camel = config(SumoLogicConfig, { receiverURL: "https://x/receiver", sourceCategory: "cat", sourceHost: "h", Name: "n" })
    expect([camel.sourcecategory, camel.sourcehost, camel.name]).toEqual(["cat", "h", "n"])
  })

  it.scoped("a receiverurl that is not an http(s) URL refuses start-up naming the key, not the URL", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(
        startSingle(SumoLogic, config(SumoLogicConfig, { receiverurl: `endpoint1.collection.sumologic.com/receiver/v1/http/${collectorCode}` }))
      )
      expect(error.key).toBe("sumologic.receiverurl")
      expect(error.message).not.toContain(collectorCode)
    }))

  layer(Peer.layer)((it) => {
    it.scoped("POSTs the event JSON to the source URL with the metadata headers; minimumpriority is read", () =>
      Effect.gen(function*() {
        const rx = yield* peer(status(200))
        const c = config(SumoLogicConfig, {
          receiverurl: `${rx.url}/receiver/v1/http/${collectorCode}`,
          sourcecategory: "prod/falco",
          sourcehost: "node-1",
          name: "falco",
          minimumpriority: "emergency"
        })
        const output = yield* startSingle(SumoLogic, c)
        expect(output.name).toBe("sumologic")
        expect(output.minimumPriority).toBe(8)
        yield* output.send(referenceEvent)
        const [r] = yield* rx.waitFor(1)
        expect(r!.method).toBe("POST")
        expect(r!.path).toBe(`/receiver/v1/http/${collectorCode}`)
        expect(chosenHeaders(r!.headers)).toEqual({
          ...jsonHeaders,
          "x-sumo-category": "prod/falco",
          "x-sumo-host": "node-1",
          "x-sumo-name": "falco"
        })
        expect(r!.body).toBe(referenceEventJson + "\n")
      }))

    it.scoped("without the optional keys no X-Sumo header; a 4xx is permanent, a 5xx retryable, neither shows the URL's code", () =>
      Effect.gen(function*() {
        const rx = yield* peer(status(401, "Unauthorized"), status(429, "", { "Retry-After": "3" }), status(500))
        const output = yield* startSingle(SumoLogic, config(SumoLogicConfig, { receiverurl: `${rx.url}/receiver/v1/http/${collectorCode}` }))
        const unauthorized = yield* Effect.flip(output.send(referenceEvent))
        expect(unauthorized.status).toBe(401)
        expect(unauthorized.retryable).toBe(false)
        expect(unauthorized.message).not.toContain(collectorCode)
        const throttled = yield* Effect.flip(output.send(referenceEvent))
        expect(throttled.retryable).toBe(true)
        const down = yield* Effect.flip(output.send(referenceEvent))
        expect(down.status).toBe(500)
        expect(down.retryable).toBe(true)
        expect(down.message).not.toContain(collectorCode)
        const [r] = yield* rx.waitFor(3)
        expect(chosenHeaders(r!.headers)).toEqual(jsonHeaders)
      }))
  })
})
