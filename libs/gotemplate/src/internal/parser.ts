/** The parser: lexed items to a tree of text, actions, pipelines and control nodes (`if`/`with`/`range`). */
import type { TemplateFunction } from "../GoTemplate.js"
import { builtinNames } from "./builtins.js"
import { TemplateError } from "./errors.js"
import type { ActionItem, Item, Token } from "./lexer.js"

export type Arg =
  | { readonly k: "dot" }
  | { readonly k: "field"; readonly names: ReadonlyArray<string> }
  | { readonly k: "var"; readonly name: string; readonly names: ReadonlyArray<string> }
  | { readonly k: "const"; readonly value: unknown }
  | { readonly k: "nil" }
  | { readonly k: "fn"; readonly name: string }
  | { readonly k: "sub"; readonly pipe: Pipe; readonly names: ReadonlyArray<string> }

export interface Command {
  readonly args: ReadonlyArray<Arg>
}
export interface Pipe {
  readonly decl: ReadonlyArray<string>
  readonly assign: boolean
  readonly cmds: ReadonlyArray<Command>
}

export interface ControlNode {
  readonly k: "if" | "with" | "range"
  readonly pipe: Pipe
  readonly body: ReadonlyArray<Node>
  readonly elseBody: ReadonlyArray<Node>
  readonly source: string
}
export type Node =
  | { readonly k: "text"; readonly text: string }
  | { readonly k: "action"; readonly pipe: Pipe; readonly source: string }
  | ControlNode
  | { readonly k: "break" | "continue" }

export class Parser {
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
