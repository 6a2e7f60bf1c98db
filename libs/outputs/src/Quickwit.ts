/**
 * Quickwit: one document per event, `POST {hostport}/{apiendpoint}/{index}/ingest` (falcosidekick's `quickwit`
 * output: the event JSON as a one-line NDJSON body, custom headers). With `autocreateindex`, the index is
 * created with falcosidekick's doc mapping when `GET .../indexes/{index}/describe` does not find it.
 *
 * When creating the index fails at start-up for a reason that may pass (Quickwit unreachable, 5xx, timeout),
 * the output starts anyway and creates the index before its next delivery: events wait in the queue under
 * the Dispatcher's retries rather than Sidekick refusing to start (falcosidekick disables the output). A
 * refusal no retry will fix (401, 403, a mapping Quickwit rejects) still refuses start-up, naming the key.
 * (Elasticsearch's `createindextemplate` refuses start-up on any failure.)
 */
import { Field } from "@sidekick/config"
import { type HttpResponseInfo, isSuccessStatus, type OutputHttpClient, statusError } from "@sidekick/delivery"
import { eventJson, type FalcoEvent, goJson } from "@sidekick/event"
import { Effect } from "effect"
import { define, type OutputContext } from "./Definition.js"
import { startupStep, startupTimeout } from "./StartupStep.js"
import { httpFields, outputSection } from "./OutputConfig.js"

export const QuickwitConfig = outputSection("quickwit", {
  hostport: Field.string(),
  apiendpoint: Field.string("api/v1"),
  index: Field.string("falco"),
  version: Field.string("0.7"),
  autocreateindex: Field.bool(false),
  customheaders: Field.secretMap({ env: "pairs" }),
  ...httpFields()
})
export type QuickwitConfig = typeof QuickwitConfig.Type

/**
 * `{hostport}/{apiendpoint}` with one slash between them. falcosidekick joins them with a slash as they are, so the
 * `/api/v1` of its docs and chart gives `//api/v1`; the slashes at the junction are trimmed here.
 */
export const quickwitApiUrl = (hostport: string, apiendpoint: string): string =>
  `${hostport.replace(/\/+$/, "")}/${apiendpoint.replace(/^\/+|\/+$/g, "")}`

/** the request body: Go json.Encoder output of the event (a valid one-line NDJSON body) */
export const quickwitBody = (event: FalcoEvent): string => eventJson(event) + "\n"

const field = (name: string, type: string, fast = true) => ({ name, type, fast })

/** falcosidekick's QuickwitMappingPayload for an index, members in its struct order */
export const quickwitIndexConfig = (index: string, version: string): object => ({
  index_id: index,
  version,
  search_settings: { default_search_fields: ["rule", "source", "output", "priority", "hostname", "tags"] },
  doc_mapping: {
    dynamic_mapping: {
      description: "Falco",
      fast: true,
      expand_dots: true,
      indexed: true,
      record: "basic",
      stored: true,
      tokenizer: "raw"
    },
    field_mappings: [
      field("time", "datetime"),
      field("uuid", "text"),
      field("hostname", "text"),
      field("priority", "text"),
      field("source", "text"),
      field("output", "text", false),
      field("rule", "text"),
      field("tags", "array<text>"),
      field("output_fields", "json")
    ],
    mode: "dynamic",
    store_source: true,
    timestamp_field: "time"
  }
})

/** the body POSTed to `.../indexes` (Go json.Encoder: `<` and `>` escaped, trailing newline) */
export const quickwitIndexConfigBody = (index: string, version: string): string => goJson(quickwitIndexConfig(index, version)) + "\n"

/**
 * Whether the answer to creating the index says it exists already: falcosidekick takes a 400 with an empty body
 * for that; Quickwit's own answer (400 or 409) names the index as already existing.
 */
export const quickwitIndexExists = (response: HttpResponseInfo): boolean =>
  (response.status === 400 && response.body.trim() === "") ||
  ((response.status === 400 || response.status === 409) && /already exist/i.test(response.body))

/** describe the index; when that does not succeed, create it */
const ensureIndex = (ctx: OutputContext, http: OutputHttpClient, api: string, c: QuickwitConfig) =>
  Effect.gen(function*() {
    const described = yield* http.exchange({ method: "GET", url: `${api}/indexes/${c.index}/describe` })
    if (isSuccessStatus(described.status)) return
    const url = `${api}/indexes`
    const created = yield* http.exchange({ url, body: quickwitIndexConfigBody(c.index, c.version) })
    if (isSuccessStatus(created.status) || quickwitIndexExists(created)) return
    return yield* Effect.fail(statusError(ctx.name, created, url))
  })

export const Quickwit = define({
  config: QuickwitConfig,
  displayName: "Quickwit",
  enabled: (c) => c.hostport !== "",
  make: (c, ctx) =>
    Effect.gen(function*() {
      // falcosidekick sends the describe and create requests without the custom headers; they go on every
      // request here, since a Quickwit behind an authenticating proxy needs them there too
      const http = yield* ctx.http({ customHeaders: c.customheaders })
      const api = quickwitApiUrl(c.hostport, c.apiendpoint)
      const indexReady = c.autocreateindex
        ? yield* startupStep(ctx, {
          what: `creating the Quickwit index ${c.index}`,
          run: ensureIndex(ctx, http, api, c),
          refuse: (e) => ctx.initError(`cannot create the Quickwit index ${c.index}: ${e.message}`, { key: "autocreateindex", cause: e }),
          timeout: startupTimeout(c)
        })
        : Effect.void
      const url = `${api}/${c.index}/ingest`
      return {
        kind: "single",
        send: (event) => Effect.zipRight(indexReady, Effect.asVoid(http.send({ url, body: quickwitBody(event) })))
      }
    })
})
