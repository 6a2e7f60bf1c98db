/**
 * Syslog: falcosidekick's frames byte for byte against node `dgram` / `net` listeners (one connection kept,
 * and replaced when the server closes it), and for real against rsyslog (Debian's `rsyslog` package, which
 * .ci/run installs): one `rsyslogd` for the file, with imudp and imtcp on loopback writing to a temp file,
 * its work directory in a temp dir and no /dev/log (imuxsock not loaded). Without `rsyslogd` the real-peer
 * tests are skipped locally and fail in CI.
 */
import { it } from "@effect/vitest"
import { priorities, type Priority } from "@sidekick/event"
import { eventWith, referenceEvent, referenceEventJson, referenceOutput as O } from "@sidekick/testing"
import { Duration, Effect, Either, Exit, Scope, TestClock } from "effect"
import { spawnSync } from "node:child_process"
import * as dgram from "node:dgram"
import { existsSync, readFileSync, writeFileSync } from "node:fs"
import * as net from "node:net"
import { hostname } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect } from "vitest"
import { cefMessage, rfc3339Local, Syslog, SyslogConfig, syslogFrame, syslogMessage, syslogSeverity } from "../src/Syslog.js"
import { config, decode, freePorts, spawnScoped, startSingle, tempDir } from "./helpers.js"

/** catalog §9.9's CEF line for the reference event (output fields sorted) */
const referenceCef = `CEF:0|Falcosecurity|Falco|1.0|Falco Event|Terminal shell in container|8|uuid=3f0c0b0e-5c1a-4d2e-9f3a-1b2c3d4e5f60 ` +
  `start=2024-05-06T10:20:30Z msg=${O} source=syscall hostname=node-1 ` +
  `outputfields=container.id:abc123 k8s.ns.name:default k8s.pod.name:nginx-1 proc.name:bash proc.pid:4242 user.name:root ` +
  `tags=T1059,container,mitre_execution,shell`

/** the instant the tests' clock shows, and how Go's log/syslog writes it in this process's zone */
const now = Date.parse("2026-08-17T09:15:02.750Z")
const stamp = rfc3339Local(now)

/** the frame the output must write for an event, at `now` */
const expectedFrame = (message: string, severity = 2) => `<${severity}>${stamp} ${hostname()} Falco[${process.pid}]: ${message}\n`

/** poll (real clock) until `check` holds; fails after 5 s with what was seen */
const eventually = <A>(what: string, read: () => A, check: (a: A) => boolean): Effect.Effect<A> =>
  Effect.gen(function*() {
    const deadline = Date.now() + 5_000
    for (;;) {
      const value = read()
      if (check(value)) return value
      if (Date.now() > deadline) return yield* Effect.die(new Error(`${what}: still ${JSON.stringify(value)}`))
      yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 5)))
    }
  })

interface TcpPeer {
  readonly port: number
  /** the bytes received on each connection, in accept order */
  readonly received: Array<string>
  readonly sockets: Array<net.Socket>
  /** resolves when connection i is fully closed (both directions) */
  readonly closed: Array<Promise<void>>
}

/** a TCP listener on loopback recording each connection's bytes */
const tcpPeer = Effect.acquireRelease(
  Effect.async<{ server: net.Server; peer: TcpPeer }>((resume) => {
    const peer = { port: 0, received: [] as Array<string>, sockets: [] as Array<net.Socket>, closed: [] as Array<Promise<void>> }
    const server = net.createServer((socket) => {
      const i = peer.sockets.length
      peer.sockets.push(socket)
      peer.received.push("")
      peer.closed.push(new Promise((resolve) => socket.once("close", () => resolve())))
      socket.on("data", (chunk: Buffer) => (peer.received[i] += chunk.toString("utf8")))
      socket.on("error", () => {})
    })
    server.listen(0, "127.0.0.1", () => {
      peer.port = (server.address() as net.AddressInfo).port
      resume(Effect.succeed({ server, peer }))
    })
  }),
  ({ peer, server }) =>
    Effect.async<void>((resume) => {
      for (const s of peer.sockets) s.destroy()
      server.close(() => resume(Effect.void))
    })
).pipe(Effect.map(({ peer }) => peer))

