import { it, layer } from "@effect/vitest"
import { type RecordedRequest, referenceEvent, referenceEventJson, type Responder, status } from "@sidekick/testing"
import { Effect } from "effect"
import { describe, expect } from "vitest"
import { Quickwit, quickwitApiUrl, quickwitBody, QuickwitConfig, quickwitIndexConfigBody, quickwitIndexExists } from "../src/Quickwit.js"
import { chosenHeaders, config, jsonHeaders, Peer, peer, start, startSingle } from "./helpers.js"

/**
 * falcosidekick's index config (catalog §3.2) as its json.Encoder writes it: `array<text>` with `<` and `>` escaped,
 * a trailing newline
 */
const indexConfig = `{"index_id":"falco","version":"0.7","search_settings":{"default_search_fields":["rule","source","output","priority","hostname","tags"]},` +
  `"doc_mapping":{"dynamic_mapping":{"description":"Falco","fast":true,"expand_dots":true,"indexed":true,"record":"basic","stored":true,"tokenizer":"raw"},` +
  `"field_mappings":[{"name":"time","type":"datetime","fast":true},{"name":"uuid","type":"text","fast":true},{"name":"hostname","type":"text","fast":true},` +
  `{"name":"priority","type":"text","fast":true},{"name":"source","type":"text","fast":true},{"name":"output","type":"text","fast":false},` +
  `{"name":"rule","type":"text","fast":true},{"name":"tags","type":"array\\u003ctext\\u003e","fast":true},{"name":"output_fields","type":"json","fast":true}],` +
  `"mode":"dynamic","store_source":true,"timestamp_field":"time"}}\n`

const requestLine = (r: RecordedRequest) => `${r.method} ${r.path}`

const ingested = status(200, "{\"num_docs_for_processing\":1}")

/** a Quickwit answering describe, create and ingest by path */
const quickwit = (answers: { readonly describe: Responder; readonly create: Responder }): Responder => (r) => {
  const pick = r.path.endsWith("/describe") ? answers.describe : r.path.endsWith("/indexes") ? answers.create : ingested
  return typeof pick === "function" ? pick(r) : pick
}

