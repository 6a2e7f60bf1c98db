/**
 * OpenObserve: the event as one NDJSON line to the multi-line ingestion API,
 * `POST {hostport}/api/{organizationname}/{streamname}/_multi` (falcosidekick's `openobserve` output: HTTP Basic
 * auth when both username and password are set, then the custom headers, which may replace it).
 */
import { Field } from "@sidekick/config"
import { eventJson, type FalcoEvent } from "@sidekick/event"
import { Effect, Redacted } from "effect"
import { define, sendEach } from "./Definition.js"
import { httpFields, outputSection } from "./OutputConfig.js"

export const OpenObserveConfig = outputSection("openobserve", {
  hostport: Field.string(),
  organizationname: Field.string("default"),
  streamname: Field.string("falco"),
  username: Field.string(""),
  password: Field.secret(),
  customheaders: Field.secretMap({ env: "pairs" }),
  ...httpFields()
})
export type OpenObserveConfig = typeof OpenObserveConfig.Type

/** `{hostport}/api/{organizationname}/{streamname}/_multi` */
export const openObserveUrl = (c: Pick<OpenObserveConfig, "hostport" | "organizationname" | "streamname">): string =>
  `${c.hostport}/api/${c.organizationname}/${c.streamname}/_multi`

/** the request body: Go json.Encoder output of the event, a one-line NDJSON document */
export const openObserveBody = (event: FalcoEvent): string => eventJson(event) + "\n"

export const OpenObserve = define({
  config: OpenObserveConfig,
  displayName: "OpenObserve",
  enabled: (c) => c.hostport !== "",
  make: (c, ctx) => {
    const useBasic = c.username !== "" && Redacted.value(c.password) !== ""
    const options = {
      customHeaders: c.customheaders,
      ...(useBasic ? { basicAuth: { user: c.username, password: c.password } } : {})
    }
    return Effect.map(ctx.http(options), (http) => {
      const url = openObserveUrl(c)
      return sendEach(http, (event) => ({ url, body: openObserveBody(event) }))
    })
  }
})
