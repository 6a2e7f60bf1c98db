/**
 * Lossless JSON parsing and a writer byte-compatible with Go's `encoding/json.Marshal`.
 *
 * Falco sends nanosecond epochs (`evt.time: 1700000000408091526`) that exceed 2^53; falcosidekick keeps every number
 * as `json.Number` (its literal text) and re-emits it verbatim. We keep plain JS numbers for literals that survive
 * `String(Number(literal)) === literal` and a `LosslessNumber` (the literal) for the others (`1700000000408091526`,
 * `1.10`, `1e3`, `-0`): both are written back as the exact input text.
 */
import { compareBytewise } from "@sidekick/gotemplate"
import { isLosslessNumber, LosslessNumber, parse as losslessParse } from "lossless-json"

export { compareBytewise, isLosslessNumber, LosslessNumber }

// ---------------------------------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------------------------------

const jsonNumberGrammar = /^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?$/

/** A number literal keeps its exact text when the JS number would print differently. */
const numberFromLiteral = (literal: string): number | LosslessNumber => {
  const n = Number(literal)
  return String(n) === literal ? n : new LosslessNumber(literal)
}

// Scratch state of the scanner (decode is synchronous and single-threaded, so one buffer is enough).
const unsafeStarts: Array<number> = []
const unsafeEnds: Array<number> = []
let valueStart = 0
let valueEnd = 0

/**
 * One pass over the text that (1) finds the end of the first JSON value, like Go's `json.Decoder.Decode` which ignores
 * whatever follows it, and (2) records the number literals that would not round-trip through a JS number.
 * It does not validate: `JSON.parse` does that on the slice afterwards.
 */
const scan = (text: string): void => {
  unsafeStarts.length = 0
  unsafeEnds.length = 0
  const n = text.length
  let i = 0
  let c: number
  while (i < n && ((c = text.charCodeAt(i)) === 32 || c === 10 || c === 13 || c === 9)) i++
  valueStart = i
  let depth = 0
  while (i < n) {
    c = text.charCodeAt(i)
    if (c === 34 /* " */) {
      let j = i + 1
      for (;;) {
        const q = text.indexOf("\"", j)
        if (q < 0) {
          valueEnd = n
          return
        }
        let backslashes = 0
        while (text.charCodeAt(q - 1 - backslashes) === 92) backslashes++
        if ((backslashes & 1) === 0) {
          i = q + 1
          break
        }
        j = q + 1
      }
      if (depth === 0) break
    } else if (c === 123 /* { */ || c === 91 /* [ */) {
      depth++
      i++
    } else if (c === 125 /* } */ || c === 93 /* ] */) {
      depth--
      i++
      if (depth <= 0) break
    } else if (c === 45 /* - */ || (c >= 48 && c <= 57)) {
      const start = i
      let plainDigits = c !== 45
      i++
      while (i < n) {
        c = text.charCodeAt(i)
        if (c >= 48 && c <= 57) i++
        else if (c === 46 || c === 101 || c === 69 || c === 43 || c === 45) {
          plainDigits = false
          i++
        } else break
      }
      // Integers of at most 15 digits are exact doubles and print back identically; everything else is checked.
      if (!(plainDigits && i - start <= 15)) {
        const literal = text.slice(start, i)
        if (jsonNumberGrammar.test(literal) && String(Number(literal)) !== literal) {
          unsafeStarts.push(start)
          unsafeEnds.push(i)
        }
      }
      if (depth === 0) break
    } else if (c >= 97 && c <= 122) {
      // true / false / null (validated by JSON.parse)
      i++
      while (i < n && (c = text.charCodeAt(i)) >= 97 && c <= 122) i++
      if (depth === 0) break
    } else {
      i++
    }
  }
  valueEnd = i
}

/** the JSON escape `\u0000` (six characters): JSON.parse turns it into a NUL character */
const marker = "\\u0000"

/** Replace the marker strings planted by `parseJson` with LosslessNumbers; returns the replacements still to find. */
const restoreNumbers = (value: unknown, remaining: number): number => {
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length && remaining > 0; i++) {
      const v = value[i]
      if (typeof v === "string") {
        if (v.charCodeAt(0) === 0) {
          value[i] = new LosslessNumber(v.slice(1))
          remaining--
        }
      } else if (typeof v === "object" && v !== null) remaining = restoreNumbers(v, remaining)
    }
  } else if (typeof value === "object" && value !== null) {
    const record = value as Record<string, unknown>
    for (const k in record) {
      if (remaining === 0) break
      const v = record[k]
      if (typeof v === "string") {
        if (v.charCodeAt(0) === 0) {
          record[k] = new LosslessNumber(v.slice(1))
          remaining--
        }
      } else if (typeof v === "object" && v !== null) remaining = restoreNumbers(v, remaining)
    }
  }
  return remaining
}

