/**
 * Dynatrace: one log record through the Log Monitoring API v2 (falcosidekick's `dynatrace` output: POST
 * `<apiurl>/v2/logs/ingest` with `Authorization: Api-Token <apitoken>`; a JSON array of one record with the
 * event's attributes, its output, fields and tags as `content`, and Dynatrace's semantic attributes for the
 * container, Kubernetes, process and MITRE ATT&CK values it finds).
 */
import { Field } from "@sidekick/config"
import { type FalcoEvent, goJson, goJsonMap, goJsonString, rfc3339SecondsOf } from "@sidekick/event"
import { Effect, Redacted } from "effect"
import { joinUrlPath, requireHttpUrl } from "./Endpoint.js"
import { sprintV } from "@sidekick/gotemplate"
import { define, sendEach } from "./Definition.js"
import { outputSection } from "./OutputConfig.js"

export const DynatraceConfig = outputSection("dynatrace", {
  // enabled by apitoken AND apiurl
  apitoken: Field.secret(),
  apiurl: Field.string(""),
  // falcosidekick builds this client with checkcert only: mutualtls and maxconcurrentrequests do not exist here
  checkcert: Field.bool(true)
})
export type DynatraceConfig = typeof DynatraceConfig.Type

/** a MITRE ATT&CK technique ("T1059", "T1055.008") or tactic ("mitre_execution") anywhere in a tag (Go's unanchored MatchString) */
const mitreTechnique = /T\d+\.?\d*/
const mitreTactic = /mitre_\w+/

/** the semantic attributes falcosidekick derives, in its struct order after `content` (undefined = omitted) */
export interface DynatraceAttributes {
  readonly "mitre.technique": string | undefined
  readonly "mitre.tactic": string | undefined
  readonly "container.id": string | undefined
  readonly "container.name": string | undefined
  readonly "container.image.name": string | undefined
  readonly "k8s.namespace.name": string | undefined
  readonly "k8s.pod.name": string | undefined
  readonly "k8s.pod.uid": string | undefined
  readonly "process.executable.name": string | undefined
  readonly "span.id": string | undefined
}

const stringField = (event: FalcoEvent, key: string): string | undefined => {
  const value = event.output_fields[key]
  return typeof value === "string" ? value : undefined
}

/**
 * Output fields mapped to semantic attributes (string values only, but `span.id` of any non-null value as Go's
 * `%v`), and the last tag naming a MITRE technique, else a tactic. When an event has both `k8s.ns.name` and
 * `ka.target.namespace`, falcosidekick's pick depends on Go's map order; Sidekick takes `k8s.ns.name`.
 */
export const dynatraceAttributes = (event: FalcoEvent): DynatraceAttributes => {
  let technique: string | undefined
  let tactic: string | undefined
  for (const tag of event.tags) {
    if (mitreTechnique.test(tag)) technique = tag
    else if (mitreTactic.test(tag)) tactic = tag
  }
  const spanId = event.output_fields["span.id"]
  return {
    "mitre.technique": technique,
    "mitre.tactic": tactic,
    "container.id": stringField(event, "container.id"),
    "container.name": stringField(event, "container.name"),
    "container.image.name": stringField(event, "container.image"),
    "k8s.namespace.name": stringField(event, "k8s.ns.name") ?? stringField(event, "ka.target.namespace"),
    "k8s.pod.name": stringField(event, "k8s.pod.name"),
    "k8s.pod.uid": stringField(event, "k8s.pod.id"),
    "process.executable.name": stringField(event, "proc.name"),
    "span.id": spanId === undefined || spanId === null ? undefined : sprintV(spanId)
  }
}

/** `,"name":"value"`, or nothing for an omitempty string that is empty */
const member = (name: string, value: string | undefined): string =>
  value === undefined || value === "" ? "" : "," + goJsonString(name) + ":" + goJsonString(value)

/**
 * The request body: Go json.Encoder output of falcosidekick's `[]dtLogMessage` with one record,
 * `timestamp,event.id,event.name,event.provider,severity,host.name,log.source,content,<attributes>` (all but
 * timestamp and content omitempty), content `output,output_fields,tags` (tags omitempty; output_fields a Go map,
 * numbers with their digits).
 */
export const dynatraceBody = (event: FalcoEvent): string => {
  const attributes = dynatraceAttributes(event)
  let attributeMembers = ""
  for (const [name, value] of Object.entries(attributes)) attributeMembers += member(name, value)
  return "[{\"timestamp\":" + goJsonString(rfc3339SecondsOf(event.time)) +
    member("event.id", event.uuid) +
    member("event.name", event.rule) +
    member("event.provider", "Falco") +
    member("severity", event.priority) +
    member("host.name", event.hostname) +
    member("log.source", event.source) +
    ",\"content\":{\"output\":" + goJsonString(event.output) +
    ",\"output_fields\":" + goJsonMap(event.output_fields) +
    (event.tags.length > 0 ? ",\"tags\":" + goJson(event.tags) : "") + "}" +
    attributeMembers + "}]\n"
}

/** `<apiurl without trailing slashes>/v2/logs/ingest`, as falcosidekick builds it */
export const dynatraceUrl = (apiurl: string): string => joinUrlPath(apiurl, "/v2/logs/ingest")

export const Dynatrace = define({
  config: DynatraceConfig,
  displayName: "Dynatrace",
  enabled: (c) => Redacted.value(c.apitoken) !== "" && c.apiurl !== "",
  make: (c, ctx) =>
    Effect.gen(function*() {
      const url = yield* requireHttpUrl(ctx, "apiurl", dynatraceUrl(c.apiurl))
      const http = yield* ctx.http()
      const headers = { Authorization: `Api-Token ${Redacted.value(c.apitoken)}` }
      // Dynatrace answers 204 (200 when it accepted part of the records): the transport's rule covers both
      return sendEach(http, (event) => ({ url, headers, body: dynatraceBody(event) }))
    })
})
