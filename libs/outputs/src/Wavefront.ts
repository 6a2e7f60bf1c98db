/**
 * Wavefront: each event is one point of the metric `metricname` (value 1, at the event time in nanoseconds,
 * source `falco-exporter`, point tags severity, rule, source, hostname, the string output fields and the
 * tags), in the Wavefront data format, gzipped and POSTed to `/report?f=wavefront`: straight to the
 * Wavefront instance (`direct`, `https://<endpointhost>`, `Authorization: Bearer <endpointtoken>`) or to a
 * Wavefront proxy (`proxy`, `<endpointhost>:<endpointmetricport>`).
 *
 * falcosidekick uses wavefront-sdk-go's sender, which buffers points and flushes them `batchsize` at a time,
 * every `flushintervalseconds` (and once after each point). That buffer is our batching: one request carries
 * up to `batching.maxevents` lines (falcosidekick's `batchsize` wins when set; < 1 means 10000), sent once
 * `batching.flushinterval` has passed since its first event (`flushintervalseconds` wins when set; < 1 means
 * 1 s), or at `batching.maxbytes` (our bound: the SDK has none). `batching.enabled: false` sends each point
 * alone as it comes. falcosidekick applies its two keys in direct mode only; their defaults are the SDK's,
 * so proxy mode batched the same way by default: here they apply in both modes.
 *
 * The line is written here, not by a library: there is no maintained Wavefront client for Node, and the line
 * is the SDK's `metric.Line` (its sanitizing of names and values included), with the tags in a fixed order.
 */
import { Field } from "@sidekick/config"
import { defaultClassify, type OutputError, Verdict } from "@sidekick/delivery"
import { compareBytewise, type FalcoEvent } from "@sidekick/event"
import { Duration, Effect, Redacted } from "effect"
import { define } from "./Definition.js"
import { batchingFields, batchOptions, outputSection } from "./OutputConfig.js"

export const WavefrontConfig = outputSection("wavefront", {
  // enabled by endpointtype AND endpointhost; endpointtype first, as falcosidekick's check reads them
  endpointtype: Field.string(""),
  endpointhost: Field.string(""),
  endpointtoken: Field.secret(),
  endpointmetricport: Field.int(2878, { min: 1, max: 65535 }),
  metricname: Field.string("falco.alert"),
  /** falcosidekick's name for `batching.maxevents`; when set, it wins */
  batchsize: Field.optional(Field.int(10_000)),
  /** falcosidekick's name for `batching.flushinterval`, in seconds; when set, it wins */
  flushintervalseconds: Field.optional(Field.int(1)),
  batching: batchingFields({ enabled: true, maxevents: 10_000, maxbytes: 4 * 1024 * 1024, flushinterval: "1s" })
})
export type WavefrontConfig = typeof WavefrontConfig.Type

export type WavefrontEndpointType = "direct" | "proxy"

/** the point's source, as falcosidekick names it */
export const wavefrontSource = "falco-exporter"

const isLegal = (byte: number) => (byte >= 44 && byte <= 57) || (byte >= 65 && byte <= 90) || (byte >= 97 && byte <= 122) || byte === 95
const tilde = 126
const deltaPrefixes = ["\u2206", "\u0394"] as const

/**
 * The SDK's `Sanitize` of a metric name or tag key: every byte of its UTF-8 but `[,-./0-9A-Za-z_]` becomes `-`,
 * except a leading delta (∆ or Δ) and a `~` after it or at the start. (The SDK panics on an empty name: "" here.)
 */
export const wavefrontSanitize = (s: string): string => {
  let out = ""
  let rest = s
  const delta = deltaPrefixes.find((d) => s.startsWith(d))
  if (delta !== undefined) {
    out += delta
    rest = s.slice(delta.length)
  }
  if (rest.charCodeAt(0) === tilde) {
    out += "~"
    rest = rest.slice(1)
  }
  for (const byte of Buffer.from(rest, "utf8")) out += isLegal(byte) ? String.fromCharCode(byte) : "-"
  return out
}

/** Go's `strings.TrimSpace`: Unicode White_Space at both ends (JS `trim` also strips U+FEFF and keeps U+0085) */
const goSpace = "[\\t\\n\\v\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]"
const goTrimSpace = new RegExp(`^${goSpace}+|${goSpace}+$`, "g")

/**
 * The SDK's `SanitizeValue` of a tag value (and of the source): trimmed, double quotes escaped with a backslash,
 * newlines written as `\n`, in double quotes. Backslashes stay as they are, as the SDK and the proxy read them.
 */
export const wavefrontValue = (s: string): string =>
  `"${s.replace(goTrimSpace, "").replaceAll("\"", "\\\"").replaceAll("\n", "\\n")}"`

/**
 * falcosidekick's point tags of an event (a Go map, so later entries replace earlier ones): severity, rule,
 * source, hostname when set, every string output field, then the tags joined with ", ". Ordered by key here
 * (Go's map order is random). A tag with an empty value is left out: the SDK refuses the whole point for it.
 */
