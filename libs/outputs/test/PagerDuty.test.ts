import { it } from "@effect/vitest"
import { LosslessNumber, priorities } from "@sidekick/event"
import { eventWith, makeReceiver, referenceEvent, referenceOutput as O, status } from "@sidekick/testing"
import { Duration, Effect, Either } from "effect"
import { describe, expect } from "vitest"
import { PagerDuty, pagerdutyBody, PagerDutyConfig, pagerdutyUrl } from "../src/PagerDuty.js"
import { config, decode, startSingle } from "./helpers.js"

const routingKey = "R0ut1ngK3yR0ut1ngK3yR0ut1ngK3y32"

/** catalog §4.3: json.Marshal, so no trailing newline */
const catalogExample =
  `{"routing_key":"${routingKey}","event_action":"trigger","payload":{"summary":"${O}","source":"falco","severity":"critical","timestamp":"2024-05-06T10:20:30Z","custom_details":{"container.id":"abc123","hostname":"node-1","k8s.ns.name":"default","k8s.pod.name":"nginx-1","proc.name":"bash","proc.pid":4242,"user.name":"root"}}}`

type Body = { payload: { severity: string; timestamp: string; custom_details: Record<string, unknown> } }
const parsed = (body: string) => JSON.parse(body) as Body

describe("PagerDuty", () => {
  it("body: the catalog's example, byte for byte", () => {
    expect(pagerdutyBody(referenceEvent, routingKey)).toBe(catalogExample)
  })

  it("body: falcosidekick's own test vector (the event's hostname replaces an output field of that name)", () => {
    const e = eventWith({
      output: "This is a test from falcosidekick",
      priority: "Debug",
      rule: "Test rule",
      time: "2001-01-01T01:10:00Z",
      timeUnixNanos: 978311400000000000n,
      output_fields: { "hostname": "from-fields", "proc.name": "falcosidekick", "proc.tty": 1234 },
      hostname: "test-host"
    })
    expect(pagerdutyBody(e, "")).toBe(
      `{"routing_key":"","event_action":"trigger","payload":{"summary":"This is a test from falcosidekick","source":"falco","severity":"critical","timestamp":"2001-01-01T01:10:00Z","custom_details":{"hostname":"test-host","proc.name":"falcosidekick","proc.tty":1234}}}`
    )
  })

  it("severity is critical whatever the priority", () => {
    for (const priority of priorities) {
      expect(parsed(pagerdutyBody(eventWith({ priority }), routingKey)).payload.severity).toBe("critical")
    }
  })

  it("timestamp: RFC 3339 at whole seconds, in UTC", () => {
    const at = (time: string, timeUnixNanos: bigint) => parsed(pagerdutyBody(eventWith({ time, timeUnixNanos }), routingKey)).payload.timestamp
    const nanos = (iso: string, fraction: bigint) => BigInt(Date.parse(iso)) * 1_000_000n + fraction
    expect(at("2024-05-06T12:20:30.999999999+02:00", nanos("2024-05-06T10:20:30Z", 999_999_999n))).toBe("2024-05-06T10:20:30Z")
    expect(at("2024-12-31T23:59:59Z", nanos("2024-12-31T23:59:59Z", 0n))).toBe("2024-12-31T23:59:59Z")
    expect(at("1969-12-31T23:59:59.999999999Z", -1n)).toBe("1969-12-31T23:59:59Z")
  })

  it("custom_details: raw output fields with their digits, keys sorted as Go sorts them, no hostname when empty", () => {
    const e = eventWith({
      output: "fichier <ouvert> & modifié 🚨",
      output_fields: {
        "2": "two",
        "10": "ten",
        "évt": "é",
        "big": new LosslessNumber("1700000000408091526"),
        "float": new LosslessNumber("1.10"),
        "nested": { z: 1, a: [{ y: true, b: null }] },
        "Upper": "U"
      },
      hostname: ""
    })
    expect(pagerdutyBody(e, routingKey)).toBe(
      `{"routing_key":"${routingKey}","event_action":"trigger","payload":{"summary":"fichier \\u003couvert\\u003e \\u0026 modifié 🚨","source":"falco","severity":"critical","timestamp":"2024-05-06T10:20:30Z","custom_details":{"10":"ten","2":"two","Upper":"U","big":1700000000408091526,"float":1.10,"nested":{"a":[{"b":null,"y":true}],"z":1},"évt":"é"}}}`
    )
  })

  it("url: the US endpoint by default, the EU one for region eu, pagerduty.url when set", () => {
    expect(pagerdutyUrl(config(PagerDutyConfig, {}))).toBe("https://events.pagerduty.com/v2/enqueue")
    expect(pagerdutyUrl(config(PagerDutyConfig, { region: "EU" }))).toBe("https://events.eu.pagerduty.com/v2/enqueue")
    expect(pagerdutyUrl(config(PagerDutyConfig, { region: "eu", url: "http://relay:8080/v2/enqueue" }))).toBe("http://relay:8080/v2/enqueue")
  })

  it("config: routingkey first, defaults, a bad region refused without the key", () => {
    expect(PagerDutyConfig.keys[0]!.key).toBe("pagerduty.routingkey")
    const c = config(PagerDutyConfig, {})
    expect(c.region).toBe("us")
    expect(c.url).toBe("")
    expect(c.checkcert).toBe(true)
    expect(c.maxconcurrentrequests).toBe(1)
    expect(PagerDuty.enabled(c)).toBe(false)
    expect(PagerDuty.enabled(config(PagerDutyConfig, {}, { PAGERDUTY_ROUTINGKEY: routingKey }))).toBe(true)
    const bad = decode(PagerDutyConfig, { routingkey: routingKey, region: "apac" })
    expect(Either.isLeft(bad)).toBe(true)
    if (Either.isLeft(bad)) {
      expect(bad.left.message).toContain("pagerduty.region")
      expect(bad.left.message).not.toContain(routingKey)
    }
  })

  it.scoped("POSTs the event as go-pagerduty does; the 202 PagerDuty answers is a success", () =>
    Effect.gen(function*() {
      const rx = yield* makeReceiver({ responses: [status(202, "{\"status\":\"success\",\"dedup_key\":\"x\"}")] })
      const output = yield* startSingle(PagerDuty, config(PagerDutyConfig, { routingkey: routingKey, url: `${rx.url}/v2/enqueue` }))
      expect(output.name).toBe("pagerduty")
      yield* output.send(referenceEvent)
      const [r] = yield* rx.waitFor(1)
      expect(r!.method).toBe("POST")
      expect(r!.path).toBe("/v2/enqueue")
      expect(r!.headers).toMatchObject({ "content-type": "application/json", "user-agent": "go-pagerduty/1.8.0" })
      expect(r!.body).toBe(catalogExample)
    }))

  it.scoped("a 200 is not PagerDuty's success: a non-retryable Status error", () =>
    Effect.gen(function*() {
      const rx = yield* makeReceiver({ responses: [status(200, "ok")] })
      const output = yield* startSingle(PagerDuty, config(PagerDutyConfig, { routingkey: routingKey, url: rx.url }))
      const error = yield* Effect.flip(output.send(referenceEvent))
      expect(error._tag).toBe("OutputError")
      expect(error.reason).toBe("Status")
      expect(error.status).toBe(200)
      expect(error.retryable).toBe(false)
    }))

  it.scoped("a 400 is non-retryable, a 429 retryable after Retry-After; neither message carries the routing key", () =>
    Effect.gen(function*() {
      const rx = yield* makeReceiver({
        responses: [
          status(400, "{\"status\":\"invalid event\",\"message\":\"Event object is invalid\"}"),
          status(429, "", { "Retry-After": "7" })
        ]
      })
      const output = yield* startSingle(PagerDuty, config(PagerDutyConfig, { routingkey: routingKey, url: rx.url }))
      const invalid = yield* Effect.flip(output.send(referenceEvent))
      expect(invalid.status).toBe(400)
      expect(invalid.retryable).toBe(false)
      expect(invalid.message).toContain("Event object is invalid")
      expect(invalid.message).not.toContain(routingKey)
      const limited = yield* Effect.flip(output.send(referenceEvent))
      expect(limited.status).toBe(429)
      expect(limited.retryable).toBe(true)
      expect(limited.retryAfter).toEqual(Duration.seconds(7))
      expect(limited.message).not.toContain(routingKey)
    }))
})
