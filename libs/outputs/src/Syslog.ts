/**
 * Syslog: one message per event to a syslog server over TCP or UDP (falcosidekick's `syslog` output). The
 * message is the event JSON (`format: json`) or a CEF line (`format: cef`), framed as Go's `log/syslog`
 * frames it for a network connection: `<PRI>RFC3339(now, local time) <hostname> Falco[<pid>]: <msg>\n`,
 * PRI being the severity of the event's priority (facility 0), LF-terminated, no octet counting.
 *
 * The frame is written by hand: the syslog libraries on npm write RFC 5424 or their own RFC 3164 variant
 * (another timestamp, facility, or octet-counted TCP framing), and receivers that parse falcosidekick's
 * frames must get the same bytes.
 *
 * Differences from falcosidekick, each on purpose:
 * - one TCP connection (one UDP socket) for the output's life instead of a new one per event; a connection
 *   the server closed or broke is replaced on the next send, and a refused or broken connection is a
 *   retryable Transport error. (As with any syslog over TCP, a frame written just before the server's close
 *   reaches us may be lost: the protocol has no acknowledgements.)
 * - CEF: the output fields in bytewise key order (falcosidekick: Go's random map order), and a line break
 *   in the message written as CEF's `\n` / `\r` so that one event stays one syslog line.
 * - `protocol` and `format` are matched case-insensitively; a protocol other than tcp/udp, or none (falcosidekick
 *   then disables the output), and a missing port refuse start-up naming the key.
 */
import { Field } from "@sidekick/config"
import type { OutputError } from "@sidekick/delivery"
import { eventJson, type FalcoEvent, type Priority, rfc3339SecondsOf, zeroPad } from "@sidekick/event"
import { mustCompileTemplate } from "@sidekick/gotemplate"
import { Clock, Effect } from "effect"
import * as dgram from "node:dgram"
import * as dns from "node:dns"
import * as net from "node:net"
import * as os from "node:os"
import { define, type OutputContext } from "./Definition.js"
import { outputSection } from "./OutputConfig.js"
import { describeSocketError } from "./Socket.js"

export const SyslogConfig = outputSection("syslog", {
  host: Field.string(),
  /** required when host is set (falcosidekick has no default) */
  port: Field.int(0, { min: 0, max: 65535 }),
  /** required when host is set (falcosidekick has no default and disables the output without one) */
  protocol: Field.optional(Field.literal(["tcp", "udp"] as const, "tcp", { caseInsensitive: true })),
  format: Field.literal(["json", "cef"] as const, "json", { caseInsensitive: true })
})
export type SyslogConfig = typeof SyslogConfig.Type

/** the syslog severity of a priority (Go log/syslog's LOG_EMERG ... LOG_DEBUG); with facility 0 (kern) it is the PRI */
export const syslogSeverity: Readonly<Record<Priority, number>> = {
  Emergency: 0,
  Alert: 1,
  Critical: 2,
  Error: 3,
  Warning: 4,
  Notice: 5,
  Informational: 6,
  Debug: 7
}

/** falcosidekick's CEF severity of a priority */
export const cefSeverity: Readonly<Record<Priority, string>> = {
  Emergency: "10",
  Alert: "9",
  Critical: "8",
  Error: "7",
  Warning: "6",
  Notice: "4",
  Informational: "3",
  Debug: "0"
}

/**
 * Go `Time.Format(time.RFC3339)` of an instant at a UTC offset (default: the local zone's at that instant, as
 * Go's `time.Now()` is local): `2024-05-06T12:20:30+02:00`, `Z` for UTC.
 */
export const rfc3339Local = (millis: number, offsetMinutes = -new Date(millis).getTimezoneOffset()): string => {
  const d = new Date(Math.floor(millis / 1000) * 1000 + offsetMinutes * 60_000)
  const abs = Math.abs(offsetMinutes)
  const zone = offsetMinutes === 0 ? "Z" : `${offsetMinutes < 0 ? "-" : "+"}${zeroPad(Math.floor(abs / 60))}:${zeroPad(abs % 60)}`
  return `${zeroPad(d.getUTCFullYear(), 4)}-${zeroPad(d.getUTCMonth() + 1)}-${zeroPad(d.getUTCDate())}T${zeroPad(d.getUTCHours())}:${
    zeroPad(d.getUTCMinutes())
  }:${zeroPad(d.getUTCSeconds())}${zone}`
}

