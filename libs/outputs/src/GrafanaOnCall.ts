/**
 * Grafana OnCall: an alert to a formatted-webhook integration (falcosidekick's `grafanaoncall` output: the
 * event uuid as `alert_uid`, state `alerting`, `[<priority>] <rule>` as title, the output line as message).
 * The integration URL carries its token, so it is a secret like the custom headers.
 */
import { Field } from "@sidekick/config"
import { type FalcoEvent, goJson } from "@sidekick/event"
import { Effect, Redacted } from "effect"
import { define, sendEach } from "./Definition.js"
import { httpFields, outputSection } from "./OutputConfig.js"
import { hasWebhookUrl } from "./Slack.js"

export const GrafanaOnCallConfig = outputSection("grafanaoncall", {
  webhookurl: Field.secret(),
  customheaders: Field.secretMap({ env: "pairs" }),
  ...httpFields()
})
export type GrafanaOnCallConfig = typeof GrafanaOnCallConfig.Type

/** falcosidekick's grafanaOnCallPayload: `alert_uid,state,title,message`, none omitted when empty */
export const grafanaOnCallPayload = (event: FalcoEvent): object => ({
  alert_uid: event.uuid,
  state: "alerting",
  title: `[${event.priority}] ${event.rule}`,
  message: event.output
})

/** the request body: Go json.Encoder output of grafanaOnCallPayload */
export const grafanaOnCallBody = (event: FalcoEvent): string => goJson(grafanaOnCallPayload(event)) + "\n"

export const GrafanaOnCall = define({
  config: GrafanaOnCallConfig,
  displayName: "GrafanaOnCall",
  enabled: hasWebhookUrl,
  make: (c, ctx) =>
    // falcosidekick sends its Grafana outputs with a bare `application/json` (no charset)
    Effect.map(ctx.http({ customHeaders: c.customheaders, contentType: "application/json" }), (http) => {
      const url = Redacted.value(c.webhookurl)
      return sendEach(http, (event) => ({ url, body: grafanaOnCallBody(event) }))
    })
})
