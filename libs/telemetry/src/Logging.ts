/**
 * falcosidekick's log line, so existing log parsers and habits keep working:
 *   2025/01/27 15:36:01 [ERROR] : Slack - resource not found (404)
 * on stderr, local time. An `output` annotation becomes the "<Output> - " prefix; other annotations
 * follow the message as key=value pairs, and a failure's cause is appended on the same line.
 */
import { Cause, type HashMap, Layer, Logger, LogLevel } from "effect"

const pad = (n: number) => (n < 10 ? `0${n}` : String(n))

const timestamp = (d: Date) =>
  `${d.getFullYear()}/${pad(d.getMonth() + 1)}/${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${
    pad(d.getSeconds())
  }`

const tag = (level: LogLevel.LogLevel): string => {
  switch (level._tag) {
    case "Debug":
    case "Trace":
      return "[DEBUG]"
    case "Info":
      return "[INFO] "
    case "Warning":
      return "[WARN] "
    default:
      return "[ERROR]"
  }
}

const text = (message: unknown): string => {
  const parts = Array.isArray(message) ? message : [message]
  return parts.map((p) => (typeof p === "string" ? p : JSON.stringify(p))).join(" ")
}

const quote = (v: unknown) => {
  const s = typeof v === "string" ? v : JSON.stringify(v)
  return /[\s"=]/.test(s) ? JSON.stringify(s) : s
}

export const format = (options: {
  readonly logLevel: LogLevel.LogLevel
  readonly message: unknown
  readonly annotations: HashMap.HashMap<string, unknown>
  readonly cause: Cause.Cause<unknown>
  readonly date: Date
}): string => {
  let output: string | undefined
  let pairs = ""
  for (const [key, value] of options.annotations) {
    if (key === "output") output = String(value)
    else pairs += ` ${key}=${quote(value)}`
  }
  const cause = Cause.isEmpty(options.cause) ? "" : `: ${Cause.pretty(options.cause).split("\n")[0]}`
  return `${timestamp(options.date)} ${tag(options.logLevel)} : ${output ? `${output} - ` : ""}${text(options.message)}${cause}${pairs}`
}

/** The falcosidekick-format logger, writing to `write` (stderr by default). */
export const make = (write: (line: string) => void = (line) => process.stderr.write(line + "\n")) =>
  Logger.make<unknown, void>((o) => write(format(o)))

/** Replace Effect's default logger; `debug` lowers the minimum level to Debug. Install it once, at the edge. */
export const layer = (options: { readonly debug: boolean; readonly write?: (line: string) => void }) =>
  Layer.merge(Logger.replace(Logger.defaultLogger, make(options.write)), minimumLevel(options.debug))

/** Only the level, for a part of the program that learns about `debug` after the logger is installed. */
export const minimumLevel = (debug: boolean) => Logger.minimumLogLevel(debug ? LogLevel.Debug : LogLevel.Info)
