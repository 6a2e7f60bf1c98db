/**
 * Logstash: each event as one JSON line (`J(E″)` + CRLF) on a persistent TCP connection, optionally TLS
 * or mutual TLS: what Logstash's `tcp` input with the `json_lines` codec reads (falcosidekick's
 * `logstash` output, which writes through telkomdev/go-stash).
 *
 * The payload is falcosidekick's: the event with every `name[N]` in an output field key (nested maps
 * too) rewritten `name.N` (Logstash's JSON parser refuses such keys) and `logstash.tags` appended to the
 * event's tags (not re-sorted).
 *
 * Differences from falcosidekick, each on purpose:
 * - a Logstash that is down at start-up does not disable the output (falcosidekick dials once at start
 *   and gives up): the output starts, connects in the background and on each send, and its events wait
 *   in the Dispatcher's queue meanwhile; a lost connection is re-established (falcosidekick never
 *   reconnects unless a write reports EPIPE, and then it reports the lost event as sent);
 * - a send that cannot reach Logstash fails as a retryable `Transport` error, so the Dispatcher retries it;
 * - `logstash.cacertfile`, when set, is trusted with `tls` alone too (falcosidekick only reads it with
 *   `mutualtls`), and an IPv6 `address` works (falcosidekick writes `::1:5044`).
 *
 * What "delivered" means here. The `tcp` input acknowledges nothing: a write succeeds once the kernel
 * took the bytes, which says nothing about Logstash having read them. When Logstash dies, what it had
 * not read yet (its socket buffer, or bytes still in flight) is gone although our writes succeeded.
 * So a send succeeds only when its write completed on a connection that was open (the write callback,
 * without error), and the events written on a connection during the `replayWindowMillis` before it
 * broke (the peer's FIN or RST, a write or keepalive error) are written again, first, on the next
 * connection. That makes delivery at-least-once across a Logstash restart or crash, with duplicates
 * of those few seconds of events as the price. Not covered: events written longer than the window
 * before the break is noticed (a peer that vanishes without a FIN or RST, e.g. a powered-off host or a
 * NAT that drops the flow, is only noticed by TCP keepalive or retransmission timeouts, minutes
 * later), events Logstash read but lost itself (use its persistent queue), and events waiting to be
 * written again when Sidekick stops (they are logged).
 *
 * Hand-written on `node:net`/`node:tls`: the npm Logstash clients (winston/bunyan transports) are
 * loggers with their own unbounded queues and no failure reporting per message, where the Dispatcher
 * must learn of each send's outcome.
 */
import { Field } from "@sidekick/config"
import { currentAttemptTimeout, type OutputError } from "@sidekick/delivery"
import { eventJson, type FalcoEvent, isLosslessNumber } from "@sidekick/event"
import { Duration, Effect, FiberRef, Runtime } from "effect"
import { existsSync, readFileSync } from "node:fs"
import * as net from "node:net"
import * as tls from "node:tls"
import { define, type OutputContext } from "./Definition.js"
import { outputSection } from "./OutputConfig.js"
import { describeSocketError } from "./Socket.js"

export const LogstashConfig = outputSection("logstash", {
  /** host name or IP only: the port is `port` */
  address: Field.string(),
  port: Field.int(5044, { min: 1, max: 65535 }),
  /** TLS on the connection (implied by `mutualtls`) */
  tls: Field.bool(false),
  /** present a client certificate (implies TLS; the server certificate is then always checked) */
  mutualtls: Field.bool(false),
  /** falcosidekick's default is false for Logstash (its docs say true, its code does not) */
  checkcert: Field.bool(false),
  certfile: Field.string(),
  keyfile: Field.string(),
  cacertfile: Field.string(),
  /** appended to each event's tags */
  tags: Field.list()
})
export type LogstashConfig = typeof LogstashConfig.Type

// ---------------------------------------------------------------------------------------------------------------
// The payload
// ---------------------------------------------------------------------------------------------------------------