/** a UDP socket on loopback recording each datagram */
const udpPeer = Effect.acquireRelease(
  Effect.async<{ socket: dgram.Socket; port: number; datagrams: Array<string> }>((resume) => {
    const socket = dgram.createSocket("udp4")
    const datagrams: Array<string> = []
    socket.on("message", (message) => datagrams.push(message.toString("utf8")))
    socket.bind(0, "127.0.0.1", () => resume(Effect.succeed({ socket, port: socket.address().port, datagrams })))
  }),
  ({ socket }) =>
    Effect.async<void>((resume) => {
      socket.close(() => resume(Effect.void))
    })
)

describe("Syslog", () => {
  it("frame: Go log/syslog's network frame around falcosidekick's JSON", () => {
    expect(syslogMessage(referenceEvent, "json")).toBe(referenceEventJson)
    expect(syslogFrame({ severity: 2, timestamp: "2026-08-17T09:15:02Z", hostname: "sidekick-pod", pid: 1, message: referenceEventJson })).toBe(
      `<2>2026-08-17T09:15:02Z sidekick-pod Falco[1]: ${referenceEventJson}\n`
    )
    // a message that already ends with a newline gets no second one (Go's rule)
    expect(syslogFrame({ severity: 7, timestamp: "t", hostname: "h", pid: 9, message: "x\n" })).toBe("<7>t h Falco[9]: x\n")
  })

  it("timestamp: Go's time.RFC3339 in the local zone, whole seconds, Z for UTC", () => {
    expect(rfc3339Local(now, 0)).toBe("2026-08-17T09:15:02Z")
    expect(rfc3339Local(now, 120)).toBe("2026-08-17T11:15:02+02:00")
    expect(rfc3339Local(now, -330)).toBe("2026-08-17T03:45:02-05:30")
    expect(rfc3339Local(Date.parse("2026-12-31T23:59:59.999Z"), 60)).toBe("2027-01-01T00:59:59+01:00")
  })

  it("severity: Emergency 0 to Debug 7 (facility 0, so the PRI), CEF's own scale", () => {
    expect(syslogSeverity).toEqual({ Emergency: 0, Alert: 1, Critical: 2, Error: 3, Warning: 4, Notice: 5, Informational: 6, Debug: 7 })
    const cef = (priority: Priority) => cefMessage(eventWith({ priority })).split("|")[6]
    // Debug ... Emergency
    expect(priorities.map(cef)).toEqual(["0", "3", "4", "6", "7", "8", "9", "10"])
  })

  it("cef: the catalog's line, fields sorted; hostname and tags only when set; Go %v values; line breaks as \\n", () => {
    expect(cefMessage(referenceEvent)).toBe(referenceCef)
    expect(syslogMessage(referenceEvent, "cef")).toBe(referenceCef)
    const bare = eventWith({
      hostname: "",
      tags: [],
      time: "2024-05-06T12:20:30.5+02:00",
      output: "line one\nline two\r",
      output_fields: { z: null, b: true, a: [1, "x"], m: { y: 2, x: "q" } }
    })
    expect(cefMessage(bare)).toBe(
      `CEF:0|Falcosecurity|Falco|1.0|Falco Event|Terminal shell in container|8|uuid=3f0c0b0e-5c1a-4d2e-9f3a-1b2c3d4e5f60 ` +
        `start=2024-05-06T12:20:30+02:00 msg=line one\\nline two\\r source=syscall outputfields=a:[1 x] b:true m:map[x:q y:2] z:<nil>`
    )
    expect(cefMessage(eventWith({ output_fields: {}, tags: [] }))).toMatch(/ hostname=node-1 outputfields=$/)
  })

  it("config: enabled by host; protocol and format case-insensitive; a bad value refuses start-up naming the key", () => {
    const c = config(SyslogConfig, {})
    expect(SyslogConfig.keys[0]!.key).toBe("syslog.host")
    expect([c.host, c.port, c.protocol, c.format]).toEqual(["", 0, undefined, "json"])
    expect(Syslog.enabled(c)).toBe(false)
    expect(Syslog.displayName).toBe("Syslog")
    const set = config(SyslogConfig, { host: "logs", port: "514" }, { SYSLOG_PROTOCOL: "UDP", SYSLOG_FORMAT: "CEF" })
    expect(Syslog.enabled(set)).toBe(true)
    expect([set.port, set.protocol, set.format]).toEqual([514, "udp", "cef"])
    // falcosidekick's chart writes port: "" and the example protocol: "": both unset
    expect(config(SyslogConfig, { port: "", protocol: "" })).toMatchObject({ port: 0, protocol: undefined })
    for (const [key, value] of [["protocol", "tls"], ["format", "xml"], ["port", "70000"]] as const) {
      const bad = decode(SyslogConfig, { host: "logs", [key]: value })
      expect(Either.isLeft(bad) && bad.left.message.includes(`syslog.${key}`)).toBe(true)
    }
  })

  it.scoped("no protocol (falcosidekick has no default) or no port refuses start-up naming the key", () =>
    Effect.gen(function*() {
      const noProtocol = yield* Effect.flip(startSingle(Syslog, config(SyslogConfig, { host: "127.0.0.1", port: 514 })))
      expect(noProtocol.key).toBe("syslog.protocol")
      const noPort = yield* Effect.flip(startSingle(Syslog, config(SyslogConfig, { host: "127.0.0.1", protocol: "tcp" })))
      expect(noPort.key).toBe("syslog.port")
    }))

  it.scoped("udp: one datagram per event, falcosidekick's frame byte for byte", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(now)
      const peer = yield* udpPeer
      const output = yield* startSingle(Syslog, config(SyslogConfig, { host: "127.0.0.1", port: peer.port, protocol: "udp" }))
      expect(output.kind).toBe("single")
      expect(output.enforcesTimeout).toBe(false)
      // one send at a time: the TCP sender relies on it to never open two connections at once
      expect(output.maxConcurrentRequests).toBe(1)
      yield* output.send(referenceEvent)
      yield* output.send(eventWith({ priority: "Debug" }))
      const datagrams = yield* eventually("datagrams", () => peer.datagrams.slice(), (d) => d.length >= 2)
      expect(datagrams).toEqual([expectedFrame(referenceEventJson), expectedFrame(syslogMessage(eventWith({ priority: "Debug" }), "json"), 7)])
    }))

  it.scoped("udp: a frame larger than a datagram is an Encode error, not retried", () =>
    Effect.gen(function*() {
      const peer = yield* udpPeer
      const output = yield* startSingle(Syslog, config(SyslogConfig, { host: "127.0.0.1", port: peer.port, protocol: "udp" }))
      const error = yield* Effect.flip(output.send(eventWith({ output: "x".repeat(70_000) })))
      expect(error.reason).toBe("Encode")
      expect(error.retryable).toBe(false)
      // the output goes on
      yield* output.send(referenceEvent)
      yield* eventually("datagrams", () => peer.datagrams.length, (n) => n === 1)
    }))

  it.scoped("tcp: the frames of successive events on one connection; a new one after the server closes it", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(now)
      const peer = yield* tcpPeer
      const output = yield* startSingle(Syslog, config(SyslogConfig, { host: "127.0.0.1", port: peer.port, protocol: "TCP", format: "cef" }))
      const warning = eventWith({ priority: "Warning", uuid: "second" })
      yield* output.send(referenceEvent)
      yield* output.send(warning)
      const both = expectedFrame(referenceCef) + expectedFrame(cefMessage(warning), 4)
      yield* eventually("bytes on the first connection", () => peer.received.slice(), (r) => r[0] === both)
      expect(peer.sockets).toHaveLength(1)

      // the server closes the connection; once it is closed both ways, the next send connects again
      peer.sockets[0]!.end()
      yield* Effect.promise(() => peer.closed[0]!)
      yield* output.send(referenceEvent)
      const received = yield* eventually("bytes on the second connection", () => peer.received.slice(), (r) => r[1] === expectedFrame(referenceCef))
      expect(received).toEqual([both, expectedFrame(referenceCef)])
    }))

  it.scoped("tcp: the connection ends when the output stops", () =>
    Effect.gen(function*() {
      const peer = yield* tcpPeer
      const scope = yield* Scope.make()
      const output = yield* Scope.extend(startSingle(Syslog, config(SyslogConfig, { host: "127.0.0.1", port: peer.port, protocol: "tcp" })), scope)
      yield* output.send(referenceEvent)
      yield* eventually("a connection", () => peer.sockets.length, (n) => n === 1)
      yield* Scope.close(scope, Exit.void)
      yield* Effect.promise(() => peer.closed[0]!)
    }))

  it.scoped("tcp: a refused connection is a retryable Transport error naming host and port", () =>
    Effect.gen(function*() {
      // a port that was free a moment ago: nothing listens there
      const port = yield* tcpPeer.pipe(Effect.map((p) => p.port), Effect.scoped)
      const output = yield* startSingle(Syslog, config(SyslogConfig, { host: "127.0.0.1", port, protocol: "tcp" }))
      const error = yield* Effect.flip(output.send(referenceEvent))
      expect(error.reason).toBe("Transport")
      expect(error.retryable).toBe(true)
      expect(error.message).toContain(`127.0.0.1:${port}`)
      expect(error.message).toContain("ECONNREFUSED")
    }))
})

