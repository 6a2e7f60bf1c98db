import { it } from "@effect/vitest"
import { type Priority } from "@sidekick/event"
import { eventWith, makeReceiver, referenceEvent, referenceOutput as O, status } from "@sidekick/testing"
import { Effect, Either } from "effect"
import { describe, expect } from "vitest"
import { Opsgenie, opsgenieBody, OpsgenieConfig, opsgeniePayload, opsgenieUrl } from "../src/Opsgenie.js"
import { config, decode, jsonHeaders, startSingle } from "./helpers.js"

const apikey = "eb243592-faa2-4ba2-a551q-1afdf565c889"

/** catalog §4.2, with the trailing newline of Go's json.Encoder */
const catalogExample =
  `{"message":"${O}","entity":"Falcosidekick","description":"Terminal shell in container","details":{"container_id":"abc123","hostname":"node-1","k8s_ns_name":"default","k8s_pod_name":"nginx-1","priority":"Critical","proc_name":"bash","rule":"Terminal shell in container","source":"syscall","tags":"T1059, container, mitre_execution, shell","user_name":"root"},"priority":"P2"}\n`

describe("Opsgenie", () => {
  it("payload: the catalog's example", () => {
    expect(opsgenieBody(referenceEvent)).toBe(catalogExample)
  })

  it("payload: falcosidekick's own test vector (numbers skipped, tags in event order)", () => {
    const e = eventWith({
      output: "This is a test from falcosidekick",
      priority: "Debug",
      rule: "Test rule",
      output_fields: { "proc.name": "falcosidekick", "proc.tty": 1234 },
      source: "syscalls",
      tags: ["test", "example"],
      hostname: "test-host"
    })
    expect(opsgenieBody(e)).toBe(
      `{"message":"This is a test from falcosidekick","entity":"Falcosidekick","description":"Test rule","details":{"hostname":"test-host","priority":"Debug","proc_name":"falcosidekick","rule":"Test rule","source":"syscalls","tags":"test, example"},"priority":"P5"}\n`
    )
  })

  it("priority: P1 for Emergency and Alert ... P5 for Notice and below", () => {
    const expected: Record<Priority, string> = {
      Emergency: "P1",
      Alert: "P1",
      Critical: "P2",
      Error: "P3",
      Warning: "P4",
      Notice: "P5",
      Informational: "P5",
      Debug: "P5"
    }
    for (const [priority, p] of Object.entries(expected) as Array<[Priority, string]>) {
      const payload = opsgeniePayload(eventWith({ priority })) as { priority: string; details: Record<string, string> }
      expect(payload.priority).toBe(p)
      expect(payload.details["priority"]).toBe(priority)
    }
  })

  it("details: the event's own attributes win over output fields; no hostname/tags when empty; non-ASCII kept", () => {
    const e = eventWith({
      rule: "Écriture — 日本語",
      output: "fichier <ouvert> & modifié 🚨",
      output_fields: { "source": "spoofed", "fd.name": "/etc/é", "evt.num": 7, "ok": true },
      hostname: "",
      tags: []
    })
    expect(opsgenieBody(e)).toBe(
      `{"message":"fichier \\u003couvert\\u003e \\u0026 modifié 🚨","entity":"Falcosidekick","description":"Écriture — 日本語","details":{"fd_name":"/etc/é","priority":"Critical","rule":"Écriture — 日本語","source":"syscall"},"priority":"P2"}\n`
    )
  })

  it("url: the region's alerts endpoint unless opsgenie.url is set", () => {
    expect(opsgenieUrl(config(OpsgenieConfig, {}))).toBe("https://api.opsgenie.com/v2/alerts")
    expect(opsgenieUrl(config(OpsgenieConfig, { region: "EU" }))).toBe("https://api.eu.opsgenie.com/v2/alerts")
    expect(opsgenieUrl(config(OpsgenieConfig, {}, { OPSGENIE_REGION: "eu" }))).toBe("https://api.eu.opsgenie.com/v2/alerts")
    expect(opsgenieUrl(config(OpsgenieConfig, { region: "eu", url: "http://proxy/v2/alerts" }))).toBe("http://proxy/v2/alerts")
  })

  it("config: apikey first, defaults, a bad region refused without the key", () => {
    expect(OpsgenieConfig.keys[0]!.key).toBe("opsgenie.apikey")
    const c = config(OpsgenieConfig, {})
    expect(c.region).toBe("us")
    expect(c.url).toBe("")
    expect(c.checkcert).toBe(true)
    expect(c.mutualtls).toBe(false)
    expect(c.maxconcurrentrequests).toBe(1)
    expect(Opsgenie.enabled(c)).toBe(false)
    expect(Opsgenie.enabled(config(OpsgenieConfig, {}, { OPSGENIE_APIKEY: apikey }))).toBe(true)
    // the falcosidekick chart ships region: "" — that is the default region
    expect(config(OpsgenieConfig, { region: "" }).region).toBe("us")
    const bad = decode(OpsgenieConfig, { apikey, region: "asia" })
    expect(Either.isLeft(bad)).toBe(true)
    if (Either.isLeft(bad)) {
      expect(bad.left.message).toContain("opsgenie.region")
      expect(bad.left.message).not.toContain(apikey)
    }
  })

  it.scoped("POSTs the payload with Authorization: GenieKey <apikey>; Opsgenie's 202 is a success", () =>
    Effect.gen(function*() {
      const rx = yield* makeReceiver({ responses: [status(202, "{\"result\":\"Request will be processed\"}")] })
      const output = yield* startSingle(Opsgenie, config(OpsgenieConfig, { apikey, url: `${rx.url}/v2/alerts` }))
      expect(output.name).toBe("opsgenie")
      yield* output.send(referenceEvent)
      const [r] = yield* rx.waitFor(1)
      expect(r!.method).toBe("POST")
      expect(r!.path).toBe("/v2/alerts")
      expect(r!.headers).toMatchObject({ ...jsonHeaders, authorization: `GenieKey ${apikey}` })
      expect(r!.body).toBe(catalogExample)
    }))

  it.scoped("a 4xx is a non-retryable Status error that does not carry the API key", () =>
    Effect.gen(function*() {
      const rx = yield* makeReceiver({ responses: [status(422, "{\"message\":\"Request body is not processable\"}")] })
      const output = yield* startSingle(Opsgenie, config(OpsgenieConfig, { apikey, url: `${rx.url}/v2/alerts` }))
      const error = yield* Effect.flip(output.send(referenceEvent))
      expect(error._tag).toBe("OutputError")
      expect(error.reason).toBe("Status")
      expect(error.status).toBe(422)
      expect(error.retryable).toBe(false)
      expect(error.message).not.toContain(apikey)
    }))
})