const indexInKey = /\[(\d+)\]/g

const isMap = (value: unknown): value is Readonly<Record<string, unknown>> =>
  typeof value === "object" && value !== null && !Array.isArray(value) && !isLosslessNumber(value)

const hasIndexedKey = (fields: Readonly<Record<string, unknown>>): boolean => {
  for (const key in fields) {
    if (key.includes("[")) return true
    const value = fields[key]
    if (isMap(value) && hasIndexedKey(value)) return true
  }
  return false
}

/**
 * falcosidekick's replaceKeysWithIndexes: `key[0]` becomes `key.0` in every key, nested maps included
 * (not maps inside arrays). When two keys become one, the one later in byte order wins (falcosidekick's
 * winner depends on Go's random map order).
 */
export const logstashFields = (fields: Readonly<Record<string, unknown>>): Record<string, unknown> => {
  const out: Record<string, unknown> = {}
  for (const key of Object.keys(fields).sort()) {
    const value = fields[key]
    out[key.replace(indexInKey, ".$1")] = isMap(value) ? logstashFields(value) : value
  }
  return out
}

/** one line for Logstash's json_lines codec: the event as falcosidekick sends it, CRLF-terminated */
export const logstashLine = (event: FalcoEvent, tags: ReadonlyArray<string>): string => {
  const rewrite = hasIndexedKey(event.output_fields)
  if (!rewrite && tags.length === 0) return eventJson(event) + "\r\n" // the event's own JSON, computed once for every output
  const payload: FalcoEvent = {
    uuid: event.uuid,
    output: event.output,
    priority: event.priority,
    rule: event.rule,
    time: event.time,
    timeUnixNanos: event.timeUnixNanos,
    output_fields: rewrite ? logstashFields(event.output_fields) : event.output_fields,
    source: event.source,
    tags: tags.length === 0 ? event.tags : [...event.tags, ...tags],
    hostname: event.hostname
  }
  return eventJson(payload) + "\r\n"
}

// ---------------------------------------------------------------------------------------------------------------
// TLS material
// ---------------------------------------------------------------------------------------------------------------

/** client certificate, key and CA files, resolved (a path, or "") */
export interface ClientTlsFiles {
  readonly certFile: string
  readonly keyFile: string
  readonly caCertFile: string
}

/** falcosidekick's firstValid: the first of the candidates that exists ("" when none does) */
const firstExisting = (candidates: ReadonlyArray<string>, exists: (path: string) => boolean): string =>
  candidates.find((path) => path !== "" && exists(path)) ?? ""

/** the files mutual TLS uses: `logstash.certfile|keyfile|cacertfile` when the file exists, else the global ones */
export const logstashTlsFiles = (
  c: Pick<LogstashConfig, "certfile" | "keyfile" | "cacertfile">,
  global: ClientTlsFiles,
  exists: (path: string) => boolean = existsSync
): ClientTlsFiles => ({
  certFile: firstExisting([c.certfile, global.certFile], exists),
  keyFile: firstExisting([c.keyfile, global.keyFile], exists),
  caCertFile: firstExisting([c.cacertfile, global.caCertFile], exists)
})

const readPem = (ctx: Pick<OutputContext, "initError">, key: string, candidates: ReadonlyArray<string>, file: string) =>
  Effect.try({
    try: () => {
      if (file === "") throw new Error(`none of ${candidates.filter((p) => p !== "").join(", ")} exists`)
      return readFileSync(file, "utf8")
    },
    catch: (cause) => ctx.initError(`cannot read the Logstash ${key}: ${(cause as Error).message}`, { key, cause })
  })

