/**
 * PagerDuty: a `trigger` event on the Events API v2 (falcosidekick's `pagerduty` output, which goes through
 * go-pagerduty: compact JSON without a trailing newline, `Content-Type: application/json`, and only a 202 counts).
 * The routing key travels in the body. Extensions: `pagerduty.url` replaces the endpoint, and `region: eu`
 * really uses the EU endpoint (falcosidekick discards that option and always posts to the US one).
 */
import { Field } from "@sidekick/config"
import { statusError } from "@sidekick/delivery"
import { type FalcoEvent, goJsonMap, goJsonString, rfc3339Seconds } from "@sidekick/event"
import { Effect, Redacted } from "effect"
import { define } from "./Definition.js"
import { httpFields, outputSection } from "./OutputConfig.js"

export const pagerdutyUrls = {
  us: "https://events.pagerduty.com/v2/enqueue",
  eu: "https://events.eu.pagerduty.com/v2/enqueue"
} as const

/** what go-pagerduty v1.8.0 (falcosidekick's) names itself */
export const pagerdutyUserAgent = "go-pagerduty/1.8.0"

export const PagerDutyConfig = outputSection("pagerduty", {
  routingkey: Field.secret(),
  region: Field.literal(["us", "eu"] as const, "us", { caseInsensitive: true }),
  url: Field.string(""),
  // falcosidekick declares these but go-pagerduty ignores them; Sidekick's client honours them
  ...httpFields()
})
export type PagerDutyConfig = typeof PagerDutyConfig.Type

const nanosPerSecond = 1_000_000_000n

/** Go `Time.Format(time.RFC3339)` of the event time at whole seconds, in UTC */
export const pagerdutyTimestamp = (event: FalcoEvent): string => {
  const n = event.timeUnixNanos
  // floor, not truncation toward zero: an instant before 1970 with a fraction belongs to the earlier second
  const seconds = n >= 0n || n % nanosPerSecond === 0n ? n / nanosPerSecond : n / nanosPerSecond - 1n
  return rfc3339Seconds(new Date(Number(seconds) * 1000))
}

/** the raw output fields (numbers keep their digits) plus `hostname` when set; written as a Go map */
export const pagerdutyCustomDetails = (event: FalcoEvent): Readonly<Record<string, unknown>> =>
  event.hostname === "" ? event.output_fields : { ...event.output_fields, hostname: event.hostname }

/**
 * go-pagerduty's V2Event as `json.Marshal` writes it: `routing_key,event_action,payload` with payload
 * `summary,source,severity,timestamp,custom_details`. No trailing newline. custom_details is a Go map, so
 * its keys (and those of any nested object) are sorted bytewise.
 */
export const pagerdutyBody = (event: FalcoEvent, routingKey: string): string =>
  `{"routing_key":${goJsonString(routingKey)},"event_action":"trigger","payload":{` +
  `"summary":${goJsonString(event.output)},"source":"falco","severity":"critical",` +
  `"timestamp":${goJsonString(pagerdutyTimestamp(event))},` +
  `"custom_details":${goJsonMap(pagerdutyCustomDetails(event))}}}`

/** `pagerduty.url` when set, else the region's endpoint */
export const pagerdutyUrl = (c: Pick<PagerDutyConfig, "region" | "url">): string => (c.url !== "" ? c.url : pagerdutyUrls[c.region])

export const PagerDuty = define({
  config: PagerDutyConfig,
  displayName: "Pagerduty",
  enabled: (c) => Redacted.value(c.routingkey) !== "",
  make: (c, ctx) =>
    Effect.map(ctx.http({ contentType: "application/json" }), (http) => {
      const url = pagerdutyUrl(c)
      const routingKey = Redacted.value(c.routingkey)
      const headers = { "User-Agent": pagerdutyUserAgent }
      return {
        kind: "single",
        send: (event) =>
          http.exchange({ url, headers, body: pagerdutyBody(event, routingKey) }).pipe(
            // go-pagerduty accepts 202 alone: any other answer, a 200 included, is a failure
            Effect.flatMap((response) => response.status === 202 ? Effect.void : Effect.fail(statusError(ctx.name, response, url)))
          )
      }
    })
})
