/**
 * The value model: how JS values stand for Go values (see the module documentation of `GoTemplate`), and the
 * questions the engine asks about them (truth, Go type name, map or struct).
 */
import { isLosslessNumber } from "lossless-json"

/** A Go float64 produced by a template literal such as `1.5`. */
export class GoFloat {
  constructor(readonly value: number) {}
  toString(): string {
    return formatFloatG(this.value)
  }
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

/** The non-enumerable property `goStruct` sets on an object: its Go type name. */
export const structName: unique symbol = Symbol.for("@sidekick/gotemplate/GoStruct")

/** Mark an object as a Go struct: accessing a field it does not have is an execution error (maps give `<no value>`). */
export const goStruct = <T extends object>(name: string, fields: T): T => {
  Object.defineProperty(fields, structName, { value: name, enumerable: false })
  return fields
}

export const isJsonNumber = (v: unknown): boolean => typeof v === "number" || isLosslessNumber(v)

export const isMap = (v: unknown): v is Record<string, unknown> => {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return false
  const proto = Object.getPrototypeOf(v)
  return proto === Object.prototype || proto === null
}

/** Go `isTrue` under our value model. */
export const truth = (v: unknown): boolean => {
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
export const typeName = (v: unknown): string => {
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

export const isStringKind = (v: unknown): boolean => typeof v === "string" || isJsonNumber(v)
