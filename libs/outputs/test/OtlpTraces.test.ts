import { it } from "@effect/vitest"
import * as grpc from "@grpc/grpc-js"
import { defaultClassify, isPartialFailure } from "@sidekick/delivery"
import {
  eventWith,
  makeReceiver,
  makeTlsMaterial,
  opensslAvailable,
  type Receiver,
  referenceEvent,
  referenceOutput as O,
  type TlsMaterial
} from "@sidekick/testing"
import { ConfigProvider, Effect, Either, Exit, Logger, Scope } from "effect"
import { afterAll, beforeAll, describe, expect } from "vitest"
import { LosslessNumber } from "@sidekick/event"
import { fnv1a128Hex, OtlpTraces, OtlpTracesConfig, otlpTraceId, spanAttributes } from "../src/otlp/Traces.js"
import { config, decode, startBatch, startSingle } from "./helpers.js"
import { decodeSpans, requestsUnder, statusFromPath } from "./otlpProto.js"

// One recording receiver for the file: a path under /status/<code>/ answers that status, anything else 200.
const scope = Effect.runSync(Scope.make())
let rx: Receiver
let tls: TlsMaterial | undefined
let tlsRx: Receiver | undefined

beforeAll(async () => {
  rx = await Effect.runPromise(Scope.extend(makeReceiver({
    responses: [statusFromPath]
  }), scope))
  if (opensslAvailable()) {
    tls = await Effect.runPromise(Scope.extend(makeTlsMaterial, scope))
    tlsRx = await Effect.runPromise(Scope.extend(makeReceiver({ tls }), scope))
  }
})
afterAll(() => Effect.runPromise(Scope.close(scope, Exit.void)))


/** the requests sent under a test's own path prefix */
const at = (prefix: string) => requestsUnder(rx, prefix)

/** the reference event's span, as falcosidekick builds it */
const referenceTraceId = "640bf82f69b1bc682e890a66494ba1d2"
const referenceStart = 1714990830123456789n
const referenceAttributes = [
  ["uuid", "3f0c0b0e-5c1a-4d2e-9f3a-1b2c3d4e5f60"],
  ["source", "syscall"],
  ["priority", "Critical"],
  ["rule", "Terminal shell in container"],
  ["hostname", "node-1"],
  ["tags", ["T1059", "container", "mitre_execution", "shell"]],
  ["container.id", "abc123"],
  ["k8s.ns.name", "default"],
  ["k8s.pod.name", "nginx-1"],
  ["proc.name", "bash"],
  ["proc.pid", "4242"],
  ["user.name", "root"]
]

