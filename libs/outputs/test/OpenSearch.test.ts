process.env.TZ = "UTC"
/**
 * OpenSearch through the `elasticsearch` output: the same requests, against a receiver answering as OpenSearch 2.x
 * does (document create, `_bulk` with `errors`/`items`, composable `_index_template`). Sidekick has no OpenSearch
 * output of its own, as falcosidekick has none: these tests check that the Elasticsearch output reads OpenSearch's
 * answers right, including OpenSearch's name for a mapping conflict, `mapper_parsing_exception` (Elasticsearch 8
 * renamed it `document_parsing_exception`; falcosidekick only knows that one).
 */
import { layer } from "@effect/vitest"
import { eventWith, json, type RecordedRequest, referenceEvent, referenceEventJson, type Responder } from "@sidekick/testing"
import { Effect, TestClock } from "effect"
import { describe, expect } from "vitest"
import { Elasticsearch, ElasticsearchConfig } from "../src/Elasticsearch.js"
import { chosenHeaders, config, jsonHeaders, Peer, peer, startBatch, startSingle } from "./helpers.js"

const now = Date.UTC(2026, 7, 17, 12, 0, 0)
const index = "falco-2026.08.17"
/** the document: the event JSON plus a trailing @timestamp */
const doc = referenceEventJson.slice(0, -1) + `,"@timestamp":"2024-05-06T10:20:30.123456789Z"}`
const basic = `Basic ${Buffer.from("admin:Open-Search-2").toString("base64")}`
const auth = { username: "admin", password: "Open-Search-2" }

const requestLine = (r: RecordedRequest) => `${r.method} ${r.path}`

const shards = { total: 2, successful: 1, failed: 0 }

/** OpenSearch 2.x's answer to `POST /{index}/_doc` */
const docCreated = json(201, { _index: index, _id: "f3Jk2ZABc1", _version: 1, result: "created", _shards: shards, _seq_no: 0, _primary_term: 1 })

/** OpenSearch 2.x's `_bulk` item for a created document */
const createdItem = (n: number) => ({
  create: { _index: index, _id: `id${n}`, _version: 1, result: "created", _shards: shards, _seq_no: n, _primary_term: 1, status: 201 }
})

/** OpenSearch 2.x's `_bulk` answer: one item per action line, `errors` true when any item failed */
const bulkAnswer = (items: ReadonlyArray<object>): Responder => json(200, { took: 7, errors: items.some((i) => "error" in Object.values(i)[0]), items })

/** OpenSearch's mapping error (the name Elasticsearch used before 8.x) */
const mapperParsing = (id: string) => ({
  type: "mapper_parsing_exception",
  reason: `failed to parse field [output_fields.proc.pid] of type [long] in document with id '${id}'. Preview of field's value: 'abc'`,
  caused_by: { type: "illegal_argument_exception", reason: "For input string: \"abc\"" }
})

const error = (status: number, type: string, reason: string) =>
  json(status, { error: { root_cause: [{ type, reason }], type, reason }, status })