/** the TLS options of the connection, or undefined for plain TCP */
const tlsOptions = (c: LogstashConfig, ctx: Pick<OutputContext, "initError">, global: ClientTlsFiles) =>
  Effect.gen(function*() {
    if (!c.tls && !c.mutualtls) return undefined
    const base: tls.ConnectionOptions = { minVersion: "TLSv1.2" }
    if (c.mutualtls) {
      // falcosidekick: with mutual TLS the server is always verified, against the system roots and the CA file
      const files = logstashTlsFiles(c, global)
      return {
        ...base,
        rejectUnauthorized: true,
        cert: yield* readPem(ctx, "certfile", [c.certfile, global.certFile], files.certFile),
        key: yield* readPem(ctx, "keyfile", [c.keyfile, global.keyFile], files.keyFile),
        ca: [...tls.rootCertificates, yield* readPem(ctx, "cacertfile", [c.cacertfile, global.caCertFile], files.caCertFile)]
      }
    }
    const ca = c.checkcert && c.cacertfile !== "" ? [yield* readPem(ctx, "cacertfile", [c.cacertfile], c.cacertfile)] : []
    return { ...base, rejectUnauthorized: c.checkcert, ...(ca.length > 0 ? { ca: [...tls.rootCertificates, ...ca] } : {}) }
  })

// ---------------------------------------------------------------------------------------------------------------
// The connection
// ---------------------------------------------------------------------------------------------------------------

/** events written this long before their connection broke are written again on the next one */
export const replayWindowMillis = 5_000
/** at most about this many bytes are kept for that (more than a socket's send and receive buffers hold together) */
const replayMaxBytes = 16 * 1024 * 1024
/** go-stash's dial timeout */
const connectTimeoutMillis = 30_000
/** idle time before TCP keepalive probes start, so that a vanished peer is noticed while idle */
const keepAliveMillis = 60_000
const reconnectMinMillis = 250
const reconnectMaxMillis = 30_000

interface Written {
  readonly line: string
  readonly at: number
}

export interface ConnectionEvents {
  readonly connected: () => void
  /** the connection at start-up failed (later attempts are not reported: the sends that fail are) */
  readonly unreachable: (reason: string) => void
  readonly lost: (reason: string, toReplay: number) => void
}

/** the reason an error gives, with its code (ECONNREFUSED, ECONNRESET...) */

/**
 * One connection at a time to Logstash, opened on demand and again after it breaks, with the events
 * recently written on it kept for `replayWindowMillis` (see the module comment).
 */
export class LogstashConnection {
  private socket: net.Socket | undefined = undefined
  private connecting: Promise<net.Socket> | undefined = undefined
  /** written on the current socket, oldest first, within the window */
  private recent: Array<Written> = []
  private recentBytes = 0
  /** to write first on the next connection */
  private replay: Array<Written> = []
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined = undefined
  private reconnectDelay = reconnectMinMillis
  private closed = false

  constructor(
    readonly host: string,
    readonly port: number,
    private readonly tlsOptions: tls.ConnectionOptions | undefined,
    private readonly events: ConnectionEvents
  ) {}

  /** write one line; resolves once the kernel took it on an open connection */
  write(line: string): Promise<void> {
    return this.connect().then((socket) => this.writeOn(socket, line))
  }

  /** events still waiting to be written again */
  get pendingReplay(): number {
    return this.replay.length
  }

  /** open the connection now if it is not (a failure is only reported) */
  warmUp(): Promise<void> {
    return this.connect().then(() => undefined, (error: unknown) => {
      if (this.closed) return
      this.events.unreachable(describeSocketError(error))
      this.scheduleReconnect(true)
    })
  }

  /** end the connection gracefully (pending writes are flushed first); resolves when it is closed */
  close(): Promise<void> {
    this.closed = true
    if (this.reconnectTimer !== undefined) clearTimeout(this.reconnectTimer)
    const socket = this.socket
    if (socket === undefined) return Promise.resolve()
    return new Promise((resolve) => {
      const timer = setTimeout(() => socket.destroy(), 2_000)
      socket.once("close", () => {
        clearTimeout(timer)
        resolve()
      })
      socket.end()
    })
  }