// ---------------------------------------------------------------------------------------------------------------
// The real rsyslog: one rsyslogd for the file
// ---------------------------------------------------------------------------------------------------------------

/** rsyslogd lives in /usr/sbin, which a non-root user's PATH may lack */
const rsyslogd = ["rsyslogd", "/usr/sbin/rsyslogd"].find((command) => spawnSync(command, ["-v"], { stdio: "ignore" }).error === undefined)
const rsyslogdFound = rsyslogd !== undefined
const inCI = (process.env.CI ?? "") !== ""
const realTitle = "real rsyslog (rsyslogd)"

interface Rsyslog {
  readonly udpPort: number
  readonly tcpPort: number
  /** the lines rsyslog wrote so far, as `severity|facility|hostname|tag|programname|procid|timestamp|msg` */
  readonly lines: () => Array<string>
}

/** rsyslogd in the foreground, everything in a temp dir: imudp and imtcp on loopback, every message to out.log */
const startRsyslogd: Effect.Effect<Rsyslog, never, Scope.Scope> = Effect.gen(function*() {
  const dir = yield* tempDir("sidekick-rsyslogd-")
  const [udpPort, tcpPort] = yield* Effect.promise(() => freePorts(2))
  const out = join(dir, "out.log")
  writeFileSync(
    join(dir, "rsyslog.conf"),
    [
      `global(workDirectory="${dir}" maxMessageSize="64k" net.enableDNS="off")`,
      // no imuxsock: nothing listens on /dev/log
      `module(load="imudp")`,
      `input(type="imudp" address="127.0.0.1" port="${udpPort!}")`,
      `module(load="imtcp")`,
      `input(type="imtcp" address="127.0.0.1" port="${tcpPort!}")`,
      `template(name="fields" type="string" string="%syslogseverity%|%syslogfacility%|%hostname%|%syslogtag%|%programname%|%procid%|%timereported:::date-rfc3339%|%msg%\\n")`,
      `*.* action(type="omfile" file="${out}" template="fields")`,
      ""
    ].join("\n")
  )
  const { child, stderr } = yield* spawnScoped(rsyslogd!, ["-n", "-f", join(dir, "rsyslog.conf"), "-i", join(dir, "rsyslogd.pid")])
  const lines = () => (existsSync(out) ? readFileSync(out, "utf8").split("\n").filter((l) => l !== "") : [])
  // ready when a probe datagram is written out (imtcp starts with imudp); probes repeat until then
  const probe = dgram.createSocket("udp4")
  const deadline = Date.now() + 15_000
  for (let i = 0;; i++) {
    yield* Effect.promise(() => new Promise((resolve) => probe.send(`<6>probe ${i}`, udpPort!, "127.0.0.1", resolve)))
    yield* Effect.sleep(Duration.millis(30))
    if (lines().some((l) => l.includes("probe"))) break
    if (Date.now() > deadline || child.exitCode !== null) {
      probe.close()
      return yield* Effect.die(new Error(`rsyslogd did not start: ${stderr()}`))
    }
  }
  probe.close()
  return { udpPort: udpPort!, tcpPort: tcpPort!, lines }
})