describe("OpenSearch (through the elasticsearch output)", () => {
  layer(Peer.layer)((it) => {
    it.scoped("one document: POST /{index}-{date}/_doc with Basic auth (OpenSearch has no API keys); 201 created is a success", () =>
      Effect.gen(function*() {
        yield* TestClock.setTime(now)
        const rx = yield* peer(docCreated)
        const output = yield* startSingle(Elasticsearch, config(ElasticsearchConfig, { hostport: rx.url, ...auth }))
        yield* output.send(referenceEvent)
        const [r] = yield* rx.waitFor(1)
        expect(requestLine(r!)).toBe(`POST /${index}/_doc`)
        expect(chosenHeaders(r!.headers)).toEqual({ ...jsonHeaders, authorization: basic })
        expect(r!.body).toBe(doc)
      }))

    it.scoped("_bulk: the NDJSON create actions; OpenSearch's items are read one by one (409 dropped, 429 retried)", () =>
      Effect.gen(function*() {
        yield* TestClock.setTime(now)
        const rx = yield* peer(bulkAnswer([createdItem(0), createdItem(1)]))
        const c = config(ElasticsearchConfig, { hostport: rx.url, ...auth, batching: { enabled: true } })
        const output = yield* startBatch(Elasticsearch, c)
        expect(yield* output.send([referenceEvent, referenceEvent])).toBeUndefined()
        const [r] = yield* rx.waitFor(1)
        expect(requestLine(r!)).toBe("POST /_bulk")
        expect(chosenHeaders(r!.headers)).toEqual({ ...jsonHeaders, authorization: basic })
        const entry = `{"create":{"_index":"${index}"}}\n${doc}\n`
        expect(r!.body).toBe(entry + entry)

        yield* rx.respondWith(bulkAnswer([
          createdItem(0),
          { create: { _index: index, _id: "id1", status: 409, error: { type: "version_conflict_engine_exception", reason: "[id1]: version conflict, document already exists (current version [1])" } } },
          { create: { _index: index, _id: null, status: 429, error: { type: "rejected_execution_exception", reason: "rejected execution of coordinating operation" } } },
          { create: { _index: index, _id: "id3", status: 400, error: mapperParsing("id3") } }
        ]))
        const partial = yield* output.send([referenceEvent, eventWith({ uuid: "b" }), eventWith({ uuid: "c" }), eventWith({ uuid: "d" })])
        expect(partial?.failures.map((f) => [f.index, f.error.reason, f.error.status, f.error.retryable])).toEqual([
          [1, "Rejected", 409, false],
          [2, "Status", 429, true],
          [3, "Rejected", 400, false]
        ])
        expect(partial?.failures[2]!.error.message).toContain("mapper_parsing_exception: failed to parse field [output_fields.proc.pid]")
      }))

    it.scoped("createindextemplate: OpenSearch's 404 to GET /_index_template/falco, then the PUT it acknowledges", () =>
      Effect.gen(function*() {
        yield* TestClock.setTime(now)
        const rx = yield* peer(
          error(404, "resource_not_found_exception", "index template matching [falco] not found"),
          json(200, { acknowledged: true }),
          docCreated
        )
        const output = yield* startSingle(Elasticsearch, config(ElasticsearchConfig, { hostport: rx.url, ...auth, createindextemplate: true }))
        const [get, put] = yield* rx.waitFor(2)
        expect(requestLine(get!)).toBe("GET /_index_template/falco")
        expect(requestLine(put!)).toBe("PUT /_index_template/falco")
        expect(chosenHeaders(put!.headers)).toEqual({ ...jsonHeaders, authorization: basic })
        const template = JSON.parse(put!.body)
        expect(template.index_patterns).toEqual(["falco-*"])
        expect(template.template.settings).toEqual({ number_of_shards: 3, number_of_replicas: 3 })
        expect(template.template.mappings.properties.output_fields.properties.proc_cmdline).toEqual({
          type: "text",
          fields: { keyword: { type: "keyword", ignore_above: 256 } }
        })
        yield* output.send(referenceEvent)
        const [, , post] = yield* rx.waitFor(3)
        expect(requestLine(post!)).toBe(`POST /${index}/_doc`)
        expect(post!.body).toContain(`"output_fields":{"container_id":"abc123","k8s_ns_name":"default"`)
      }))

    it.scoped("OpenSearch's mapper_parsing_exception: the document is sent again without the conflicting field", () =>
      Effect.gen(function*() {
        yield* TestClock.setTime(now)
        const rx = yield* peer(json(400, { error: { root_cause: [mapperParsing("x")], ...mapperParsing("x") }, status: 400 }), docCreated)
        const output = yield* startSingle(Elasticsearch, config(ElasticsearchConfig, { hostport: rx.url, ...auth }))
        yield* output.send(referenceEvent)
        const [first, retry] = yield* rx.waitFor(2)
        expect(first!.body).toBe(doc)
        expect(retry!.body).not.toContain(`"proc.pid"`)
        expect(retry!.body).toContain(`"proc.name":"bash"`)
      }))

    it.scoped("OpenSearch's refusals: a 403 from the security plugin is permanent, a 429 or 503 retryable", () =>
      Effect.gen(function*() {
        const rx = yield* peer(
          error(403, "security_exception", "no permissions for [indices:data/write/index] and User [name=falco, backend_roles=[]]"),
          error(429, "rejected_execution_exception", "rejected execution of coordinating operation"),
          error(503, "cluster_block_exception", "blocked by: [SERVICE_UNAVAILABLE/1/state not recovered / initialized];")
        )
        const output = yield* startSingle(Elasticsearch, config(ElasticsearchConfig, { hostport: rx.url, ...auth }))
        const outcomes = []
        for (let i = 0; i < 3; i++) {
          const e = yield* Effect.flip(output.send(referenceEvent))
          outcomes.push([e.status, e.retryable])
        }
        expect(outcomes).toEqual([[403, false], [429, true], [503, true]])
      }))
  })
})
