import { it, layer } from "@effect/vitest"
import { OutputError } from "@sidekick/delivery"
import { type Priority } from "@sidekick/event"
import { eventWith, makeReceiver, referenceEvent, referenceOutput as O, type Responder, status } from "@sidekick/testing"
import { Effect, Either } from "effect"
import { describe, expect } from "vitest"
import { Datadog, datadogBody, DatadogConfig, datadogPayload, datadogUrl } from "../src/Datadog.js"
import { joinUrlPath, scrubSecrets } from "../src/Endpoint.js"
import { chosenHeaders, config, decode, jsonHeaders, Peer, peer, startSingle } from "./helpers.js"

const apikey = "0123456789abcdef0123456789abcdef"

/** catalog §2.4, with the trailing newline of Go's json.Encoder */
const catalogExample =
  `{"title":"Terminal shell in container","text":"${O}","alert_type":"error","source_type_name":"falco","tags":["container.id:abc123","k8s.ns.name:default","k8s.pod.name:nginx-1","proc.name:bash","user.name:root","source:syscall","source:falco","hostname:node-1","T1059","container","mitre_execution","shell"]}\n`

describe("Datadog", () => {
  it("payload: the catalog's example, byte for byte", () => {
    expect(datadogBody(referenceEvent)).toBe(catalogExample)
  })

  it("payload: falcosidekick's own test vector (numbers skipped)", () => {
    const e = eventWith({
      output: "This is a test from falcosidekick",
      priority: "Debug",
      rule: "Test rule",
      output_fields: { "proc.name": "falcosidekick", "proc.tty": 1234 },
      source: "syscalls",
      tags: ["example", "test"],
      hostname: "test-host"
    })
    expect(datadogBody(e)).toBe(
      `{"title":"Test rule","text":"This is a test from falcosidekick","alert_type":"info","source_type_name":"falco","tags":["proc.name:falcosidekick","source:syscalls","source:falco","hostname:test-host","example","test"]}\n`
    )
  })

  it("alert_type: error for Error and above, warning, info for Notice and below", () => {
    const expected: Record<Priority, string> = {
      Emergency: "error",
      Alert: "error",
      Critical: "error",
      Error: "error",
      Warning: "warning",
      Notice: "info",
      Informational: "info",
      Debug: "info"
    }
    for (const [priority, alertType] of Object.entries(expected) as Array<[Priority, string]>) {
      expect((datadogPayload(eventWith({ priority })) as { alert_type: string }).alert_type).toBe(alertType)
    }
  })

  it("payload: empty rule omitted; no hostname tag or event tags when absent; <, > and & escaped", () => {
    const e = eventWith({ rule: "", output: "a <b> & c", output_fields: { "fd.name": "/etc/é", "evt.num": 7, ok: true }, hostname: "", tags: [] })
    expect(datadogBody(e)).toBe(
      `{"text":"a \\u003cb\\u003e \\u0026 c","alert_type":"error","source_type_name":"falco","tags":["fd.name:/etc/é","source:syscall","source:falco"]}\n`
    )
  })

  it("url: the events path on the host, one slash whatever the host ends with, the key escaped", () => {
    expect(datadogUrl("https://api.datadoghq.com", apikey)).toBe(`https://api.datadoghq.com/api/v1/events?api_key=${apikey}`)
    expect(datadogUrl("https://api.datadoghq.eu/", "a&b=c")).toBe("https://api.datadoghq.eu/api/v1/events?api_key=a%26b%3Dc")
    expect(joinUrlPath("http://h:1//", "/x")).toBe("http://h:1/x")
    // "" (what falcosidekick's chart writes for an unset key) is the default host
    expect(datadogUrl("", apikey)).toBe(`https://api.datadoghq.com/api/v1/events?api_key=${apikey}`)
  })

  it("config: apikey first and enabling, defaults, env", () => {
    expect(DatadogConfig.keys[0]!.key).toBe("datadog.apikey")
    const c = config(DatadogConfig, {})
    expect(c.host).toBe("https://api.datadoghq.com")
    expect(c.checkcert).toBe(true)
    expect(c.mutualtls).toBe(false)
    expect(c.maxconcurrentrequests).toBe(1)
    expect(c.minimumpriority).toBe("")
    expect(Datadog.enabled(c)).toBe(false)
    expect(Datadog.enabled(config(DatadogConfig, {}, { DATADOG_APIKEY: apikey }))).toBe(true)
    expect(config(DatadogConfig, {}, { DATADOG_HOST: "https://api.datadoghq.eu" }).host).toBe("https://api.datadoghq.eu")
    const bad = decode(DatadogConfig, { apikey, maxconcurrentrequests: "many" })
    expect(Either.isLeft(bad) && bad.left.message.includes("datadog.maxconcurrentrequests") && !bad.left.message.includes(apikey)).toBe(true)
  })

  it("scrubSecrets: the secret leaves the message; a cause that mentions it is left out", () => {
    const error = new OutputError({ output: "datadog", reason: "Status", status: 403, message: `refused: /x?api_key=${apikey}`, cause: new Error(apikey) })
    const scrubbed = scrubSecrets([apikey])(error)
    expect(scrubbed.message).toBe("refused: /x?api_key=<redacted>")
    expect(scrubbed.status).toBe(403)
    expect(scrubbed.retryable).toBe(false)
    expect(scrubbed.cause).toBeUndefined()
    const clean = new OutputError({ output: "datadog", reason: "Transport", message: "ECONNRESET" })
    expect(scrubSecrets([apikey, ""])(clean)).toBe(clean)
  })

  it.scoped("a host that is not an http(s) URL refuses start-up naming datadog.host, without the key", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(startSingle(Datadog, config(DatadogConfig, { apikey, host: "api.datadoghq.com" })))
      expect(error._tag).toBe("OutputInitError")
      expect(error.key).toBe("datadog.host")
      expect(error.message).toContain("datadog.host")
      expect(error.message).not.toContain(apikey)
    }))

  layer(Peer.layer)((it) => {
    it.scoped("POSTs the payload to /api/v1/events with the key in the query; minimumpriority is read", () =>
      Effect.gen(function*() {
        const rx = yield* peer(status(202, "{\"status\":\"ok\"}"))
        const output = yield* startSingle(Datadog, config(DatadogConfig, { apikey, host: rx.url, minimumpriority: "warning" }))
        expect(output.name).toBe("datadog")
        expect(output.kind).toBe("single")
        expect(output.minimumPriority).toBe(4)
        expect(output.maxConcurrentRequests).toBe(1)
        yield* output.send(referenceEvent)
        const [r] = yield* rx.waitFor(1)
        expect(r!.method).toBe("POST")
        expect(r!.path).toBe(`/api/v1/events?api_key=${apikey}`)
        expect(chosenHeaders(r!.headers)).toEqual(jsonHeaders)
        expect(r!.body).toBe(catalogExample)
      }))

    it.scoped("a 4xx is permanent, a 5xx retryable; neither message shows the key, even when the peer echoes the URL", () =>
      Effect.gen(function*() {
        const echo = (code: number): Responder => (request) => status(code, `{"errors":["Forbidden"],"url":"${request.path}"}`)
        const rx = yield* peer(echo(403), echo(503))
        const output = yield* startSingle(Datadog, config(DatadogConfig, { apikey, host: rx.url }))
        const forbidden = yield* Effect.flip(output.send(referenceEvent))
        expect(forbidden.reason).toBe("Status")
        expect(forbidden.status).toBe(403)
        expect(forbidden.retryable).toBe(false)
        expect(forbidden.message).toContain("api_key=<redacted>")
        expect(forbidden.message).not.toContain(apikey)
        const unavailable = yield* Effect.flip(output.send(referenceEvent))
        expect(unavailable.status).toBe(503)
        expect(unavailable.retryable).toBe(true)
        expect(unavailable.message).not.toContain(apikey)
        expect(rx.requests.map((r) => r.path)).toEqual([`/api/v1/events?api_key=${apikey}`, `/api/v1/events?api_key=${apikey}`])
      }))
  })

  it.scoped("a refused connection is a retryable Transport error without the key in its message or cause", () =>
    Effect.gen(function*() {
      // a receiver whose scope is already closed: its port refuses connections
      const closed = yield* Effect.scoped(makeReceiver())
      const output = yield* startSingle(Datadog, config(DatadogConfig, { apikey, host: closed.url }))
      const error = yield* Effect.flip(output.send(referenceEvent))
      expect(error.reason).toBe("Transport")
      expect(error.retryable).toBe(true)
      expect(error.message).toContain(closed.url)
      expect(error.message).not.toContain(apikey)
      expect(String(error.cause)).not.toContain(apikey)
    }))
})