describe("Quickwit", () => {
  it("body: the event JSON plus a newline; the index config is falcosidekick's", () => {
    expect(quickwitBody(referenceEvent)).toBe(referenceEventJson + "\n")
    expect(quickwitIndexConfigBody("falco", "0.7")).toBe(indexConfig)
    expect(quickwitIndexConfigBody("sec", "0.8")).toContain(`{"index_id":"sec","version":"0.8",`)
  })

  it("API URL: one slash between hostport and apiendpoint (the chart's /api/v1 does not give //api/v1)", () => {
    expect(quickwitApiUrl("http://qw:7280", "api/v1")).toBe("http://qw:7280/api/v1")
    expect(quickwitApiUrl("http://qw:7280", "/api/v1")).toBe("http://qw:7280/api/v1")
    expect(quickwitApiUrl("http://qw:7280/", "/proxy/api/v1/")).toBe("http://qw:7280/proxy/api/v1")
  })

  it("an existing index: a 400 with an empty body (falcosidekick) or Quickwit's own 'already exists'", () => {
    const answer = (status: number, body: string) => ({ status, headers: {}, body })
    expect(quickwitIndexExists(answer(400, ""))).toBe(true)
    expect(quickwitIndexExists(answer(400, "{\"message\":\"index `falco` already exists\"}"))).toBe(true)
    expect(quickwitIndexExists(answer(409, "{\"message\":\"index(es) `falco` already exist(s)\"}"))).toBe(true)
    expect(quickwitIndexExists(answer(400, "{\"message\":\"failed to parse doc mapping\"}"))).toBe(false)
    expect(quickwitIndexExists(answer(500, ""))).toBe(false)
  })

  it("config: enabled by hostport; falcosidekick's defaults; the +H keys", () => {
    expect(QuickwitConfig.keys[0]!.key).toBe("quickwit.hostport")
    const c = config(QuickwitConfig, {})
    expect(c).toMatchObject({ apiendpoint: "api/v1", index: "falco", version: "0.7", autocreateindex: false, checkcert: true, mutualtls: false })
    expect(Quickwit.enabled(c)).toBe(false)
    expect(Quickwit.enabled(config(QuickwitConfig, {}, { QUICKWIT_HOSTPORT: "http://qw:7280" }))).toBe(true)
  })

  layer(Peer.layer)((it) => {
    it.scoped("POSTs the event to {apiendpoint}/{index}/ingest with the custom headers; no index request without autocreateindex", () =>
      Effect.gen(function*() {
        const rx = yield* peer(ingested)
        const c = config(QuickwitConfig, { hostport: rx.url, apiendpoint: "/api/v1", index: "alerts", customheaders: { "X-Tenant": "t1" } }, {
          QUICKWIT_CUSTOMHEADERS: "Authorization:Bearer qw-token"
        })
        const output = yield* startSingle(Quickwit, c)
        expect(output.name).toBe("quickwit")
        yield* output.send(referenceEvent)
        const [r] = yield* rx.waitFor(1)
        expect(requestLine(r!)).toBe("POST /api/v1/alerts/ingest")
        expect(chosenHeaders(r!.headers)).toEqual({ ...jsonHeaders, "x-tenant": "t1", authorization: "Bearer qw-token" })
        expect(r!.body).toBe(referenceEventJson + "\n")
        expect(rx.count).toBe(1)
      }))

    it.scoped("a 4xx is permanent and a 5xx retryable", () =>
      Effect.gen(function*() {
        const rx = yield* peer(status(400, "{\"message\":\"index `falco` not found\"}"), status(500))
        const output = yield* startSingle(Quickwit, config(QuickwitConfig, { hostport: rx.url }))
        const refused = yield* Effect.flip(output.send(referenceEvent))
        expect([refused.reason, refused.status, refused.retryable]).toEqual(["Status", 400, false])
        expect(refused.message).toContain("not found")
        const failed = yield* Effect.flip(output.send(referenceEvent))
        expect([failed.reason, failed.status, failed.retryable]).toEqual(["Status", 500, true])
        expect(rx.requests.map(requestLine)).toEqual(["POST /api/v1/falco/ingest", "POST /api/v1/falco/ingest"])
      }))

    it.scoped("autocreateindex: at start-up, describe; when not found, create the index (with the custom headers) once", () =>
      Effect.gen(function*() {
        const rx = yield* peer(quickwit({ describe: status(404, "{\"message\":\"index `falco` not found\"}"), create: status(200, "{}") }))
        const output = yield* startSingle(Quickwit, config(QuickwitConfig, { hostport: rx.url, autocreateindex: true, customheaders: { "X-Tenant": "t1" } }))
        const [describe, create] = yield* rx.waitFor(2)
        expect(requestLine(describe!)).toBe("GET /api/v1/indexes/falco/describe")
        expect(requestLine(create!)).toBe("POST /api/v1/indexes")
        expect(chosenHeaders(create!.headers)).toEqual({ ...jsonHeaders, "x-tenant": "t1" })
        expect(create!.body).toBe(indexConfig)
        yield* output.send(referenceEvent)
        yield* output.send(referenceEvent)
        expect(rx.requests.slice(2).map(requestLine)).toEqual(["POST /api/v1/falco/ingest", "POST /api/v1/falco/ingest"])
      }))

    it.scoped("autocreateindex: an index that describe finds is left alone; a 400 with an empty body to create means it exists", () =>
      Effect.gen(function*() {
        const rx = yield* peer(quickwit({ describe: status(200, "{\"index_id\":\"falco\"}"), create: status(500) }))
        yield* start(Quickwit, config(QuickwitConfig, { hostport: rx.url, autocreateindex: true }))
        expect(rx.requests.map(requestLine)).toEqual(["GET /api/v1/indexes/falco/describe"])

        const raced = yield* peer(quickwit({ describe: status(404), create: status(400) }))
        const output = yield* startSingle(Quickwit, config(QuickwitConfig, { hostport: raced.url, autocreateindex: true }))
        yield* output.send(referenceEvent)
        expect(raced.requests.map(requestLine)).toEqual(["GET /api/v1/indexes/falco/describe", "POST /api/v1/indexes", "POST /api/v1/falco/ingest"])
      }))

    it.scoped("autocreateindex: Quickwit down at start-up: the output starts, creates the index before delivering, then only ingests", () =>
      Effect.gen(function*() {
        const rx = yield* peer(status(503, "starting"))
        const output = yield* startSingle(Quickwit, config(QuickwitConfig, { hostport: rx.url, autocreateindex: true }))
        expect(rx.requests.map(requestLine)).toEqual(["GET /api/v1/indexes/falco/describe", "POST /api/v1/indexes"])

        // still down: the attempt fails retryably without ingesting
        const stillDown = yield* Effect.flip(output.send(referenceEvent))
        expect([stillDown.reason, stillDown.status, stillDown.retryable]).toEqual(["Status", 503, true])
        expect(rx.requests.slice(2).map(requestLine)).toEqual(["GET /api/v1/indexes/falco/describe", "POST /api/v1/indexes"])

        yield* rx.respondWith(quickwit({ describe: status(404), create: status(200) }))
        yield* output.send(referenceEvent)
        yield* output.send(referenceEvent)
        expect(rx.requests.slice(4).map(requestLine)).toEqual([
          "GET /api/v1/indexes/falco/describe",
          "POST /api/v1/indexes",
          "POST /api/v1/falco/ingest",
          "POST /api/v1/falco/ingest"
        ])
        expect(rx.requests[5]!.body).toBe(indexConfig)
      }))

    it.scoped("autocreateindex: a refusal no retry fixes refuses start-up naming quickwit.autocreateindex", () =>
      Effect.gen(function*() {
        const rx = yield* peer(status(401, "unauthorized"))
        const error = yield* Effect.flip(start(Quickwit, config(QuickwitConfig, { hostport: rx.url, autocreateindex: true })))
        expect(error._tag).toBe("OutputInitError")
        expect(error.key).toBe("quickwit.autocreateindex")
        expect(error.message).toContain("401")
      }))
  })
})