  private connect(): Promise<net.Socket> {
    if (this.closed) return Promise.reject(new Error("the output is stopping"))
    if (this.socket !== undefined) return Promise.resolve(this.socket)
    this.connecting ??= new Promise<net.Socket>((resolve, reject) => {
      const socket = this.tlsOptions === undefined
        ? net.connect({ host: this.host, port: this.port })
        : tls.connect({
          ...this.tlsOptions,
          host: this.host,
          port: this.port,
          // SNI and the name checked are the host's, as Go's tls.Client sets ServerName (none for an IP)
          ...(net.isIP(this.host) === 0 ? { servername: this.host } : {})
        })
      const timer = setTimeout(
        () => socket.destroy(new Error(`no connection within ${Duration.format(Duration.millis(connectTimeoutMillis))}`)),
        connectTimeoutMillis
      )
      const failed = (error: Error) => {
        clearTimeout(timer)
        this.connecting = undefined
        socket.destroy()
        reject(error)
      }
      socket.once("error", failed)
      socket.once(this.tlsOptions === undefined ? "connect" : "secureConnect", () => {
        clearTimeout(timer)
        socket.off("error", failed)
        this.connecting = undefined
        if (this.closed) {
          socket.destroy()
          return reject(new Error("the output is stopping"))
        }
        this.adopt(socket)
        resolve(socket)
      })
    })
    return this.connecting
  }

  private adopt(socket: net.Socket) {
    socket.setKeepAlive(true, keepAliveMillis)
    // one event is one small write: send it now, as Go's TCP_NODELAY default does
    socket.setNoDelay(true)
    // the first sign wins: the peer's FIN ("end"), an error (RST, EPIPE, keepalive timeout) or the close;
    // nothing more is written on a connection the peer has ended
    const dead = (error?: Error) => {
      this.lost(socket, error)
      socket.destroy()
    }
    socket.on("error", dead)
    socket.on("end", () => dead())
    socket.on("close", () => dead())
    // Logstash sends nothing; reading is what lets us see its FIN or RST while idle
    socket.resume()
    this.socket = socket
    this.recent = []
    this.recentBytes = 0
    this.reconnectDelay = reconnectMinMillis
    this.events.connected()
    // what the previous connection may have lost goes first
    const again = this.replay
    this.replay = []
    for (const w of again) {
      this.writeOn(socket, w.line).catch(() => this.replay.push(w))
    }
  }

  private writeOn(socket: net.Socket, line: string): Promise<void> {
    if (socket !== this.socket) return Promise.reject(new Error("the connection was lost"))
    return new Promise((resolve, reject) => {
      socket.write(line, (error) => {
        if (error !== null && error !== undefined) return reject(error)
        this.remember(socket, line)
        resolve()
      })
    })
  }

  private remember(socket: net.Socket, line: string) {
    const now = Date.now()
    if (socket !== this.socket) {
      // the connection closed between the write and its completion: the bytes may be lost
      this.replay.push({ line, at: now })
      return
    }
    this.recent.push({ line, at: now })
    this.recentBytes += line.length
    let drop = 0
    let bytes = this.recentBytes
    while (drop < this.recent.length && (this.recent[drop]!.at < now - replayWindowMillis || bytes > replayMaxBytes)) {
      bytes -= this.recent[drop]!.line.length
      drop++
    }
    if (drop > 0) {
      this.recent.splice(0, drop)
      this.recentBytes = bytes
    }
  }

  private lost(socket: net.Socket, error: Error | undefined) {
    if (socket !== this.socket) return
    this.socket = undefined
    const since = Date.now() - replayWindowMillis
    const again = this.recent.filter((w) => w.at >= since)
    this.recent = []
    this.recentBytes = 0
    this.replay = [...again, ...this.replay]
    if (this.closed) return
    this.events.lost(error === undefined ? "closed by the peer" : describeSocketError(error), this.replay.length)
    this.scheduleReconnect(false)
  }