export const wavefrontTags = (event: FalcoEvent): Array<readonly [string, string]> => {
  const tags = new Map<string, string>([["severity", event.priority], ["rule", event.rule], ["source", event.source]])
  if (event.hostname !== "") tags.set("hostname", event.hostname)
  for (const [key, value] of Object.entries(event.output_fields)) if (typeof value === "string") tags.set(key, value)
  if (event.tags.length > 0) tags.set("tags", event.tags.join(", "))
  return [...tags].filter(([, value]) => value !== "").sort(([a], [b]) => compareBytewise(a, b))
}

/**
 * The event as one line of the Wavefront data format (the SDK's `metric.Line`):
 * `"<metric>" 1 <UnixNano> source="falco-exporter" "<key>"="<value>" ...\n`. The timestamp is the event time's
 * exact int64 nanoseconds (the SDK leaves it out when it is 0).
 */
export const wavefrontLine = (event: FalcoEvent, metricName: string): string => {
  let line = `"${wavefrontSanitize(metricName)}" 1`
  if (event.timeUnixNanos !== 0n) line += ` ${event.timeUnixNanos}`
  line += ` source=${wavefrontValue(wavefrontSource)}`
  for (const [key, value] of wavefrontTags(event)) line += ` "${wavefrontSanitize(key)}"=${wavefrontValue(value)}`
  return line + "\n"
}

/**
 * Where points go: `<scheme>://<host>:<port><path>/report?f=wavefront`. The scheme is endpointhost's own when it
 * has one, else https for direct (falcosidekick prefixes it) and http for proxy (falcosidekick requires one there,
 * its docs say "only the host"). The port is endpointhost's own when it has one, else 443 (80 over http) for
 * direct and `endpointmetricport` for proxy, as the SDK chooses.
 */
export const wavefrontReportUrl = (type: WavefrontEndpointType, endpointHost: string, metricPort: number): string | undefined => {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(endpointHost) ? endpointHost : `${type === "direct" ? "https" : "http"}://${endpointHost}`
  let u: URL
  try {
    u = new URL(withScheme)
  } catch {
    return undefined
  }
  if ((u.protocol !== "http:" && u.protocol !== "https:") || u.hostname === "" || u.username !== "") return undefined
  const port = u.port !== "" ? u.port : type === "proxy" ? String(metricPort) : u.protocol === "https:" ? "443" : "80"
  return `${u.protocol}//${u.hostname}:${port}${u.pathname.replace(/\/+$/, "")}/report?f=wavefront`
}

/** a Wavefront 406 means "throttled" (the SDK waits and sends the points again); other statuses as usual */
export const wavefrontClassify = (error: OutputError): Verdict => (error.status === 406 ? Verdict.retry : defaultClassify(error))

export const Wavefront = define({
  config: WavefrontConfig,
  displayName: "Wavefront",
  enabled: (c) => c.endpointtype !== "" && c.endpointhost !== "",
  make: (c, ctx) =>
    Effect.gen(function*() {
      const type = c.endpointtype.toLowerCase()
      if (type !== "direct" && type !== "proxy") {
        return yield* Effect.fail(ctx.initError(`invalid wavefront.endpointtype ${JSON.stringify(c.endpointtype)}: direct or proxy`, { key: "endpointtype" }))
      }
      const token = Redacted.value(c.endpointtoken)
      if (type === "direct" && token === "") {
        return yield* Effect.fail(ctx.initError("wavefront.endpointtoken is required when endpointtype is direct", { key: "endpointtoken" }))
      }
      const url = wavefrontReportUrl(type, c.endpointhost, c.endpointmetricport)
      if (url === undefined) {
        return yield* Effect.fail(ctx.initError(`invalid wavefront.endpointhost ${JSON.stringify(c.endpointhost)}`, { key: "endpointhost" }))
      }
      if (c.metricname === "") return yield* Effect.fail(ctx.initError("wavefront.metricname is empty", { key: "metricname" }))

      const http = yield* ctx.http({ contentType: "application/octet-stream" })
      const headers: Record<string, string> = type === "direct" ? { Authorization: `Bearer ${token}` } : {}
      const send = (events: ReadonlyArray<FalcoEvent>) =>
        Effect.asVoid(http.send({ url, headers, gzip: true, body: events.map((e) => wavefrontLine(e, c.metricname)).join("") }))
      const batch = batchOptions(
        {
          ...c.batching,
          maxevents: c.batchsize === undefined ? c.batching.maxevents : c.batchsize < 1 ? 10_000 : c.batchsize,
          flushinterval: c.flushintervalseconds === undefined
            ? c.batching.flushinterval
            : Duration.seconds(Math.max(1, c.flushintervalseconds))
        },
        (event) => Buffer.byteLength(wavefrontLine(event, c.metricname))
      )
      return batch === undefined
        ? { kind: "single", classify: wavefrontClassify, send: (event) => send([event]) }
        : { kind: "batch", classify: wavefrontClassify, batch, send }
    })
})
