process.env.TZ = "UTC"
import { it } from "@effect/vitest"
import { eventWith, json, makeReceiver, referenceEvent, referenceEventJson, status } from "@sidekick/testing"
import { Effect, TestClock } from "effect"
import { describe, expect } from "vitest"
import {
  bulkFailures,
  Elasticsearch,
  ElasticsearchConfig,
  elasticsearchDoc,
  indexName,
  mappingConflictField,
  splitBulk
} from "../src/index.js"
import { config, jsonHeaders, start } from "./helpers.js"

const ts = `"@timestamp":"2024-05-06T10:20:30.123456789Z"`
/** catalog §3.1 single-doc body: J(E′) plus a trailing @timestamp, no newline */
const doc = referenceEventJson.slice(0, -1) + `,${ts}}`
const now = Date.UTC(2026, 7, 17, 12, 0, 0)
const created = (n: number) => JSON.stringify({ errors: false, items: Array.from({ length: n }, () => ({ create: { status: 201 } })) })

describe("Elasticsearch", () => {
  it("index name from the send-time clock", () => {
    expect(indexName("falco", "daily", now)).toBe("falco-2026.08.17")
    expect(indexName("falco", "monthly", now)).toBe("falco-2026.08")
    expect(indexName("falco", "annually", now)).toBe("falco-2026")
    expect(indexName("falco", "none", now)).toBe("falco")
  })

  it("doc: event JSON + @timestamp; flattenfields; dropped prefixes", () => {
    expect(elasticsearchDoc(referenceEvent, { flatten: false })).toBe(doc)
    expect(elasticsearchDoc(referenceEvent, { flatten: true })).toBe(
      doc.replace(
        `{"container.id":"abc123","k8s.ns.name":"default","k8s.pod.name":"nginx-1","proc.name":"bash","proc.pid":4242,"user.name":"root"}`,
        `{"container_id":"abc123","k8s_ns_name":"default","k8s_pod_name":"nginx-1","proc_name":"bash","proc_pid":4242,"user_name":"root"}`
      )
    )
    expect(elasticsearchDoc(referenceEvent, { flatten: false, dropPrefixes: ["proc.pid"] })).not.toContain("proc.pid")
  })

  it("mapping conflict reason -> field prefix", () => {
    const body = JSON.stringify({
      error: { type: "document_parsing_exception", reason: "[1:2] failed to parse field [output_fields.proc.pid] of type [long]" },
      status: 400
    })
    expect(mappingConflictField(body)).toBe("proc.pid")
    expect(mappingConflictField(JSON.stringify({ error: { type: "document_parsing_exception", reason: "field [rule.x] bad" } }))).toBeUndefined()
    expect(mappingConflictField(JSON.stringify({ error: { type: "other", reason: "[output_fields.a.b]" } }))).toBeUndefined()
    expect(mappingConflictField("not json")).toBeUndefined()
  })

  it("bulk splitting by bytes and item failures", () => {
    expect(splitBulk(["aaaa", "bbbb", "cc", "dddddddddd"], 8)).toEqual([["aaaa", "bbbb"], ["cc"], ["dddddddddd"]])
    expect(bulkFailures(created(2), 2)).toBeUndefined()
    const failed = JSON.stringify({
      errors: true,
      items: [
        { create: { status: 201 } },
        { create: { status: 400, error: { type: "mapper_parsing_exception", reason: "failed to parse [output_fields.x]" } } },
        { create: { status: 400, error: { type: "mapper_parsing_exception", reason: "failed to parse [output_fields.x]" } } }
      ]
    })
    expect(bulkFailures(failed, 3)).toBe("2 of 3 bulk item(s) rejected: 2 x mapper_parsing_exception: failed to parse [output_fields.x]")
    expect(bulkFailures(created(1), 2)).toBe("_bulk response has 1 item(s) for 2 sent")
  })

  it("config defaults", () => {
    const c = config(ElasticsearchConfig, {})
    expect(c).toMatchObject({ index: "falco", type: "_doc", suffix: "daily", numberofshards: 3, numberofreplicas: 3, flattenfields: false })
    expect(c.batching).toMatchObject({ enabled: false, batchsize: 5242880 })
  })

  it.scoped("single doc: POST /{index}-{date}/_doc?pipeline= with APIKey auth and custom headers", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(now)
      const rx = yield* makeReceiver({ responses: [status(201)] })
      const c = config(ElasticsearchConfig, { hostport: rx.url, apikey: "k3y", pipeline: "p1", customheaders: { "X-Opaque-Id": "sk" } })
      const output = yield* start(Elasticsearch, c)
      expect(output.batch).toBeUndefined()
      yield* output.send([referenceEvent])
      const [r] = yield* rx.waitFor(1)
      expect(r!.method).toBe("POST")
      expect(r!.path).toBe("/falco-2026.08.17/_doc?pipeline=p1")
      expect(r!.headers).toMatchObject({ ...jsonHeaders, authorization: "APIKey k3y", "x-opaque-id": "sk" })
      expect(r!.body).toBe(doc)
    }))

  it.scoped("basic auth wins over the API key; suffix none; gzip when enablecompression", () =>
    Effect.gen(function*() {
      const rx = yield* makeReceiver()
      const c = config(ElasticsearchConfig, {
        hostport: rx.url,
        apikey: "k3y",
        username: "elastic",
        password: "pw",
        suffix: "none",
        enablecompression: true
      })
      const output = yield* start(Elasticsearch, c)
      yield* output.send([referenceEvent])
      const [r] = yield* rx.waitFor(1)
      expect(r!.path).toBe("/falco/_doc")
      expect(r!.headers["authorization"]).toBe(`Basic ${Buffer.from("elastic:pw").toString("base64")}`)
      expect(r!.gzipped).toBe(true)
      expect(r!.headers["content-encoding"]).toBe("gzip")
      expect(r!.body).toBe(doc)
    }))

  it.scoped("mapping conflict: drops the offending fields and posts once more", () =>
    Effect.gen(function*() {
      const conflict = json(400, {
        error: { type: "document_parsing_exception", reason: "failed to parse field [output_fields.proc.pid] of type [long]" },
        status: 400
      })
      const rx = yield* makeReceiver({ responses: [conflict, status(201)] })
      const output = yield* start(Elasticsearch, config(ElasticsearchConfig, { hostport: rx.url }))
      yield* output.send([referenceEvent])
      const reqs = yield* rx.waitFor(2)
      expect(reqs[0]!.body).toBe(doc)
      expect(reqs[1]!.body).toBe(doc.replace(`"proc.name":"bash","proc.pid":4242,`, `"proc.name":"bash",`))
    }))

  it.scoped("other 400s fail with a permanent Status error carrying the body", () =>
    Effect.gen(function*() {
      const rx = yield* makeReceiver({ responses: [json(400, { error: { type: "illegal_argument_exception", reason: "nope" } })] })
      const output = yield* start(Elasticsearch, config(ElasticsearchConfig, { hostport: rx.url }))
      const error = yield* Effect.flip(output.send([referenceEvent]))
      expect(error.reason).toBe("Status")
      expect(error.status).toBe(400)
      expect(error.retryable).toBe(false)
      expect(error.message).toContain("illegal_argument_exception")
      expect(rx.count).toBe(1)
    }))

  it.scoped("batching: _bulk NDJSON split by batchsize; item errors are a Rejected error", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(now)
      const rx = yield* makeReceiver({
        responses: [(r) => json(200, JSON.parse(created(r.body.split("\n").length / 2 | 0)))]
      })
      const entry = `{"create":{"_index":"falco-2026.08.17"}}\n${doc}\n`
      const c = config(ElasticsearchConfig, {
        hostport: rx.url,
        pipeline: "p",
        batching: { enabled: true, batchsize: Buffer.byteLength(entry) * 2, flushinterval: "2s" }
      })
      const output = yield* start(Elasticsearch, c)
      expect(output.batch?.maxEvents).toBeGreaterThan(0)
      yield* output.send([referenceEvent, referenceEvent, referenceEvent])
      const reqs = yield* rx.waitFor(2)
      expect(reqs.map((r) => r.path)).toEqual(["/_bulk?pipeline=p", "/_bulk?pipeline=p"])
      expect(reqs[0]!.body).toBe(entry + entry)
      expect(reqs[1]!.body).toBe(entry)
      expect(reqs[0]!.headers).toMatchObject(jsonHeaders)

      yield* rx.respondWith(json(200, {
        errors: true,
        items: [{ create: { status: 201 } }, { create: { status: 409, error: { type: "version_conflict_engine_exception", reason: "exists" } } }]
      }))
      const error = yield* Effect.flip(output.send([referenceEvent, eventWith({ uuid: "x" })]))
      expect(error.reason).toBe("Rejected")
      expect(error.retryable).toBe(false)
      expect(error.message).toBe("1 of 2 bulk item(s) rejected: 1 x version_conflict_engine_exception: exists")
    }))

  it.scoped("createindextemplate: GET, then PUT when 404; flattens fields", () =>
    Effect.gen(function*() {
      const rx = yield* makeReceiver({ responses: [status(404), status(200), status(201)] })
      const output = yield* start(
        Elasticsearch,
        config(ElasticsearchConfig, { hostport: rx.url, createindextemplate: true, numberofshards: 1, numberofreplicas: 0, suffix: "monthly" })
      )
      const [get, put] = yield* rx.waitFor(2)
      expect(get!.method).toBe("GET")
      expect(get!.path).toBe("/_index_template/falco")
      expect(put!.method).toBe("PUT")
      expect(put!.path).toBe("/_index_template/falco")
      const template = JSON.parse(put!.body)
      expect(template.index_patterns).toEqual(["falco-*"])
      expect(template.template.settings).toEqual({ number_of_shards: 1, number_of_replicas: 3 })
      expect(Object.keys(template.template.mappings.properties.output_fields.properties)).toHaveLength(74)
      expect(template.template.mappings.properties.output.fields.keyword.ignore_above).toBe(2048)
      yield* output.send([referenceEvent])
      const [, , post] = yield* rx.waitFor(3)
      expect(post!.body).toContain(`"output_fields":{"container_id":"abc123"`)
    }))

  it.scoped("createindextemplate: an existing template is left alone; a failing check is an OutputInitError", () =>
    Effect.gen(function*() {
      const rx = yield* makeReceiver({ responses: [status(200)] })
      yield* start(Elasticsearch, config(ElasticsearchConfig, { hostport: rx.url, createindextemplate: true }))
      expect(rx.count).toBe(1)
      const down = yield* makeReceiver({ responses: [status(503)] })
      const error = yield* Effect.flip(start(Elasticsearch, config(ElasticsearchConfig, { hostport: down.url, createindextemplate: true })))
      expect(error._tag).toBe("OutputInitError")
      expect(error.message).toContain("503")
    }))
})
