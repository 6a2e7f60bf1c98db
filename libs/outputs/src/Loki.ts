/**
 * Loki: the push API (`POST <hostport><endpoint>`, JSON streams; falcosidekick's `loki` output: labels
 * rule, source, priority, k8s namespace and pod, the global custom/templated field keys and
 * `extralabels`, hostname, tags; the line is `output`, or the event JSON with `format: json`).
 * Extension: events are batched (`loki.batching.*`, on by default) and one push groups them by identical
 * label set into streams; a batch of one event is exactly falcosidekick's payload.
 */
import { Field } from "@sidekick/config"
import { defaultClassify, type OutputError, Verdict } from "@sidekick/delivery"
import { eventJson, type FalcoEvent, goJson, sortKeys, stringOutputFields } from "@sidekick/event"
import { Effect, Redacted } from "effect"
import { define, type GlobalFieldKeysShape } from "./Definition.js"
import { batchingFields, batchOptions, httpFields, outputSection } from "./OutputConfig.js"

export const LokiConfig = outputSection("loki", {
  hostport: Field.string(),
  endpoint: Field.string("/loki/api/v1/push"),
  user: Field.string(""),
  apikey: Field.secret(),
  tenant: Field.string(""),
  format: Field.literal(["text", "json"] as const, "text", { caseInsensitive: true }),
  extralabels: Field.list([], { removeSpaces: "always" }),
  customheaders: Field.secretMap({ env: "pairs" }),
  // Loki's own limits are 4 MiB per push (grpc_server_max_recv_msg_size) by default: 1 MiB leaves room
  batching: batchingFields({ enabled: true, maxevents: 100, maxbytes: 1024 * 1024, flushinterval: "1s" }),
  ...httpFields()
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
  for (const [key, value] of stringOutputFields(event)) {
    if (wanted.has(key)) labels[labelName(key)] = value.replaceAll("\"", "")
  }
  if (event.hostname !== "") labels["hostname"] = event.hostname
  if (event.tags.length > 0) labels["tags"] = event.tags.join(",") // already sorted bytewise at ingest
  return labels
}


/** one value: [UnixNano as a decimal string, the line] */
export const lokiValue = (event: FalcoEvent, format: "text" | "json"): readonly [string, string] => [
  event.timeUnixNanos.toString(),
  format === "json" ? eventJson(event) : event.output
]

/** The push payload: events with identical labels share a stream; streams and values keep arrival order. */
export const lokiPayload = (events: ReadonlyArray<FalcoEvent>, o: LokiPayloadOptions): object => {
  const streams = new Map<string, { stream: Record<string, string>; values: Array<readonly [string, string]> }>()
  for (const event of events) {
    const stream = sortKeys(lokiLabels(event, o.labelFields))
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

/** the bytes one event adds to a push: its line, its timestamp and (at most) its stream's labels */
export const lokiEventSize = (event: FalcoEvent, o: LokiPayloadOptions): number => {
  const line = o.format === "json" ? eventJson(event) : event.output
  return Buffer.byteLength(line) + 64 + event.rule.length + event.source.length + event.hostname.length
}

/** Loki answers 501 when the push API is not enabled: no retry will change that (Vector's LokiRetryLogic) */
export const lokiClassify = (error: OutputError): Verdict => (error.status === 501 ? Verdict.drop : defaultClassify(error))

export const Loki = define({
  config: LokiConfig,
  displayName: "Loki",
  enabled: (c) => c.hostport !== "",
  make: (c, ctx) =>
    Effect.gen(function*() {
      const apikey = Redacted.value(c.apikey)
      const http = yield* ctx.http({
        customHeaders: c.customheaders,
        contentType: "application/json",
        ...(c.user !== "" && apikey !== "" ? { basicAuth: { user: c.user, password: c.apikey } } : {})
      })
      const options: LokiPayloadOptions = {
        format: c.format.toLowerCase() === "json" ? "json" : "text",
        labelFields: lokiLabelFields(c, ctx.globalFieldKeys)
      }
      const headers: Record<string, string> = c.tenant !== "" ? { "X-Scope-OrgID": c.tenant } : {}
      const url = c.hostport + c.endpoint
      const push = (events: ReadonlyArray<FalcoEvent>) => http.send({ url, headers, body: lokiBody(events, options) }).pipe(Effect.asVoid)
      const batch = batchOptions(c.batching, (event) => lokiEventSize(event, options))
      return batch === undefined
        ? { kind: "single", classify: lokiClassify, send: (event) => push([event]) }
        : { kind: "batch", classify: lokiClassify, batch, send: push }
    })
})
