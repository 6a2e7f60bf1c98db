/**
 * Elasticsearch: one document per event (`POST /{index}-{date}/{type}`), or, with `batching.enabled`, one
 * `_bulk` NDJSON request per batch (a `create` action line and the document per event). The document is
 * the event JSON plus a trailing `@timestamp` (the event time). With `createindextemplate`, the index
 * template `falco` is created at start-up when missing, and output fields are flattened (`.` -> `_`).
 */
import { Field } from "@sidekick/config"
import { isSuccessStatus, originOf, type OutputError, type OutputHttpClient, type PartialFailure, statusError } from "@sidekick/delivery"
import { eventJson, eventPayload, type FalcoEvent, goJson, zeroPad } from "@sidekick/event"
import { Clock, Effect, Redacted } from "effect"
import { define, type OutputContext } from "./Definition.js"
import { batchingFields, batchOptions, httpFields, outputSection } from "./OutputConfig.js"

export const ElasticsearchConfig = outputSection("elasticsearch", {
  hostport: Field.string(),
  index: Field.string("falco"),
  type: Field.string("_doc"),
  pipeline: Field.string(""),
  suffix: Field.literal(["daily", "monthly", "annually", "none"] as const, "daily"),
  apikey: Field.secret(),
  username: Field.string(""),
  password: Field.secret(),
  flattenfields: Field.bool(false),
  createindextemplate: Field.bool(false),
  numberofshards: Field.int(3),
  numberofreplicas: Field.int(3),
  customheaders: Field.secretMap({ env: "json" }),
  enablecompression: Field.bool(false),
  batching: {
    ...batchingFields({ enabled: false, maxevents: 10_000, maxbytes: 5 * 1024 * 1024, flushinterval: "1s" }),
    /** falcosidekick's name for `maxbytes`; when set, it wins */
    batchsize: Field.optional(Field.int(5 * 1024 * 1024, { min: 1 }))
  },
  ...httpFields()
})
export type ElasticsearchConfig = typeof ElasticsearchConfig.Type

export type IndexSuffix = "daily" | "monthly" | "annually" | "none"

/** `index` + "-" + the send-time date in local time (Go time.Now().Format): 2006.01.02 / 2006.01 / 2006; none: `index` */
export const indexName = (index: string, suffix: IndexSuffix, nowMillis: number): string => {
  const d = new Date(nowMillis)
  switch (suffix) {
    case "none":
      return index
    case "monthly":
      return `${index}-${zeroPad(d.getFullYear(), 4)}.${zeroPad(d.getMonth() + 1)}`
    case "annually":
      return `${index}-${zeroPad(d.getFullYear(), 4)}`
    default:
      return `${index}-${zeroPad(d.getFullYear(), 4)}.${zeroPad(d.getMonth() + 1)}.${zeroPad(d.getDate())}`
  }
}

/** output_fields keys with `.` replaced by `_` (flattenfields) */
export const flattenFields = (fields: Readonly<Record<string, unknown>>): Record<string, unknown> => {
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(fields)) out[k.replaceAll(".", "_")] = v
  return out
}

export interface ElasticsearchDocOptions {
  readonly flatten: boolean
  /** output_fields keys starting with one of these are left out (mapping-conflict retry) */
  readonly dropPrefixes?: ReadonlyArray<string>
}

/** the indexed document: the event JSON plus a trailing `@timestamp` (the event time), no trailing newline */
export const elasticsearchDoc = (event: FalcoEvent, o: ElasticsearchDocOptions): string => {
  let fields: Record<string, unknown> = o.flatten ? flattenFields(event.output_fields) : { ...event.output_fields }
  const drop = o.dropPrefixes ?? []
  if (drop.length > 0) {
    fields = Object.fromEntries(Object.entries(fields).filter(([k]) => !drop.some((p) => k.startsWith(p))))
  }
  return goJson({ ...eventPayload({ ...event, output_fields: fields }), "@timestamp": event.time })
}

/** one `_bulk` entry: action line and document line, each newline-terminated */
export const bulkEntry = (index: string, doc: string): string => goJson({ create: { _index: index } }) + "\n" + doc + "\n"

/**
 * The output_fields prefix a `document_parsing_exception` complains about, e.g. reason
 * "failed to parse field [output_fields.proc.pid] of type [long]" gives "proc.pid"; undefined otherwise.
 * Elasticsearch 7 and OpenSearch name the same error `mapper_parsing_exception` (falcosidekick only knows
 * Elasticsearch 8's name, so with OpenSearch it drops the document): both are read.
 */
const mappingErrorTypes = new Set(["document_parsing_exception", "mapper_parsing_exception"])

