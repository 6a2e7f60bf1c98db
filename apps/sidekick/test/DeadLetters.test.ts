import { describe, expect, it } from "@effect/vitest"
import { makeSource } from "@sidekick/config"
import { makeReceiver, status } from "@sidekick/testing"
import { Effect } from "effect"
import { readAppConfig } from "../src/AppConfig.js"
import { deadLetterJson } from "../src/DeadLetterApi.js"
import { falcoEvent, post, request, startApp } from "./support.js"

describe("dead letters over HTTP", () => {
  it.scopedLive("GET lists what an output refused, event JSON digits intact and no token; POST replay sends it again", () =>
    Effect.gen(function*() {
      const hook = yield* makeReceiver({ responses: [status(404, "no such hook"), status(200)] })
      const { address } = yield* startApp({ env: { SLACK_WEBHOOKURL: `${hook.url}/services/T0/B0/s3cr3t-token` } })
      expect((yield* post(address.url, falcoEvent)).status).toBe(200)
      yield* hook.waitFor(1)
      yield* Effect.sleep("50 millis")

      const listed = yield* request(`${address.url}/api/v1/deadletters?output=slack&limit=10`)
      expect(listed.status).toBe(200)
      expect(listed.headers["content-type"]).toContain("application/json")
      expect(listed.body).not.toContain("s3cr3t-token")
      // evt.time is an int64 beyond 2^53: its digits are kept as Falco sent them
      expect(listed.body).toContain(`"evt.time":1700000000408091526`)
      const page = JSON.parse(listed.body)
      expect(page.total).toBe(1)
      expect(page.deadletters).toHaveLength(1)
      expect(page.deadletters[0]).toMatchObject({
        id: 1,
        output: "slack",
        reason: "rejected",
        status: 404,
        attempts: 1,
        error: `resource not found (404) from ${hook.url}: no such hook`
      })
      expect(page.deadletters[0].event.rule).toBe("Terminal shell in container")

      const replayed = yield* post(`${address.url}/api/v1/deadletters/replay?output=slack`, "")
      expect(replayed.status).toBe(200)
      expect(JSON.parse(replayed.body)).toEqual({ replayed: 1, left: 0 })
      const [, again] = yield* hook.waitFor(2)
      expect(again!.path).toBe("/services/T0/B0/s3cr3t-token")
      yield* Effect.sleep("50 millis")
      expect(JSON.parse((yield* request(`${address.url}/api/v1/deadletters`)).body)).toEqual({ total: 0, deadletters: [] })
    }))

  it.scopedLive("bad parameters get a 400 with the reason; a wrong method a 405", () =>
    Effect.gen(function*() {
      const hook = yield* makeReceiver()
      const { address } = yield* startApp({ env: { WEBHOOK_ADDRESS: hook.url } })
      const unknown = yield* request(`${address.url}/api/v1/deadletters?output=slack`)
      expect(unknown.status).toBe(400)
      expect(JSON.parse(unknown.body).error).toBe(`unknown output "slack": expected one of webhook`)
      const limit = yield* request(`${address.url}/api/v1/deadletters?limit=0`)
      expect(limit.status).toBe(400)
      expect(JSON.parse(limit.body).error).toBe(`limit must be an integer from 1 to 10000, not "0"`)
      const missing = yield* post(`${address.url}/api/v1/deadletters/replay`, "")
      expect(missing.status).toBe(400)
      expect((yield* request(`${address.url}/api/v1/deadletters/replay?output=webhook`)).status).toBe(405)
      expect(hook.count).toBe(0)
    }))

  it("a summary (what a full spool dropped) is listed with its count instead of an event", () => {
    const json = deadLetterJson({
      id: 7,
      output: "webhook",
      reason: "queue_full",
      at: Date.UTC(2026, 0, 2, 3, 4, 5),
      error: "the spool was full",
      attempts: 0,
      summary: { events: 4096 }
    })
    expect(JSON.parse(json)).toEqual({
      id: 7,
      output: "webhook",
      reason: "queue_full",
      at: "2026-01-02T03:04:05.000Z",
      error: "the spool was full",
      attempts: 0,
      events: 4096
    })
  })

  it.effect("deadletter.output must name an enabled output: start-up refuses naming the key, the value and the choices", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(readAppConfig(makeSource({ tree: {}, env: { WEBHOOK_ADDRESS: "http://x", DEADLETTER_OUTPUT: "s3" } })))
      expect(error.message).toBe(
        `invalid config: deadletter.output (DEADLETTER_OUTPUT from env) = "s3": expected one of the enabled outputs: webhook`
      )
    }))
})
