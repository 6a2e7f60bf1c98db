/**
 * Loki (catalog §3.5): push API streams. Extension: events are batched (`loki.batching.*`, on by default)
 * and one push groups them by identical label set into streams; a batch of one event is exactly
 * falcosidekick's payload.
 */
import { Field, section } from "@sidekick/config"
import { define, HttpTransport, type Output, type OutputInitError } from "@sidekick/delivery"
import { eventJson, type FalcoEvent, goJson } from "@sidekick/event"
import { Duration, Effect, type Scope } from "effect"
import { GlobalFieldKeys, type GlobalFieldKeysShape, httpClientFor, httpCommonFields, httpOutput } from "./common.js"

export const LokiConfig = section("loki", {
  hostport: Field.string(),
  endpoint: Field.string("/loki/api/v1/push"),
  user: Field.string(""),
  apikey: Field.string("", { secret: true }),
  tenant: Field.string(""),
  format: Field.literal(["text", "json"] as const, "text", { caseInsensitive: true }),
  extralabels: Field.list([], { removeSpaces: "always" }),
  customheaders: Field.map({ env: "pairs", secret: true }),
  batching: {
    enabled: Field.bool(true),
    maxevents: Field.int(100, { min: 1 }),
    flushinterval: Field.duration("1s")
  },
  ...httpCommonFields()
})
export type LokiConfig = typeof LokiConfig.Type

export interface LokiPayloadOptions {
  readonly format: "text" | "json"
  /** output-field names turned into labels: customfields keys, templatedfields keys, then loki.extralabels */
  readonly labelFields: ReadonlyArray<string>
}

const labelName = (field: string): string => field.replaceAll(".", "_").replaceAll("]", "").replaceAll("[", "")

/** falcosidekick's stream labels for one event (a Go map: goJson callers sort the keys) */
export const lokiLabels = (event: FalcoEvent, labelFields: ReadonlyArray<string>): Record<string, string> => {
  const labels: Record<string, string> = {
    rule: event.rule,
    source: event.source,
    priority: event.priority
  }
  const ns = event.output_fields["k8s.ns.name"]
  if (typeof ns === "string") labels["k8s_ns_name"] = ns
  const pod = event.output_fields["k8s.pod.name"]
  if (typeof pod === "string") labels["k8s_pod_name"] = pod
  const wanted = new Set(labelFields)
  for (const key of Object.keys(event.output_fields).sort()) {
    const value = event.output_fields[key]
    if (typeof value !== "string" || !wanted.has(key)) continue
    labels[labelName(key)] = value.replaceAll("\"", "")
  }
  if (event.hostname !== "") labels["hostname"] = event.hostname
  if (event.tags.length > 0) labels["tags"] = event.tags.join(",") // already sorted bytewise at ingest
  return labels
}

const sortedRecord = (r: Readonly<Record<string, string>>): Record<string, string> => {
  const out: Record<string, string> = {}
  for (const k of Object.keys(r).sort(bytewise)) out[k] = r[k]!
  return out
}
const bytewise = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0)

/** one value: [UnixNano as a decimal string, the line] */
export const lokiValue = (event: FalcoEvent, format: "text" | "json"): readonly [string, string] => [
  event.timeUnixNanos.toString(),
  format === "json" ? eventJson(event) : event.output
]

/** The push payload: events with identical labels share a stream; streams and values keep arrival order. */
export const lokiPayload = (events: ReadonlyArray<FalcoEvent>, o: LokiPayloadOptions): object => {
  const streams = new Map<string, { stream: Record<string, string>; values: Array<readonly [string, string]> }>()
  for (const event of events) {
    const stream = sortedRecord(lokiLabels(event, o.labelFields))
    const key = goJson(stream)
    let entry = streams.get(key)
    if (entry === undefined) {
      entry = { stream, values: [] }
      streams.set(key, entry)
    }
    entry.values.push(lokiValue(event, o.format))
  }
  return { streams: [...streams.values()].map((s) => ({ stream: s.stream, values: s.values })) }
}

/** the request body (Go json.Encoder: trailing newline) */
export const lokiBody = (events: ReadonlyArray<FalcoEvent>, o: LokiPayloadOptions): string => goJson(lokiPayload(events, o)) + "\n"

/** the label fields for a config: global customfields and templatedfields keys, then extralabels (trimmed) */
export const lokiLabelFields = (c: LokiConfig, keys: GlobalFieldKeysShape): ReadonlyArray<string> => [
  ...keys.customFields,
  ...keys.templatedFields,
  ...c.extralabels.map((l) => l.trim()).filter((l) => l !== "")
]

/** build a Loki output with explicit global field keys (what `Loki.make` does with the GlobalFieldKeys service) */
export const makeLoki = (
  c: LokiConfig,
  keys: GlobalFieldKeysShape
): Effect.Effect<Output, OutputInitError, HttpTransport | Scope.Scope> =>
  Effect.gen(function*() {
    const basicAuth = c.user !== "" && c.apikey !== "" ? { basicAuth: { user: c.user, password: c.apikey } } : {}
    const http = yield* httpClientFor("loki", c, { customHeaders: c.customheaders, contentType: "application/json", ...basicAuth })
    const options: LokiPayloadOptions = {
      format: c.format.toLowerCase() === "json" ? "json" : "text",
      labelFields: lokiLabelFields(c, keys)
    }
    const headers: Record<string, string> = c.tenant !== "" ? { "X-Scope-OrgID": c.tenant } : {}
    const url = c.hostport + c.endpoint
    return {
      ...httpOutput("loki", c),
      ...(c.batching.enabled
        ? { batch: { maxEvents: c.batching.maxevents, interval: Duration.decode(c.batching.flushinterval) } }
        : {}),
      send: (events) => http.send({ url, headers, body: lokiBody(events, options) }).pipe(Effect.asVoid)
    }
  })

export const Loki = define<LokiConfig, HttpTransport | GlobalFieldKeys>({
  key: "loki",
  displayName: "Loki",
  enabled: (c) => c.hostport !== "",
  make: (c) => Effect.flatMap(GlobalFieldKeys, (keys) => makeLoki(c, keys))
})
