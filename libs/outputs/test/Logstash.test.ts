import { it } from "@effect/vitest"
import { currentAttemptTimeout, defaultDeliveryOptions, Dispatcher, type OutputError, Outputs } from "@sidekick/delivery"
import { eventJson, type FalcoEvent, LosslessNumber } from "@sidekick/event"
import { Metrics } from "@sidekick/telemetry"
import { eventWith, makeTlsMaterial, referenceEvent, referenceEventJson, type TlsMaterial } from "@sidekick/testing"
import { Context, Duration, Effect, Either, Exit, Layer, Scope } from "effect"
import * as net from "node:net"
import * as tls from "node:tls"
import { afterAll, beforeAll, describe, expect } from "vitest"
import { Logstash, LogstashConfig, logstashLine, logstashTlsFiles } from "../src/Logstash.js"
import { config, decode, startSingle } from "./helpers.js"

// ---------------------------------------------------------------------------------------------------------------
// A Logstash `tcp` input stand-in: records every byte each connection sends
// ---------------------------------------------------------------------------------------------------------------

interface Peer {
  readonly port: number
  /** the bytes of every connection, in the order connections were accepted */
  readonly text: () => string
  readonly lines: () => Array<string>
  readonly connections: () => number
  /** client certificates' subjects (TLS peers) */
  readonly clientSubjects: Array<string>
  /** Logstash stopping: its connections closed (FIN), then the listener */
  readonly stop: () => Promise<void>
  /** Logstash crashing before it read what was sent: its connections reset (RST), then the listener closed */
  readonly crash: () => Promise<void>
}

interface PeerOptions {
  readonly port?: number
  readonly tls?: tls.TlsOptions
  /** accept connections but never read from them */
  readonly neverRead?: boolean
}

const listen = (options: PeerOptions = {}): Promise<Peer> =>
  new Promise((resolve, reject) => {
    const chunks: Array<Array<Buffer>> = []
    const sockets = new Set<net.Socket>()
    const clientSubjects: Array<string> = []
    const onSocket = (socket: net.Socket) => {
      sockets.add(socket)
      socket.on("close", () => sockets.delete(socket))
      socket.on("error", () => {})
      if (socket instanceof tls.TLSSocket) clientSubjects.push(String(socket.getPeerCertificate().subject?.CN))
      if (options.neverRead) return
      const mine: Array<Buffer> = []
      chunks.push(mine)
      socket.on("data", (chunk: Buffer) => mine.push(chunk))
    }
    const server = options.tls === undefined
      ? net.createServer({ pauseOnConnect: options.neverRead === true }, onSocket)
      : tls.createServer(options.tls, onSocket)
    server.on("error", reject)
    const closeServer = () => new Promise<void>((done) => server.close(() => done()))
    server.listen(options.port ?? 0, "127.0.0.1", () => {
      const text = () => chunks.map((c) => Buffer.concat(c).toString("utf8")).join("")
      resolve({
        port: (server.address() as net.AddressInfo).port,
        text,
        lines: () => text().split("\r\n").slice(0, -1),
        connections: () => chunks.length + (options.neverRead ? sockets.size : 0),
        clientSubjects,
        stop: () => {
          for (const s of sockets) s.destroy()
          return closeServer()
        },
        crash: () => {
          for (const s of sockets) s.resetAndDestroy()
          return closeServer()
        }
      })
    })
  })

/** wait (without a deadline of its own: the test's timeout is the limit) until `condition` holds */
const until = (condition: () => boolean): Effect.Effect<void> =>
  Effect.promise(async () => {
    while (!condition()) await new Promise((r) => setTimeout(r, 5))
  })

const peer = (options?: PeerOptions) =>
  Effect.acquireRelease(Effect.promise(() => listen(options)), (p) => Effect.promise(() => p.stop()))

/** a port nothing listens on (just released) */
const freePort = () => Effect.promise(() => listen().then(async (p) => (await p.stop(), p.port)))

const numbered = (n: number): FalcoEvent => eventWith({ uuid: `00000000-0000-4000-8000-${String(n).padStart(12, "0")}` })
const lineOf = (event: FalcoEvent) => eventJson(event)

const logstashAt = (port: number, extra: Record<string, unknown> = {}) =>
  config(LogstashConfig, { address: "127.0.0.1", port, ...extra })

let material: TlsMaterial
const tlsScope = Effect.runSync(Scope.make())
beforeAll(async () => {
  material = await Effect.runPromise(Scope.extend(makeTlsMaterial, tlsScope))
})
afterAll(() => Effect.runPromise(Scope.close(tlsScope, Exit.void)))