const keepLastDuplicate = (info: { readonly newValue: unknown }): unknown => info.newValue

/**
 * Parse the first JSON value of `text` (trailing bytes ignored, like Go's `json.Decoder`). Numbers that would not
 * round-trip through a JS number come back as `LosslessNumber`; the others as plain numbers. Throws `SyntaxError`.
 *
 * Why this shape (measured with bench/decode.ts on its `Terminal shell in container` event, what Falco's `http_output`
 * posts, Node 20, a 2-core box):
 * - `lossless-json`'s `parse` is a JS parser: ~9 µs for that 533-byte event.
 * - `JSON.parse` is native and ~4x faster, but Node 20 has no reviver source-text access, so it cannot keep
 *   `1700000000408091526`. We therefore scan once (~1 µs), and when unsafe literals exist (every real Falco event
 *   has `evt.time`) we re-quote them as `"\u0000<literal>"` strings, `JSON.parse` the result and turn those marker
 *   strings back into LosslessNumbers. A marker cannot collide with input data: JSON forbids raw control characters
 *   in strings, and if the text contains the escape `\u0000` we use `lossless-json` instead.
 */
export const parseJson = (text: string): unknown => {
  const value = parseFirstValue(text)
  // Go's decoder turns an escaped lone surrogate ("\ud800") into U+FFFD while decoding; JSON.parse keeps it.
  return text.indexOf("\\u") >= 0 && surrogateEscape.test(text) ? replaceLoneSurrogates(value) : value
}

const surrogateEscape = /\\u[dD][89a-fA-F]/
const loneSurrogate = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g

const wellFormed = (s: string): string => s.replace(loneSurrogate, "\ufffd")

const replaceLoneSurrogates = (value: unknown): unknown => {
  if (typeof value === "string") return wellFormed(value)
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = replaceLoneSurrogates(value[i])
    return value
  }
  if (typeof value === "object" && value !== null && !(value instanceof LosslessNumber)) {
    const record = value as Record<string, unknown>
    const out: Record<string, unknown> = {}
    for (const k of Object.keys(record)) {
      const key = wellFormed(k)
      const v = replaceLoneSurrogates(record[k])
      if (key === "__proto__") Object.defineProperty(out, key, { value: v, enumerable: true, writable: true, configurable: true })
      else out[key] = v
    }
    return out
  }
  return value
}

const parseFirstValue = (text: string): unknown => {
  scan(text)
  const count = unsafeStarts.length
  const slice = valueStart === 0 && valueEnd === text.length ? text : text.slice(valueStart, valueEnd)
  if (count === 0) return JSON.parse(slice)
  if (text.includes("\\u0000")) {
    return losslessParse(slice, null, { parseNumber: numberFromLiteral, onDuplicateKey: keepLastDuplicate })
  }
  let rewritten = ""
  let from = valueStart
  for (let k = 0; k < count; k++) {
    const s = unsafeStarts[k]!
    const e = unsafeEnds[k]!
    rewritten += text.slice(from, s) + "\"" + marker + text.slice(s, e) + "\""
    from = e
  }
  rewritten += text.slice(from, valueEnd)
  const value: unknown = JSON.parse(rewritten)
  if (typeof value === "string") return value.charCodeAt(0) === 0 ? new LosslessNumber(value.slice(1)) : value
  restoreNumbers(value, count)
  return value
}

// ---------------------------------------------------------------------------------------------------------------
// Go map ordering
// ---------------------------------------------------------------------------------------------------------------

/** The keys of a record in Go map order. */
export const sortedKeys = (record: Readonly<Record<string, unknown>>): Array<string> =>
  Object.keys(record).sort(compareBytewise)

/**
 * Objects marked as Go maps have their keys sorted again when written: JS objects iterate integer-like keys
 * ("2", "10") first in numeric order whatever the insertion order, and Go sorts "10" before "2".
 */
const goMapMarker: unique symbol = Symbol.for("@sidekick/event/GoMap")

const arrayIndexKey = /^(?:0|[1-9][0-9]{0,9})$/

const markGoMap = (record: object): void => {
  Object.defineProperty(record, goMapMarker, { value: true, enumerable: false })
}

/**
 * A shallow copy of `record` with keys in Go map order (bytewise). `goJson` writes it with sorted keys even when
 * JS reorders integer-like keys.
 */
export const sortKeys = <T>(record: Readonly<Record<string, T>>): Record<string, T> => {
  const out: Record<string, T> = {}
  let integerLike = false
  for (const k of sortedKeys(record)) {
    if (!integerLike && arrayIndexKey.test(k)) integerLike = true
    if (k === "__proto__") Object.defineProperty(out, k, { value: record[k], enumerable: true, writable: true, configurable: true })
    else out[k] = record[k]!
  }
  if (integerLike) markGoMap(out)
  return out
}

