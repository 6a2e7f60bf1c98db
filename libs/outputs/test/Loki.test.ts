import { it } from "@effect/vitest"
import { eventWith, makeReceiver, referenceEvent, referenceEventJson, referenceOutput as O, status } from "@sidekick/testing"
import { Duration, Effect } from "effect"
import { describe, expect } from "vitest"
import { Loki, lokiBody, LokiConfig, lokiLabels } from "../src/Loki.js"
import { config, startBatch, startSingle } from "./helpers.js"

const labels =
  `{"hostname":"node-1","k8s_ns_name":"default","k8s_pod_name":"nginx-1","priority":"Critical","rule":"Terminal shell in container","source":"syscall","tags":"T1059,container,mitre_execution,shell"}`
/** falcosidekick's payload for the reference event */
const catalogExample = `{"streams":[{"stream":${labels},"values":[["1714990830123456789","${O}"]]}]}\n`

describe("Loki", () => {
  it("payload: one event is exactly falcosidekick's payload", () => {
    expect(lokiBody([referenceEvent], { format: "text", labelFields: [] })).toBe(catalogExample)
  })

  it("payload: json format puts the event JSON in the line", () => {
    const body = JSON.parse(lokiBody([referenceEvent], { format: "json", labelFields: [] }))
    expect(body.streams[0].values[0][1]).toBe(referenceEventJson)
  })

  it("labels: custom/templated/extra fields (string values only, key . -> _, brackets and quotes removed)", () => {
    const e = eventWith({
      output_fields: { ...referenceEvent.output_fields, env: "pr\"od", "proc.aname[2]": "sh", "fd.num": 3, "k8s.ns.name": 7 }
    })
    expect(lokiLabels(e, ["env", "proc.aname[2]", "fd.num", "proc.name"])).toEqual({
      rule: "Terminal shell in container",
      source: "syscall",
      priority: "Critical",
      k8s_pod_name: "nginx-1",
      env: "prod",
      proc_aname2: "sh",
      proc_name: "bash",
      hostname: "node-1",
      tags: "T1059,container,mitre_execution,shell"
    })
  })

  it("payload: a batch groups events by identical labels into streams, in arrival order", () => {
    const a = referenceEvent
    const b = eventWith({ priority: "Warning", timeUnixNanos: 1714990831000000000n, output: "second" })
    const c = eventWith({ timeUnixNanos: 1714990832000000000n, output: "third" })
    const body = JSON.parse(lokiBody([a, b, c], { format: "text", labelFields: [] }))
    expect(body.streams).toHaveLength(2)
    expect(body.streams[0].stream.priority).toBe("Critical")
    expect(body.streams[0].values).toEqual([["1714990830123456789", O], ["1714990832000000000", "third"]])
    expect(body.streams[1].stream.priority).toBe("Warning")
    expect(body.streams[1].values).toEqual([["1714990831000000000", "second"]])
  })

  it("config: defaults, batching on by default", () => {
    const c = config(LokiConfig, {})
    expect(c.endpoint).toBe("/loki/api/v1/push")
    expect(c.format).toBe("text")
    expect(c.batching.enabled).toBe(true)
    expect(c.batching.maxevents).toBe(100)
    expect(Duration.toMillis(c.batching.flushinterval)).toBe(1000)
  })

  it.scoped("pushes with Content-Type application/json, tenant, basic auth and custom headers", () =>
    Effect.gen(function*() {
      const rx = yield* makeReceiver({ responses: [status(204)] })
      const c = config(LokiConfig, {
        hostport: rx.url,
        user: "12345",
        apikey: "glc_secret",
        tenant: "team-a",
        extralabels: "proc.name, user.name",
        customheaders: { "X-Custom": "1" }
      })
      const output = yield* startBatch(Loki, c, { keys: { customFields: ["env"], templatedFields: [] } })
      expect(output.batch.maxEvents).toBe(100)
      expect(output.batch.maxBytes).toBe(1024 * 1024)
      expect(Duration.toMillis(output.batch.interval)).toBe(1000)
      const e = eventWith({ output_fields: { ...referenceEvent.output_fields, env: "prod" } })
      expect(output.batch.sizeOf(e)).toBeGreaterThan(Buffer.byteLength(e.output))
      yield* output.send([e])
      const [r] = yield* rx.waitFor(1)
      expect(r!.method).toBe("POST")
      expect(r!.path).toBe("/loki/api/v1/push")
      expect(r!.headers).toMatchObject({
        "content-type": "application/json",
        "user-agent": "Falcosidekick",
        "x-scope-orgid": "team-a",
        authorization: `Basic ${Buffer.from("12345:glc_secret").toString("base64")}`,
        "x-custom": "1"
      })
      expect(r!.body).toBe(
        `{"streams":[{"stream":{"env":"prod","hostname":"node-1","k8s_ns_name":"default","k8s_pod_name":"nginx-1","priority":"Critical","proc_name":"bash","rule":"Terminal shell in container","source":"syscall","tags":"T1059,container,mitre_execution,shell","user_name":"root"},"values":[["1714990830123456789","${O}"]]}]}\n`
      )
    }))

  it.scoped("batching disabled: a single-event output; the plain payload", () =>
    Effect.gen(function*() {
      const rx = yield* makeReceiver({ responses: [status(204)] })
      const output = yield* startSingle(Loki, config(LokiConfig, { hostport: rx.url, endpoint: "/push", batching: { enabled: false } }))
      yield* output.send(referenceEvent)
      const [r] = yield* rx.waitFor(1)
      expect(r!.path).toBe("/push")
      expect(r!.headers["x-scope-orgid"]).toBeUndefined()
      expect(r!.headers["authorization"]).toBeUndefined()
      expect(r!.body).toBe(catalogExample)
    }))

  it.scoped("a 501 (push API not enabled) is dropped at once; a 500 is retried", () =>
    Effect.gen(function*() {
      const rx = yield* makeReceiver({ responses: [status(501), status(500)] })
      const output = yield* startSingle(Loki, config(LokiConfig, { hostport: rx.url, batching: { enabled: false } }))
      const notImplemented = yield* Effect.flip(output.send(referenceEvent))
      expect(output.classify?.(notImplemented)).toEqual({ _tag: "Drop" })
      const down = yield* Effect.flip(output.send(referenceEvent))
      expect(output.classify?.(down)).toEqual({ _tag: "Retry" })
    }))
})