export const mappingConflictField = (responseBody: string): string | undefined => {
  let parsed: unknown
  try {
    parsed = JSON.parse(responseBody)
  } catch {
    return undefined
  }
  const error = (parsed as { error?: { type?: unknown; reason?: unknown } } | null)?.error
  if (error === undefined || error === null || !mappingErrorTypes.has(String(error.type))) return undefined
  if (typeof error.reason !== "string") return undefined
  const match = /\[\w+(\.\w+)+\]/.exec(error.reason)
  if (match === null || !match[0].includes("output_fields")) return undefined
  return match[0].replace("[output_fields.", "").replaceAll("]", "")
}

interface BulkItem {
  readonly status?: number
  readonly error?: { readonly type?: string; readonly reason?: string }
}

export interface BulkItemFailure {
  /** the item's position in the request */
  readonly index: number
  readonly status: number | undefined
  readonly message: string
}

/**
 * The items of a `_bulk` answer that were not created: an empty list when all were; Left when the answer
 * cannot be read or does not have one item per event sent.
 */
export const bulkItemFailures = (responseBody: string, expectedItems: number): ReadonlyArray<BulkItemFailure> | string => {
  let parsed: { errors?: boolean; items?: ReadonlyArray<Record<string, BulkItem>> }
  try {
    parsed = JSON.parse(responseBody)
  } catch {
    return `unparseable _bulk response for ${expectedItems} item(s)`
  }
  const items = parsed.items ?? []
  if (items.length !== expectedItems) return `_bulk response has ${items.length} item(s) for ${expectedItems} sent`
  const failures: Array<BulkItemFailure> = []
  items.forEach((item, index) => {
    const result = item["create"] ?? Object.values(item)[0] ?? {}
    if (result.status === 200 || result.status === 201) return
    const message = result.error === undefined
      ? `status ${result.status ?? "missing"}`
      : `${result.error.type ?? "error"}: ${result.error.reason ?? ""}`.trim()
    failures.push({ index, status: result.status, message })
  })
  return failures
}

/**
 * One failed bulk item as an attempt error: 429 (the cluster is pushing back) and 5xx are statuses worth
 * another try; anything else (a mapping error, a version conflict) is refused for good.
 */
const bulkItemError = (ctx: OutputContext, f: BulkItemFailure): OutputError => {
  const transient = f.status !== undefined && (f.status === 429 || f.status >= 500)
  return ctx.error(transient ? "Status" : "Rejected", `bulk item rejected: ${f.message}`, f.status === undefined ? {} : { status: f.status })
}

const keywordField = (ignoreAbove: number) => ({ type: "text", fields: { keyword: { type: "keyword", ignore_above: ignoreAbove } } })

/** flattened output_fields names falcosidekick's index template maps as text + keyword (74 of falcosidekick's outputs/elasticsearch_mapping.go; its newest version maps 79) */
export const templateOutputFields: ReadonlyArray<string> = [
  "container_info", "container_mounts", "container_start",
  "evt_arg_cmd", "evt_arg_fd", "evt_arg_filename", "evt_arg_flags", "evt_arg_linkpath", "evt_arg_mode", "evt_arg_name",
  "evt_arg_newpath", "evt_arg_oldpath", "evt_arg_path", "evt_arg_target", "evt_arg_uid", "evt_args", "evt_res", "evt_type",
  "fd_cip_name", "fd_lip_name", "fd_lport", "fd_name", "fd_nameraw", "fd_rip", "fd_rip_name", "fd_rport", "fd_sip",
  "fd_sip_name", "fd_sport", "fd_type", "group_gid", "group_name", "jevt_obj", "jevt_value",
  "ka_auth_decision", "ka_auth_reason", "ka_req_binding", "ka_req_configmap", "ka_req_pod", "ka_req_role", "ka_req_service",
  "ka_resp_name", "ka_response_code", "ka_response_reason", "ka_target_name", "ka_target_namespace", "ka_target_resource",
  "ka_target_subresource", "ka_uri", "ka_uri_param", "ka_user_name", "ka_verb",
  "proc_aexepath", "proc_aname", "proc_args", "proc_cmdline", "proc_cwd", "proc_env", "proc_exe", "proc_exepath",
  "proc_name", "proc_pcmdline", "proc_pexe", "proc_pexepath", "proc_pname", "proc_sname", "proc_tty",
  "test_dash", "test_slash", "thread_cap", "user_loginname", "user_loginuid", "user_name", "user_uid"
]

/** the body PUT to `_index_template/falco` */
export const indexTemplate = (index: string, suffix: IndexSuffix, shards: number, replicas: number): object => ({
  index_patterns: [suffix === "none" ? index : `${index}-*`],
  template: {
    settings: { number_of_shards: shards > 0 ? shards : 3, number_of_replicas: replicas > 0 ? replicas : 3 },
    mappings: {
      properties: {
        "@timestamp": { type: "date" },
        hostname: keywordField(256),
        output: keywordField(2048),
        output_fields: { properties: Object.fromEntries(templateOutputFields.map((f) => [f, keywordField(256)])) },
        priority: keywordField(256),
        rule: keywordField(256),
        source: keywordField(256),
        tags: keywordField(256),
        time: { type: "date" },
        uuid: keywordField(256)
      }
    }
  }
})

