import { describe, expect, it } from "@effect/vitest"
import { hang, makeReceiver, status } from "@sidekick/testing"
import { Effect } from "effect"
import { notlsPaths } from "../src/Server.js"
import { falcoEvent, post, request, startApp } from "./support.js"

const withoutUuid = (body: string) => body.replace(/"uuid":"[0-9a-f-]{36}"/, `"uuid":"<uuid>"`)

describe("HTTP contract", () => {
  it.scopedLive("POST / answers 200 at once and the webhook gets falcosidekick's exact payload", () =>
    Effect.gen(function*() {
      const hook = yield* makeReceiver()
      const { address } = yield* startApp({ env: { WEBHOOK_ADDRESS: `${hook.url}/falco`, WEBHOOK_CUSTOMHEADERS: "Authorization:Bearer xyz" } })
      const reply = yield* post(address.url, falcoEvent, { "content-type": "application/json", "user-agent": "falcosecurity/falco" })
      expect(reply.status).toBe(200)
      expect(reply.body).toBe("")
      expect(reply.headers["content-length"]).toBe("0")
      expect(reply.headers["content-type"]).toBeUndefined()
      const [req] = yield* hook.waitFor(1)
      expect(req!.method).toBe("POST")
      expect(req!.path).toBe("/falco")
      expect(req!.headers["content-type"]).toBe("application/json; charset=utf-8")
      expect(req!.headers["user-agent"]).toBe("Falcosidekick")
      expect(req!.headers["authorization"]).toBe("Bearer xyz")
      expect(withoutUuid(req!.body)).toBe(
        `{"uuid":"<uuid>","output":"10:20:05.408091526: Notice A shell was spawned in a container with an attached terminal (user=root process=bash k8s_ns=default k8s_pod_name=nginx-7c)","priority":"Notice","rule":"Terminal shell in container","time":"2023-11-14T22:13:20.408091526Z","output_fields":{"evt.time":1700000000408091526,"k8s.ns.name":"default","k8s.pod.name":"nginx-7c","proc.aname[2]":"containerd-shim","proc.name":"bash","proc.tty":34816,"user.name":"root"},"source":"syscall","tags":["container","mitre_execution","shell"],"hostname":"node-1"}\n`
      )
    }))

  it.scopedLive("enrichment from config: customfields, customtags, templatedfields, bracketreplacer", () =>
    Effect.gen(function*() {
      const hook = yield* makeReceiver()
      const { address } = yield* startApp({
        tree: {
          webhook: { address: hook.url },
          customfields: { env: "prod" },
          customtags: ["team-a"],
          templatedfields: { ns_label: `{{ or (index . "k8s.ns.name") "none" }}` },
          bracketreplacer: "_"
        }
      })
      expect((yield* post(address.url, falcoEvent)).status).toBe(200)
      const [req] = yield* hook.waitFor(1)
      const body = JSON.parse(req!.body)
      expect(body.output_fields.env).toBe("prod")
      expect(body.output_fields.ns_label).toBe("default")
      expect(body.output_fields["proc.aname_2"]).toBe("containerd-shim")
      expect(body.tags).toEqual(["container", "mitre_execution", "shell", "team-a"])
      expect(req!.body).toContain(`"evt.time":1700000000408091526`)
    }))

  it.scopedLive("bad requests get a 400 with a one-line reason and reach no output", () =>
    Effect.gen(function*() {
      const hook = yield* makeReceiver()
      const { address } = yield* startApp({ env: { WEBHOOK_ADDRESS: hook.url } })
      const event = JSON.parse(falcoEvent)
      const cases: ReadonlyArray<readonly [string, string]> = [
        ["{not json", "malformed JSON"],
        [JSON.stringify({ ...event, priority: "warn" }), "priority"],
        [JSON.stringify({ ...event, rule: undefined }), "rule"],
        [JSON.stringify({ ...event, time: undefined }), "time"],
        [JSON.stringify({ ...event, output_fields: {} }), "output_fields"]
      ]
      for (const [body, mentions] of cases) {
        const reply = yield* post(address.url, body)
        expect(reply.status, body).toBe(400)
        expect(reply.body.endsWith("\n")).toBe(true)
        expect(reply.body.trim().split("\n")).toHaveLength(1)
        expect(reply.body).toContain(mentions)
        expect(reply.headers["content-type"]).toBe("text/plain; charset=utf-8")
      }
      const get = yield* request(address.url)
      expect(get.status).toBe(400)
      expect(get.body).toBe("Please send with post http method\n")
      const put = yield* request(`${address.url}/anything`, { method: "PUT", body: falcoEvent })
      expect(put.status).toBe(400)
      yield* Effect.sleep("100 millis")
      expect(hook.count).toBe(0)
    }))

  it.scopedLive("a body over 10 MiB gets 413 and reaches no output", () =>
    Effect.gen(function*() {
      const hook = yield* makeReceiver()
      const { address } = yield* startApp({ env: { WEBHOOK_ADDRESS: hook.url } })
      const event = JSON.parse(falcoEvent)
      const huge = JSON.stringify({ ...event, output: "x".repeat(11 * 1024 * 1024) })
      const reply = yield* post(address.url, huge)
      expect(reply.status).toBe(413)
      expect(reply.body).toBe("request body larger than 10485760 bytes\n")
      yield* Effect.sleep("100 millis")
      expect(hook.count).toBe(0)
    }))

  it.scopedLive("empty output_fields are accepted when customfields fill them", () =>
    Effect.gen(function*() {
      const hook = yield* makeReceiver()
      const { address } = yield* startApp({ env: { WEBHOOK_ADDRESS: hook.url, CUSTOMFIELDS: "cluster:prod-eu" } })
      const reply = yield* post(address.url, JSON.stringify({ ...JSON.parse(falcoEvent), output_fields: {} }))
      expect(reply.status).toBe(200)
      const [req] = yield* hook.waitFor(1)
      expect(JSON.parse(req!.body).output_fields).toEqual({ cluster: "prod-eu" })
    }))

  it.scopedLive("GET /ping, GET /healthz, POST /test", () =>
    Effect.gen(function*() {
      const hook = yield* makeReceiver()
      const { address } = yield* startApp({ env: { WEBHOOK_ADDRESS: hook.url, WEBHOOK_MINIMUMPRIORITY: "critical" } })
      const ping = yield* request(`${address.url}/ping`)
      expect(ping).toMatchObject({ status: 200, body: "pong\n" })
      const health = yield* request(`${address.url}/healthz`)
      expect(health.status).toBe(200)
      expect(health.body).toBe(`{"status": "ok"}`)
      expect(health.headers["content-type"]).toBe("application/json")
      expect((yield* request(`${address.url}/test`)).status).toBe(400)
      // the test event is Debug but bypasses minimumpriority, as in falcosidekick
      expect((yield* request(`${address.url}/test`, { method: "POST" })).status).toBe(200)
      const [req] = yield* hook.waitFor(1)
      const body = JSON.parse(req!.body)
      expect(body).toMatchObject({
        output: "This is a test from falcosidekick",
        priority: "Debug",
        rule: "Test rule",
        source: "internal",
        hostname: "falcosidekick",
        tags: ["example", "test"],
        output_fields: { "proc.name": "falcosidekick", "user.name": "falcosidekick" }
      })
    }))

  it.scopedLive("paths under /api/ are never events: 404 page not found, and no output sees them", () =>
    Effect.gen(function*() {
      const hook = yield* makeReceiver()
      const { address } = yield* startApp({ env: { WEBHOOK_ADDRESS: hook.url } })
      for (const path of ["/api/anything", "/api/", "/api/v1/nothing?limit=1", "/api/ping"]) {
        const reply = yield* post(`${address.url}${path}`, falcoEvent)
        expect(reply.status, path).toBe(404)
        expect(reply.body).toBe("404 page not found\n")
        expect(reply.headers["content-type"]).toBe("text/plain; charset=utf-8")
      }
      expect((yield* request(`${address.url}/api/anything`)).status).toBe(404)
      yield* Effect.sleep("100 millis")
      expect(hook.count).toBe(0)
      // not counted as an input request either, accepted or rejected
      const vars = JSON.parse((yield* request(`${address.url}/debug/vars`)).body)
      expect(vars["inputs.requests"]?.total ?? 0).toBe(0)
    }))

  it.scopedLive("any other path is the event route, as in falcosidekick: /apix, /foo, /api, /ping/, /debug/vars/", () =>
    Effect.gen(function*() {
      const hook = yield* makeReceiver()
      const { address } = yield* startApp({ env: { WEBHOOK_ADDRESS: hook.url } })
      const paths = ["/apix", "/foo", "/api", "/ping/", "/debug/vars/", "/API/anything"]
      for (const path of paths) {
        const reply = yield* post(`${address.url}${path}`, falcoEvent)
        expect(reply.status, path).toBe(200)
        expect(reply.body).toBe("")
      }
      expect(yield* hook.waitFor(paths.length)).toHaveLength(paths.length)
      const get = yield* request(`${address.url}/apix`)
      expect(get.status).toBe(400)
      expect(get.body).toBe("Please send with post http method\n")
    }))

  it("tlsserver.notlspaths may name falcosidekick's routes, and only those", () => {
    expect(notlsPaths).toEqual(["/", "/ping", "/healthz", "/test", "/metrics"])
  })

  it.scopedLive("GET /metrics: falcosidekick's families and the pipeline's own", () =>
    Effect.gen(function*() {
      const hook = yield* makeReceiver()
      const { address } = yield* startApp({ env: { WEBHOOK_ADDRESS: hook.url, CUSTOMFIELDS: "env:prod" } })
      yield* post(address.url, falcoEvent)
      yield* post(address.url, "{bad")
      yield* hook.waitFor(1)
      yield* Effect.sleep("50 millis")
      const metrics = yield* request(`${address.url}/metrics`)
      expect(metrics.status).toBe(200)
      expect(metrics.headers["content-type"]).toContain("text/plain")
      const text = metrics.body
      expect(text).toContain(`falcosecurity_falcosidekick_inputs_total{source="requests",status="accepted"} 1`)
      expect(text).toContain(`falcosecurity_falcosidekick_inputs_total{source="requests",status="rejected"} 1`)
      expect(text).toContain(
        `falcosecurity_falcosidekick_falco_events_total{hostname="node-1",rule="Terminal shell in container",priority="3",priority_raw="notice",source="syscall",k8s_ns_name="default",k8s_pod_name="nginx-7c",env="prod"} 1`
      )
      expect(text).toContain(`falcosecurity_falcosidekick_outputs_total{destination="webhook",status="ok"} 1`)
      expect(text).toContain(`sidekick_output_delivered_total{destination="webhook"} 1`)
      expect(text).toContain(`sidekick_output_queue_capacity{destination="webhook"} 10000`)
      expect(text).toContain(`sidekick_output_queue_depth{destination="webhook"} 0`)
      expect(text).toContain(`sidekick_output_circuit_state{destination="webhook"} 0`)
      expect(text).toContain(`sidekick_ingest_rejected_total{reason="malformed_json"} 1`)
      expect(text).toMatch(/sidekick_output_delivery_duration_seconds_count\{destination="webhook",outcome="delivered"\} 1/)
    }))

  it.scopedLive("GET /debug/vars: falcosidekick's expvar names", () =>
    Effect.gen(function*() {
      const hook = yield* makeReceiver()
      const { address } = yield* startApp({ env: { WEBHOOK_ADDRESS: hook.url } })
      yield* post(address.url, falcoEvent)
      yield* hook.waitFor(1)
      yield* Effect.sleep("50 millis")
      const vars = JSON.parse((yield* request(`${address.url}/debug/vars`)).body)
      expect(vars["inputs.requests"]).toEqual({ accepted: 1, rejected: 0, total: 1 })
      expect(vars["falco.priority"].notice).toBe(1)
      expect(vars["outputs.webhook"]).toEqual({ error: 0, ok: 1, total: 1 })
      expect(vars["sidekick.outputs"]).toEqual({
        webhook: { queued: 0, capacity: 10000, inFlight: 0, delivered: 1, dropped: {}, circuit: "Closed" }
      })
      expect(Object.keys(vars)).toEqual([...Object.keys(vars)].sort())
    }))

  it.scopedLive("GET /debug/vars: an output's last error names the peer by its origin only, never the URL's path or token", () =>
    Effect.gen(function*() {
      const hook = yield* makeReceiver({ responses: [status(404, "no such hook")] })
      const { address } = yield* startApp({ env: { SLACK_WEBHOOKURL: `${hook.url}/services/T0/B0/s3cr3t-token` } })
      yield* post(address.url, falcoEvent)
      yield* hook.waitFor(1)
      yield* Effect.sleep("50 millis")
      const text = (yield* request(`${address.url}/debug/vars`)).body
      expect(text).not.toContain("s3cr3t-token")
      const slack = JSON.parse(text)["sidekick.outputs"].slack
      expect(slack).toMatchObject({ delivered: 0, dropped: { rejected: 1 } })
      expect(slack.lastError.message).toBe(`resource not found (404) from ${hook.url}: no such hook`)
    }))

  it.scopedLive("503 when every output that wants the event has a full queue; a hung output never delays the 200", () =>
    Effect.gen(function*() {
      const hook = yield* makeReceiver({ responses: [hang] })
      const { address } = yield* startApp({
        env: { WEBHOOK_ADDRESS: hook.url, DELIVERY_QUEUECAPACITY: "1", DELIVERY_SHUTDOWNTIMEOUT: "200ms", DELIVERY_TIMEOUT: "30s" }
      })
      const started = Date.now()
      expect((yield* post(address.url, falcoEvent)).status).toBe(200) // taken by the worker, hangs there
      yield* hook.waitFor(1)
      expect((yield* post(address.url, falcoEvent)).status).toBe(200) // queued
      const full = yield* post(address.url, falcoEvent)
      expect(full.status).toBe(503)
      expect(full.body).toBe("queue full for webhook\n")
      expect(Date.now() - started).toBeLessThan(2000)
    }))

  const withRule = (rule: string) => falcoEvent.replace(`"rule":"Terminal shell in container"`, `"rule":"${rule}"`)

  it.scopedLive("backpressure: with full buffers a request is held and answered 200 once there is room, in order", () =>
    Effect.gen(function*() {
      // the first delivery takes 300 ms; the buffer holds one event; maxwait is 1 s
      const hook = yield* makeReceiver({ responses: [{ status: 200, delay: "300 millis" }, status(200)] })
      const { address } = yield* startApp({
        env: { WEBHOOK_ADDRESS: hook.url, DELIVERY_QUEUECAPACITY: "1", DELIVERY_BACKPRESSURE_MAXWAIT: "1s" }
      })
      expect((yield* post(address.url, withRule("r1"))).status).toBe(200) // in the worker, 300 ms
      yield* hook.waitFor(1)
      expect((yield* post(address.url, withRule("r2"))).status).toBe(200) // queued
      const started = Date.now()
      const [third, fourth] = yield* Effect.all([
        post(address.url, withRule("r3")),
        Effect.zipRight(Effect.sleep("20 millis"), post(address.url, withRule("r4")))
      ], { concurrency: 2 })
      expect([third.status, fourth.status]).toEqual([200, 200])
      const waited = Date.now() - started
      expect(waited).toBeGreaterThan(150)
      expect(waited).toBeLessThan(1000)
      const delivered = yield* hook.waitFor(4)
      expect(delivered.map((r) => JSON.parse(r.body).rule)).toEqual(["r1", "r2", "r3", "r4"])
    }))

  it.scopedLive("backpressure: a request held past maxwait gets the 503", () =>
    Effect.gen(function*() {
      const hook = yield* makeReceiver({ responses: [hang] })
      const { address } = yield* startApp({
        env: { WEBHOOK_ADDRESS: hook.url, DELIVERY_QUEUECAPACITY: "1", DELIVERY_BACKPRESSURE_MAXWAIT: "300ms", DELIVERY_SHUTDOWNTIMEOUT: "100ms" }
      })
      expect((yield* post(address.url, falcoEvent)).status).toBe(200)
      yield* hook.waitFor(1)
      expect((yield* post(address.url, falcoEvent)).status).toBe(200)
      const started = Date.now()
      const full = yield* post(address.url, falcoEvent)
      expect(full.status).toBe(503)
      expect(Date.now() - started).toBeGreaterThanOrEqual(290)
    }))
})
