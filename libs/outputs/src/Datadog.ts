/**
 * Datadog (events): an event through the v1 Events API (falcosidekick's `datadog` output: POST
 * `{host}/api/v1/events?api_key=<apikey>`; the rule as title, the output line as text, an alert type from the
 * priority, and as tags every string output field `key:value`, `source:<source>`, `source:falco`,
 * `hostname:<hostname>` and the event's tags).
 * The API key travels in the query string as falcosidekick sends it. The transport's messages and spans
 * name the origin only; on top of that every error of this output has the key scrubbed from its message,
 * because a peer (a proxy's error page) may echo the request URL in the body the message quotes.
 */
import { Field } from "@sidekick/config"
import { type FalcoEvent, goJson, omitEmpty, type Priority, stringOutputFields } from "@sidekick/event"
import { Effect, Redacted } from "effect"
import { define } from "./Definition.js"
import { joinUrlPath, requireHttpUrl, scrubSecrets } from "./Endpoint.js"
import { httpFields, outputSection } from "./OutputConfig.js"

export const defaultDatadogHost = "https://api.datadoghq.com"

export const DatadogConfig = outputSection("datadog", {
  apikey: Field.secret(),
  host: Field.string(defaultDatadogHost),
  ...httpFields()
})
export type DatadogConfig = typeof DatadogConfig.Type

/** Datadog `alert_type` per Falco priority (falcosidekick's mapping) */
export const datadogAlertType: Readonly<Record<Priority, string>> = {
  Emergency: "error",
  Alert: "error",
  Critical: "error",
  Error: "error",
  Warning: "warning",
  Notice: "info",
  Informational: "info",
  Debug: "info"
}

/** string output fields as `key:value` (sorted), `source:<source>`, `source:falco`, `hostname:<hostname>`, the event's tags (sorted at ingest) */
export const datadogTags = (event: FalcoEvent): Array<string> => {
  const tags = stringOutputFields(event).map(([key, value]) => `${key}:${value}`)
  tags.push(`source:${event.source}`, "source:falco")
  if (event.hostname !== "") tags.push(`hostname:${event.hostname}`)
  tags.push(...event.tags)
  return tags
}

/** falcosidekick's datadogPayload: `title,text,alert_type,source_type_name,tags`, all omitempty */
export const datadogPayload = (event: FalcoEvent): object => ({
  title: omitEmpty(event.rule),
  text: omitEmpty(event.output),
  alert_type: datadogAlertType[event.priority],
  source_type_name: "falco",
  tags: datadogTags(event)
})

/** the request body: Go json.Encoder output of datadogPayload */
export const datadogBody = (event: FalcoEvent): string => goJson(datadogPayload(event)) + "\n"

/** `{host}/api/v1/events`; an empty host is the default one (falcosidekick's chart writes every key, "" when unset) */
export const datadogEventsEndpoint = (host: string): string => joinUrlPath(host === "" ? defaultDatadogHost : host, "/api/v1/events")

/**
 * `{host}/api/v1/events?api_key=<apikey>`. The key is URL-escaped (falcosidekick pastes it raw; Datadog keys are
 * hex, so the bytes are the same).
 */
export const datadogUrl = (host: string, apikey: string): string => `${datadogEventsEndpoint(host)}?api_key=${encodeURIComponent(apikey)}`

export const Datadog = define({
  config: DatadogConfig,
  displayName: "Datadog",
  enabled: (c) => Redacted.value(c.apikey) !== "",
  make: (c, ctx) =>
    Effect.gen(function*() {
      const apikey = Redacted.value(c.apikey)
      // checked without the key, so that a refusal can show the URL
      yield* requireHttpUrl(ctx, "host", datadogEventsEndpoint(c.host))
      const http = yield* ctx.http()
      const url = datadogUrl(c.host, apikey)
      const scrub = scrubSecrets([apikey])
      return {
        kind: "single",
        send: (event) => http.send({ url, body: datadogBody(event) }).pipe(Effect.asVoid, Effect.mapError(scrub))
      }
    })
})
