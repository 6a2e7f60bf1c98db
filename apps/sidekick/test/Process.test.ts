/**
 * The service as an operator runs it: `npm start -- -c FILE`. Start-up refusals, and SIGTERM draining.
 */
import { describe, expect, it } from "@effect/vitest"
import { hang, makeReceiver } from "@sidekick/testing"
import { Effect } from "effect"
import { mkdtempSync, readdirSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { freePort, run, runNode, waitUntil } from "./processes.js"
import { falcoEvent, post, request } from "./support.js"

describe("the sidekick process", () => {
  it.live("refuses to start on a bad value, naming the key, the env var, the value and what was expected", () =>
    Effect.gen(function*() {
      const r = run([], { LISTENPORT: "99999" })
      const code = yield* Effect.promise(() => r.exited)
      expect(code).toBe(1)
      expect(r.output()).toMatch(/\[ERROR\] : .*listenport.*LISTENPORT.*99999/)
    }))

  it.live("refuses to start when an output cannot start, naming the output", () =>
    Effect.gen(function*() {
      const r = run([], { ELASTICSEARCH_HOSTPORT: "http://127.0.0.1:1", ELASTICSEARCH_CREATEINDEXTEMPLATE: "true" })
      expect(yield* Effect.promise(() => r.exited)).toBe(1)
      expect(r.output()).toMatch(/\[ERROR\] : elasticsearch - .*index template.*ECONNREFUSED/)
    }))

  it.live("with processes: 2, a process that cannot start stops the service with exit 1", () =>
    Effect.gen(function*() {
      const r = run([], {
        PROCESSES: "2",
        ELASTICSEARCH_HOSTPORT: "http://127.0.0.1:1",
        ELASTICSEARCH_CREATEINDEXTEMPLATE: "true"
      })
      expect(yield* Effect.promise(() => r.exited)).toBe(1)
      expect(r.output()).toMatch(/\[ERROR\] : elasticsearch - .*ECONNREFUSED/)
      expect(r.output()).toContain("a Sidekick process failed to start")
    }))

  it.live("refuses to start on an unknown flag and on a missing config file", () =>
    Effect.gen(function*() {
      const flag = run(["--bogus"], {})
      expect(yield* Effect.promise(() => flag.exited)).toBe(1)
      expect(flag.output()).toContain("--bogus")
      const missing = run(["-c", "/nonexistent/sidekick.yaml"], {})
      expect(yield* Effect.promise(() => missing.exited)).toBe(1)
      expect(missing.output()).toContain("/nonexistent/sidekick.yaml")
    }))

  it.scopedLive("runs with -c FILE and the environment on top; SIGTERM drains the queues and exits 0", () =>
    Effect.gen(function*() {
      const hook = yield* makeReceiver({ responses: [{ status: 200, delay: "150 millis" }] })
      const port = yield* freePort()
      const dir = mkdtempSync(join(tmpdir(), "sidekick-"))
      const file = join(dir, "config.yaml")
      writeFileSync(file, `listenport: ${port}\nlistenaddress: 127.0.0.1\nwebhook:\n  address: http://127.0.0.1:1/unreachable\n`)
      const r = run(["-c", file], { WEBHOOK_ADDRESS: hook.url, WEBHOOK_MAXCONCURRENTREQUESTS: "1" })
      yield* Effect.addFinalizer(() => Effect.sync(() => r.child.kill("SIGKILL")))
      yield* waitUntil(() => r.output().includes("listening"), "the server to listen")
      expect(r.output()).toContain("Enabled Outputs: [Webhook]")
      const url = `http://127.0.0.1:${port}`
      expect((yield* request(`${url}/ping`)).body).toBe("pong\n")
      for (let i = 0; i < 5; i++) expect((yield* post(url, falcoEvent)).status).toBe(200)
      r.child.kill("SIGTERM")
      const code = yield* Effect.promise(() => r.exited)
      expect(code).toBe(0)
      // one at a time at 150 ms each: most were still queued when SIGTERM came, none was lost
      expect(hook.count).toBe(5)
      expect(r.output()).toContain("draining")
    }))

  it.scopedLive("processes: 2 share the port; /metrics and /debug/vars add both up; SIGTERM drains both and exits 0", () =>
    Effect.gen(function*() {
      const hook = yield* makeReceiver({ responses: [{ status: 200, delay: "100 millis" }] })
      const port = yield* freePort()
      const r = run([], { PROCESSES: "2", LISTENPORT: String(port), LISTENADDRESS: "127.0.0.1", WEBHOOK_ADDRESS: hook.url })
      yield* Effect.addFinalizer(() => Effect.sync(() => r.child.kill("SIGKILL")))
      yield* waitUntil(() => (r.output().match(/listening/g) ?? []).length === 2, "both processes to listen")
      const url = `http://127.0.0.1:${port}`
      for (let i = 0; i < 10; i++) expect((yield* post(url, falcoEvent)).status).toBe(200)
      const metrics = (yield* request(`${url}/metrics`)).body
      expect(metrics).toContain(`falcosecurity_falcosidekick_inputs_total{source="requests",status="accepted"} 10`)
      const vars = JSON.parse((yield* request(`${url}/debug/vars`)).body)
      expect(vars["inputs.requests"]).toEqual({ accepted: 10, rejected: 0, total: 10 })
      r.child.kill("SIGTERM")
      expect(yield* Effect.promise(() => r.exited)).toBe(0)
      expect(hook.count, r.output()).toBe(10)
      expect((r.output().match(/shutting down/g) ?? []).length).toBe(2)
    }))

  it.scopedLive("with a spool, kill -9 loses nothing: the next start delivers every event that got its 200", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "sidekick-spool-"))
      const port = yield* freePort()
      const env = { LISTENPORT: String(port), LISTENADDRESS: "127.0.0.1", DELIVERY_SPOOL_DIR: dir }
      const rule = (i: number) => falcoEvent.replace(`"rule":"Terminal shell in container"`, `"rule":"event ${i}"`)
      // the first process's webhook never answers
      const down = yield* makeReceiver({ responses: [hang] })
      const first = runNode({ ...env, WEBHOOK_ADDRESS: down.url })
      yield* Effect.addFinalizer(() => Effect.sync(() => first.child.kill("SIGKILL")))
      yield* waitUntil(() => first.output().includes("listening"), "the first process to listen")
      const url = `http://127.0.0.1:${port}`
      for (let i = 0; i < 20; i++) expect((yield* post(url, rule(i))).status).toBe(200)
      first.child.kill("SIGKILL")
      yield* Effect.promise(() => first.exited)

      const up = yield* makeReceiver()
      const second = runNode({ ...env, WEBHOOK_ADDRESS: up.url })
      yield* Effect.addFinalizer(() => Effect.sync(() => second.child.kill("SIGKILL")))
      yield* waitUntil(() => second.output().includes("listening"), "the second process to listen")
      const delivered = yield* up.waitFor(20)
      expect(delivered.map((r) => JSON.parse(r.body).rule)).toEqual(Array.from({ length: 20 }, (_, i) => `event ${i}`))
      second.child.kill("SIGTERM")
      expect(yield* Effect.promise(() => second.exited)).toBe(0)
      expect(second.output()).not.toContain("draining")
    }))

  it.scopedLive("processes: 2 with a spool: each process has its own directory", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "sidekick-spool-"))
      const hook = yield* makeReceiver()
      const port = yield* freePort()
      const r = run([], { PROCESSES: "2", LISTENPORT: String(port), LISTENADDRESS: "127.0.0.1", WEBHOOK_ADDRESS: hook.url, DELIVERY_SPOOL_DIR: dir })
      yield* Effect.addFinalizer(() => Effect.sync(() => r.child.kill("SIGKILL")))
      yield* waitUntil(() => (r.output().match(/listening/g) ?? []).length === 2, "both processes to listen")
      for (let i = 0; i < 4; i++) expect((yield* post(`http://127.0.0.1:${port}`, falcoEvent)).status).toBe(200)
      yield* hook.waitFor(4)
      expect(readdirSync(dir).sort()).toEqual(["process-0", "process-1"])
      r.child.kill("SIGTERM")
      expect(yield* Effect.promise(() => r.exited)).toBe(0)
    }))
})
