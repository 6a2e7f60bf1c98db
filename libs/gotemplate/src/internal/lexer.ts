/** The lexer: template text and `{{ }}` actions, `{{-`/`-}}` trimming and comments, tokens inside actions. */
import { TemplateError } from "./errors.js"
import { GoFloat } from "./value.js"

export type Token =
  | { readonly t: "field"; readonly name: string; readonly space: boolean }
  | { readonly t: "dot"; readonly space: boolean }
  | { readonly t: "var"; readonly name: string; readonly space: boolean }
  | { readonly t: "ident"; readonly name: string; readonly space: boolean }
  | { readonly t: "const"; readonly value: unknown; readonly space: boolean }
  | { readonly t: "(" | ")" | "|" | ":=" | "=" | ","; readonly space: boolean }

export interface ActionItem {
  readonly kind: "action"
  readonly tokens: ReadonlyArray<Token>
  readonly line: number
  readonly source: string
}
export type Item = { readonly kind: "text"; text: string } | ActionItem

const isSpace = (c: number): boolean => c === 32 || c === 9 || c === 10 || c === 13
const isIdentStart = (c: number): boolean => (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95 || c > 127
const isIdentPart = (c: number): boolean => isIdentStart(c) || (c >= 48 && c <= 57)
export const isDigit = (c: number): boolean => c >= 48 && c <= 57

const lineAt = (src: string, pos: number): number => {
  let line = 1
  for (let i = 0; i < pos; i++) if (src.charCodeAt(i) === 10) line++
  return line
}

/** Go `strconv.Unquote` for "..." and '...' literals (the quotes are included in `lit`). */
const unquote = (lit: string, line: number): string => {
  let out = ""
  for (let i = 1; i < lit.length - 1; i++) {
    const c = lit[i]!
    if (c !== "\\") {
      out += c
      continue
    }
    const e = lit[++i]
    switch (e) {
      case "a":
        out += "\x07"
        break
      case "b":
        out += "\b"
        break
      case "f":
        out += "\f"
        break
      case "n":
        out += "\n"
        break
      case "r":
        out += "\r"
        break
      case "t":
        out += "\t"
        break
      case "v":
        out += "\v"
        break
      case "\\":
      case "\"":
      case "'":
        out += e
        break
      case "x":
      case "u":
      case "U": {
        const len = e === "x" ? 2 : e === "u" ? 4 : 8
        const digits = lit.slice(i + 1, i + 1 + len)
        if (!/^[0-9a-fA-F]+$/.test(digits) || digits.length !== len) {
          throw new TemplateError(`template: line ${line}: invalid syntax in quoted string ${lit}`)
        }
        out += e === "x" ? String.fromCharCode(parseInt(digits, 16)) : String.fromCodePoint(parseInt(digits, 16))
        i += len
        break
      }
      default: {
        const digits = lit.slice(i, i + 3)
        if (/^[0-7]{3}$/.test(digits)) {
          out += String.fromCharCode(parseInt(digits, 8))
          i += 2
          break
        }
        throw new TemplateError(`template: line ${line}: invalid syntax in quoted string ${lit}`)
      }
    }
  }
  return out
}

const numberLiteral = /^[+-]?(?:0[xX][0-9a-fA-F_]+|0[oO][0-7_]+|0[bB][01_]+|(?:[0-9][0-9_]*)?(?:\.[0-9_]*)?(?:[eE][+-]?[0-9_]+)?)$/

const parseNumber = (lit: string, line: number): unknown => {
  if (lit === "" || lit === "+" || lit === "-" || !numberLiteral.test(lit)) {
    throw new TemplateError(`template: line ${line}: bad number syntax: "${lit}"`)
  }
  const clean = lit.replaceAll("_", "")
  if (/^[+-]?(?:[0-9]+|0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+)$/.test(clean)) {
    const negative = clean.startsWith("-")
    const body = clean.replace(/^[+-]/, "")
    const v = BigInt(/^0[0-7]+$/.test(body) ? "0o" + body.slice(1) : body)
    return negative ? -v : v
  }
  const f = Number(clean)
  if (Number.isNaN(f)) throw new TemplateError(`template: line ${line}: bad number syntax: "${lit}"`)
  return new GoFloat(f)
}

/** Lex the inside of one action, from `pos` (just after `{{` and any trim marker). Returns the tokens and end info. */
const lexAction = (
  src: string,
  pos: number,
  line: number
): { tokens: Array<Token>; end: number; trimRight: boolean } => {
  const tokens: Array<Token> = []
  let i = pos
  let space = true
  for (;;) {
    if (i >= src.length) throw new TemplateError(`template: line ${line}: unclosed action`)
    const c = src.charCodeAt(i)
    if (isSpace(c)) {
      if (src.charCodeAt(i + 1) === 45 /* - */ && src.startsWith("}}", i + 2)) {
        return { tokens, end: i + 4, trimRight: true }
      }
      i++
      space = true
      continue
    }
    if (src.startsWith("}}", i)) return { tokens, end: i + 2, trimRight: false }
    const start = i
    if (c === 46 /* . */ && !isDigit(src.charCodeAt(i + 1))) {
      i++
      while (i < src.length && isIdentPart(src.charCodeAt(i))) i++
      tokens.push(i === start + 1 ? { t: "dot", space } : { t: "field", name: src.slice(start + 1, i), space })
    } else if (c === 36 /* $ */) {
      i++
      while (i < src.length && isIdentPart(src.charCodeAt(i))) i++
      tokens.push({ t: "var", name: src.slice(start, i), space })
    } else if (c === 34 /* " */ || c === 39 /* ' */) {
      i++
      while (i < src.length && src.charCodeAt(i) !== c) {
        if (src.charCodeAt(i) === 92) i++
        if (src.charCodeAt(i) === 10) throw new TemplateError(`template: line ${line}: unterminated quoted string`)
        i++
      }
      if (i >= src.length) throw new TemplateError(`template: line ${line}: unterminated quoted string`)
      i++
      const text = unquote(src.slice(start, i), line)
      if (c === 39) {
        const cps = [...text]
        if (cps.length !== 1) throw new TemplateError(`template: line ${line}: malformed character constant: ${src.slice(start, i)}`)
        tokens.push({ t: "const", value: BigInt(cps[0]!.codePointAt(0)!), space })
      } else tokens.push({ t: "const", value: text, space })
    } else if (c === 96 /* ` */) {
      const close = src.indexOf("`", i + 1)
      if (close < 0) throw new TemplateError(`template: line ${line}: unterminated raw quoted string`)
      tokens.push({ t: "const", value: src.slice(i + 1, close), space })
      i = close + 1
    } else if (isDigit(c) || ((c === 45 || c === 43 || c === 46) && isDigit(src.charCodeAt(i + 1)))) {
      i++
      while (i < src.length) {
        const d = src.charCodeAt(i)
        if (isIdentPart(d) || d === 46) i++
        else if ((d === 43 || d === 45) && (src.charCodeAt(i - 1) | 32) === 101 && !/^[+-]?0[xX]/.test(src.slice(start, i))) {
          i++
        } else break
      }
      tokens.push({ t: "const", value: parseNumber(src.slice(start, i), line), space })
    } else if (isIdentStart(c)) {
      while (i < src.length && isIdentPart(src.charCodeAt(i))) i++
      const name = src.slice(start, i)
      if (name === "true" || name === "false") tokens.push({ t: "const", value: name === "true", space })
      else tokens.push({ t: "ident", name, space })
    } else if (c === 58 /* : */ && src.charCodeAt(i + 1) === 61) {
      i += 2
      tokens.push({ t: ":=", space })
    } else if (c === 40 || c === 41 || c === 124 || c === 61 || c === 44) {
      i++
      tokens.push({ t: String.fromCharCode(c) as "(" | ")" | "|" | "=" | ",", space })
    } else {
      throw new TemplateError(`template: line ${line}: unexpected "${src[i]}" in command`)
    }
    space = false
  }
}

const trimLeadingSpace = (s: string): string => {
  let i = 0
  while (i < s.length && isSpace(s.charCodeAt(i))) i++
  return s.slice(i)
}
const trimTrailingSpace = (s: string): string => {
  let i = s.length
  while (i > 0 && isSpace(s.charCodeAt(i - 1))) i--
  return s.slice(0, i)
}

export const lex = (src: string): Array<Item> => {
  const items: Array<Item> = []
  let pos = 0
  let trimNext = false
  for (;;) {
    const open = src.indexOf("{{", pos)
    let text = src.slice(pos, open < 0 ? src.length : open)
    if (trimNext) text = trimLeadingSpace(text)
    trimNext = false
    if (open < 0) {
      if (text !== "") items.push({ kind: "text", text })
      return items
    }
    let i = open + 2
    if (src.charCodeAt(i) === 45 && isSpace(src.charCodeAt(i + 1))) {
      text = trimTrailingSpace(text)
      i += 2
    }
    if (text !== "") items.push({ kind: "text", text })
    const line = lineAt(src, open)
    // a comment must start right after the delimiter (and trim marker) and end right before the closing one
    if (src.startsWith("/*", i)) {
      const close = src.indexOf("*/", i + 2)
      if (close < 0) throw new TemplateError(`template: line ${line}: unclosed comment`)
      let j = close + 2
      if (isSpace(src.charCodeAt(j)) && src.charCodeAt(j + 1) === 45 && src.startsWith("}}", j + 2)) {
        trimNext = true
        j += 4
      } else if (src.startsWith("}}", j)) j += 2
      else throw new TemplateError(`template: line ${line}: comment ends before closing delimiter`)
      pos = j
      continue
    }
    const { end, tokens, trimRight } = lexAction(src, i, line)
    items.push({ kind: "action", tokens, line, source: src.slice(open, end) })
    trimNext = trimRight
    pos = end
  }
}
