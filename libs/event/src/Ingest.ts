/**
 * Ingestion: decode a request body, enrich it as falcosidekick's `newFalcoPayload` does and check it as
 * `FalcoPayload.Check` does. Synchronous and allocation-lean: it runs once per HTTP request.
 *
 * The numbered comments in `decode` are `newFalcoPayload`'s steps, in its order: 1 decode, 2 customfields,
 * 3 customtags appended, 4-5 source (`internal` for the rule `Test rule`, else `syscalls` when empty), 6 a new uuid,
 * 7 the string assertions on `k8s.ns.name` / `k8s.pod.name`, 8 templatedfields, 9 tags sorted bytewise, 10 metrics
 * (not done here), 11 bracketreplacer, 12 outputfieldformat, 13 truncation of long string fields when the JSON
 * payload is over 4096 bytes.
 *
 * Deliberate differences from falcosidekick:
 * - customfields and templatedfields are applied in the configured order, not Go's random map order, so
 *   `<custom_fields>`, `<templated_fields>` and templates reading earlier templated fields are deterministic.
 * - a templated field that does not compile makes `makeIngest` fail (Go logs and skips the field).
 * - a non-string, non-null `k8s.ns.name` / `k8s.pod.name` output field is rejected with a reason (Go panics in the
 *   handler and drops the connection without a response).
 */
import { randomUUID } from "node:crypto"
import { compileTemplate, type GoTemplate, utf8Length } from "@sidekick/gotemplate"
import { Either } from "effect"
import { decodeRawFalcoEvent, type FalcoEvent, IngestedEvent, writeEventJson } from "./FalcoEvent.js"
import { rfc3339Seconds } from "./GoTime.js"
import { compareBytewise, isLosslessNumber, parseJson } from "./Json.js"
import { parsePriority, type Priority, priorities } from "./Priority.js"

export interface EnrichmentOptions {
  /** `customfields`: set into output_fields (overwriting the event's own), in this order */
  readonly customFields: ReadonlyArray<readonly [string, string]>
  /** `templatedfields`: Go templates over output_fields, results stored as strings, in this order */
  readonly templatedFields: ReadonlyArray<readonly [string, string]>
  /** `customtags`: appended to tags (no dedup) before sorting */
  readonly customTags: ReadonlyArray<string>
  /** `bracketreplacer`: "" = off */
  readonly bracketReplacer: string
  /** `outputfieldformat`: "" = off */
  readonly outputFieldFormat: string
}

export interface Ingest {
  /** Decode, enrich and check one request body. Left: a one-line reason for the 400 (logs / debugging). */
  readonly decode: (body: string) => Either.Either<FalcoEvent, string>
}

const expectedPriorities = `expected one of ${[...priorities].reverse().join(", ")}`

/** Falco's text output (`HH:MM:SS.ns: Priority ...`), which outputfieldformat knows how to rewrite. */
const falcoOutputPattern = /[0-9:]+\.[0-9]+: (Debug|Informational|Notice|Warning|Error|Critical|Alert|Emergency) .*/i

const maxPayloadBytes = 4096
const maxFieldBytes = 512
const truncatedFieldBytes = maxFieldBytes - 5

/** byte length > limit, without walking strings that are obviously short or long */
const utf8LongerThan = (s: string, limit: number): boolean =>
  s.length > limit ? true : s.length * 3 <= limit ? false : utf8Length(s) > limit

/**
 * Go `s[:n]` on the UTF-8 bytes. A multi-byte character cut in the middle leaves k invalid bytes, which Go's JSON
 * encoder writes as k `\ufffd` escapes; we keep k lone low surrogates, which `goJson` writes exactly that way.
 */
const truncateUtf8 = (s: string, n: number): string => {
  let bytes = 0
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    const size = c < 0x80 ? 1 : c < 0x800 ? 2 : c >= 0xd800 && c <= 0xdbff ? 4 : 3
    if (bytes + size > n) return s.slice(0, i) + "\udfff".repeat(n - bytes)
    bytes += size
    if (size === 4) i++
  }
  return s
}

/** Assign an own property, including a `__proto__` key (a legitimate Go map key). */
const setField = (o: Record<string, unknown>, k: string, v: unknown): void => {
  if (k === "__proto__") Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true })
  else o[k] = v
}

const describeJson = (u: unknown): string =>
  Array.isArray(u) ? "an array" : typeof u === "string" ? "a string" : typeof u === "boolean" ? "a boolean" : "a number"

const oneLine = (s: string): string => {
  const flat = s.replace(/\s+/g, " ")
  return flat.length > 200 ? flat.slice(0, 200) + "..." : flat
}

const emptyTags: ReadonlyArray<string> = Object.freeze([])

const placeholders = ["<timestamp>", "<priority>", "<output>", "<custom_fields>", "<templated_fields>", "<tags>"] as const

