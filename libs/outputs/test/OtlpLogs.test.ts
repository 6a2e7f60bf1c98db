import { it } from "@effect/vitest"
import { defaultClassify } from "@sidekick/delivery"
import {
  eventWith,
  makeReceiver,
  type Receiver,
  referenceEvent,
  referenceOutput as O
} from "@sidekick/testing"
import { Effect, Either, Exit, Scope, TestClock } from "effect"
import { afterAll, beforeAll, describe, expect } from "vitest"
import { OtlpLogs, OtlpLogsConfig } from "../src/otlp/Logs.js"
import { config, decode, startBatch, startSingle } from "./helpers.js"
import { decodeLogRecords, requestsUnder, statusFromPath } from "./otlpProto.js"

// One recording receiver for the file: a path under /status/<code>/ answers that status, anything else 200.
const scope = Effect.runSync(Scope.make())
let rx: Receiver

beforeAll(async () => {
  rx = await Effect.runPromise(Scope.extend(makeReceiver({
    responses: [statusFromPath]
  }), scope))
})
afterAll(() => Effect.runPromise(Scope.close(scope, Exit.void)))


const at = (prefix: string) => requestsUnder(rx, prefix)

/** the reference event's record attributes, as falcosidekick's slog bridge writes them */
const referenceAttributes = [
  ["priority", "Critical"],
  ["source", "syscall"],
  ["rule", "Terminal shell in container"],
  ["hostname", "node-1"],
  ["tags", "T1059,container,mitre_execution,shell"],
  ["timestamp", "2024-05-06 10:20:30.123456789 +0000 UTC"]
]

describe("OTLPLogs", () => {
  it("keys and defaults as falcosidekick's; enabled by endpoint; env sets extraenvvars too", () => {
    const c = config(OtlpLogsConfig, {})
    expect(c).toMatchObject({ endpoint: "", protocol: "http/protobuf", timeout: 10000, tls: false, checkcert: true, minimumpriority: "" })
    expect(c.batching).toMatchObject({ enabled: true, maxevents: 512 })
    expect(OtlpLogs.enabled(c)).toBe(false)
    expect(OtlpLogs.enabled(config(OtlpLogsConfig, { endpoint: "http://otelcol:4318/v1/logs" }))).toBe(true)
    const refused = decode(OtlpLogsConfig, { protocol: "http" })
    expect(Either.isLeft(refused) && refused.left.message).toContain("otlp.logs.protocol")
    expect(Either.isRight(decode(OtlpLogsConfig, {}, { OTLP_LOGS_EXTRAENVVARS: "OTEL_EXPORTER_OTLP_LOGS_TIMEOUT:500" }))).toBe(true)
  })

  it.scoped("one record per event: severity INFO, the output as body, falcosidekick's attributes, stamped now", () =>
    Effect.gen(function*() {
      // a whole second: the TestClock turns milliseconds into nanoseconds through a float
      yield* TestClock.setTime(1_800_000_000_000)
      const c = config(OtlpLogsConfig, { endpoint: `${rx.url}/one/v1/logs`, headers: "X-Scope-OrgID=tenant-1", batching: { enabled: false } })
      const output = yield* startSingle(OtlpLogs, c)
      expect(output.testRuleBypass).toBe(false)
      yield* output.send(referenceEvent)
      const [r] = at("/one/")
      expect(r!.path).toBe("/one/v1/logs")
      expect(r!.headers["content-type"]).toBe("application/x-protobuf")
      expect(r!.headers["x-scope-orgid"]).toBe("tenant-1")
      const [record] = decodeLogRecords(r!.bodyBuffer)
      expect(record).toMatchObject({
        severityNumber: 9,
        severityText: "INFO",
        body: O,
        // the send's time (the TestClock's), not the event's
        timeUnixNano: 1_800_000_000_000_000_000n,
        observedTimeUnixNano: 1_800_000_000_000_000_000n,
        traceId: "",
        spanId: "",
        scope: { name: "falco", version: "" },
        resource: {
          attributes: { "service.name": "falco", "service.version": "v0.1.0" },
          schemaUrl: "https://opentelemetry.io/schemas/1.23.1"
        }
      })
      expect(record!.attributes).toEqual(referenceAttributes)
    }))

  it.scoped("a batch is one request with one record per event; a 400 fails it for good, a 503 after the SDK's retries is retried", () =>
    Effect.gen(function*() {
      const output = yield* startBatch(OtlpLogs, config(OtlpLogsConfig, { endpoint: `${rx.url}/batch/v1/logs` }))
      expect(output.batch).toMatchObject({ maxEvents: 512 })
      yield* output.send([referenceEvent, eventWith({ source: "k8s_audit", tags: [], hostname: "" })])
      const [r] = at("/batch/")
      const records = decodeLogRecords(r!.bodyBuffer)
      expect(records.map((x) => x.attributes.slice(1, 5))).toEqual([
        [["source", "syscall"], ["rule", "Terminal shell in container"], ["hostname", "node-1"], ["tags", "T1059,container,mitre_execution,shell"]],
        [["source", "k8s_audit"], ["rule", "Terminal shell in container"], ["hostname", ""], ["tags", ""]]
      ])

      const refused = yield* startBatch(OtlpLogs, config(OtlpLogsConfig, { endpoint: `${rx.url}/status/400/v1/logs` }))
      const e400 = yield* Effect.flip(refused.send([referenceEvent]))
      expect(e400).toMatchObject({ output: "otlp.logs", reason: "Status", status: 400 })
      expect(defaultClassify(e400)).toEqual({ _tag: "Drop" })

      // the SDK retries a 503 itself within the timeout; what still fails is the Dispatcher's to retry
      const busy = yield* startBatch(OtlpLogs, config(OtlpLogsConfig, { endpoint: `${rx.url}/status/503/v1/logs`, timeout: 300 }))
      const e503 = yield* Effect.flip(busy.send([referenceEvent]))
      expect(e503.reason).toBe("Transport")
      expect(e503.retryable).toBe(true)
    }))

  it.scoped("http/json: the record as OTLP JSON", () =>
    Effect.gen(function*() {
      const output = yield* startSingle(OtlpLogs, config(OtlpLogsConfig, { endpoint: `${rx.url}/json/v1/logs`, protocol: "http/json", batching: { enabled: false } }))
      yield* output.send(referenceEvent)
      const [r] = at("/json/")
      expect(r!.headers["content-type"]).toBe("application/json")
      const record = JSON.parse(r!.body).resourceLogs[0].scopeLogs[0].logRecords[0]
      expect(record).toMatchObject({ severityNumber: 9, severityText: "INFO", body: { stringValue: O } })
    }))
})
