/** Webhook: the event as falcosidekick's canonical JSON, POSTed (or PUT) to `address`. */
import { Field } from "@sidekick/config"
import { eventJson, type FalcoEvent } from "@sidekick/event"
import { Effect } from "effect"
import { define, sendEach } from "./Definition.js"
import { httpFields, outputSection } from "./OutputConfig.js"

export const WebhookConfig = outputSection("webhook", {
  address: Field.string(),
  method: Field.string("POST"),
  customheaders: Field.secretMap({ env: "pairs" }),
  ...httpFields()
})
export type WebhookConfig = typeof WebhookConfig.Type

/** falcosidekick: "PUT" in any case means PUT, anything else POST */
export const webhookMethod = (configured: string): "PUT" | "POST" => configured.toUpperCase() === "PUT" ? "PUT" : "POST"

/** the request body: Go json.Encoder output of the event */
export const webhookBody = (event: FalcoEvent): string => eventJson(event) + "\n"

export const Webhook = define({
  config: WebhookConfig,
  displayName: "Webhook",
  enabled: (c) => c.address !== "",
  make: (c, ctx) =>
    Effect.map(ctx.http({ customHeaders: c.customheaders }), (http) => {
      const method = webhookMethod(c.method)
      return sendEach(http, (event) => ({ url: c.address, method, body: webhookBody(event) }))
    })
})