/**
 * outputfieldformat: Go replaces the placeholders one after the other (`strings.ReplaceAll` in the order above), then
 * trims one " ", one "( )", one "()" and one " " suffix. The format is split into literal parts once; when no
 * substituted value contains "<" a single pass gives the same result as the sequential replacements.
 */
const makeOutputFormatter = (format: string, customFieldsText: string) => {
  const parts: Array<string | number> = []
  const pattern = /<(?:timestamp|priority|output|custom_fields|templated_fields|tags)>/g
  let from = 0
  for (const m of format.matchAll(pattern)) {
    if (m.index > from) parts.push(format.slice(from, m.index))
    parts.push(placeholders.indexOf(m[0] as (typeof placeholders)[number]))
    from = m.index + m[0].length
  }
  if (from < format.length) parts.push(format.slice(from))
  const trim = (n: string): string => {
    if (n.endsWith(" ")) n = n.slice(0, -1)
    if (n.endsWith("( )")) n = n.slice(0, -3)
    if (n.endsWith("()")) n = n.slice(0, -2)
    if (n.endsWith(" ")) n = n.slice(0, -1)
    return n
  }
  return (timestamp: string, priority: string, text: string, templatedText: string, tags: ReadonlyArray<string>) => {
    const values = [timestamp, priority, text, customFieldsText, templatedText, tags.join(",")]
    if (values.some((v) => v.includes("<"))) {
      let n = format
      for (let i = 0; i < placeholders.length; i++) n = n.split(placeholders[i]!).join(values[i]!)
      return trim(n)
    }
    let n = ""
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i]!
      n += typeof p === "string" ? p : values[p]!
    }
    return trim(n)
  }
}

/**
 * Build the ingestion pipeline once (templates compiled here). Left: a templated field does not compile.
 */
