/**
 * Datadog Logs: one log through the v2 logs intake (falcosidekick's `datadoglogs` output: POST
 * `{host}/api/v2/logs` with the `DD-API-KEY` header; source `falco`, the event's hostname, the configured
 * service, the event JSON as the message and its tags as `ddtags`).
 * falcosidekick appends the path to the host as is, so its own default host (with a trailing "/") posts to
 * `https://http-intake.logs.datadoghq.com//api/v2/logs`. Sidekick joins them with one slash: `/api/v2/logs`
 * is the documented path, and no intake or proxy has to normalise the doubled one.
 */
import { Field } from "@sidekick/config"
import { eventJson, type FalcoEvent, goJson, omitEmpty } from "@sidekick/event"
import { Effect, Redacted } from "effect"
import { joinUrlPath, requireHttpUrl } from "./Endpoint.js"
import { define, sendEach } from "./Definition.js"
import { httpFields, outputSection } from "./OutputConfig.js"

export const defaultDatadogLogsHost = "https://http-intake.logs.datadoghq.com/"

export const DatadogLogsConfig = outputSection("datadoglogs", {
  apikey: Field.secret(),
  host: Field.string(defaultDatadogLogsHost),
  service: Field.string(""),
  ...httpFields()
})
export type DatadogLogsConfig = typeof DatadogLogsConfig.Type

/** falcosidekick's datadogLogsPayload: `ddsource,hostname,service,message,ddtags`, all omitempty */
export const datadogLogsPayload = (event: FalcoEvent, service: string): object => ({
  ddsource: "falco",
  hostname: omitEmpty(event.hostname),
  service: omitEmpty(service),
  message: eventJson(event),
  ddtags: omitEmpty(event.tags.join(","))
})

/** the request body: Go json.Encoder output of datadogLogsPayload */
export const datadogLogsBody = (event: FalcoEvent, service: string): string => goJson(datadogLogsPayload(event, service)) + "\n"

/** `{host}/api/v2/logs`, with one slash between them (see the module comment); an empty host is the default one */
export const datadogLogsUrl = (host: string): string => joinUrlPath(host === "" ? defaultDatadogLogsHost : host, "/api/v2/logs")

export const DatadogLogs = define({
  config: DatadogLogsConfig,
  displayName: "DatadogLogs",
  enabled: (c) => Redacted.value(c.apikey) !== "",
  make: (c, ctx) =>
    Effect.gen(function*() {
      const url = yield* requireHttpUrl(ctx, "host", datadogLogsUrl(c.host))
      const http = yield* ctx.http()
      const headers = { "DD-API-KEY": Redacted.value(c.apikey) }
      // Datadog answers 202; the transport's other successes (200, 201, 204) are accepted as falcosidekick does
      return sendEach(http, (event) => ({ url, headers, body: datadogLogsBody(event, c.service) }))
    })
})
