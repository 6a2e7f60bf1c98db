/**
 * The Falco event after ingestion, its raw wire schema, and the views outputs use: the Go JSON payload
 * (`FalcoPayload` marshalled), Go's `time.Time.String()` and the struct seen by Go templates.
 */
import { compareBytewise, goStruct } from "@sidekick/gotemplate"
import { Either, ParseResult, Schema } from "effect"
import { type GoTime, goTimeStringOf, parseRfc3339 } from "./GoTime.js"
import { goJson, goJsonMap, goJsonString, isLosslessNumber, sortKeys } from "./Json.js"
import type { Priority } from "./Priority.js"

export interface FalcoEvent {
  readonly uuid: string
  readonly output: string
  readonly priority: Priority
  readonly rule: string
  /** RFC3339Nano as Go re-emits it (trailing zeros trimmed, +00:00 -> Z, other offsets kept) */
  readonly time: string
  readonly timeUnixNanos: bigint
  /** string | number | LosslessNumber | boolean | null | object | array */
  readonly output_fields: Readonly<Record<string, unknown>>
  readonly source: string
  /** sorted bytewise after customtags appended */
  readonly tags: ReadonlyArray<string>
  /** "" when absent */
  readonly hostname: string
}

// ---------------------------------------------------------------------------------------------------------------
// The raw wire shape (Go `json.Unmarshal` into types.FalcoPayload)
// ---------------------------------------------------------------------------------------------------------------

/** JSON `null` is accepted everywhere Go would leave the zero value. */
const nullableString = (key: string) =>
  Schema.NullOr(Schema.String).annotations({ message: () => ({ message: `"${key}" must be a string`, override: true }) })

const isGoTime = (u: unknown): u is GoTime =>
  typeof u === "object" && u !== null && typeof (u as GoTime).unixNanos === "bigint"

const GoTimeFromSelf = Schema.declare(isGoTime, { identifier: "GoTime" })

/** Go `time.Time.UnmarshalJSON`: a JSON string in strict RFC 3339 (see `parseRfc3339`). */
export const Rfc3339Time = Schema.transformOrFail(
  Schema.String.annotations({ message: () => `"time" must be a string` }),
  GoTimeFromSelf,
  {
    strict: true,
    decode: (s, _, ast) => {
      const t = parseRfc3339(s)
      return t !== undefined
        ? ParseResult.succeed(t)
        : ParseResult.fail(new ParseResult.Type(ast, s, `"time" is not an RFC 3339 timestamp: ${JSON.stringify(s)}`))
    },
    encode: (t) => ParseResult.succeed(t.rfc3339Nano)
  }
)

const isJsonObject = (u: unknown): u is Record<string, unknown> =>
  typeof u === "object" && u !== null && !Array.isArray(u) && !isLosslessNumber(u)

/** Go `map[string]interface{}`: any JSON object, values kept as parsed (numbers exact). Not copied. */
export const OutputFields = Schema.declare(isJsonObject, {
  identifier: "OutputFields",
  message: () => `"output_fields" must be an object`
})

/** Go `[]string`; a `null` element decodes as "" (Go leaves the zero value). */
const Tags = Schema.Array(Schema.NullOr(Schema.String)).annotations({
  message: () => ({ message: `"tags" must be an array of strings`, override: true })
})

/**
 * The request body as Go decodes it into `types.FalcoPayload`: every member optional, `null` allowed, unknown members
 * ignored. Keys must already be canonical: see `canonicalizeKeys` for Go's case-insensitive matching.
 */
export const RawFalcoEvent = Schema.Struct({
  uuid: Schema.optional(nullableString("uuid")),
  output: Schema.optional(nullableString("output")),
  priority: Schema.optional(nullableString("priority")),
  rule: Schema.optional(nullableString("rule")),
  time: Schema.optional(Schema.NullOr(Rfc3339Time)),
  output_fields: Schema.optional(Schema.NullOr(OutputFields)),
  source: Schema.optional(nullableString("source")),
  tags: Schema.optional(Schema.NullOr(Tags)),
  hostname: Schema.optional(nullableString("hostname"))
})
export type RawFalcoEvent = typeof RawFalcoEvent.Type

const rawKeys: ReadonlySet<string> = new Set(Object.keys(RawFalcoEvent.fields))

/** Go's `foldName` agrees with `toLowerCase` on every key we know except U+017F LATIN SMALL LETTER LONG S ~ "s". */
const foldKey = (k: string): string => k.toLowerCase().replaceAll("\u017f", "s")

/**
 * Go `encoding/json` matches object keys to struct fields case-insensitively (`"Rule"`, `"PRIORITY"`). Returns the
 * object itself when every known key is already canonical (the normal case), else a copy with canonical keys
 * (a later duplicate wins, as in Go).
 */
