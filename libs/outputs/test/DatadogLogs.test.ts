import { it, layer } from "@effect/vitest"
import { LosslessNumber } from "@sidekick/event"
import { eventWith, referenceEvent, referenceEventJson, status } from "@sidekick/testing"
import { Effect } from "effect"
import { describe, expect } from "vitest"
import { DatadogLogs, datadogLogsBody, DatadogLogsConfig, datadogLogsUrl } from "../src/DatadogLogs.js"
import { chosenHeaders, config, jsonHeaders, Peer, peer, startSingle } from "./helpers.js"

const apikey = "fedcba9876543210fedcba9876543210"

/** J(E′) as a JSON string */
const quotedEvent = `"${referenceEventJson.replaceAll("\"", "\\\"")}"`

/** catalog §3.9, with the trailing newline of Go's json.Encoder */
const catalogExample = `{"ddsource":"falco","hostname":"node-1","message":${quotedEvent},"ddtags":"T1059,container,mitre_execution,shell"}\n`

describe("DatadogLogs", () => {
  it("payload: the catalog's example, byte for byte (the event JSON as the message)", () => {
    expect(datadogLogsBody(referenceEvent, "")).toBe(catalogExample)
  })

  it("payload: service when set; hostname and ddtags omitted when empty; int64 digits kept in the message", () => {
    const e = eventWith({ output_fields: { "evt.time": new LosslessNumber("1714990830123456789"), "fd.name": "<x>" }, hostname: "", tags: [] })
    const message = `{"uuid":"3f0c0b0e-5c1a-4d2e-9f3a-1b2c3d4e5f60","output":"${referenceEvent.output}","priority":"Critical","rule":"Terminal shell in container","time":"2024-05-06T10:20:30.123456789Z","output_fields":{"evt.time":1714990830123456789,"fd.name":"\\u003cx\\u003e"},"source":"syscall"}`
    expect(datadogLogsBody(e, "falco-prod")).toBe(
      `{"ddsource":"falco","service":"falco-prod","message":"${message.replaceAll("\\", "\\\\").replaceAll("\"", "\\\"")}"}\n`
    )
  })

  it("url: one slash between the host and /api/v2/logs (falcosidekick's default host would give //api/v2/logs)", () => {
    expect(datadogLogsUrl(config(DatadogLogsConfig, {}).host)).toBe("https://http-intake.logs.datadoghq.com/api/v2/logs")
    expect(datadogLogsUrl("https://http-intake.logs.datadoghq.eu")).toBe("https://http-intake.logs.datadoghq.eu/api/v2/logs")
    expect(datadogLogsUrl("")).toBe("https://http-intake.logs.datadoghq.com/api/v2/logs")
  })

  it("config: apikey first and enabling, defaults, env", () => {
    expect(DatadogLogsConfig.keys[0]!.key).toBe("datadoglogs.apikey")
    const c = config(DatadogLogsConfig, {})
    expect(c.host).toBe("https://http-intake.logs.datadoghq.com/")
    expect(c.service).toBe("")
    expect(c.checkcert).toBe(true)
    expect(c.mutualtls).toBe(false)
    expect(c.maxconcurrentrequests).toBe(1)
    expect(DatadogLogs.enabled(c)).toBe(false)
    const fromEnv = config(DatadogLogsConfig, {}, { DATADOGLOGS_APIKEY: apikey, DATADOGLOGS_SERVICE: "svc" })
    expect(DatadogLogs.enabled(fromEnv)).toBe(true)
    expect(fromEnv.service).toBe("svc")
  })

  it.scoped("a host that is not an http(s) URL refuses start-up naming datadoglogs.host", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(startSingle(DatadogLogs, config(DatadogLogsConfig, { apikey, host: "intake:443" })))
      expect(error.key).toBe("datadoglogs.host")
      expect(error.message).not.toContain(apikey)
    }))

  layer(Peer.layer)((it) => {
    it.scoped("POSTs the payload to <host>/api/v2/logs with DD-API-KEY; minimumpriority is read", () =>
      Effect.gen(function*() {
        const rx = yield* peer(status(202, "{}"))
        const output = yield* startSingle(
          DatadogLogs,
          config(DatadogLogsConfig, { apikey, host: `${rx.url}/`, service: "falco", minimumpriority: "error" })
        )
        expect(output.name).toBe("datadoglogs")
        expect(output.minimumPriority).toBe(5)
        yield* output.send(referenceEvent)
        const [r] = yield* rx.waitFor(1)
        expect(r!.method).toBe("POST")
        expect(r!.path).toBe("/api/v2/logs")
        expect(chosenHeaders(r!.headers)).toEqual({ ...jsonHeaders, "dd-api-key": apikey })
        expect(r!.body).toBe(
          `{"ddsource":"falco","hostname":"node-1","service":"falco","message":${quotedEvent},"ddtags":"T1059,container,mitre_execution,shell"}\n`
        )
      }))

    it.scoped("a 4xx is permanent, a 5xx retryable; neither message shows the key", () =>
      Effect.gen(function*() {
        const rx = yield* peer(status(403, "{\"errors\":[{\"status\":\"403\",\"title\":\"Forbidden\"}]}"), status(500))
        const output = yield* startSingle(DatadogLogs, config(DatadogLogsConfig, { apikey, host: rx.url }))
        const forbidden = yield* Effect.flip(output.send(referenceEvent))
        expect(forbidden.status).toBe(403)
        expect(forbidden.retryable).toBe(false)
        expect(forbidden.message).toContain("Forbidden")
        expect(forbidden.message).not.toContain(apikey)
        const down = yield* Effect.flip(output.send(referenceEvent))
        expect(down.status).toBe(500)
        expect(down.retryable).toBe(true)
        expect(rx.requests).toHaveLength(2)
      }))
  })
})
