/**
 * Grafana: an annotation through the HTTP API (falcosidekick's `grafana` output: POST
 * `{hostport}/api/annotations` with `Authorization: Bearer <apikey>`; the event time as a point annotation,
 * the output line as text, and as tags `falco`, the priority, the rule, the source and the hostname — with
 * `allfieldsastags`, also every output field value and the event's tags). Optionally scoped to a dashboard
 * and a panel. A hostport ending in "/" is joined with one slash (falcosidekick would send `//api/annotations`).
 */
import { Field } from "@sidekick/config"
import { type FalcoEvent, goJson, sortedKeys } from "@sidekick/event"
import { sprintV } from "@sidekick/gotemplate"
import { Effect, Redacted } from "effect"
import { joinUrlPath, requireHttpUrl } from "./Endpoint.js"
import { define, sendEach } from "./Definition.js"
import { httpFields, outputSection } from "./OutputConfig.js"

export const GrafanaConfig = outputSection("grafana", {
  // enabled by hostport AND apikey
  hostport: Field.string(),
  apikey: Field.secret(),
  dashboardid: Field.int(0),
  panelid: Field.int(0),
  allfieldsastags: Field.bool(false),
  customheaders: Field.secretMap({ env: "pairs" }),
  ...httpFields()
})
export type GrafanaConfig = typeof GrafanaConfig.Type


export interface GrafanaPayloadOptions {
  readonly dashboardid: number
  readonly panelid: number
  readonly allfieldsastags: boolean
}

/**
 * `falco`, priority, rule, source, hostname (when set); with `allfieldsastags`, then every output field value
 * (`%v`, any type) and the event's tags. falcosidekick lists the field values in Go's random map order;
 * Sidekick lists them in the order of their sorted keys, so that the same event always gets the same tags.
 */
export const grafanaTags = (event: FalcoEvent, allFieldsAsTags: boolean): Array<string> => {
  const tags = ["falco", event.priority, event.rule, event.source]
  if (event.hostname !== "") tags.push(event.hostname)
  if (allFieldsAsTags) {
    for (const key of sortedKeys(event.output_fields)) tags.push(sprintV(event.output_fields[key]))
    tags.push(...event.tags)
  }
  return tags
}

/** the event time in Unix milliseconds (Go's integer division truncates toward zero, as bigint division does) */
const unixMillis = (event: FalcoEvent): bigint => event.timeUnixNanos / 1_000_000n

/** falcosidekick's grafanaPayload: `dashboardId,panelId` (omitted when 0), `time,timeEnd,tags,text` */
export const grafanaPayload = (event: FalcoEvent, o: GrafanaPayloadOptions): object => ({
  dashboardId: o.dashboardid !== 0 ? o.dashboardid : undefined,
  panelId: o.panelid !== 0 ? o.panelid : undefined,
  time: unixMillis(event),
  timeEnd: unixMillis(event),
  tags: grafanaTags(event, o.allfieldsastags),
  text: event.output
})

/** the request body: Go json.Encoder output of grafanaPayload */
export const grafanaBody = (event: FalcoEvent, o: GrafanaPayloadOptions): string => goJson(grafanaPayload(event, o)) + "\n"

export const Grafana = define({
  config: GrafanaConfig,
  displayName: "Grafana",
  enabled: (c) => c.hostport !== "" && Redacted.value(c.apikey) !== "",
  make: (c, ctx) =>
    Effect.gen(function*() {
      const url = yield* requireHttpUrl(ctx, "hostport", joinUrlPath(c.hostport, "/api/annotations"))
      // falcosidekick sends its Grafana outputs with a bare `application/json` (no charset); the custom
      // headers come after the Authorization header and may replace it, as in falcosidekick
      const http = yield* ctx.http({ customHeaders: c.customheaders, contentType: "application/json" })
      const headers = { Authorization: `Bearer ${Redacted.value(c.apikey)}` }
      return sendEach(http, (event) => ({ url, headers, body: grafanaBody(event, c) }))
    })
})
