import { it, layer } from "@effect/vitest"
import { goJson, LosslessNumber, type Priority } from "@sidekick/event"
import { eventWith, type RecordedRequest, referenceEvent, type Responder, status } from "@sidekick/testing"
import { Effect, Either, TestClock } from "effect"
import { gunzipSync } from "node:zlib"
import { describe, expect } from "vitest"
import {
  int64Field,
  Spyderbat,
  spyderbatBody,
  SpyderbatConfig,
  spyderbatDataUrl,
  spyderbatLevels,
  spyderbatRecord,
  spyderbatSourceBody,
  spyderbatSourcesUrl
} from "../src/Spyderbat.js"
import { chosenHeaders, config, Peer, peer, start, startSingle } from "./helpers.js"

const apikey = "sb-api-key-0123456789"
const orguid = "OrG42"
const uid = `falcosidekick_${orguid}`
const id = "0b7e2c1c-7f4a-4a8e-9d1c-5d7b8e2f9a10"

/** Falco's evt.time for the reference event: 19 digits, beyond a JS number's exact integers */
const evtTime = new LosslessNumber("1714990830123456789")
const alert = eventWith({ output_fields: { ...referenceEvent.output_fields, "evt.time": evtTime, "proc.cmdline": "bash -i" } })

/** catalog §2.8's record for the reference event with evt.time, at send time 1786963200.123456789 */
const catalogRecord = `{"schema":"falco_alert::1.0.0","id":"${id}","monotonic_time":123456789,"orc_time":1786963200.1234567,` +
  `"time":1714990830,"pid":4242,"level":"critical",` +
  `"msg":["A","shell","was","spawned","in","a","container","(user=root","shell=bash","container=abc123)"],"args":"bash -i","container":"abc123"}`

const requestLine = (r: RecordedRequest) => `${r.method} ${r.path}`

const sourcesPath = `/api/v1/org/${orguid}/source/`
const dataPath = `/api/v1/org/${orguid}/source/${uid}/data/sb-agent`

/** a Spyderbat API answering the sources list, the registration and the data endpoint by method and path */
const spyderbat = (answers: { readonly list: Responder; readonly register?: Responder; readonly data?: Responder }): Responder => (r) => {
  const pick = r.path === sourcesPath ? (r.method === "GET" ? answers.list : answers.register ?? status(200, "{}")) : answers.data ?? status(200)
  return typeof pick === "function" ? pick(r) : pick
}
const sources = (...uids: Array<string>) => status(200, JSON.stringify(uids.map((u) => ({ uid: u, name: u }))))