const ensureIndexTemplate = (ctx: OutputContext, http: OutputHttpClient, c: ElasticsearchConfig) =>
  Effect.gen(function*() {
    const initError = (message: string, cause?: unknown) => ctx.initError(message, { key: "createindextemplate", cause })
    const url = `${c.hostport}/_index_template/falco`
    const where = `index template on ${originOf(c.hostport)}`
    const existing = yield* http.exchange({ method: "GET", url }).pipe(
      Effect.mapError((e) => initError(`cannot check the ${where}: ${e.message}`, e))
    )
    if (isSuccessStatus(existing.status)) return
    if (existing.status !== 404) {
      return yield* Effect.fail(initError(`cannot check the ${where}: status ${existing.status}`))
    }
    const body = goJson(indexTemplate(c.index, c.suffix, c.numberofshards, c.numberofreplicas))
    yield* http.send({ method: "PUT", url, body }).pipe(
      Effect.mapError((e) => initError(`cannot create the ${where}: ${e.message}`, e))
    )
  })

/** the bytes one event adds to a `_bulk` request: its document is its JSON plus `@timestamp`, its action line names the index */
export const bulkEntrySize = (event: FalcoEvent, indexLength: number): number =>
  Buffer.byteLength(eventJson(event)) + 48 + 24 + indexLength

export const Elasticsearch = define({
  config: ElasticsearchConfig,
  displayName: "Elasticsearch",
  enabled: (c) => c.hostport !== "",
  make: (c, ctx) =>
    Effect.gen(function*() {
      const password = Redacted.value(c.password)
      const apikey = Redacted.value(c.apikey)
      const useBasic = c.username !== "" && password !== ""
      const http = yield* ctx.http({
        customHeaders: c.customheaders,
        ...(useBasic ? { basicAuth: { user: c.username, password: c.password } } : {})
      })
      if (c.createindextemplate) yield* ensureIndexTemplate(ctx, http, c)
      const flatten = c.flattenfields || c.createindextemplate
      const headers: Record<string, string> = !useBasic && apikey !== "" ? { Authorization: `APIKey ${apikey}` } : {}
      const query = c.pipeline === "" ? "" : `?pipeline=${encodeURIComponent(c.pipeline)}`
      const gzip = c.enablecompression
      const currentIndex = Effect.map(Clock.currentTimeMillis, (now) => indexName(c.index, c.suffix, now))

      const sendOne = (event: FalcoEvent) =>
        Effect.gen(function*() {
          const url = `${c.hostport}/${yield* currentIndex}/${c.type}${query}`
          const first = yield* http.exchange({ url, headers, gzip, body: elasticsearchDoc(event, { flatten }) })
          if (isSuccessStatus(first.status)) return
          const conflict = first.status === 400 ? mappingConflictField(first.body) : undefined
          if (conflict === undefined) return yield* Effect.fail(statusError(ctx.name, first, url))
          yield* Effect.logInfo(`Elasticsearch - mapping conflict on output_fields.${conflict}: posting again without it`)
          yield* http.send({ url, headers, gzip, body: elasticsearchDoc(event, { flatten, dropPrefixes: [conflict] }) })
        })

      // One batch is one `_bulk` request is one attempt; the Dispatcher's batch is bounded by `maxbytes`
      // (`batchsize`). Items the answer rejects are classified one by one, so a retry re-posts only the
      // items that failed retryably, never the ones already created.
      const sendBulk = (events: ReadonlyArray<FalcoEvent>) =>
        Effect.gen(function*() {
          const index = yield* currentIndex
          const body = events.map((e) => bulkEntry(index, elasticsearchDoc(e, { flatten }))).join("")
          const response = yield* http.send({ url: `${c.hostport}/_bulk${query}`, headers, gzip, body })
          const failures = bulkItemFailures(response.body, events.length)
          if (typeof failures === "string") return yield* Effect.fail(ctx.error("Rejected", failures))
          if (failures.length === 0) return undefined
          return {
            _tag: "PartialFailure",
            failures: failures.map((f) => ({ index: f.index, error: bulkItemError(ctx, f) }))
          } satisfies PartialFailure
        })

      const indexLength = indexName(c.index, c.suffix, 0).length
      const batch = batchOptions(
        { ...c.batching, maxbytes: c.batching.batchsize ?? c.batching.maxbytes },
        (event) => bulkEntrySize(event, indexLength)
      )
      return batch === undefined
        ? { kind: "single", send: sendOne }
        : { kind: "batch", batch, send: sendBulk }
    })
})