// ---------------------------------------------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------------------------------------------

const hex = "0123456789abcdef"
/** characters Go's encoder escapes (HTML-safe mode) plus surrogates, which need a pairing check */
// eslint-disable-next-line no-control-regex -- Go escapes the control characters U+0000-U+001F: matching them is the point
const needsEscape = /[\u0000-\u001f"\\<>&\u2028\u2029\ud800-\udfff]/

const escapeSlow = (s: string): string => {
  let out = "\""
  let from = 0
  const n = s.length
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i)
    let rep: string | undefined
    if (c < 0x20) {
      rep = c === 10
        ? "\\n"
        : c === 13
        ? "\\r"
        : c === 9
        ? "\\t"
        : c === 8
        ? "\\b"
        : c === 12
        ? "\\f"
        : "\\u00" + hex[c >> 4] + hex[c & 15]
    } else if (c === 34) rep = "\\\""
    else if (c === 92) rep = "\\\\"
    else if (c === 60) rep = "\\u003c"
    else if (c === 62) rep = "\\u003e"
    else if (c === 38) rep = "\\u0026"
    else if (c === 0x2028) rep = "\\u2028"
    else if (c === 0x2029) rep = "\\u2029"
    else if (c >= 0xd800 && c <= 0xdfff) {
      if (c <= 0xdbff && i + 1 < n) {
        const d = s.charCodeAt(i + 1)
        if (d >= 0xdc00 && d <= 0xdfff) {
          i++
          continue
        }
      }
      // a lone surrogate is what invalid UTF-8 becomes in Go: written as the escaped replacement character
      rep = "\\ufffd"
    } else continue
    out += s.slice(from, i) + rep
    from = i + 1
  }
  return out + s.slice(from) + "\""
}

/** A Go JSON string literal. */
export const goJsonString = (s: string): string => (needsEscape.test(s) ? escapeSlow(s) : "\"" + s + "\"")

/** Go `strconv.FormatFloat(f, 'g'-ish, -1, 64)` as encoding/json writes float64: JS `String` agrees except `-0`. */
const goNumber = (n: number): string => {
  if (!Number.isFinite(n)) return "null" // Go refuses to marshal NaN/Inf; we degrade like JSON.stringify
  if (n === 0 && Object.is(n, -0)) return "-0"
  return String(n)
}

const writeObject = (record: Record<string, unknown>, sortAll: boolean): string => {
  const keys = sortAll || (record as { [goMapMarker]?: true })[goMapMarker] === true
    ? sortedKeys(record)
    : Object.keys(record)
  let out = "{"
  let first = true
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i]!
    const v = write(record[k], sortAll)
    if (v === undefined) continue
    out += (first ? "" : ",") + goJsonString(k) + ":" + v
    first = false
  }
  return out + "}"
}

const write = (value: unknown, sortAll: boolean): string | undefined => {
  switch (typeof value) {
    case "string":
      return goJsonString(value)
    case "number":
      return goNumber(value)
    case "boolean":
      return value ? "true" : "false"
    case "bigint":
      return value.toString()
    case "undefined":
    case "function":
    case "symbol":
      return undefined
  }
  if (value === null) return "null"
  if (value instanceof LosslessNumber) return value.value
  if (Array.isArray(value)) {
    let out = "["
    for (let i = 0; i < value.length; i++) out += (i === 0 ? "" : ",") + (write(value[i], sortAll) ?? "null")
    return out + "]"
  }
  const toJSON = (value as { toJSON?: unknown }).toJSON
  if (typeof toJSON === "function") return write(toJSON.call(value), sortAll)
  return writeObject(value as Record<string, unknown>, sortAll)
}

/**
 * Go `json.Marshal`, compact: object keys in insertion order (Go struct order; use `sortKeys` for Go maps),
 * `LosslessNumber` verbatim, bigint as an integer, `<` `>` `&` U+2028 U+2029 escaped, `\b \f \n \r \t` short escapes,
 * other control characters as `\u00XX`, lone surrogates as `\ufffd`, `undefined` members dropped.
 */
/** Go's `omitempty` on a string field: "" becomes undefined, which goJson leaves out */
export const omitEmpty = (s: string | undefined): string | undefined => (s === "" ? undefined : s)

export const goJson = (value: unknown): string => write(value, false) ?? "null"

/** Go `json.Marshal` of a `map[string]any` holding nested maps: every object's keys sorted bytewise. */
export const goJsonMap = (value: unknown): string => write(value, true) ?? "null"
