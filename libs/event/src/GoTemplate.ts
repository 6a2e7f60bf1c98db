/**
 * A Go `text/template` subset, compiled once and rendered per event.
 *
 * Why our own: `@ctrl/golang-template` 2.0.1 (evaluated from its dist source) recognises a fixed list of tag shapes
 * (`{{ .a.b }}`, `{{ if and .a .b }}`, `{{ index .m "k" }}`...) by string prefix. It has no pipelines (`x | printf`),
 * no nested calls (`or (index . "k8s.ns.name") "none"`, the templatedfields example), no `{{-`/`-}}` trimming,
 * no variables, no `eq`/`ne`/`len`/`printf`, no `else if`, and it prints values JS-style (no `<no value>`, no
 * `[a b]`). The subset below is small enough for a hand-written lexer, parser and tree-walking evaluator.
 *
 * Supported: text and `{{ }}` actions; `{{-`/`-}}` trimming; `{{/* comments *\/}}`; `.`, `.A.B`, `$`, `$x.A`,
 * `(pipeline).A`; string ("..", `..`), char, integer, float, bool and nil constants; pipelines with `|`;
 * `$x := pipeline`, `$x = pipeline`; `if`/`else if`/`else with`/`else`/`end`; `range` over lists, maps (sorted keys)
 * and integers with `$v :=` or `$k, $v :=`, `break`, `continue`; `with`; functions `and` `or` (short-circuit) `not`
 * `eq` `ne` `lt` `le` `gt` `ge` `len` `index` `print` `printf` `println` plus caller-supplied functions.
 * Not supported (compile error): `define`, `template`, `block`, method calls.
 *
 * Value model (how JS values stand for Go values):
 * - string: Go string;  number / LosslessNumber: `json.Number` (a Go *string* kind: always truthy, `eq` compares the
 *   literal text, prints verbatim);  bigint: Go int (template integer literals, `len`, range indexes);
 *   `GoFloat`: Go float64 (template float literals);  boolean: bool;  null: nil;  undefined: a missing map key
 *   (Go's invalid value, printed `<no value>`);  arrays: `[]interface{}`;  plain objects: `map[string]interface{}`
 *   (or a struct when built with `goStruct`);  other objects: values printed with their `toString()` (Go Stringer).
 */
import { Either } from "effect"
import { compareBytewise, isLosslessNumber } from "./Json.js"

/** A Go float64 produced by a template literal such as `1.5`. */
export class GoFloat {
  constructor(readonly value: number) {}
  toString(): string {
    return formatFloatG(this.value)
  }
}

export interface TemplateResult {
  readonly output: string
  /** the execution error, Go-style; `output` then holds what was written before it (Go keeps the partial output) */
  readonly error: string | undefined
}

export interface GoTemplate {
  /** Execute; on an execution error, the output written so far (Go semantics for partially executed templates). */
  readonly render: (data: unknown) => string
  readonly execute: (data: unknown) => TemplateResult
}

export type TemplateFunction = (...args: Array<unknown>) => unknown

// ---------------------------------------------------------------------------------------------------------------
// Structs
// ---------------------------------------------------------------------------------------------------------------

const structName: unique symbol = Symbol.for("@sidekick/event/GoStruct")

/** Mark an object as a Go struct: accessing a field it does not have is an execution error (maps give `<no value>`). */
export const goStruct = <T extends object>(name: string, fields: T): T => {
  Object.defineProperty(fields, structName, { value: name, enumerable: false })
  return fields
}

// ---------------------------------------------------------------------------------------------------------------
// Lexer
// ---------------------------------------------------------------------------------------------------------------

type Token =
  | { readonly t: "field"; readonly name: string; readonly space: boolean }
  | { readonly t: "dot"; readonly space: boolean }
  | { readonly t: "var"; readonly name: string; readonly space: boolean }
  | { readonly t: "ident"; readonly name: string; readonly space: boolean }
  | { readonly t: "const"; readonly value: unknown; readonly space: boolean }
  | { readonly t: "(" | ")" | "|" | ":=" | "=" | ","; readonly space: boolean }