describe("Logstash", () => {
  it("line: the event as falcosidekick marshals it, CRLF-terminated", () => {
    expect(logstashLine(referenceEvent, [])).toBe(referenceEventJson + "\r\n")
  })

  it("line: logstash.tags appended after the event's tags, not re-sorted; none at all stays omitted", () => {
    expect(logstashLine(referenceEvent, ["zeta", "Alpha"])).toBe(
      referenceEventJson.replace(`"tags":["T1059","container","mitre_execution","shell"]`, `"tags":["T1059","container","mitre_execution","shell","zeta","Alpha"]`) +
        "\r\n"
    )
    expect(logstashLine(eventWith({ tags: [] }), ["falco"])).toContain(`,"source":"syscall","tags":["falco"],"hostname":"node-1"}`)
    expect(logstashLine(eventWith({ tags: [] }), [])).toContain(`,"source":"syscall","hostname":"node-1"}`)
  })

  it("line: key[N] becomes key.N in output field keys, nested maps too, values untouched", () => {
    const event = eventWith({
      output_fields: {
        "proc.aname[2]": "bash",
        "proc.aname[10]": "containerd",
        "evt.arg[1][3]": "x",
        "fd.name[abc]": "kept",
        "evt.time": new LosslessNumber("1714990830123456789"),
        "nested": { "a[0]": 1, "deeper": { "b[7]": true } },
        "list": [{ "c[1]": "maps in lists are not rewritten" }]
      }
    })
    expect(logstashLine(event, [])).toContain(
      `"output_fields":{"evt.arg.1.3":"x","evt.time":1714990830123456789,"fd.name[abc]":"kept",` +
        `"list":[{"c[1]":"maps in lists are not rewritten"}],"nested":{"a.0":1,"deeper":{"b.7":true}},` +
        `"proc.aname.10":"containerd","proc.aname.2":"bash"},"source"`
    )
  })

  it("config: falcosidekick's keys and defaults (checkcert false), enabled by address", () => {
    const c = config(LogstashConfig, {})
    expect(c).toMatchObject({
      address: "",
      port: 5044,
      tls: false,
      mutualtls: false,
      checkcert: false,
      certfile: "",
      keyfile: "",
      cacertfile: "",
      tags: [],
      minimumpriority: ""
    })
    expect(Logstash.enabled(c)).toBe(false)
    expect(Logstash.enabled(config(LogstashConfig, { address: "logstash" }))).toBe(true)
    const fromEnv = config(LogstashConfig, {}, { LOGSTASH_ADDRESS: "ls", LOGSTASH_PORT: "5000", LOGSTASH_TLS: "true", LOGSTASH_TAGS: "a,b" })
    expect(fromEnv).toMatchObject({ address: "ls", port: 5000, tls: true, tags: ["a", "b"] })
    expect(config(LogstashConfig, { tags: ["x", "y"] }).tags).toEqual(["x", "y"])
    const bad = decode(LogstashConfig, { port: 70000 })
    expect(Either.isLeft(bad) && bad.left.message).toContain("logstash.port")
  })

  it.scoped("an address with a port (or a URL) refuses start-up naming logstash.address", () =>
    Effect.gen(function*() {
      for (const address of ["logstash:5044", "tcp://logstash"]) {
        const error = yield* Effect.flip(startSingle(Logstash, config(LogstashConfig, { address })))
        expect(error._tag).toBe("OutputInitError")
        expect(error.key).toBe("logstash.address")
      }
    }))

  it("TLS files: logstash.certfile|keyfile|cacertfile when they exist, else the global mutual TLS files", () => {
    const global = { certFile: "/g/client.crt", keyFile: "/g/client.key", caCertFile: "/g/ca.crt" }
    const exists = (present: ReadonlyArray<string>) => (path: string) => present.includes(path)
    const own = { certfile: "/o/c.crt", keyfile: "/o/c.key", cacertfile: "/o/ca.crt" }
    expect(logstashTlsFiles(own, global, exists(["/o/c.crt", "/o/c.key", "/o/ca.crt", ...Object.values(global)]))).toEqual({
      certFile: "/o/c.crt",
      keyFile: "/o/c.key",
      caCertFile: "/o/ca.crt"
    })
    // a configured file that does not exist falls back, as falcosidekick's firstValid does
    expect(logstashTlsFiles(own, global, exists(["/o/c.key", ...Object.values(global)]))).toEqual({
      certFile: "/g/client.crt",
      keyFile: "/o/c.key",
      caCertFile: "/g/ca.crt"
    })
    expect(logstashTlsFiles({ certfile: "", keyfile: "", cacertfile: "" }, global, exists([]))).toEqual({ certFile: "", keyFile: "", caCertFile: "" })
  })

  it.scoped("plain TCP: each event is one CRLF-terminated line on one connection, in order", () =>
    Effect.gen(function*() {
      const logstash = yield* peer()
      const output = yield* startSingle(Logstash, logstashAt(logstash.port, { tags: ["falco"] }))
      expect(output.name).toBe("logstash")
      expect(output.kind).toBe("single")
      expect(output.enforcesTimeout).toBe(true)
      for (let i = 1; i <= 3; i++) yield* output.send(numbered(i))
      yield* until(() => logstash.lines().length === 3)
      expect(logstash.text()).toBe([1, 2, 3].map((i) => logstashLine(numbered(i), ["falco"])).join(""))
      expect(logstash.connections()).toBe(1)
    }))

  it.scoped("a Logstash down at start-up does not stop the output: sends fail as retryable Transport errors until it is up", () =>
    Effect.gen(function*() {
      const port = yield* freePort()
      const output = yield* startSingle(Logstash, logstashAt(port))
      const error: OutputError = yield* Effect.flip(output.send(referenceEvent))
      expect(error.reason).toBe("Transport")
      expect(error.retryable).toBe(true)
      expect(error.message).toContain(`127.0.0.1:${port}`)
      expect(error.message).toContain("ECONNREFUSED")
      const logstash = yield* peer({ port })
      // as the Dispatcher would: again until it succeeds
      yield* Effect.retry(output.send(referenceEvent), { while: (e) => e.reason === "Transport" })
      yield* until(() => logstash.lines().length === 1)
      expect(logstash.text()).toBe(referenceEventJson + "\r\n")
    }))

  it.scoped("the attempt timeout ends a send that cannot connect (a peer that never completes the TLS handshake)", () =>
    Effect.gen(function*() {
      const silent = yield* peer({ neverRead: true })
      const output = yield* startSingle(Logstash, logstashAt(silent.port, { tls: true }))
      const error = yield* Effect.flip(Effect.locally(output.send(referenceEvent), currentAttemptTimeout, Duration.millis(100)))
      expect(error.reason).toBe("Timeout")
      expect(error.retryable).toBe(true)
    }))

  it.scoped("events Logstash never read before it crashed are written again on the next connection", () =>
    Effect.gen(function*() {
      // this Logstash accepts the connection but never reads: the writes succeed into the kernel's buffers
      const crashing = yield* Effect.promise(() => listen({ neverRead: true }))
      const output = yield* startSingle(Logstash, logstashAt(crashing.port))
      yield* output.send(numbered(1))
      yield* output.send(numbered(2))
      yield* Effect.promise(() => crashing.crash())
      // it comes back on the same port: the output reconnects by itself and writes both again, in order
      const restarted = yield* peer({ port: crashing.port })
      yield* until(() => restarted.lines().length === 2)
      expect(restarted.lines()).toEqual([lineOf(numbered(1)), lineOf(numbered(2))])
      // and keeps using the new connection
      yield* output.send(numbered(3))
      yield* until(() => restarted.lines().length === 3)
      expect(restarted.lines()[2]).toBe(lineOf(numbered(3)))
      expect(restarted.connections()).toBe(1)
    }))

  it.scoped("through the Dispatcher: Logstash restarts on the same port, no event is lost and the output reconnects", () =>
    Effect.gen(function*() {
      const first = yield* Effect.promise(() => listen())
      const output = yield* startSingle(Logstash, logstashAt(first.port))
      const layer = Dispatcher.layer({
        ...defaultDeliveryOptions,
        retry: { maxAge: "1 minute", maxAttempts: 0, initialDelay: "10 millis", maxDelay: "50 millis" },
        circuitBreaker: { failures: 1000, resetAfter: "50 millis" },
        shutdownTimeout: "1 second"
      }).pipe(
        Layer.provide(Layer.succeed(Outputs, [output])),
        Layer.provide(Metrics.layer({ falcoEventLabels: [], defaultMetrics: false }))
      )
      const dispatcher = Context.get(yield* Layer.build(layer), Dispatcher)
      const before = [1, 2, 3].map(numbered)
      for (const e of before) yield* dispatcher.publish(e)
      yield* until(() => first.lines().length === 3)
      yield* Effect.promise(() => first.stop())
      // published while Logstash is down: queued, attempted, retried
      const during = [4, 5, 6].map(numbered)
      for (const e of during) yield* dispatcher.publish(e)
      const second = yield* peer({ port: first.port })
      const expected = [...before, ...during].map(lineOf)
      yield* until(() => during.every((e) => second.lines().includes(lineOf(e))))
      expect(yield* dispatcher.drain("5 seconds")).toBe(true)
      const received = [...first.lines(), ...second.lines()]
      // every line is a whole event, every event arrived; the only duplicates are events written again
      // on the new connection because they were written just before the old one broke
      for (const line of received) expect(expected).toContain(line)
      for (const line of expected) expect(received).toContain(line)
      expect(second.lines().filter((l) => during.map(lineOf).includes(l))).toHaveLength(3)
      expect(second.connections()).toBeGreaterThanOrEqual(1)
      const status = dispatcher.status().find((s) => s.name === "logstash")
      expect(status?.delivered).toBe(6)
    }))

  describe("TLS", () => {
    it.scoped("tls: the same line over TLS; checkcert false (the default) accepts the test CA's certificate", () =>
      Effect.gen(function*() {
        const logstash = yield* peer({ tls: { key: material.serverKey, cert: material.serverCert } })
        const output = yield* startSingle(Logstash, logstashAt(logstash.port, { tls: true }))
        yield* output.send(referenceEvent)
        yield* until(() => logstash.lines().length === 1)
        expect(logstash.text()).toBe(referenceEventJson + "\r\n")
      }))

    it.scoped("tls with checkcert: refused without the CA (retryable), accepted with logstash.cacertfile", () =>
      Effect.gen(function*() {
        const logstash = yield* peer({ tls: { key: material.serverKey, cert: material.serverCert } })
        const unverified = yield* startSingle(Logstash, logstashAt(logstash.port, { tls: true, checkcert: true }))
        const error = yield* Effect.flip(unverified.send(referenceEvent))
        expect(error.reason).toBe("Transport")
        expect(error.message).toMatch(/certificate/i)
        const verified = yield* startSingle(Logstash, logstashAt(logstash.port, { tls: true, checkcert: true, cacertfile: material.caCertPath }))
        yield* verified.send(referenceEvent)
        yield* until(() => logstash.lines().length === 1)
        expect(logstash.text()).toBe(referenceEventJson + "\r\n")
      }))

    const mtlsPeer = () =>
      peer({ tls: { key: material.serverKey, cert: material.serverCert, ca: material.caCert, requestCert: true, rejectUnauthorized: true } })

    it.scoped("mutualtls: the client certificate from logstash.certfile|keyfile|cacertfile", () =>
      Effect.gen(function*() {
        const logstash = yield* mtlsPeer()
        const output = yield* startSingle(
          Logstash,
          logstashAt(logstash.port, {
            mutualtls: true,
            certfile: material.clientCertPath,
            keyfile: material.clientKeyPath,
            cacertfile: material.caCertPath
          })
        )
        yield* output.send(referenceEvent)
        yield* until(() => logstash.lines().length === 1)
        expect(logstash.text()).toBe(referenceEventJson + "\r\n")
        expect(logstash.clientSubjects).toEqual(["sidekick-test-client"])
      }))

    it.scoped("mutualtls: the global mutual TLS files when the output names none", () =>
      Effect.gen(function*() {
        const logstash = yield* mtlsPeer()
        const output = yield* startSingle(Logstash, logstashAt(logstash.port, { mutualtls: true }), { tls: { caCertFile: "", mutualTls: { certFile: material.clientCertPath, keyFile: material.clientKeyPath, caCertFile: material.caCertPath } } })
        yield* output.send(referenceEvent)
        yield* until(() => logstash.lines().length === 1)
        expect(logstash.clientSubjects).toEqual(["sidekick-test-client"])
      }))

    it.scoped("mutualtls without a readable client certificate refuses start-up naming logstash.certfile", () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(
          startSingle(Logstash, logstashAt(1, { mutualtls: true, certfile: `${material.dir}/missing.crt` }), { tls: { caCertFile: "", mutualTls: { certFile: `${material.dir}/absent.crt`, keyFile: material.clientKeyPath, caCertFile: material.caCertPath } } })
        )
        expect(error._tag).toBe("OutputInitError")
        expect(error.key).toBe("logstash.certfile")
        expect(error.message).toContain("missing.crt")
      }))
  })
})
