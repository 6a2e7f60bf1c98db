/**
 * Splunk: one event through the HTTP Event Collector (falcosidekick's `splunk` output: POST to `host`, the
 * full collector URL, with `Authorization: Splunk <token>`; the event JSON as `event`, sourcetype
 * `falcosidekick`).
 */
import { Field } from "@sidekick/config"
import { eventJson, type FalcoEvent } from "@sidekick/event"
import { Effect, Redacted } from "effect"
import { requireHttpUrl } from "./Endpoint.js"
import { define, sendEach } from "./Definition.js"
import { outputSection } from "./OutputConfig.js"

export const SplunkConfig = outputSection("splunk", {
  host: Field.string(),
  token: Field.secret(),
  customheaders: Field.secretMap({ env: "pairs" }),
  // falcosidekick builds this client with checkcert only (it declares mutualtls and maxconcurrentrequests but
  // never reads them): Sidekick has only checkcert, and warns about the others as unknown keys
  checkcert: Field.bool(true)
})
export type SplunkConfig = typeof SplunkConfig.Type

/** the request body: Go json.Encoder output of `{"event":<the event>,"sourcetype":"falcosidekick"}` */
export const splunkBody = (event: FalcoEvent): string => `{"event":${eventJson(event)},"sourcetype":"falcosidekick"}\n`

/**
 * falcosidekick sets the custom headers first and the token's Authorization after them, so a token wins over
 * a custom Authorization header; the transport applies custom headers last, so that one is left out here.
 */
export const splunkCustomHeaders = (
  customHeaders: Readonly<Record<string, string>>,
  hasToken: boolean
): Readonly<Record<string, string>> =>
  hasToken ? Object.fromEntries(Object.entries(customHeaders).filter(([k]) => k.toLowerCase() !== "authorization")) : customHeaders

export const Splunk = define({
  config: SplunkConfig,
  displayName: "Splunk",
  enabled: (c) => c.host !== "",
  make: (c, ctx) =>
    Effect.gen(function*() {
      const url = yield* requireHttpUrl(ctx, "host", c.host)
      const token = Redacted.value(c.token)
      const customHeaders = Redacted.make(splunkCustomHeaders(Redacted.value(c.customheaders), token !== ""))
      const http = yield* ctx.http({ customHeaders })
      // without a token falcosidekick sends no Authorization (a collector behind a proxy that authenticates)
      const headers: Record<string, string> = token !== "" ? { Authorization: `Splunk ${token}` } : {}
      return sendEach(http, (event) => ({ url, headers, body: splunkBody(event) }))
    })
})