interface ActionItem {
  readonly kind: "action"
  readonly tokens: ReadonlyArray<Token>
  readonly line: number
  readonly source: string
}
type Item = { readonly kind: "text"; text: string } | ActionItem

class TemplateError extends Error {}

const isSpace = (c: number): boolean => c === 32 || c === 9 || c === 10 || c === 13
const isIdentStart = (c: number): boolean => (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95 || c > 127
const isIdentPart = (c: number): boolean => isIdentStart(c) || (c >= 48 && c <= 57)
const isDigit = (c: number): boolean => c >= 48 && c <= 57

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

const lex = (src: string): Array<Item> => {
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

// ---------------------------------------------------------------------------------------------------------------
// AST and parser
// ---------------------------------------------------------------------------------------------------------------

type Arg =
  | { readonly k: "dot" }
  | { readonly k: "field"; readonly names: ReadonlyArray<string> }
  | { readonly k: "var"; readonly name: string; readonly names: ReadonlyArray<string> }
  | { readonly k: "const"; readonly value: unknown }
  | { readonly k: "nil" }
  | { readonly k: "fn"; readonly name: string }
  | { readonly k: "sub"; readonly pipe: Pipe; readonly names: ReadonlyArray<string> }

interface Command {
  readonly args: ReadonlyArray<Arg>
}
interface Pipe {
  readonly decl: ReadonlyArray<string>
  readonly assign: boolean
  readonly cmds: ReadonlyArray<Command>
}

interface ControlNode {
  readonly k: "if" | "with" | "range"
  readonly pipe: Pipe
  readonly body: ReadonlyArray<Node>
  readonly elseBody: ReadonlyArray<Node>
  readonly source: string
}
type Node =
  | { readonly k: "text"; readonly text: string }
  | { readonly k: "action"; readonly pipe: Pipe; readonly source: string }
  | ControlNode
  | { readonly k: "break" | "continue" }

const builtinNames = new Set([
  "and",
  "or",
  "not",
  "eq",
  "ne",
  "lt",
  "le",
  "gt",
  "ge",
  "len",
  "index",
  "print",
  "printf",
  "println"
])

class Parser {
  private index = 0
  private readonly scopes: Array<string> = ["$"]
  private rangeDepth = 0

  constructor(
    private readonly items: ReadonlyArray<Item>,
    private readonly funcs: Readonly<Record<string, TemplateFunction>>
  ) {}

  parseTemplate(): ReadonlyArray<Node> {
    const { nodes, terminator } = this.parseList()
    if (terminator !== undefined) {
      throw this.error(terminator, `unexpected {{${(terminator.tokens[0] as { name: string }).name}}}`)
    }
    return nodes
  }

  private error(item: ActionItem | undefined, message: string): TemplateError {
    return new TemplateError(`template: line ${item?.line ?? 1}: ${message}`)
  }

  /** Parse nodes until `{{end}}` / `{{else ...}}` (returned as terminator) or the end of the template. */
  private parseList(): { nodes: Array<Node>; terminator: ActionItem | undefined } {
    const nodes: Array<Node> = []
    while (this.index < this.items.length) {
      const item = this.items[this.index++]!
      if (item.kind === "text") {
        nodes.push({ k: "text", text: item.text })
        continue
      }
      const first = item.tokens[0]
      const keyword = first?.t === "ident" ? first.name : undefined
      switch (keyword) {
        case "end":
        case "else":
          return { nodes, terminator: item }
        case "if":
        case "with":
        case "range":
          nodes.push(this.parseControl(keyword, item, 1))
          break
        case "break":
        case "continue":
          if (this.rangeDepth === 0) throw this.error(item, `{{${keyword}}} outside {{range}}`)
          if (item.tokens.length > 1) throw this.error(item, `unexpected ${describe(item.tokens[1]!)} in {{${keyword}}}`)
          nodes.push({ k: keyword })
          break
        case "define":
        case "template":
        case "block":
          throw this.error(item, `{{${keyword}}} is not supported`)
        default: {
          const pipe = this.parsePipeline(item, item.tokens, 0, "command", false).pipe
          nodes.push({ k: "action", pipe, source: item.source })
        }
      }
    }
    return { nodes, terminator: undefined }
  }

  private parseControl(kind: "if" | "with" | "range", item: ActionItem, from: number): Node {
    const mark = this.scopes.length
    const { pipe } = this.parsePipeline(item, item.tokens, from, kind, kind === "range")
    const declared = this.scopes.length
    if (kind === "range") this.rangeDepth++
    const { nodes: body, terminator } = this.parseList()
    if (kind === "range") this.rangeDepth--
    this.scopes.length = declared
    if (terminator === undefined) throw this.error(item, "unexpected EOF")
    let elseBody: ReadonlyArray<Node> = []
    const t = terminator.tokens
    if ((t[0] as { name: string }).name === "else") {
      const next = t[1]
      if (next !== undefined) {
        // {{else if ...}} / {{else with ...}}: a nested control sharing the final {{end}}
        if (next.t !== "ident" || (next.name !== "if" && next.name !== "with")) {
          throw this.error(terminator, `unexpected ${describe(next)} in else`)
        }
        elseBody = [this.parseControl(next.name, terminator, 2)]
      } else {
        const rest = this.parseList()
        if (rest.terminator === undefined) throw this.error(terminator, "unexpected EOF")
        const rt = rest.terminator.tokens
        if ((rt[0] as { name: string }).name !== "end") throw this.error(rest.terminator, "expected end; found {{else}}")
        if (rt.length > 1) throw this.error(rest.terminator, `unexpected ${describe(rt[1]!)} in end`)
        elseBody = rest.nodes
      }
    } else if (t.length > 1) throw this.error(terminator, `unexpected ${describe(t[1]!)} in end`)
    this.scopes.length = mark
    return { k: kind, pipe, body, elseBody, source: item.source }
  }

  private parsePipeline(
    item: ActionItem,
    tokens: ReadonlyArray<Token>,
    from: number,
    context: string,
    allowTwoVars: boolean
  ): { pipe: Pipe; next: number } {
    let i = from
    const decl: Array<string> = []
    let assign = false
    // declarations: $x := / $x = / $k, $v :=
    const t0 = tokens[i]
    if (t0?.t === "var") {
      const t1 = tokens[i + 1]
      if (t1?.t === ":=" || t1?.t === "=") {
        decl.push(t0.name)
        assign = t1.t === "="
        i += 2
      } else if (t1?.t === "," && allowTwoVars && tokens[i + 2]?.t === "var" && tokens[i + 3]?.t === ":=") {
        decl.push(t0.name, (tokens[i + 2] as { name: string }).name)
        i += 4
      } else if (t1?.t === ",") {
        throw this.error(item, `too many declarations in ${context}`)
      }
    }
    if (assign) {
      if (!this.scopes.includes(decl[0]!)) throw this.error(item, `undefined variable "${decl[0]}"`)
    }
    const cmds: Array<Command> = []
    for (;;) {
      const { cmd, next } = this.parseCommand(item, tokens, i)
      i = next
      if (cmd.args.length === 0) throw this.error(item, `missing value for ${context}`)
      cmds.push(cmd)
      const t = tokens[i]
      if (t?.t === "|") {
        i++
        continue
      }
      break
    }
    for (let c = 0; c < cmds.length; c++) {
      const a = cmds[c]!.args[0]!
      if (a.k === "nil") throw this.error(item, "nil is not a command")
      if (c > 0 && a.k !== "fn") throw this.error(item, `non executable command in pipeline stage ${c + 1}`)
    }
    if (!assign) for (const d of decl) this.scopes.push(d)
    return { pipe: { decl, assign, cmds }, next: i }
  }

  private parseCommand(item: ActionItem, tokens: ReadonlyArray<Token>, from: number): { cmd: Command; next: number } {
    const args: Array<Arg> = []
    let i = from
    for (;;) {
      const t = tokens[i]
      if (t === undefined || t.t === "|" || t.t === ")") break
      if (args.length > 0 && !t.space) throw this.error(item, `missing space before ${describe(t)}`)
      const { arg, next } = this.parseOperand(item, tokens, i)
      args.push(arg)
      i = next
    }
    return { cmd: { args }, next: i }
  }

  private parseOperand(item: ActionItem, tokens: ReadonlyArray<Token>, from: number): { arg: Arg; next: number } {
    const t = tokens[from]!
    let i = from + 1
    const chain = (): Array<string> => {
      const names: Array<string> = []
      for (let n = tokens[i]; n !== undefined && n.t === "field" && !n.space; n = tokens[i]) {
        names.push(n.name)
        i++
      }
      return names
    }
    switch (t.t) {
      case "dot": {
        const names = chain()
        if (names.length > 0) throw this.error(item, "unexpected . after term \".\"")
        return { arg: { k: "dot" }, next: i }
      }
      case "field":
        return { arg: { k: "field", names: [t.name, ...chain()] }, next: i }
      case "var": {
        if (!this.scopes.includes(t.name)) throw this.error(item, `undefined variable "${t.name}"`)
        return { arg: { k: "var", name: t.name, names: chain() }, next: i }
      }
      case "const": {
        if (tokens[i]?.t === "field" && !tokens[i]!.space) throw this.error(item, `unexpected ${describe(tokens[i]!)} in operand`)
        return { arg: { k: "const", value: t.value }, next: i }
      }
      case "ident": {
        if (t.name === "nil") return { arg: { k: "nil" }, next: i }
        if (!builtinNames.has(t.name) && !Object.hasOwn(this.funcs, t.name)) {
          throw this.error(item, `function "${t.name}" not defined`)
        }
        return { arg: { k: "fn", name: t.name }, next: i }
      }
      case "(": {
        const { next, pipe } = this.parsePipeline(item, tokens, i, "parenthesized pipeline", false)
        if (tokens[next]?.t !== ")") throw this.error(item, "unclosed left paren")
        i = next + 1
        return { arg: { k: "sub", pipe, names: chain() }, next: i }
      }
      default:
        throw this.error(item, `unexpected ${describe(t)} in operand`)
    }
  }
}

const describe = (t: Token): string => {
  switch (t.t) {
    case "field":
      return `<.${t.name}>`
    case "var":
    case "ident":
      return `<${t.name}>`
    case "const":
      return `<${typeof t.value === "string" ? JSON.stringify(t.value) : String(t.value)}>`
    case "dot":
      return "<.>"
    default:
      return `"${t.t}"`
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Values: truth, printing, comparison
// ---------------------------------------------------------------------------------------------------------------

class ExecError extends Error {}

const isJsonNumber = (v: unknown): boolean => typeof v === "number" || isLosslessNumber(v)

const isMap = (v: unknown): v is Record<string, unknown> => {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return false
  const proto = Object.getPrototypeOf(v)
  return proto === Object.prototype || proto === null
}

/** Go `isTrue` under our value model. */
const truth = (v: unknown): boolean => {
  switch (typeof v) {
    case "undefined":
      return false
    case "boolean":
      return v
    case "string":
      return v.length > 0
    case "number":
      return true // json.Number: a non-empty string
    case "bigint":
      return v !== 0n
  }
  if (v === null) return false
  if (Array.isArray(v)) return v.length > 0
  if (v instanceof GoFloat) return v.value !== 0
  if (isMap(v)) {
    if ((v as { [structName]?: string })[structName] !== undefined) return true
    for (const _ in v) return true
    return false
  }
  return true
}

/** Go's name of a value's dynamic type, as fmt prints it in `%!d(string=x)`. */
const typeName = (v: unknown): string => {
  switch (typeof v) {
    case "string":
      return "string"
    case "number":
      return "json.Number"
    case "bigint":
      return "int"
    case "boolean":
      return "bool"
  }
  if (v === null || v === undefined) return "<nil>"
  if (isLosslessNumber(v)) return "json.Number"
  if (v instanceof GoFloat) return "float64"
  if (Array.isArray(v)) return "[]interface {}"
  if (isMap(v)) return (v as { [structName]?: string })[structName] ?? "map[string]interface {}"
  return (v as object).constructor?.name ?? "struct"
}

/** Go `strconv.FormatFloat(f, 'g', -1, 64)`, which fmt uses for `%v` of a float64: %e when exp < -4 || exp >= 6. */
const formatFloatG = (f: number): string => {
  if (Number.isNaN(f)) return "NaN"
  if (!Number.isFinite(f)) return f > 0 ? "+Inf" : "-Inf"
  if (f === 0) return Object.is(f, -0) ? "-0" : "0"
  const [mantissa, expPart] = f.toExponential().split("e") as [string, string]
  const exp = Number(expPart)
  if (exp < -4 || exp >= 6) return mantissa + "e" + (exp < 0 ? "-" : "+") + String(Math.abs(exp)).padStart(2, "0")
  return String(f) // JS prints plain decimals in this range, with the same shortest digits
}

/** fmt `%v` (also what `{{ x }}` prints for non-missing values). */
const formatV = (v: unknown): string => {
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
const printAction = (v: unknown): string =>
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
const sprintf = (format: string, args: ReadonlyArray<unknown>): string => {
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

const isStringKind = (v: unknown): boolean => typeof v === "string" || isJsonNumber(v)

type Kind = "bool" | "int" | "float" | "string" | "invalid" | "other"
const basicKind = (v: unknown): Kind => {
  switch (typeof v) {
    case "boolean":
      return "bool"
    case "bigint":
      return "int"
    case "string":
    case "number":
      return "string"
    case "undefined":
      return "invalid"
  }
  if (v === null) return "invalid"
  if (isLosslessNumber(v)) return "string"
  if (v instanceof GoFloat) return "float"
  return "other"
}
const comparable = (v: unknown): unknown =>
  isJsonNumber(v) ? formatV(v) : v instanceof GoFloat ? v.value : v

const equal = (a: unknown, b: unknown): boolean => {
  const ka = basicKind(a)
  const kb = basicKind(b)
  if (ka !== kb) {
    if (ka !== "invalid" && kb !== "invalid") throw new ExecError("error calling eq: incompatible types for comparison")
    return false
  }
  if (ka === "invalid") return true
  if (ka === "other") {
    if (Array.isArray(a) || isMap(a)) throw new ExecError(`error calling eq: non-comparable type ${formatV(a)}: ${typeName(a)}`)
    return a === b || String(a) === String(b)
  }
  return comparable(a) === comparable(b)
}

const less = (name: string, a: unknown, b: unknown): boolean => {
  const ka = basicKind(a)
  const kb = basicKind(b)
  if (ka === "invalid" || ka === "bool" || ka === "other" || kb === "invalid" || kb === "bool" || kb === "other") {
    throw new ExecError(`error calling ${name}: invalid type for comparison`)
  }
  if (ka !== kb) throw new ExecError(`error calling ${name}: incompatible types for comparison`)
  if (ka === "string") return compareBytewise(comparable(a) as string, comparable(b) as string) < 0
  return (comparable(a) as number | bigint) < (comparable(b) as number | bigint)
}

const utf8Length = (s: string): number => {
  let n = s.length
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c >= 0x80) n += c >= 0x800 && (c < 0xd800 || c > 0xdfff) ? 2 : c >= 0xd800 ? 0 : 1
  }
  return n
}

const want = (name: string, args: Array<unknown>, n: number): void => {
  if (args.length !== n) throw new ExecError(`wrong number of args for ${name}: want ${n} got ${args.length}`)
}

const builtin = (name: string, args: Array<unknown>): unknown => {
  switch (name) {
    case "not":
      want(name, args, 1)
      return !truth(args[0])
    case "len": {
      want(name, args, 1)
      const v = args[0]
      if (typeof v === "string") return BigInt(utf8Length(v))
      if (isJsonNumber(v)) return BigInt(formatV(v).length)
      if (Array.isArray(v)) return BigInt(v.length)
      if (isMap(v) && (v as { [structName]?: string })[structName] === undefined) return BigInt(Object.keys(v).length)
      if (v === null || v === undefined) throw new ExecError("error calling len: len of nil pointer")
      throw new ExecError(`error calling len: len of type ${typeName(v)}`)
    }
    case "index": {
      if (args.length < 1) throw new ExecError("wrong number of args for index: want at least 1 got 0")
      let item = args[0]
      for (let i = 1; i < args.length; i++) {
        const key = args[i]
        if (item === null || item === undefined) throw new ExecError("error calling index: index of untyped nil")
        if (Array.isArray(item) || isStringKind(item)) {
          if (typeof key !== "bigint") throw new ExecError(`error calling index: cannot index slice/array with type ${typeName(key)}`)
          const seq = Array.isArray(item) ? item : [...new TextEncoder().encode(formatV(item))].map(BigInt)
          if (key < 0n || key >= BigInt(seq.length)) throw new ExecError(`error calling index: index out of range: ${key}`)
          item = seq[Number(key)]
        } else if (isMap(item) && (item as { [structName]?: string })[structName] === undefined) {
          if (typeof key !== "string") {
            throw new ExecError(`error calling index: value has type ${typeName(key)}; should be string`)
          }
          item = Object.hasOwn(item, key) ? item[key] : undefined
        } else throw new ExecError(`error calling index: can't index item of type ${typeName(item)}`)
      }
      return item
    }
    case "eq": {
      if (args.length < 2) throw new ExecError("error calling eq: missing argument for comparison")
      for (let i = 1; i < args.length; i++) if (equal(args[0], args[i])) return true
      return false
    }
    case "ne":
      want(name, args, 2)
      return !equal(args[0], args[1])
    case "lt":
      want(name, args, 2)
      return less(name, args[0], args[1])
    case "le":
      want(name, args, 2)
      return less(name, args[0], args[1]) || equal(args[0], args[1])
    case "gt":
      want(name, args, 2)
      return !(less(name, args[0], args[1]) || equal(args[0], args[1]))
    case "ge":
      want(name, args, 2)
      return !less(name, args[0], args[1])
    case "print": {
      let out = ""
      for (let i = 0; i < args.length; i++) {
        if (i > 0 && !isStringKind(args[i]) && !isStringKind(args[i - 1])) out += " "
        out += formatV(args[i])
      }
      return out
    }
    case "println":
      return args.map(formatV).join(" ") + "\n"
    case "printf": {
      if (args.length < 1) throw new ExecError("wrong number of args for printf: want at least 1 got 0")
      if (typeof args[0] !== "string") throw new ExecError(`wrong type for value; expected string; got ${typeName(args[0])}`)
      return sprintf(args[0], args.slice(1))
    }
  }
  throw new ExecError(`function "${name}" not defined`)
}

// ---------------------------------------------------------------------------------------------------------------
// Evaluator
// ---------------------------------------------------------------------------------------------------------------

const NO_FINAL: unique symbol = Symbol("noFinal")
const BREAK = 1
const CONTINUE = 2

class Exec {
  out = ""
  readonly names: Array<string> = ["$"]
  readonly values: Array<unknown>

  constructor(root: unknown, private readonly funcs: Readonly<Record<string, TemplateFunction>>) {
    this.values = [root]
  }

  list(dot: unknown, nodes: ReadonlyArray<Node>): number {
    for (let i = 0; i < nodes.length; i++) {
      const node = nodes[i]!
      switch (node.k) {
        case "text":
          this.out += node.text
          break
        case "action": {
          const v = this.pipeline(dot, node.pipe, node.source)
          if (node.pipe.decl.length === 0) this.out += printAction(v)
          break
        }
        case "if":
        case "with": {
          const mark = this.names.length
          const v = this.pipeline(dot, node.pipe, node.source)
          const signal = truth(v)
            ? this.list(node.k === "with" ? v : dot, node.body)
            : this.list(dot, node.elseBody)
          this.names.length = mark
          this.values.length = mark
          if (signal !== 0) return signal
          break
        }
        case "range":
          this.range(dot, node)
          break
        case "break":
          return BREAK
        case "continue":
          return CONTINUE
      }
    }
    return 0
  }

  private range(dot: unknown, node: ControlNode): void {
    const mark = this.names.length
    const decl = node.pipe.decl
    const v = this.pipeline(dot, { decl: [], assign: false, cmds: node.pipe.cmds }, node.source)
    const iterate = (key: unknown, elem: unknown): number => {
      this.names.length = mark
      this.values.length = mark
      if (decl.length === 1) {
        this.names.push(decl[0]!)
        this.values.push(elem)
      } else if (decl.length === 2) {
        this.names.push(decl[0]!, decl[1]!)
        this.values.push(key, elem)
      }
      return this.list(elem, node.body)
    }
    let ran = false
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        ran = true
        if (iterate(BigInt(i), v[i]) === BREAK) break
      }
    } else if (isMap(v) && (v as { [structName]?: string })[structName] === undefined) {
      for (const k of Object.keys(v).sort(compareBytewise)) {
        ran = true
        if (iterate(k, v[k]) === BREAK) break
      }
    } else if (typeof v === "bigint") {
      if (decl.length > 1) throw new ExecError(`${node.source}: can't use ${v} to iterate over more than one variable`)
      for (let i = 0n; i < v; i++) {
        ran = true
        if (iterate(i, i) === BREAK) break
      }
    } else if (v !== undefined && v !== null) {
      throw new ExecError(`${node.source}: range can't iterate over ${formatV(v)}`)
    }
    this.names.length = mark
    this.values.length = mark
    if (!ran) this.list(dot, node.elseBody)
    this.names.length = mark
    this.values.length = mark
  }

  pipeline(dot: unknown, pipe: Pipe, source: string): unknown {
    let value: unknown = NO_FINAL
    for (let i = 0; i < pipe.cmds.length; i++) value = this.command(dot, pipe.cmds[i]!, value, source)
    if (pipe.decl.length > 0) {
      if (pipe.assign) this.setVar(pipe.decl[0]!, value)
      else {
        this.names.push(pipe.decl[0]!)
        this.values.push(value)
      }
    }
    return value
  }

  private setVar(name: string, value: unknown): void {
    for (let i = this.names.length - 1; i >= 0; i--) {
      if (this.names[i] === name) {
        this.values[i] = value
        return
      }
    }
  }

  private variable(name: string): unknown {
    for (let i = this.names.length - 1; i >= 0; i--) if (this.names[i] === name) return this.values[i]
    return undefined
  }

  private command(dot: unknown, cmd: Command, final: unknown, source: string): unknown {
    const first = cmd.args[0]!
    if (first.k === "fn") return this.call(dot, first.name, cmd.args, final, source)
    if (cmd.args.length > 1 || final !== NO_FINAL) {
      if (first.k === "field" || first.k === "var" || first.k === "sub") {
        const names = first.names
        if (names.length > 0) throw new ExecError(`${source}: ${names[names.length - 1]} is not a method but has arguments`)
      }
      throw new ExecError(`${source}: can't give argument to non-function ${describeArg(first)}`)
    }
    return this.arg(dot, first, source)
  }

  private call(dot: unknown, name: string, nodes: ReadonlyArray<Arg>, final: unknown, source: string): unknown {
    const explicit = nodes.length - 1
    const count = explicit + (final === NO_FINAL ? 0 : 1)
    try {
      if (name === "and" || name === "or") {
        if (count < 1) throw new ExecError(`wrong number of args for ${name}: want at least 1 got 0`)
        let v: unknown
        for (let i = 0; i < count; i++) {
          v = i < explicit ? this.arg(dot, nodes[i + 1]!, source) : final
          if (truth(v) === (name === "or")) return v
        }
        return v
      }
      const args: Array<unknown> = new Array(count)
      for (let i = 0; i < count; i++) {
        const v = i < explicit ? this.arg(dot, nodes[i + 1]!, source) : final
        // a missing value passed to a function becomes a nil interface
        args[i] = v === undefined ? null : v
      }
      if (!builtinNames.has(name)) return this.funcs[name]!(...args)
      return builtin(name, args)
    } catch (e) {
      if (e instanceof ExecError && e.message.startsWith(source)) throw e
      const message = e instanceof Error ? e.message : String(e)
      throw new ExecError(`${source}: ${builtinNames.has(name) ? message : `error calling ${name}: ${message}`}`)
    }
  }

  private arg(dot: unknown, a: Arg, source: string): unknown {
    switch (a.k) {
      case "dot":
        return dot
      case "const":
        return a.value
      case "nil":
        return null
      case "field":
        return this.fields(dot, a.names, source)
      case "var":
        return this.fields(this.variable(a.name), a.names, source)
      case "sub":
        return this.fields(this.pipeline(dot, a.pipe, source), a.names, source)
      case "fn":
        return this.call(dot, a.name, [a], NO_FINAL, source)
    }
  }

  private fields(receiver: unknown, names: ReadonlyArray<string>, source: string): unknown {
    let v = receiver
    for (let i = 0; i < names.length; i++) {
      const name = names[i]!
      if (v === undefined) return undefined
      if (v === null) throw new ExecError(`${source}: nil pointer evaluating interface {}.${name}`)
      if (isMap(v)) {
        if (Object.hasOwn(v, name)) v = v[name]
        else {
          const struct = (v as { [structName]?: string })[structName]
          if (struct !== undefined) throw new ExecError(`${source}: can't evaluate field ${name} in type ${struct}`)
          v = undefined
        }
      } else throw new ExecError(`${source}: can't evaluate field ${name} in type ${typeName(v)}`)
    }
    return v
  }
}

const describeArg = (a: Arg): string => {
  switch (a.k) {
    case "dot":
      return "."
    case "const":
      return typeof a.value === "string" ? JSON.stringify(a.value) : String(a.value)
    case "nil":
      return "nil"
    default:
      return ""
  }
}

/**
 * Compile a Go text/template source once. Left: a one-line reason (`template: line 1: function "foo" not defined`).
 * `funcs` adds functions callable by name (Go `Funcs`), for instance an output's escaping helper.
 */
export const compileTemplate = (
  source: string,
  funcs: Readonly<Record<string, TemplateFunction>> = {}
): Either.Either<GoTemplate, string> => {
  let nodes: ReadonlyArray<Node>
  try {
    nodes = new Parser(lex(source), funcs).parseTemplate()
  } catch (e) {
    if (e instanceof TemplateError) return Either.left(e.message)
    throw e
  }
  const execute = (data: unknown): TemplateResult => {
    const exec = new Exec(data, funcs)
    try {
      exec.list(data, nodes)
      return { output: exec.out, error: undefined }
    } catch (e) {
      if (e instanceof ExecError) return { output: exec.out, error: `template: executing ${e.message}` }
      if (e instanceof RangeError) return { output: exec.out, error: `template: ${e.message}` }
      throw e
    }
  }
  // fast path for constant templates ("text only")
  if (nodes.every((n) => n.k === "text")) {
    const text = nodes.map((n) => (n as { text: string }).text).join("")
    return Either.right({ render: () => text, execute: () => ({ output: text, error: undefined }) })
  }
  return Either.right({ render: (data) => execute(data).output, execute })
}
