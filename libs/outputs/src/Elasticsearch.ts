/**
 * Elasticsearch (catalog §3.1): one document per event (`/{index}-{date}/{type}`), or `_bulk` NDJSON when
 * `batching.enabled`. Index template created at start-up when `createindextemplate`.
 */
import { Field, section } from "@sidekick/config"
import {
  define,
  HttpTransport,
  isSuccessStatus,
  originOf,
  OutputError,
  type OutputHttpClient,
  OutputInitError,
  statusError
} from "@sidekick/delivery"
import { eventPayload, type FalcoEvent, goJson } from "@sidekick/event"
import { Clock, Duration, Effect } from "effect"
import { httpClientFor, httpCommonFields, httpOutput } from "./common.js"

export const ElasticsearchConfig = section("elasticsearch", {
  hostport: Field.string(),
  index: Field.string("falco"),
  type: Field.string("_doc"),
  pipeline: Field.string(""),
  suffix: Field.literal(["daily", "monthly", "annually", "none"] as const, "daily"),
  apikey: Field.string("", { secret: true }),
  username: Field.string(""),
  password: Field.string("", { secret: true }),
  flattenfields: Field.bool(false),
  createindextemplate: Field.bool(false),
  numberofshards: Field.int(3),
  numberofreplicas: Field.int(3),
  customheaders: Field.map({ env: "json", secret: true }),
  enablecompression: Field.bool(false),
  batching: {
    enabled: Field.bool(false),
    batchsize: Field.int(5242880),
    flushinterval: Field.duration("1s")
  },
  ...httpCommonFields()
})
export type ElasticsearchConfig = typeof ElasticsearchConfig.Type

export type IndexSuffix = "daily" | "monthly" | "annually" | "none"

const pad = (n: number, width = 2): string => String(n).padStart(width, "0")