  /** with events waiting to be written again (or at start-up), reconnect without waiting for the next send */
  private scheduleReconnect(always: boolean) {
    if (this.closed || this.reconnectTimer !== undefined || (!always && this.replay.length === 0)) return
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined
      if (this.socket !== undefined) return
      this.connect().catch(() => {
        this.reconnectDelay = Math.min(this.reconnectDelay * 2, reconnectMaxMillis)
        this.scheduleReconnect(always)
      })
    }, this.reconnectDelay)
    this.reconnectTimer.unref()
  }
}

/** `logstash.address` is a host: a name, an IPv4 or an IPv6 address (brackets allowed) */
const hostOf = (address: string): string | undefined => {
  const host = address.startsWith("[") && address.endsWith("]") ? address.slice(1, -1) : address
  if (host.includes("/") || (host.includes(":") && net.isIPv6(host) === false)) return undefined
  return host
}

export const Logstash = define({
  config: LogstashConfig,
  displayName: "Logstash",
  enabled: (c) => c.address !== "",
  make: (c, ctx) =>
    Effect.gen(function*() {
      const host = hostOf(c.address)
      if (host === undefined) {
        return yield* Effect.fail(
          ctx.initError(`logstash.address must be a host name or IP address (the port is logstash.port), got ${JSON.stringify(c.address)}`, {
            key: "address"
          })
        )
      }
      const secure = yield* tlsOptions(c, ctx, ctx.tlsFiles.mutualTls)
      const runtime = yield* Effect.runtime<never>()
      const log = (effect: Effect.Effect<void>) => Runtime.runFork(runtime)(effect)
      const target = `${net.isIPv6(host) ? `[${host}]` : host}:${c.port}`
      const connection = yield* Effect.acquireRelease(
        Effect.sync(() =>
          new LogstashConnection(host, c.port, secure, {
            connected: () => log(Effect.logInfo(`Logstash - connected to ${target}`)),
            unreachable: (reason) =>
              log(Effect.logWarning(`Logstash - cannot connect to ${target} (${reason}): events wait in the queue and are retried`)),
            lost: (reason, toReplay) =>
              log(Effect.logWarning(
                `Logstash - connection to ${target} lost (${reason})` +
                  (toReplay > 0 ? `: ${toReplay} events written just before will be sent again (duplicates possible)` : "")
              ))
          })
        ),
        (connection) =>
          Effect.promise(() => connection.close()).pipe(
            Effect.zipRight(Effect.suspend(() =>
              connection.pendingReplay > 0
                ? Effect.logWarning(`Logstash - stopping with ${connection.pendingReplay} events not sent again to ${target} after its connection broke`)
                : Effect.void
            ))
          )
      )
      // connect now, so that the first event does not wait for it; a Logstash still down is retried in the background
      void connection.warmUp()
      const tags = c.tags
      const transportError = (cause: unknown): OutputError => ctx.error("Transport", `${target}: ${describeSocketError(cause)}`, { cause })
      return {
        kind: "single",
        // the attempt timeout is enforced here, without a second fiber per event
        enforcesTimeout: true,
        send: (event) =>
          Effect.flatMap(FiberRef.get(currentAttemptTimeout), (timeout) =>
            Effect.async<void, OutputError>((resume) => {
              let finished = false
              const finish = (outcome: Effect.Effect<void, OutputError>) => {
                if (finished) return
                finished = true
                clearTimeout(timer)
                resume(outcome)
              }
              // a write that completes after the timeout still counts as written (and may be replayed):
              // the Dispatcher's retry of it is then a duplicate, never a loss
              const timer = Duration.isFinite(timeout)
                ? setTimeout(
                  () => finish(Effect.fail(ctx.error("Timeout", `${target}: not written within ${Duration.format(timeout)}`))),
                  Duration.toMillis(timeout)
                )
                : undefined
              connection.write(logstashLine(event, tags)).then(
                () => finish(Effect.void),
                (cause: unknown) => finish(Effect.fail(transportError(cause)))
              )
              return Effect.sync(() => {
                finished = true
                clearTimeout(timer)
              })
            }))
      }
    })
})
