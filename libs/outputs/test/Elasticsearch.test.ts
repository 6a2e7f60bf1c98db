process.env.TZ = "UTC"
import { it } from "@effect/vitest"
import { eventWith, json, makeReceiver, referenceEvent, referenceEventJson, status } from "@sidekick/testing"
import { Duration, Effect, TestClock } from "effect"
import { describe, expect } from "vitest"
import {
  bulkItemFailures,
  Elasticsearch,
  ElasticsearchConfig,
  elasticsearchDoc,
  indexName,
  mappingConflictField
} from "../src/Elasticsearch.js"
import { config, jsonHeaders, start, startBatch, startSingle } from "./helpers.js"

const ts = `"@timestamp":"2024-05-06T10:20:30.123456789Z"`
/** the single-document body: the event JSON plus a trailing @timestamp, no newline */
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

  it("_bulk answers: the items that were not created, by position", () => {
    expect(bulkItemFailures(created(2), 2)).toEqual([])
    const failed = JSON.stringify({
      errors: true,
      items: [
        { create: { status: 201 } },
        { create: { status: 400, error: { type: "mapper_parsing_exception", reason: "failed to parse [output_fields.x]" } } },
        { create: { status: 429, error: { type: "es_rejected_execution_exception", reason: "queue full" } } }
      ]
    })
    expect(bulkItemFailures(failed, 3)).toEqual([
      { index: 1, status: 400, message: "mapper_parsing_exception: failed to parse [output_fields.x]" },
      { index: 2, status: 429, message: "es_rejected_execution_exception: queue full" }
    ])
    expect(bulkItemFailures(created(1), 2)).toBe("_bulk response has 1 item(s) for 2 sent")
    expect(bulkItemFailures("<html>", 2)).toBe("unparseable _bulk response for 2 item(s)")
  })

  it("config defaults", () => {
    const c = config(ElasticsearchConfig, {})
    expect(c).toMatchObject({ index: "falco", type: "_doc", suffix: "daily", numberofshards: 3, numberofreplicas: 3, flattenfields: false })
    expect(c.batching).toMatchObject({ enabled: false, maxevents: 10000, maxbytes: 5242880, batchsize: undefined })
  })

  it.scoped("single doc: POST /{index}-{date}/_doc?pipeline= with APIKey auth and custom headers", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(now)
      const rx = yield* makeReceiver({ responses: [status(201)] })
      const c = config(ElasticsearchConfig, { hostport: rx.url, apikey: "k3y", pipeline: "p1", customheaders: { "X-Opaque-Id": "sk" } })
      const output = yield* startSingle(Elasticsearch, c)
      yield* output.send(referenceEvent)
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
      const output = yield* startSingle(Elasticsearch, c)
      yield* output.send(referenceEvent)
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
      const output = yield* startSingle(Elasticsearch, config(ElasticsearchConfig, { hostport: rx.url }))
      yield* output.send(referenceEvent)
      const reqs = yield* rx.waitFor(2)
      expect(reqs[0]!.body).toBe(doc)
      expect(reqs[1]!.body).toBe(doc.replace(`"proc.name":"bash","proc.pid":4242,`, `"proc.name":"bash",`))
    }))

  it.scoped("other 400s fail with a permanent Status error carrying the body", () =>
    Effect.gen(function*() {
      const rx = yield* makeReceiver({ responses: [json(400, { error: { type: "illegal_argument_exception", reason: "nope" } })] })
      const output = yield* startSingle(Elasticsearch, config(ElasticsearchConfig, { hostport: rx.url }))
      const error = yield* Effect.flip(output.send(referenceEvent))
      expect(error.reason).toBe("Status")
      expect(error.status).toBe(400)
      expect(error.retryable).toBe(false)
      expect(error.message).toContain("illegal_argument_exception")
      expect(rx.count).toBe(1)
    }))

  it.scoped("batching: one _bulk NDJSON request per batch, bounded by batchsize; failed items come back one by one", () =>
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
      const output = yield* startBatch(Elasticsearch, c)
      // falcosidekick's batchsize is the byte bound; each event is sized as its bulk entry (within a few bytes)
      expect(output.batch.maxBytes).toBe(Buffer.byteLength(entry) * 2)
      expect(Math.abs(output.batch.sizeOf(referenceEvent) - Buffer.byteLength(entry))).toBeLessThan(40)
      expect(Duration.toMillis(output.batch.interval)).toBe(2000)
      expect(yield* output.send([referenceEvent, referenceEvent, referenceEvent])).toBeUndefined()
      const [r] = yield* rx.waitFor(1)
      expect(r!.path).toBe("/_bulk?pipeline=p")
      expect(r!.body).toBe(entry + entry + entry)
      expect(r!.headers).toMatchObject(jsonHeaders)

      yield* rx.respondWith(json(200, {
        errors: true,
        items: [
          { create: { status: 201 } },
          { create: { status: 409, error: { type: "version_conflict_engine_exception", reason: "exists" } } },
          { create: { status: 429, error: { type: "es_rejected_execution_exception", reason: "busy" } } }
        ]
      }))
      const partial = yield* output.send([referenceEvent, eventWith({ uuid: "x" }), eventWith({ uuid: "y" })])
      expect(partial?.failures.map((f) => [f.index, f.error.reason, f.error.status, f.error.retryable, f.error.message])).toEqual([
        [1, "Rejected", 409, false, "bulk item rejected: version_conflict_engine_exception: exists"],
        [2, "Status", 429, true, "bulk item rejected: es_rejected_execution_exception: busy"]
      ])
      yield* rx.respondWith(json(200, { errors: false, items: [] }))
      const unreadable = yield* Effect.flip(output.send([referenceEvent]))
      expect(unreadable.reason).toBe("Rejected")
      expect(unreadable.message).toBe("_bulk response has 0 item(s) for 1 sent")
    }))

  it.scoped("createindextemplate: GET, then PUT when 404; flattens fields", () =>
    Effect.gen(function*() {
      const rx = yield* makeReceiver({ responses: [status(404), status(200), status(201)] })
      const output = yield* startSingle(
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
      yield* output.send(referenceEvent)
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