export const makeIngest = (o: EnrichmentOptions): Either.Either<Ingest, string> => {
  const templates: Array<readonly [string, GoTemplate]> = []
  for (const [key, source] of o.templatedFields) {
    const t = compileTemplate(source)
    if (Either.isLeft(t)) return Either.left(`templatedfields: cannot compile "${key}": ${t.left}`)
    templates.push([key, t.right])
  }
  const customFields = o.customFields
  const customTags = o.customTags
  const bracketReplacer = o.bracketReplacer
  const outputFieldFormat = o.outputFieldFormat
  const injects = customFields.length > 0 || templates.length > 0
  // "k=v k2=v2" for <custom_fields>: constant, computed once
  const customFieldsText = customFields.map(([k, v]) => `${k}=${v}`).join(" ")
  const formatOutput = makeOutputFormatter(outputFieldFormat, customFieldsText)

  const decode = (body: string): Either.Either<FalcoEvent, string> => {
    // 1. decode (first JSON value only; numbers exact)
    let json: unknown
    try {
      json = parseJson(body)
    } catch (e) {
      return Either.left(`malformed JSON: ${oneLine(e instanceof Error ? e.message : String(e))}`)
    }
    if (json === null) json = {} // Go: null into a struct is a no-op, the zero event then fails the check
    if (typeof json !== "object" || Array.isArray(json) || isLosslessNumber(json)) {
      return Either.left(`invalid event: expected a JSON object, got ${describeJson(json)}`)
    }
    const decoded = decodeRawFalcoEvent(json as Record<string, unknown>)
    if (Either.isLeft(decoded)) return Either.left(`invalid event: ${decoded.left}`)
    const raw = decoded.right

    // 2. customfields
    let fields = raw.output_fields ?? undefined
    if (injects && fields === undefined) fields = {}
    if (customFields.length > 0) {
      for (let i = 0; i < customFields.length; i++) setField(fields!, customFields[i]![0], customFields[i]![1])
    }
    // 3. customtags, 9. sorted bytewise
    let tags: ReadonlyArray<string> = emptyTags
    const rawTags = raw.tags
    if ((rawTags !== undefined && rawTags !== null && rawTags.length > 0) || customTags.length > 0) {
      const all: Array<string> = []
      if (rawTags) for (let i = 0; i < rawTags.length; i++) all.push(rawTags[i] ?? "")
      for (let i = 0; i < customTags.length; i++) all.push(customTags[i]!)
      tags = all.sort(compareBytewise)
    }
    // 4., 5. source
    const rule = raw.rule ?? ""
    let source = raw.source ?? ""
    if (rule === "Test rule") source = "internal"
    if (source === "") source = "syscalls"
    // 6. uuid, always new
    const uuid = randomUUID()
    // 7. Go asserts these two are strings (and panics otherwise)
    if (fields !== undefined) {
      const ns = fields["k8s.ns.name"]
      if (ns !== undefined && ns !== null && typeof ns !== "string") {
        return Either.left(`invalid event: output field "k8s.ns.name" must be a string`)
      }
      const pod = fields["k8s.pod.name"]
      if (pod !== undefined && pod !== null && typeof pod !== "string") {
        return Either.left(`invalid event: output field "k8s.pod.name" must be a string`)
      }
    }
    // 8. templatedfields, evaluated against output_fields (custom fields and earlier templated fields included)
    let templatedText = ""
    for (let i = 0; i < templates.length; i++) {
      const [key, template] = templates[i]!
      const value = template.render(fields)
      setField(fields!, key, value)
      templatedText += (i === 0 ? "" : " ") + key + "=" + value
    }
    // 11. bracketreplacer (keys only). Rebuilt rather than `delete`d: deleting turns the object into a slow
    // dictionary-mode object for everything after (JSON writing, outputs). A renamed key overwrites a plain one.
    if (bracketReplacer !== "" && fields !== undefined) {
      let bracketed = false
      for (const k in fields) {
        if (k.includes("[")) {
          bracketed = true
          break
        }
      }
      if (bracketed) {
        const renamed: Record<string, unknown> = {}
        for (const k in fields) if (!k.includes("[")) setField(renamed, k, fields[k])
        for (const k in fields) {
          if (k.includes("[")) setField(renamed, k.replaceAll("]", "").replaceAll("[", bracketReplacer), fields[k])
        }
        fields = renamed
      }
    }
    const priority: Priority | undefined = raw.priority === undefined || raw.priority === null
      ? undefined
      : parsePriority(raw.priority)
    // 12. outputfieldformat
    let output = raw.output ?? ""
    if (outputFieldFormat !== "" && falcoOutputPattern.test(output)) {
      const firstSpace = output.indexOf(" ")
      const secondSpace = firstSpace < 0 ? -1 : output.indexOf(" ", firstSpace + 1)
      if (secondSpace >= 0) {
        // Go: strings.Split(output, " "); elements[0] minus one ":", elements[2:] joined by " "
        const first = output.slice(0, firstSpace)
        output = formatOutput(
          first.endsWith(":") ? first.slice(0, -1) : first,
          priority ?? "",
          output.slice(secondSpace + 1),
          templatedText,
          tags
        )
      }
    }
    // Check (`FalcoPayload.Check`: a known priority, a non-empty rule, a non-zero time, non-empty output_fields),
    // before the size check: truncation cannot change its outcome
    if (priority === undefined) {
      return Either.left(
        raw.priority === undefined || raw.priority === null
          ? `invalid event: missing "priority" (${expectedPriorities})`
          : `invalid event: unknown priority ${JSON.stringify(raw.priority)} (${expectedPriorities})`
      )
    }
    if (rule === "") {
      return Either.left(raw.rule === undefined || raw.rule === null ? `invalid event: missing "rule"` : `invalid event: "rule" is empty`)
    }
    const time = raw.time
    if (time === undefined || time === null) return Either.left(`invalid event: missing "time"`)
    if (time.isZero) return Either.left(`invalid event: "time" is the zero time (0001-01-01T00:00:00Z)`)
    if (fields === undefined) return Either.left(`invalid event: missing "output_fields"`)
    let hasField = false
    for (const _ in fields) {
      hasField = true
      break
    }
    if (!hasField) return Either.left(`invalid event: "output_fields" is empty`)

    const hostname = raw.hostname ?? ""
    const event = new IngestedEvent(
      uuid,
      output,
      priority,
      rule,
      time.rfc3339Nano,
      time.unixNanos,
      fields,
      source,
      tags,
      hostname
    )
    // 13. a payload over 4096 bytes gets its long string fields truncated (also inside output)
    const payloadJson = writeEventJson(event)
    if (!utf8LongerThan(payloadJson, maxPayloadBytes)) {
      IngestedEvent.setJson(event, payloadJson)
      return Either.right(event)
    }
    for (const k in fields) {
      const v = fields[k]
      if (typeof v === "string" && utf8LongerThan(v, maxFieldBytes)) {
        const truncated = truncateUtf8(v, truncatedFieldBytes) + "[...]"
        setField(fields, k, truncated)
        output = output.split(v).join(truncated)
      }
    }
    return Either.right(
      output === event.output
        ? event
        : new IngestedEvent(uuid, output, priority, rule, event.time, event.timeUnixNanos, fields, source, tags, hostname)
    )
  }
  return Either.right({ decode })
}

/**
 * The body falcosidekick's `/test` endpoint injects in place of the request's own, with `now` at second precision in
 * UTC.
 * Byte-identical to Go's, including the space after `"hostname":"falcosidekick",`.
 */
export const testEventBody = (now: Date): string =>
  `{"output":"This is a test from falcosidekick","source":"debug","priority":"Debug","hostname":"falcosidekick", "rule":"Test rule","time":"${
    rfc3339Seconds(now)
  }","output_fields":{"proc.name":"falcosidekick","user.name":"falcosidekick"},"tags":["test","example"]}`