export const canonicalizeKeys = (o: Record<string, unknown>): Record<string, unknown> => {
  let needsCopy = false
  for (const k in o) {
    if (!rawKeys.has(k) && rawKeys.has(foldKey(k))) {
      needsCopy = true
      break
    }
  }
  if (!needsCopy) return o
  const out: Record<string, unknown> = {}
  for (const k in o) {
    const f = rawKeys.has(k) ? k : foldKey(k)
    if (rawKeys.has(f)) out[f] = o[k]
  }
  return out
}

const decodeRawEither = Schema.decodeUnknownEither(RawFalcoEvent)

const isNullableString = (v: unknown): v is string | null | undefined =>
  v === undefined || v === null || typeof v === "string"

/**
 * The accept path of `RawFalcoEvent`, hand-written. `Schema.decodeUnknownEither(RawFalcoEvent)` costs ~4 µs per
 * event (a third of `decode` on the `Terminal shell in container` event of bench/decode.ts, what Falco's
 * `http_output` posts, plus GC), this guard ~0.2 µs. It must accept exactly what the schema accepts and produce the
 * same value (test/FalcoEvent.test.ts checks both on a corpus); whenever it says no, the schema decides and explains.
 */
const acceptRaw = (o: Record<string, unknown>): RawFalcoEvent | undefined => {
  const { hostname, output, output_fields, priority, rule, source, tags, time, uuid } = o
  if (
    !isNullableString(uuid) || !isNullableString(output) || !isNullableString(priority) || !isNullableString(rule) ||
    !isNullableString(source) || !isNullableString(hostname)
  ) return undefined
  let goTime: GoTime | null | undefined
  if (typeof time === "string") {
    goTime = parseRfc3339(time)
    if (goTime === undefined) return undefined
  } else if (time === undefined || time === null) goTime = time
  else return undefined
  if (output_fields !== undefined && output_fields !== null && !isJsonObject(output_fields)) return undefined
  if (tags !== undefined && tags !== null) {
    if (!Array.isArray(tags)) return undefined
    for (let i = 0; i < tags.length; i++) if (tags[i] !== null && typeof tags[i] !== "string") return undefined
  }
  // same shape as the schema's output: absent keys stay absent
  const raw: {
    -readonly [K in keyof RawFalcoEvent]: RawFalcoEvent[K]
  } = {}
  if (uuid !== undefined) raw.uuid = uuid
  if (output !== undefined) raw.output = output
  if (priority !== undefined) raw.priority = priority
  if (rule !== undefined) raw.rule = rule
  if (goTime !== undefined) raw.time = goTime
  if (output_fields !== undefined) raw.output_fields = output_fields as Record<string, unknown> | null
  if (source !== undefined) raw.source = source
  if (tags !== undefined) raw.tags = tags as ReadonlyArray<string | null> | null
  if (hostname !== undefined) raw.hostname = hostname
  return raw
}

/** Decode a parsed JSON object (keys canonicalized) into the raw shape; Left is a one-line reason. */
export const decodeRawFalcoEvent = (u: Record<string, unknown>): Either.Either<RawFalcoEvent, string> => {
  const o = canonicalizeKeys(u)
  const fast = acceptRaw(o)
  if (fast !== undefined) return Either.right(fast)
  return decodeRawWithSchema(o)
}

/** The schema path alone (also used by tests to check `acceptRaw` against it). */
export const decodeRawWithSchema = (o: Record<string, unknown>): Either.Either<RawFalcoEvent, string> => {
  const r = decodeRawEither(o)
  if (Either.isRight(r)) return Either.right(r.right)
  const issue = ParseResult.ArrayFormatter.formatErrorSync(r.left)[0]
  const path = issue?.path.length ? issue.path.map(String).join(".") : ""
  const message = issue?.message ?? "invalid event"
  return Either.left(message.startsWith("\"") || path === "" ? message : `"${path}": ${message}`)
}

// ---------------------------------------------------------------------------------------------------------------
// Views
// ---------------------------------------------------------------------------------------------------------------

/** Deep copy of a Go `map[string]interface{}` value with every nested map in Go order (bytewise keys). */
const goMapDeep = (value: unknown): unknown => {
  if (Array.isArray(value)) return value.some((v) => typeof v === "object" && v !== null) ? value.map(goMapDeep) : value
  if (isJsonObject(value)) {
    const sorted = sortKeys(value)
    for (const k in sorted) {
      const v = sorted[k]
      if (typeof v === "object" && v !== null && !isLosslessNumber(v)) sorted[k] = goMapDeep(v)
    }
    return sorted
  }
  return value
}