describe(realTitle, () => {
  if (!rsyslogdFound && !inCI) {
    const why = "rsyslogd is neither on PATH nor /usr/sbin/rsyslogd (Debian: apt-get install rsyslog); in CI (CI set) these tests fail instead"
    console.warn(`skipped: ${realTitle}: ${why}`)
    it.skip(`${realTitle} (skipped: ${why})`, () => {})
    return
  }
  if (!rsyslogdFound) {
    it("rsyslogd is installed (CI is set, so the real-peer tests must run): apt-get install rsyslog", () => {
      expect(rsyslogdFound).toBe(true)
    })
    return
  }

  const scope = Effect.runSync(Scope.make())
  let rsyslog: Rsyslog
  beforeAll(async () => {
    rsyslog = await Effect.runPromise(Scope.extend(startRsyslogd, scope))
  })
  afterAll(() => Effect.runPromise(Scope.close(scope, Exit.void)))

  /** what rsyslog parsed from our frame: severity, facility 0, our hostname, tag Falco[pid], the time, the message */
  const parsed = (message: string, severity: number) =>
    // RFC 3164's msg keeps the space that follows the tag
    `${severity}|0|${hostname()}|Falco[${process.pid}]:|Falco|${process.pid}|${stamp}| ${message}`

  it.scoped("udp and json: rsyslog reads severity, tag, hostname, time and the event JSON", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(now)
      const output = yield* startSingle(Syslog, config(SyslogConfig, { host: "127.0.0.1", port: rsyslog.udpPort, protocol: "udp" }))
      const events = [eventWith({ uuid: "udp-1" }), eventWith({ uuid: "udp-2", priority: "Notice" })]
      for (const e of events) yield* output.send(e)
      const lines = yield* eventually("rsyslog's lines", () => rsyslog.lines().filter((l) => l.includes("udp-")), (l) => l.length === 2)
      expect(lines.sort()).toEqual([
        parsed(syslogMessage(events[0]!, "json"), 2),
        parsed(syslogMessage(events[1]!, "json"), 5)
      ].sort())
    }))

  it.scoped("tcp and cef: frames on one connection are split into messages by rsyslog", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(now)
      const output = yield* startSingle(Syslog, config(SyslogConfig, { host: "127.0.0.1", port: rsyslog.tcpPort, protocol: "tcp", format: "cef" }))
      const events = [eventWith({ uuid: "tcp-1", priority: "Emergency" }), eventWith({ uuid: "tcp-2", priority: "Debug" }), eventWith({ uuid: "tcp-3" })]
      for (const e of events) yield* output.send(e)
      const lines = yield* eventually("rsyslog's lines", () => rsyslog.lines().filter((l) => l.includes("uuid=tcp-")), (l) => l.length === 3)
      expect(lines).toEqual([
        parsed(cefMessage(events[0]!), 0),
        parsed(cefMessage(events[1]!), 7),
        parsed(cefMessage(events[2]!), 2)
      ])
    }))
})