/** `key:value ` per output field, keys sorted, values as Go's `%v` prints them (numbers verbatim, null `<nil>`) */
const cefFieldsTemplate = mustCompileTemplate(`{{ range $key, $value := . }}{{ $key }}:{{ printf "%v" $value }} {{ end }}`)


/**
 * falcosidekick's CEF line: `CEF:0|Falcosecurity|Falco|1.0|Falco Event|<rule>|<severity>|uuid=<uuid>
 * start=<time> msg=<output> source=<source>[ hostname=<hostname>] outputfields=<k:v k:v>[ tags=<a,b>]`,
 * without CEF escaping (as falcosidekick) except line breaks, written `\n` / `\r`.
 */
export const cefMessage = (event: FalcoEvent): string => {
  let s = `CEF:0|Falcosecurity|Falco|1.0|Falco Event|${event.rule}|${cefSeverity[event.priority]}|uuid=${event.uuid} start=${
    rfc3339SecondsOf(event.time)
  } msg=${event.output} source=${event.source}`
  if (event.hostname !== "") s += ` hostname=${event.hostname}`
  s += " outputfields=" + cefFieldsTemplate.render(event.output_fields)
  if (event.tags.length > 0) s += "tags=" + event.tags.join(",")
  return s.replace(/ $/, "").replace(/\r/g, "\\r").replace(/\n/g, "\\n")
}

export type SyslogFormat = SyslogConfig["format"]

/** the message part of the frame: falcosidekick's `json.Marshal` of the event, or its CEF line */
export const syslogMessage = (event: FalcoEvent, format: SyslogFormat): string => (format === "cef" ? cefMessage(event) : eventJson(event))

export interface SyslogFrameParts {
  readonly severity: number
  /** RFC 3339, see `rfc3339Local` */
  readonly timestamp: string
  readonly hostname: string
  readonly pid: number
  readonly message: string
}

/** Go log/syslog's network frame: `<%d>%s %s %s[%d]: %s%s` with tag `Falco`, and a newline unless the message ends with one */
export const syslogFrame = (p: SyslogFrameParts): string =>
  `<${p.severity}>${p.timestamp} ${p.hostname} Falco[${p.pid}]: ${p.message}${p.message.endsWith("\n") ? "" : "\n"}`

/** how one frame reaches the server; `close` ends the connection when the output stops */
interface SyslogSender {
  readonly write: (frame: Buffer) => Effect.Effect<void, OutputError>
  readonly close: Effect.Effect<void>
}


/**
 * One TCP connection, opened at the first send and again after the server closed it or it broke. Sends come
 * one at a time (the output's maxConcurrentRequests is 1), so a connection is never opened twice at once.
 */
const tcpSender = (ctx: Pick<OutputContext, "error">, host: string, port: number): SyslogSender => {
  const where = `${host}:${port}`
  let current: net.Socket | undefined
  const forget = (socket: net.Socket) => {
    if (current === socket) current = undefined
  }
  const connect = Effect.async<net.Socket, OutputError>((resume) => {
    const socket = net.connect({ host, port })
    const refused = (error: Error) => {
      socket.destroy()
      resume(Effect.fail(ctx.error("Transport", `cannot connect to ${where}: ${describeSocketError(error)}`, { cause: error })))
    }
    socket.once("error", refused)
    socket.once("connect", () => {
      socket.off("error", refused)
      socket.setNoDelay(true)
      // a later error is reported by the write it breaks; "close" follows it
      socket.on("error", () => {})
      // the server's FIN ("end", then our side ends too) or any close: the next send connects again
      socket.once("end", () => forget(socket))
      socket.once("close", () => forget(socket))
      // a syslog server sends nothing; reading (and dropping) is what lets us see its FIN
      socket.resume()
      current = socket
      resume(Effect.succeed(socket))
    })
    // interrupted (the attempt's timeout) while connecting
    return Effect.sync(() => socket.destroy())
  })
  const writeTo = (socket: net.Socket, frame: Buffer) =>
    Effect.async<void, OutputError>((resume) => {
      let done = false
      socket.write(frame, (error) => {
        done = true
        if (error === undefined || error === null) return resume(Effect.void)
        forget(socket)
        socket.destroy()
        resume(Effect.fail(ctx.error("Transport", `connection to ${where} broke: ${describeSocketError(error)}`, { cause: error })))
      })
      // interrupted with the frame half written: the stream would be corrupt, so the connection goes
      return Effect.sync(() => {
        if (done) return
        forget(socket)
        socket.destroy()
      })
    })
  return {
    write: (frame) =>
      Effect.suspend(() => {
        const open = current !== undefined && !current.destroyed && current.writable ? current : undefined
        return open !== undefined ? writeTo(open, frame) : Effect.flatMap(connect, (socket) => writeTo(socket, frame))
      }),
    close: Effect.sync(() => {
      current?.end()
      current = undefined
    })
  }
}