/**
 * The payload falcosidekick forwards (`types.FalcoPayload`), as an ordered object: uuid, output, priority, rule, time,
 * output_fields (keys sorted, nested maps too), source, tags (omitted when empty), hostname (omitted when "").
 * `goJson(eventPayload(e)) === eventJson(e)`.
 */
export const eventPayload = (e: FalcoEvent): object => {
  const payload: Record<string, unknown> = {}
  if (e.uuid !== "") payload.uuid = e.uuid
  payload.output = e.output
  payload.priority = e.priority
  payload.rule = e.rule
  payload.time = e.time
  payload.output_fields = goMapDeep(e.output_fields)
  payload.source = e.source
  if (e.tags.length > 0) payload.tags = e.tags
  if (e.hostname !== "") payload.hostname = e.hostname
  return payload
}

/** Go `json.Marshal(FalcoPayload)` written directly (no intermediate object). */
export const writeEventJson = (e: FalcoEvent): string =>
  "{" +
  (e.uuid !== "" ? "\"uuid\":" + goJsonString(e.uuid) + "," : "") +
  "\"output\":" + goJsonString(e.output) +
  ",\"priority\":" + goJsonString(e.priority) +
  ",\"rule\":" + goJsonString(e.rule) +
  ",\"time\":" + goJsonString(e.time) +
  ",\"output_fields\":" + goJsonMap(e.output_fields) +
  ",\"source\":" + goJsonString(e.source) +
  (e.tags.length > 0 ? ",\"tags\":" + goJson(e.tags) : "") +
  (e.hostname !== "" ? ",\"hostname\":" + goJsonString(e.hostname) : "") +
  "}"

/**
 * An event produced by ingestion. It carries its JSON (computed anyway for the 4096-byte check) in a private field,
 * so `eventJson` is free for every output. (A WeakMap cache cost ~5 µs per event in GC ephemeron work.)
 * Structurally a plain `FalcoEvent`: the private field is invisible to spreading, `toEqual` and JSON.
 */
export class IngestedEvent implements FalcoEvent {
  #json: string | undefined
  constructor(
    readonly uuid: string,
    readonly output: string,
    readonly priority: Priority,
    readonly rule: string,
    readonly time: string,
    readonly timeUnixNanos: bigint,
    readonly output_fields: Readonly<Record<string, unknown>>,
    readonly source: string,
    readonly tags: ReadonlyArray<string>,
    readonly hostname: string
  ) {
    this.#json = undefined
  }
  static json(e: IngestedEvent): string {
    return (e.#json ??= writeEventJson(e))
  }
  static setJson(e: IngestedEvent, json: string): void {
    e.#json = json
  }
}

/** Go `json.Marshal(FalcoPayload)`, no trailing newline (add "\n" for `json.Encoder` bodies). Cached per event. */
export const eventJson = (e: FalcoEvent): string =>
  e instanceof IngestedEvent ? IngestedEvent.json(e) : writeEventJson(e)

/** Go `time.Time.String()` of the event time: `2024-05-06 10:20:30.123456789 +0000 UTC`. */
export const goTimeString = (e: FalcoEvent): string => goTimeStringOf(e.time)

/** The event time as templates see it: prints as Go `time.Time.String()`, marshals as RFC3339Nano. */
export class GoTimeValue {
  constructor(readonly rfc3339Nano: string, readonly unixNanos: bigint) {}
  toString(): string {
    return goTimeStringOf(this.rfc3339Nano)
  }
  toJSON(): string {
    return this.rfc3339Nano
  }
}

/**
 * The Go struct (`types.FalcoPayload`) that output templates execute against:
 * `.UUID .Output .Priority .Rule .Time .OutputFields .Source .Tags .Hostname`. `.Priority` prints its name,
 * `.Time` prints Go `time.Time.String()`; an unknown field (`.Foo`) is an execution error, as in Go.
 */
export const templateData = (e: FalcoEvent): object =>
  goStruct("types.FalcoPayload", {
    UUID: e.uuid,
    Output: e.output,
    Priority: e.priority,
    Rule: e.rule,
    Time: new GoTimeValue(e.time, e.timeUnixNanos),
    OutputFields: e.output_fields,
    Source: e.source,
    Tags: e.tags,
    Hostname: e.hostname
  })

/**
 * falcosidekick's getSortedStringKeys: the output fields whose value is a string, keys in Go's sort order.
 * Chat messages, Opsgenie details and Loki labels list only these; numbers, booleans and null are left out.
 */
export const stringOutputFields = (event: FalcoEvent): Array<readonly [key: string, value: string]> => {
  const fields: Array<readonly [string, string]> = []
  for (const key of Object.keys(event.output_fields).sort(compareBytewise)) {
    const value = event.output_fields[key]
    if (typeof value === "string") fields.push([key, value])
  }
  return fields
}