describe("OTLPTraces", () => {
  it("trace id: FNV-1a 128 of ns:pod, else container.id, else evt.hostname (falcosidekick's values)", () => {
    expect(otlpTraceId(referenceEvent)).toBe(referenceTraceId)
    expect(fnv1a128Hex("default:nginx-1")).toBe(referenceTraceId)
    // falcosidekick's otlp_traces_test.go cases
    const fields = { "k8s.ns.name": "my-ns", "k8s.pod.name": "my-pod-name", "container.id": "42", "evt.hostname": "localhost" }
    expect(otlpTraceId(eventWith({ output_fields: fields }))).toBe("087e7ab4196a3c4801e3c23bc1406163")
    expect(otlpTraceId(eventWith({ output_fields: { "container.id": "42", "evt.hostname": "localhost" } }))).toBe(
      "088094c785ab1be95aa073305569c06b"
    )
    expect(otlpTraceId(eventWith({ output_fields: { "evt.hostname": "localhost" } }))).toBe("b96c8fbfe005d268653aef8210412f0a")
    // only string values count; container "host" is no container; a pod without namespace is not enough
    expect(otlpTraceId(eventWith({ output_fields: { "container.id": 42, "evt.hostname": "localhost" } }))).toBe(
      "b96c8fbfe005d268653aef8210412f0a"
    )
    expect(otlpTraceId(eventWith({ output_fields: { "container.id": "host", "k8s.pod.name": "p" } }))).toBeUndefined()
    expect(fnv1a128Hex("")).toBe("6c62272e07bb014262b821756295c58d")
  })

  it("span attributes: the event's, then every output field as Go's %v, in key order", () => {
    const fields = { z: null, "evt.time": new LosslessNumber("1700000000408091526"), b: true, a: [1, "x"], m: { k: "v", a: 2 } }
    expect(Object.entries(spanAttributes(eventWith({ output_fields: fields, tags: [] })))).toEqual([
      ["uuid", "3f0c0b0e-5c1a-4d2e-9f3a-1b2c3d4e5f60"],
      ["source", "syscall"],
      ["priority", "Critical"],
      ["rule", "Terminal shell in container"],
      ["hostname", "node-1"],
      ["tags", []],
      ["a", "[1 x]"],
      ["b", "true"],
      ["evt.time", "1700000000408091526"],
      ["m", "map[a:2 k:v]"],
      ["z", "<nil>"]
    ])
  })

  it("keys and defaults as falcosidekick's; enabled by endpoint; an unknown protocol refuses start-up naming the key", () => {
    const c = config(OtlpTracesConfig, {})
    expect(c).toMatchObject({ protocol: "http/protobuf", timeout: 10000, synced: false, duration: 1000, tls: false, checkcert: true })
    expect(c.batching).toMatchObject({ enabled: true, maxevents: 512 })
    expect(OtlpTraces.enabled(c)).toBe(false)
    expect(OtlpTraces.enabled(config(OtlpTracesConfig, { endpoint: "http://otelcol:4318/v1/traces" }))).toBe(true)
    expect(config(OtlpTracesConfig, { protocol: "grpc" }).protocol).toBe("grpc")
    const refused = decode(OtlpTracesConfig, { endpoint: "http://x", protocol: "http/xml" })
    expect(Either.isLeft(refused) && refused.left.message).toContain("otlp.traces.protocol")
    const fromEnv = config(OtlpTracesConfig, {}, { OTLP_TRACES_EXTRAENVVARS: "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT:500, OTEL_RESOURCE_ATTRIBUTES : a=b" })
    expect(String(fromEnv.extraenvvars)).toBe("<redacted>")
  })

  it.scoped("synced: one export per event over OTLP/HTTP protobuf, the span exactly falcosidekick's, headers sent", () =>
    Effect.gen(function*() {
      const c = config(OtlpTracesConfig, {
        endpoint: `${rx.url}/synced/v1/traces`,
        synced: true,
        headers: "Authorization=Bearer%20s3cret, X-Scope-OrgID = tenant-1",
        minimumpriority: "warning"
      })
      const output = yield* startSingle(OtlpTraces, c)
      expect(output.name).toBe("otlp.traces")
      expect(output.testRuleBypass).toBe(false)
      expect(output.minimumPriority).toBe(4)

      yield* output.send(referenceEvent)
      // other sources are not exported, and that is not a failure
      yield* output.send(eventWith({ source: "k8s_audit" }))
      yield* output.send(eventWith({ source: "syscalls", rule: "Other rule", time: "2024-05-06T10:20:31Z", timeUnixNanos: 1714990831000000000n }))
      const requests = at("/synced/")
      expect(requests).toHaveLength(2)
      const [first, second] = requests
      expect(first!.method).toBe("POST")
      expect(first!.path).toBe("/synced/v1/traces")
      expect(first!.headers["content-type"]).toBe("application/x-protobuf")
      expect(first!.headers["authorization"]).toBe("Bearer s3cret")
      expect(first!.headers["x-scope-orgid"]).toBe("tenant-1")

      const [span] = decodeSpans(first!.bodyBuffer)
      expect(span).toMatchObject({
        traceId: referenceTraceId,
        parentSpanId: "",
        name: "Terminal shell in container",
        kind: 2, // SERVER
        startTimeUnixNano: referenceStart,
        endTimeUnixNano: referenceStart + 1_000_000_000n,
        events: [{ name: O, timeUnixNano: referenceStart, attributes: 0 }],
        scope: { name: "falco-event", version: "" },
        resource: {
          attributes: { "service.name": "falco", "service.version": "v0.1.0" },
          schemaUrl: "https://opentelemetry.io/schemas/1.23.1"
        }
      })
      expect(span!.attributes).toEqual(referenceAttributes)
      expect(span!.spanId).toMatch(/^[0-9a-f]{16}$/)

      const [other] = decodeSpans(second!.bodyBuffer)
      expect(other!.name).toBe("Other rule")
      expect(other!.startTimeUnixNano).toBe(1714990831000000000n)

      // the same event gives the same span id again (a retried export is the same span)
      yield* output.send(referenceEvent)
      expect(decodeSpans(at("/synced/")[2]!.bodyBuffer)[0]!.spanId).toBe(span!.spanId)

      // no trace id: a permanent Encode failure, nothing sent
      const noId = yield* Effect.flip(output.send(eventWith({ output_fields: { "proc.name": "bash" } })))
      expect(noId.reason).toBe("Encode")
      expect(noId.retryable).toBe(false)
      expect(at("/synced/")).toHaveLength(3)
    }))

  it.scoped("a 400 is a permanent Status failure, a 500 a retryable one; nothing of the headers in the error", () =>
    Effect.gen(function*() {
      const headers = "Authorization=Bearer%20s3cret"
      const refused = yield* startSingle(OtlpTraces, config(OtlpTracesConfig, { endpoint: `${rx.url}/status/400/v1/traces`, synced: true, headers }))
      const e400 = yield* Effect.flip(refused.send(referenceEvent))
      expect(e400).toMatchObject({ _tag: "OutputError", output: "otlp.traces", reason: "Status", status: 400 })
      expect(defaultClassify(e400)).toEqual({ _tag: "Drop" })
      expect(e400.message).not.toContain("s3cret")

      const failing = yield* startSingle(OtlpTraces, config(OtlpTracesConfig, { endpoint: `${rx.url}/status/500/v1/traces`, synced: true, headers }))
      const e500 = yield* Effect.flip(failing.send(referenceEvent))
      expect(e500).toMatchObject({ reason: "Status", status: 500 })
      expect(e500.retryable).toBe(true)
      expect(at("/status/")).toHaveLength(2)
    }))

  it.scoped("synced false: a batch is one request; other sources skipped, an event without trace id a partial failure", () =>
    Effect.gen(function*() {
      const output = yield* startBatch(OtlpTraces, config(OtlpTracesConfig, { endpoint: `${rx.url}/batch/v1/traces`, duration: 250 }))
      expect(output.batch).toMatchObject({ maxEvents: 512, maxBytes: 4 * 1024 * 1024 })
      const container = eventWith({ uuid: "u-2", output_fields: { "container.id": "42" } })
      const result = yield* output.send([
        referenceEvent,
        eventWith({ source: "k8s_audit" }),
        eventWith({ uuid: "u-3", output_fields: {} }),
        container
      ])
      expect(isPartialFailure(result)).toBe(true)
      if (!isPartialFailure(result)) return
      expect(result.failures.map((f) => [f.index, f.error.reason])).toEqual([[2, "Encode"]])

      const requests = at("/batch/")
      expect(requests).toHaveLength(1)
      const spans = decodeSpans(requests[0]!.bodyBuffer)
      expect(spans.map((s) => s.traceId)).toEqual([referenceTraceId, "088094c785ab1be95aa073305569c06b"])
      expect(spans[0]!.endTimeUnixNano - spans[0]!.startTimeUnixNano).toBe(250_000_000n)

      // only other sources: nothing to export, a success
      expect(yield* output.send([eventWith({ source: "aws_cloudtrail" })])).toBeUndefined()
      expect(at("/batch/")).toHaveLength(1)
    }))

  it.scoped("http/json: the same span as OTLP JSON", () =>
    Effect.gen(function*() {
      const output = yield* startSingle(OtlpTraces, config(OtlpTracesConfig, { endpoint: `${rx.url}/json/v1/traces`, protocol: "http/json", synced: true }))
      yield* output.send(referenceEvent)
      const [r] = at("/json/")
      expect(r!.headers["content-type"]).toBe("application/json")
      const span = JSON.parse(r!.body).resourceSpans[0].scopeSpans[0].spans[0]
      expect(span).toMatchObject({
        traceId: referenceTraceId,
        name: "Terminal shell in container",
        kind: 2,
        startTimeUnixNano: "1714990830123456789",
        endTimeUnixNano: "1714990831123456789"
      })
    }))

  it.scoped("extraenvvars: the signal's HEADERS and ENDPOINT override the keys, gzip compression; a bad value refuses start-up", () =>
    Effect.gen(function*() {
      const c = config(OtlpTracesConfig, {
        endpoint: `${rx.url}/ignored/v1/traces`,
        synced: true,
        headers: "x-from-key=1",
        extraenvvars: {
          OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${rx.url}/extra/v1/traces`,
          OTEL_EXPORTER_OTLP_TRACES_HEADERS: "x-from-extra=2",
          OTEL_EXPORTER_OTLP_COMPRESSION: "gzip",
          OTEL_RESOURCE_ATTRIBUTES: "deployment.environment=prod,service.name=not-falco",
          OTEL_BSP_MAX_QUEUE_SIZE: "10"
        }
      })
      // the start-up warnings: an entry Sidekick does not apply, and a header variable the SDK reads from the environment
      const warnings: Array<string> = []
      const output = yield* startSingle(OtlpTraces, c).pipe(
        Effect.provide(Logger.replace(Logger.defaultLogger, Logger.make(({ message }) => warnings.push([message].flat().join(" "))))),
        Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["OTEL_EXPORTER_OTLP_TRACES_HEADERS", "authorization=Bearer%20other"]])))
      )
      expect(warnings).toHaveLength(2)
      expect(warnings[0]).toContain("otlp.traces.extraenvvars: OTEL_BSP_MAX_QUEUE_SIZE has no effect")
      expect(warnings[1]).toContain("OTEL_EXPORTER_OTLP_TRACES_HEADERS is set in the environment")
      expect(warnings.join("\n")).not.toContain("other")
      yield* output.send(referenceEvent)
      expect(at("/ignored/")).toHaveLength(0)
      const [r] = at("/extra/")
      expect(r!.gzipped).toBe(true)
      expect(r!.headers["x-from-extra"]).toBe("2")
      expect(r!.headers["x-from-key"]).toBeUndefined()
      expect(decodeSpans(r!.bodyBuffer)[0]!.resource.attributes).toEqual({
        "deployment.environment": "prod",
        "service.name": "falco",
        "service.version": "v0.1.0"
      })

      const badTimeout = yield* Effect.flip(startSingle(OtlpTraces, config(OtlpTracesConfig, {
        endpoint: rx.url,
        extraenvvars: { OTEL_EXPORTER_OTLP_TRACES_TIMEOUT: "10s" }
      })))
      expect(badTimeout).toMatchObject({ _tag: "OutputInitError", key: "otlp.traces.extraenvvars" })
      expect(badTimeout.message).toContain("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT")

      const badHeaders = yield* Effect.flip(startSingle(OtlpTraces, config(OtlpTracesConfig, {
        endpoint: rx.url,
        headers: "Authorization: Bearer s3cret"
      })))
      expect(badHeaders).toMatchObject({ _tag: "OutputInitError", key: "otlp.traces.headers" })
      expect(badHeaders.message).not.toContain("s3cret")

      const badEndpoint = yield* Effect.flip(startSingle(OtlpTraces, config(OtlpTracesConfig, { endpoint: "otelcol:4318" })))
      expect(badEndpoint).toMatchObject({ _tag: "OutputInitError", key: "otlp.traces.endpoint" })
    }))

  it.scoped.skipIf(!opensslAvailable())("checkcert false accepts a self-signed collector; checkcert true refuses it (retryable)", () =>
    Effect.gen(function*() {
      const endpoint = `${tlsRx!.url}/tls/v1/traces`
      const insecure = yield* startSingle(OtlpTraces, config(OtlpTracesConfig, { endpoint, synced: true, checkcert: false }))
      yield* insecure.send(referenceEvent)
      expect(tlsRx!.requests.filter((r) => r.path === "/tls/v1/traces")).toHaveLength(1)

      const strict = yield* startSingle(OtlpTraces, config(OtlpTracesConfig, { endpoint, synced: true }))
      const refused = yield* Effect.flip(strict.send(referenceEvent))
      expect(refused.reason).toBe("Transport")
      expect(refused.retryable).toBe(true)

      // the CA given through extraenvvars makes the certificate trusted
      const trusted = yield* startSingle(OtlpTraces, config(OtlpTracesConfig, {
        endpoint,
        synced: true,
        extraenvvars: { OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE: tls!.caCertPath }
      }))
      yield* trusted.send(referenceEvent)
      expect(tlsRx!.requests.filter((r) => r.path === "/tls/v1/traces")).toHaveLength(2)
    }))

  it.scoped("grpc: the span reaches TraceService/Export with the headers as metadata; INVALID_ARGUMENT is permanent, UNAVAILABLE retried", () =>
    Effect.gen(function*() {
      const received: Array<{ readonly body: Buffer; readonly tenant: ReadonlyArray<unknown> }> = []
      let answer: grpc.status = grpc.status.OK
      const server = new grpc.Server()
      const identity = (b: Buffer) => b
      server.addService({
        Export: {
          path: "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
          requestStream: false,
          responseStream: false,
          requestSerialize: identity,
          requestDeserialize: identity,
          // an empty ExportTraceServiceResponse
          responseSerialize: () => Buffer.alloc(0),
          responseDeserialize: identity
        }
      }, {
        Export: (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
          received.push({ body: call.request, tenant: call.metadata.get("x-scope-orgid") })
          if (answer === grpc.status.OK) callback(null, Buffer.alloc(0))
          else callback({ code: answer, details: "not today" })
        }
      })
      const port = yield* Effect.acquireRelease(
        Effect.async<number, Error>((resume) => {
          server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (error, port) => {
            resume(error === null ? Effect.succeed(port) : Effect.fail(error))
          })
        }),
        () => Effect.sync(() => server.forceShutdown())
      )
      const output = yield* startSingle(OtlpTraces, config(OtlpTracesConfig, {
        endpoint: `http://127.0.0.1:${port}`,
        protocol: "grpc",
        synced: true,
        headers: "X-Scope-OrgID=tenant-1"
      }))
      yield* output.send(referenceEvent)
      expect(received).toHaveLength(1)
      expect(received[0]!.tenant).toEqual(["tenant-1"])
      const [span] = decodeSpans(received[0]!.body)
      expect(span).toMatchObject({ traceId: referenceTraceId, name: "Terminal shell in container", startTimeUnixNano: referenceStart })
      expect(span!.attributes).toEqual(referenceAttributes)

      answer = grpc.status.INVALID_ARGUMENT
      const invalid = yield* Effect.flip(output.send(referenceEvent))
      expect(invalid).toMatchObject({ reason: "Rejected", status: grpc.status.INVALID_ARGUMENT })
      expect(invalid.retryable).toBe(false)
      answer = grpc.status.UNAVAILABLE
      const unavailable = yield* Effect.flip(output.send(referenceEvent))
      expect(unavailable).toMatchObject({ reason: "Transport", status: grpc.status.UNAVAILABLE })
      expect(unavailable.retryable).toBe(true)
    }))
})