describe("Spyderbat", () => {
  it("record: catalog §2.8 byte for byte; time from the int64 evt.time, orc_time and monotonic_time from the clock", () => {
    const record = spyderbatRecord(alert, { nowNanos: 1786963200123456789n }, id)
    expect(Either.getOrThrow(Either.map(record, spyderbatBody))).toBe(catalogRecord + "\n")
  })

  it("record: evt.time near the int64 limit keeps its digits; pid wraps as Go's int32 conversion; msg null without words", () => {
    const e = eventWith({
      output: "10:20:30.123456789: Critical",
      priority: "Warning",
      output_fields: { "evt.time": new LosslessNumber("9223372036854775807"), "proc.pid": 2147483648 }
    })
    const record = Either.getOrThrow(spyderbatRecord(e, { nowNanos: 1786963200000000000n }, id))
    expect(goJson(record)).toBe(
      `{"schema":"falco_alert::1.0.0","id":"${id}","monotonic_time":0,"orc_time":1786963200,"time":9223372036,"pid":-2147483648,` +
        `"level":"medium","msg":null,"args":"","container":""}`
    )
    // integer division truncates toward zero, as Go's
    const before1970 = eventWith({ output_fields: { "evt.time": -1500000000, "proc.pid": 1 } })
    expect((Either.getOrThrow(spyderbatRecord(before1970, { nowNanos: 0n }, id)) as { time: bigint }).time).toBe(-1n)
  })

  it("record: an event without an integer evt.time or proc.pid cannot be sent, and says why", () => {
    const without = (fields: Record<string, unknown>) => spyderbatRecord(eventWith({ output_fields: fields }), { nowNanos: 0n }, id)
    expect(without({ "proc.pid": 1 })).toEqual(
      Either.left(`the output field evt.time must be an integer (Unix nanoseconds) for rule "Terminal shell in container"; it is missing`)
    )
    expect(without({ "evt.time": "1714990830123456789", "proc.pid": 1 })).toEqual(
      Either.left(`the output field evt.time must be an integer (Unix nanoseconds) for rule "Terminal shell in container"; it is the text "1714990830123456789"`)
    )
    expect(without({ "evt.time": evtTime })).toEqual(
      Either.left(`the output field proc.pid must be an integer for rule "Terminal shell in container"; it is missing`)
    )
    expect(Either.isLeft(without({ "evt.time": evtTime, "proc.pid": 1.5 }))).toBe(true)
  })

  it("int64 fields: integer literals within int64 only, read without a JS number", () => {
    expect(int64Field(evtTime)).toBe(1714990830123456789n)
    expect(int64Field(4242)).toBe(4242n)
    expect(int64Field(new LosslessNumber("-9223372036854775808"))).toBe(-(2n ** 63n))
    expect(int64Field(new LosslessNumber("9223372036854775808"))).toBeUndefined()
    expect(int64Field(new LosslessNumber("1e9"))).toBeUndefined()
    expect(int64Field(new LosslessNumber("1.0"))).toBeUndefined()
    expect(int64Field("12")).toBeUndefined()
    expect(int64Field(null)).toBeUndefined()
  })

  it("levels: falcosidekick's PriorityMap", () => {
    expect(spyderbatLevels).toEqual({
      Emergency: "critical",
      Alert: "high",
      Critical: "critical",
      Error: "high",
      Warning: "medium",
      Notice: "low",
      Informational: "info",
      Debug: "info"
    } satisfies Record<Priority, string>)
  })

  it("URLs and the source registration body", () => {
    expect(spyderbatSourcesUrl("https://api.spyderbat.com/", orguid)).toBe(`https://api.spyderbat.com${sourcesPath}`)
    expect(spyderbatDataUrl("https://api.spyderbat.com", orguid)).toBe(`https://api.spyderbat.com${dataPath}`)
    expect(spyderbatSourceBody({ source: "falcosidekick", sourcedescription: "Falco <prod>", orguid })).toBe(
      `{"name":"falcosidekick","description":"Falco \\u003cprod\\u003e","uid":"${uid}"}\n`
    )
  })

  it("config: enabled by orguid; falcosidekick's defaults; no TLS or concurrency keys", () => {
    expect(SpyderbatConfig.keys[0]!.key).toBe("spyderbat.orguid")
    const c = config(SpyderbatConfig, {})
    expect(c).toMatchObject({ apiurl: "https://api.spyderbat.com", source: "falcosidekick", sourcedescription: "" })
    expect(Spyderbat.enabled(c)).toBe(false)
    expect(Spyderbat.enabled(config(SpyderbatConfig, {}, { SPYDERBAT_ORGUID: orguid }))).toBe(true)
    expect(SpyderbatConfig.keys.map((k) => k.key)).not.toContain("spyderbat.checkcert")
  })

  it.scoped("a source name over 32 characters refuses start-up naming spyderbat.source", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(start(Spyderbat, config(SpyderbatConfig, { orguid, apikey, source: "x".repeat(33) })))
      expect(error.key).toBe("spyderbat.source")
    }))

  layer(Peer.layer)((it) => {
    it.scoped("registers the missing source at start-up, then POSTs each record gzipped as NDJSON with the Bearer key", () =>
      Effect.gen(function*() {
        // a whole second: TestClock derives its nanoseconds from milliseconds through a float
        yield* TestClock.setTime(1786963200000)
        const rx = yield* peer(spyderbat({ list: sources("other") }))
        const c = config(SpyderbatConfig, { orguid, apikey, apiurl: rx.url, sourcedescription: "prod cluster", minimumpriority: "notice" })
        const output = yield* startSingle(Spyderbat, c)
        expect(output.name).toBe("spyderbat")
        expect(output.minimumPriority).toBe(3)
        expect(output.maxConcurrentRequests).toBe(1)
        const [list, register] = yield* rx.waitFor(2)
        expect(requestLine(list!)).toBe(`GET ${sourcesPath}`)
        expect(list!.headers["authorization"]).toBe(`Bearer ${apikey}`)
        expect(requestLine(register!)).toBe(`POST ${sourcesPath}`)
        expect(chosenHeaders(register!.headers)).toEqual({
          "content-type": "application/json",
          "user-agent": "Falcosidekick",
          authorization: `Bearer ${apikey}`
        })
        expect(register!.body).toBe(`{"name":"falcosidekick","description":"prod cluster","uid":"${uid}"}\n`)

        yield* output.send(alert)
        const [, , data] = yield* rx.waitFor(3)
        expect(requestLine(data!)).toBe(`POST ${dataPath}`)
        expect(chosenHeaders(data!.headers)).toEqual({
          "content-type": "application/ndjson",
          "user-agent": "Falcosidekick",
          authorization: `Bearer ${apikey}`,
          "content-encoding": "gzip",
          "accept-encoding": "gzip"
        })
        const body = gunzipSync(data!.rawBody).toString("utf8")
        const sentId = (JSON.parse(body) as { id: string }).id
        expect(sentId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
        expect(body).toBe(
          catalogRecord.replace(id, sentId).replace(`"monotonic_time":123456789,"orc_time":1786963200.1234567`, `"monotonic_time":0,"orc_time":1786963200`) +
            "\n"
        )
      }))

    it.scoped("a registered source is not registered again; a lost registration race is fine", () =>
      Effect.gen(function*() {
        const rx = yield* peer(spyderbat({ list: sources("other", uid) }))
        yield* start(Spyderbat, config(SpyderbatConfig, { orguid, apikey, apiurl: rx.url }))
        expect(rx.requests.map(requestLine)).toEqual([`GET ${sourcesPath}`])

        let lists = 0
        const raced = yield* peer(spyderbat({ list: () => (lists++ === 0 ? sources() : sources(uid)), register: status(409, "exists") }))
        yield* start(Spyderbat, config(SpyderbatConfig, { orguid, apikey, apiurl: raced.url }))
        expect(raced.requests.map(requestLine)).toEqual([`GET ${sourcesPath}`, `POST ${sourcesPath}`, `GET ${sourcesPath}`])
      }))

    it.scoped("an event without evt.time is refused for good before any request; a 4xx is permanent, a 5xx retryable", () =>
      Effect.gen(function*() {
        const rx = yield* peer(spyderbat({ list: sources(uid), data: status(400, "bad record") }))
        const output = yield* startSingle(Spyderbat, config(SpyderbatConfig, { orguid, apikey, apiurl: rx.url }))
        const unsendable = yield* Effect.flip(output.send(referenceEvent))
        expect([unsendable.reason, unsendable.retryable]).toEqual(["Encode", false])
        expect(unsendable.message).toContain("evt.time must be an integer")
        expect(rx.count).toBe(1)

        const refused = yield* Effect.flip(output.send(alert))
        expect([refused.reason, refused.status, refused.retryable]).toEqual(["Status", 400, false])
        yield* rx.respondWith(status(503))
        const down = yield* Effect.flip(output.send(alert))
        expect([down.reason, down.status, down.retryable]).toEqual(["Status", 503, true])
        expect(refused.message + down.message).not.toContain(apikey)
      }))

    it.scoped("start-up: a refused key refuses start-up naming spyderbat.apikey; an API down lets it start and register later", () =>
      Effect.gen(function*() {
        const rx = yield* peer(status(401, "invalid token"))
        const refused = yield* Effect.flip(start(Spyderbat, config(SpyderbatConfig, { orguid, apikey, apiurl: rx.url })))
        expect(refused._tag).toBe("OutputInitError")
        expect(refused.key).toBe("spyderbat.apikey")
        expect(refused.message).not.toContain(apikey)

        const down = yield* peer(status(502))
        const output = yield* startSingle(Spyderbat, config(SpyderbatConfig, { orguid, apikey, apiurl: down.url }))
        expect(down.requests.map(requestLine)).toEqual([`GET ${sourcesPath}`])
        yield* down.respondWith(spyderbat({ list: sources() }))
        yield* output.send(alert)
        yield* output.send(alert)
        expect(down.requests.slice(1).map(requestLine)).toEqual([`GET ${sourcesPath}`, `POST ${sourcesPath}`, `POST ${dataPath}`, `POST ${dataPath}`])
      }))
  })
})
