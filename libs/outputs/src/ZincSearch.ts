/**
 * ZincSearch: one document per event, `POST {hostport}/api/{index}/_doc` (falcosidekick's `zincsearch` output:
 * the event JSON, HTTP Basic auth when both username and password are set).
 */
import { Field } from "@sidekick/config"
import { eventJson, type FalcoEvent } from "@sidekick/event"
import { Effect, Redacted } from "effect"
import { define, sendEach } from "./Definition.js"
import { outputSection } from "./OutputConfig.js"

export const ZincSearchConfig = outputSection("zincsearch", {
  hostport: Field.string(),
  index: Field.string("falco"),
  username: Field.string(""),
  password: Field.secret(),
  // falcosidekick builds this client with checkcert only: mutualtls and maxconcurrentrequests do not exist here
  checkcert: Field.bool(true)
})
export type ZincSearchConfig = typeof ZincSearchConfig.Type

/** `{hostport}/api/{index}/_doc` */
export const zincSearchUrl = (c: Pick<ZincSearchConfig, "hostport" | "index">): string => `${c.hostport}/api/${c.index}/_doc`

/** the request body: Go json.Encoder output of the event */
export const zincSearchBody = (event: FalcoEvent): string => eventJson(event) + "\n"

export const ZincSearch = define({
  config: ZincSearchConfig,
  displayName: "Zincsearch",
  enabled: (c) => c.hostport !== "",
  make: (c, ctx) => {
    const useBasic = c.username !== "" && Redacted.value(c.password) !== ""
    return Effect.map(ctx.http(useBasic ? { basicAuth: { user: c.username, password: c.password } } : {}), (http) => {
      const url = zincSearchUrl(c)
      return sendEach(http, (event) => ({ url, body: zincSearchBody(event) }))
    })
  }
})
