/** Webhook (catalog §9.1): the canonical event JSON POSTed (or PUT) to `address`. */
import { Field, section } from "@sidekick/config"
import { define, HttpTransport } from "@sidekick/delivery"
import { eventJson, type FalcoEvent } from "@sidekick/event"
import { Effect } from "effect"
import { httpClientFor, httpCommonFields, httpOutput } from "./common.js"

export const WebhookConfig = section("webhook", {
  address: Field.string(),
  method: Field.string("POST"),
  customheaders: Field.map({ env: "pairs", secret: true }),
  ...httpCommonFields()
})
export type WebhookConfig = typeof WebhookConfig.Type

/** falcosidekick: "PUT" in any case means PUT, anything else POST */
export const webhookMethod = (configured: string): "PUT" | "POST" => configured.toUpperCase() === "PUT" ? "PUT" : "POST"

/** the request body: Go json.Encoder output of the event */
export const webhookBody = (event: FalcoEvent): string => eventJson(event) + "\n"

export const Webhook = define<WebhookConfig, HttpTransport>({
  key: "webhook",
  displayName: "Webhook",
  enabled: (c) => c.address !== "",
  make: (c) =>
    Effect.gen(function*() {
      const http = yield* httpClientFor("webhook", c, { customHeaders: c.customheaders })
      const method = webhookMethod(c.method)
      return {
        ...httpOutput("webhook", c),
        send: (events) => http.send({ url: c.address, method, body: webhookBody(events[0]) }).pipe(Effect.asVoid)
      }
    })
})
