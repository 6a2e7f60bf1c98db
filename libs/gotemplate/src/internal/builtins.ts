/** The predefined functions of Go templates (`and` and `or` short-circuit, so the evaluator runs them itself). */
import { isLosslessNumber } from "lossless-json"
import { compareBytewise, utf8Length } from "../Utf8.js"
import { ExecError } from "./errors.js"
import { formatV, sprintf } from "./format.js"
import { GoFloat, isJsonNumber, isMap, isStringKind, structName, truth, typeName } from "./value.js"

/** The names `builtin` knows, plus `and` and `or`; any other name must be a caller-supplied function. */
export const builtinNames = new Set([
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

const want = (name: string, args: Array<unknown>, n: number): void => {
  if (args.length !== n) throw new ExecError(`wrong number of args for ${name}: want ${n} got ${args.length}`)
}

export const builtin = (name: string, args: Array<unknown>): unknown => {
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