/** `index` + "-" + the send-time date in local time (Go time.Now().Format): 2006.01.02 / 2006.01 / 2006; none: `index` */
export const indexName = (index: string, suffix: IndexSuffix, nowMillis: number): string => {
  const d = new Date(nowMillis)
  switch (suffix) {
    case "none":
      return index
    case "monthly":
      return `${index}-${pad(d.getFullYear(), 4)}.${pad(d.getMonth() + 1)}`
    case "annually":
      return `${index}-${pad(d.getFullYear(), 4)}`
    default:
      return `${index}-${pad(d.getFullYear(), 4)}.${pad(d.getMonth() + 1)}.${pad(d.getDate())}`
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

/** Group bulk entries into requests of at most `batchSize` bytes (an entry larger than that goes alone). */
export const splitBulk = (entries: ReadonlyArray<string>, batchSize: number): Array<Array<string>> => {
  const groups: Array<Array<string>> = []
  let current: Array<string> = []
  let currentBytes = 0
  for (const entry of entries) {
    const bytes = Buffer.byteLength(entry)
    if (current.length > 0 && currentBytes + bytes > batchSize) {
      groups.push(current)
      current = []
      currentBytes = 0
    }
    current.push(entry)
    currentBytes += bytes
  }
  if (current.length > 0) groups.push(current)
  return groups
}

/**
 * The output_fields prefix a `document_parsing_exception` complains about, e.g. reason
 * "failed to parse field [output_fields.proc.pid] of type [long]" gives "proc.pid"; undefined otherwise.
 */
export const mappingConflictField = (responseBody: string): string | undefined => {
  let parsed: unknown
  try {
    parsed = JSON.parse(responseBody)
  } catch {
    return undefined
  }
  const error = (parsed as { error?: { type?: unknown; reason?: unknown } } | null)?.error
  if (error === undefined || error === null || error.type !== "document_parsing_exception") return undefined
  if (typeof error.reason !== "string") return undefined
  const match = /\[\w+(\.\w+)+\]/.exec(error.reason)
  if (match === null || !match[0].includes("output_fields")) return undefined
  return match[0].replace("[output_fields.", "").replaceAll("]", "")
}

interface BulkItem {
  readonly status?: number
  readonly error?: { readonly type?: string; readonly reason?: string }
}

/** Check a `_bulk` response: undefined when every item was created, else a description of the failures. */
export const bulkFailures = (responseBody: string, expectedItems: number): string | undefined => {
  let parsed: { errors?: boolean; items?: ReadonlyArray<Record<string, BulkItem>> }
  try {
    parsed = JSON.parse(responseBody)
  } catch {
    return `unparseable _bulk response for ${expectedItems} item(s)`
  }
  const items = parsed.items ?? []
  if (items.length !== expectedItems) {
    return `_bulk response has ${items.length} item(s) for ${expectedItems} sent`
  }
  const reasons = new Map<string, number>()
  let failed = 0
  for (const item of items) {
    const result = item["create"] ?? Object.values(item)[0] ?? {}
    if (result.status === 200 || result.status === 201) continue
    failed++
    const why = result.error === undefined
      ? `status ${result.status ?? "missing"}`
      : `${result.error.type ?? "error"}: ${result.error.reason ?? ""}`.trim()
    reasons.set(why, (reasons.get(why) ?? 0) + 1)
  }
  if (failed === 0) return undefined
  const detail = [...reasons.entries()].slice(0, 3).map(([why, n]) => `${n} x ${why}`).join("; ")
  return `${failed} of ${expectedItems} bulk item(s) rejected: ${detail}${reasons.size > 3 ? "; ..." : ""}`
}

const keywordField = (ignoreAbove: number) => ({ type: "text", fields: { keyword: { type: "keyword", ignore_above: ignoreAbove } } })

/** flattened output_fields names falcosidekick's index template maps as text + keyword (the 74 of outputs/elasticsearch_mapping.go as we could read it; the catalog counts 79 at HEAD) */
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

const initError = (message: string, cause?: unknown) =>
  new OutputInitError({ output: "elasticsearch", key: "elasticsearch.createindextemplate", message, cause })

const ensureIndexTemplate = (http: OutputHttpClient, c: ElasticsearchConfig) =>
  Effect.gen(function*() {
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

/** roughly one event per KiB of batchsize, for the Dispatcher's count bound; sends split by bytes anyway */
export const bulkMaxEvents = (batchSize: number): number => Math.min(10_000, Math.max(1, Math.ceil(batchSize / 1024)))

export const Elasticsearch = define<ElasticsearchConfig, HttpTransport>({
  key: "elasticsearch",
  displayName: "Elasticsearch",
  enabled: (c) => c.hostport !== "",
  make: (c) =>
    Effect.gen(function*() {
      const useBasic = c.username !== "" && c.password !== ""
      const http = yield* httpClientFor("elasticsearch", c, {
        customHeaders: c.customheaders,
        ...(useBasic ? { basicAuth: { user: c.username, password: c.password } } : {})
      })
      if (c.createindextemplate) yield* ensureIndexTemplate(http, c)
      const flatten = c.flattenfields || c.createindextemplate
      const headers: Record<string, string> = !useBasic && c.apikey !== "" ? { Authorization: `APIKey ${c.apikey}` } : {}
      const query = c.pipeline === "" ? "" : `?pipeline=${encodeURIComponent(c.pipeline)}`
      const gzip = c.enablecompression
      const batchSize = c.batching.batchsize > 0 ? c.batching.batchsize : 5242880
      const currentIndex = Effect.map(Clock.currentTimeMillis, (now) => indexName(c.index, c.suffix, now))

      const sendOne = (event: FalcoEvent) =>
        Effect.gen(function*() {
          const url = `${c.hostport}/${yield* currentIndex}/${c.type}${query}`
          const first = yield* http.exchange({ url, headers, gzip, body: elasticsearchDoc(event, { flatten }) })
          if (isSuccessStatus(first.status)) return
          const conflict = first.status === 400 ? mappingConflictField(first.body) : undefined
          if (conflict === undefined) return yield* Effect.fail(statusError("elasticsearch", first, url))
          yield* Effect.logInfo(`Elasticsearch - mapping conflict on output_fields.${conflict}: posting again without it`)
          yield* http.send({ url, headers, gzip, body: elasticsearchDoc(event, { flatten, dropPrefixes: [conflict] }) })
        })

      const sendBulk = (events: ReadonlyArray<FalcoEvent>) =>
        Effect.gen(function*() {
          const index = yield* currentIndex
          const entries = events.map((e) => bulkEntry(index, elasticsearchDoc(e, { flatten })))
          const url = `${c.hostport}/_bulk${query}`
          for (const group of splitBulk(entries, batchSize)) {
            const response = yield* http.send({ url, headers, gzip, body: group.join("") })
            const failures = bulkFailures(response.body, group.length)
            if (failures !== undefined) {
              return yield* Effect.fail(new OutputError({ output: "elasticsearch", reason: "Rejected", message: failures }))
            }
          }
        })

      return {
        ...httpOutput("elasticsearch", c),
        ...(c.batching.enabled
          ? { batch: { maxEvents: bulkMaxEvents(batchSize), interval: Duration.decode(c.batching.flushinterval) } }
          : {}),
        send: (events) => (c.batching.enabled ? sendBulk(events) : sendOne(events[0]))
      }
    })
})
