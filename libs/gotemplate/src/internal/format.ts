/** Go `fmt` and `strconv` for the value model: `%v` printing, `strconv.Quote` and `fmt.Sprintf`. */
import { isLosslessNumber } from "lossless-json"
import { compareBytewise } from "../Utf8.js"
import { isDigit } from "./lexer.js"
import { GoFloat, isJsonNumber, isMap, structName, typeName } from "./value.js"

/** fmt `%v` (also what `{{ x }}` prints for non-missing values). */
export const formatV = (v: unknown): string => {
  switch (typeof v) {
    case "string":
      return v
    case "number":
      return String(v)
    case "bigint":
      return v.toString()
    case "boolean":
      return v ? "true" : "false"
    case "undefined":
      return "<nil>"
  }
  if (v === null) return "<nil>"
  if (isLosslessNumber(v)) return v.value
  if (Array.isArray(v)) {
    let out = "["
    for (let i = 0; i < v.length; i++) out += (i === 0 ? "" : " ") + formatV(v[i])
    return out + "]"
  }
  if (isMap(v)) {
    const name = (v as { [structName]?: string })[structName]
    const keys = name === undefined ? Object.keys(v).sort(compareBytewise) : Object.keys(v)
    let out = name === undefined ? "map[" : "{"
    for (let i = 0; i < keys.length; i++) {
      out += (i === 0 ? "" : " ") + (name === undefined ? keys[i] + ":" : "") + formatV(v[keys[i]!])
    }
    return out + (name === undefined ? "]" : "}")
  }
  return String(v)
}

/** What an action prints: Go turns nil interfaces into invalid values first, printed `<no value>`. */
export const printAction = (v: unknown): string =>
  typeof v === "string" ? v : v === undefined || v === null ? "<no value>" : formatV(v)

/** Go `strconv.Quote`. */
const goQuote = (s: string): string => {
  let out = "\""
  for (const ch of s) {
    const cp = ch.codePointAt(0)!
    if (ch === "\"") out += "\\\""
    else if (ch === "\\") out += "\\\\"
    else if (cp >= 0x20 && cp < 0x7f) out += ch
    else if (cp === 7) out += "\\a"
    else if (cp === 8) out += "\\b"
    else if (cp === 12) out += "\\f"
    else if (cp === 10) out += "\\n"
    else if (cp === 13) out += "\\r"
    else if (cp === 9) out += "\\t"
    else if (cp === 11) out += "\\v"
    else if (cp < 0x20 || cp === 0x7f) out += "\\x" + cp.toString(16).padStart(2, "0")
    else if (cp >= 0xd800 && cp <= 0xdfff) out += "\\ufffd"
    else if (/^[\p{L}\p{M}\p{N}\p{P}\p{S}]$/u.test(ch)) out += ch
    else if (cp < 0x10000) out += "\\u" + cp.toString(16).padStart(4, "0")
    else out += "\\U" + cp.toString(16).padStart(8, "0")
  }
  return out + "\""
}

const badVerb = (verb: string, v: unknown): string =>
  v === null || v === undefined ? `%!${verb}(<nil>)` : `%!${verb}(${typeName(v)}=${formatV(v)})`

const utf8Hex = (s: string, upper: boolean): string => {
  let out = ""
  for (const b of new TextEncoder().encode(s)) out += b.toString(16).padStart(2, "0")
  return upper ? out.toUpperCase() : out
}

/** One fmt verb applied to one operand (flags/width handled by the caller). */
const formatVerb = (verb: string, v: unknown, precision: number | undefined): string => {
  const stringish = typeof v === "string" ? v : isJsonNumber(v) ? formatV(v) : undefined
  switch (verb) {
    case "v":
      return formatV(v)
    case "s":
      if (stringish !== undefined) return precision === undefined ? stringish : [...stringish].slice(0, precision).join("")
      break
    case "q":
      if (stringish !== undefined) return goQuote(stringish)
      if (typeof v === "bigint") return "'" + String.fromCodePoint(Number(v)) + "'"
      break
    case "d":
      if (typeof v === "bigint") return v.toString()
      break
    case "t":
      if (typeof v === "boolean") return v ? "true" : "false"
      break
    case "x":
    case "X":
      if (stringish !== undefined) return utf8Hex(stringish, verb === "X")
      if (typeof v === "bigint") {
        const h = (v < 0n ? "-" : "") + (v < 0n ? -v : v).toString(16)
        return verb === "X" ? h.toUpperCase() : h
      }
      break
    case "f":
    case "F":
      if (v instanceof GoFloat) return v.value.toFixed(precision ?? 6)
      break
  }
  if (Array.isArray(v) && verb !== "q") {
    return "[" + v.map((e) => formatVerb(verb, e, precision)).join(" ") + "]"
  }
  if (typeof v === "object" && v !== null && !isMap(v) && !Array.isArray(v) && !isLosslessNumber(v) && !(v instanceof GoFloat)) {
    if (verb === "s" || verb === "q") return formatVerb(verb, String(v), precision)
  }
  return badVerb(verb, v)
}

/** fmt.Sprintf for the verbs %v %s %d %q %t %x %X %f and %%, with flags `-` `0`, width and precision. */
export const sprintf = (format: string, args: ReadonlyArray<unknown>): string => {
  let out = ""
  let argIndex = 0
  for (let i = 0; i < format.length; i++) {
    const c = format[i]!
    if (c !== "%") {
      out += c
      continue
    }
    i++
    let minus = false
    let zero = false
    let plus = false
    for (; i < format.length; i++) {
      const f = format[i]
      if (f === "-") minus = true
      else if (f === "0") zero = true
      else if (f === "+") plus = true
      else if (f === " " || f === "#") continue
      else break
    }
    let width = 0
    while (i < format.length && isDigit(format.charCodeAt(i))) width = width * 10 + (format.charCodeAt(i++) - 48)
    let precision: number | undefined
    if (format[i] === ".") {
      i++
      precision = 0
      while (i < format.length && isDigit(format.charCodeAt(i))) precision = precision * 10 + (format.charCodeAt(i++) - 48)
    }
    if (i >= format.length) {
      out += "%!(NOVERB)"
      break
    }
    const verb = format[i]!
    if (verb === "%") {
      out += "%"
      continue
    }
    if (argIndex >= args.length) {
      out += `%!${verb}(MISSING)`
      continue
    }
    const arg = args[argIndex++]
    let s = formatVerb(verb, arg, precision)
    if (plus && typeof arg === "bigint" && arg >= 0n && verb === "d") s = "+" + s
    const len = [...s].length
    if (width > len) {
      const numeric = typeof arg === "bigint" || arg instanceof GoFloat
      if (minus) s = s + " ".repeat(width - len)
      else if (zero && numeric && (s.startsWith("-") || s.startsWith("+"))) s = s[0] + "0".repeat(width - len) + s.slice(1)
      else s = (zero && numeric ? "0" : " ").repeat(width - len) + s
    }
    out += s
  }
  if (argIndex < args.length) {
    out += "%!(EXTRA " +
      args.slice(argIndex).map((a) => (a === null || a === undefined ? "<nil>" : `${typeName(a)}=${formatV(a)}`)).join(
        ", "
      ) + ")"
  }
  return out
}
