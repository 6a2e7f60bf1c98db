/**
 * Sumo Logic: the event JSON POSTed to an HTTP Source (falcosidekick's `sumologic` output; the source's URL
 * carries its collector code, so it is a secret), with the `X-Sumo-Category`, `X-Sumo-Host` and `X-Sumo-Name`
 * headers when set.
 */
import { Field } from "@sidekick/config"
import { Effect, Redacted } from "effect"
import { requireHttpUrl } from "./Endpoint.js"
import { define, sendEach } from "./Definition.js"
import { httpFields, outputSection } from "./OutputConfig.js"
import { webhookBody } from "./Webhook.js"

export const SumoLogicConfig = outputSection("sumologic", {
  receiverurl: Field.secret(),
  sourcecategory: Field.string(""),
  sourcehost: Field.string(""),
  name: Field.string(""),
  ...httpFields()
})
export type SumoLogicConfig = typeof SumoLogicConfig.Type

/** the metadata headers Sumo Logic reads, each only when set (the source's own settings apply otherwise) */
export const sumoLogicHeaders = (c: Pick<SumoLogicConfig, "sourcecategory" | "sourcehost" | "name">): Record<string, string> => {
  const headers: Record<string, string> = {}
  if (c.sourcecategory !== "") headers["X-Sumo-Category"] = c.sourcecategory
  if (c.sourcehost !== "") headers["X-Sumo-Host"] = c.sourcehost
  if (c.name !== "") headers["X-Sumo-Name"] = c.name
  return headers
}

export const SumoLogic = define({
  config: SumoLogicConfig,
  displayName: "SumoLogic",
  enabled: (c) => Redacted.value(c.receiverurl) !== "",
  make: (c, ctx) =>
    Effect.gen(function*() {
      const url = yield* requireHttpUrl(ctx, "receiverurl", Redacted.value(c.receiverurl), { secret: true })
      const http = yield* ctx.http()
      const headers = sumoLogicHeaders(c)
      // the body is the webhook's: Go json.Encoder output of the event
      return sendEach(http, (event) => ({ url, headers, body: webhookBody(event) }))
    })
})