/**
 * One connected UDP socket (like Go's `net.Dial("udp")`): the host is resolved once, and the kernel reports an
 * ICMP "port unreachable" as ECONNREFUSED on a later send. After a failed send the socket is replaced, so the
 * next attempt resolves the host again.
 */
const udpSender = (ctx: Pick<OutputContext, "error">, host: string, port: number): SyslogSender => {
  const where = `${host}:${port}`
  let current: dgram.Socket | undefined
  const drop = (socket: dgram.Socket) => {
    if (current === socket) current = undefined
    socket.close()
  }
  const open = Effect.async<dgram.Socket, OutputError>((resume) => {
    let socket: dgram.Socket | undefined
    let interrupted = false
    dns.lookup(host, (lookupError, address, family) => {
      if (interrupted) return
      if (lookupError !== null) {
        return resume(Effect.fail(ctx.error("Transport", `cannot resolve ${host}: ${describeSocketError(lookupError)}`, { cause: lookupError })))
      }
      const s = dgram.createSocket(family === 6 ? "udp6" : "udp4")
      socket = s
      const failed = (error: Error) => {
        s.close()
        resume(Effect.fail(ctx.error("Transport", `cannot connect to ${where}: ${describeSocketError(error)}`, { cause: error })))
      }
      s.once("error", failed)
      s.connect(port, address, () => {
        s.off("error", failed)
        s.on("error", () => {})
        current = s
        resume(Effect.succeed(s))
      })
    })
    return Effect.sync(() => {
      interrupted = true
      if (socket !== undefined && current !== socket) socket.close()
    })
  })
  const sendOn = (socket: dgram.Socket, frame: Buffer) =>
    Effect.async<void, OutputError>((resume) => {
      socket.send(frame, (error) => {
        if (error === null || error === undefined) return resume(Effect.void)
        // a datagram larger than UDP allows is never deliverable; the socket itself is fine
        if ((error as Error & { code?: string }).code === "EMSGSIZE") {
          return resume(Effect.fail(ctx.error("Encode", `the frame (${frame.length} bytes) does not fit in a UDP datagram: ${describeSocketError(error)}`, { cause: error })))
        }
        drop(socket)
        resume(Effect.fail(ctx.error("Transport", `cannot send to ${where}: ${describeSocketError(error)}`, { cause: error })))
      })
    })
  return {
    write: (frame) => Effect.suspend(() => (current !== undefined ? sendOn(current, frame) : Effect.flatMap(open, (s) => sendOn(s, frame)))),
    close: Effect.sync(() => {
      if (current !== undefined) drop(current)
    })
  }
}

export const Syslog = define({
  config: SyslogConfig,
  displayName: "Syslog",
  enabled: (c) => c.host !== "",
  make: (c, ctx) =>
    Effect.gen(function*() {
      if (c.protocol === undefined) {
        return yield* Effect.fail(ctx.initError("syslog.protocol must be tcp or udp (falcosidekick has no default)", { key: "protocol" }))
      }
      if (c.port === 0) return yield* Effect.fail(ctx.initError("syslog.port must be set (1-65535)", { key: "port" }))
      // an IPv6 address may be written bracketed, as in host:port
      const host = c.host.startsWith("[") && c.host.endsWith("]") ? c.host.slice(1, -1) : c.host
      const sender = yield* Effect.acquireRelease(
        Effect.sync(() => (c.protocol === "tcp" ? tcpSender(ctx, host, c.port) : udpSender(ctx, host, c.port))),
        (s) => s.close
      )
      // what Go's log/syslog puts in every frame: os.Hostname() and the process id
      const hostname = os.hostname()
      const pid = process.pid
      return {
        kind: "single",
        // sockets have no timeout of their own: the Dispatcher interrupts a send at delivery.timeout
        enforcesTimeout: false,
        send: (event) =>
          Effect.flatMap(Clock.currentTimeMillis, (now) =>
            sender.write(Buffer.from(syslogFrame({
              severity: syslogSeverity[event.priority],
              timestamp: rfc3339Local(now),
              hostname,
              pid,
              message: syslogMessage(event, c.format)
            }))))
      }
    })
})
