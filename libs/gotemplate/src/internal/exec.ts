/** The evaluator: walks the parsed tree over the data, with Go's variable scoping, `break` and `continue`. */
import type { TemplateFunction } from "../GoTemplate.js"
import { compareBytewise } from "../Utf8.js"
import { builtin, builtinNames } from "./builtins.js"
import { ExecError } from "./errors.js"
import { formatV, printAction } from "./format.js"
import type { Arg, Command, ControlNode, Node, Pipe } from "./parser.js"
import { isMap, structName, truth, typeName } from "./value.js"

const NO_FINAL: unique symbol = Symbol("noFinal")
const BREAK = 1
const CONTINUE = 2

export class Exec {
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
