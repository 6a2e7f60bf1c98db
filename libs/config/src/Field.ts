/**
 * The field DSL: one declaration gives a key its YAML name, env var, default, coercion and error text.
 *
 *   export const WebhookConfig = section("webhook", {
 *     address: Field.string(),
 *     customheaders: Field.secretMap({ env: "pairs" }),
 *     timeout: Field.optional(Field.duration("10s")),
 *     batching: { enabled: Field.bool(false), flushinterval: Field.duration("1s") }
 *   })
 *   type WebhookConfig = typeof WebhookConfig.Type
 *
 * Secrets (`Field.secret`, `Field.secretMap`) decode to `Redacted` values: the only way to the text is an
 * explicit `Redacted.value(...)`, and `String()`, `JSON.stringify` and `util.inspect` print `<redacted>`.
 */
import { Duration, Either, Redacted } from "effect"
import { REDACTED } from "./ConfigError.js"
import { formatGoDuration, parseGoBool, parseGoDuration, parseGoInt } from "./goParse.js"

/** Environment as `process.env` gives it. */
export type Env = Readonly<Record<string, string | undefined>>

export type FieldKind = "string" | "int" | "bool" | "duration" | "list" | "map" | "literal" | "minimumPriority"

/** How a map-typed field is read from its env var. */
export type MapEnvFormat =
  /** `k:v,k2:v2`; each item must split on `:` into exactly 2 parts (falcosidekick drops the others; we fail) */
  | "pairs"
  /** `k:v,k2:v2`; cut at the first `:`, trim both sides, name must match `^[a-zA-Z_][a-zA-Z0-9_]*$` (alertmanager labels) */
  | "cut"
  /** a JSON object string `{"k":"v"}` (elasticsearch.customheaders, read by viper.GetStringMapString) */
  | "json"

export const FieldTypeId: unique symbol = Symbol.for("@sidekick/config/Field")
export type FieldTypeId = typeof FieldTypeId

/**
 * A declared key. `decodeFile`/`decodeEnv` return Left(expected) on failure, where `expected` never
 * contains a secret's value.
 *
 * `mergeEnv` and `show` are declared as methods, not function-typed properties: method parameters are
 * checked bivariantly, so every `FieldSpec<A>` is a `FieldSpec<unknown>` (`AnyField`). Callers only ever
 * pass a field the values that field decoded.
 */
export interface FieldSpec<A> {
  readonly [FieldTypeId]: FieldTypeId
  readonly kind: FieldKind
  readonly defaultValue: A
  /** the value is a credential: it decodes to a `Redacted`, and errors and `describeConfig` show `<redacted>` */
  readonly secret: boolean
  /** what a valid value looks like, for docs and errors: "an integer from 1 to 65535" */
  readonly expected: string
  /** env var syntax, for docs: "true/false", "comma-separated list", "k:v,k2:v2" */
  readonly envSyntax: string
  /** a YAML "" counts as unset for this field (all kinds except plain strings) */
  readonly emptyIsUnset: boolean
  readonly decodeFile: (value: unknown) => Either.Either<A, string>
  readonly decodeEnv: (text: string, env: Env) => Either.Either<A, string>
  /**
   * Present on map fields read from env in "pairs"/"cut" format: the env var's map merged over the
   * file's map (env wins per key). Without it, a set env var replaces the file value.
   */
  mergeEnv?(fileValue: A, envValue: A): A
  /**
   * The decoded value as text for `describeConfig`. A secret shows as `<redacted>` when set, and as
   * `""` (or `{}` for a map) when empty, so operators see that it is missing.
   */
  show(value: A): string
}

/** A field of any value type. */
export type AnyField = FieldSpec<unknown>

/** The fields of a section: keys to fields, or to nested groups of fields. */
export interface Fields {
  readonly [key: string]: AnyField | Fields
}

/** The decoded shape of some fields. */
export type Decoded<F extends Fields> = {
  readonly [K in keyof F]: F[K] extends FieldSpec<infer A> ? A : F[K] extends Fields ? Decoded<F[K]> : never
}

export const isField = (u: unknown): u is AnyField => typeof u === "object" && u !== null && FieldTypeId in u

export const isRecord = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u)

/**
 * A YAML scalar as a string, the way mapstructure's weak decoding stringifies it for string fields:
 * numbers as written, `true` -> "1", `false` -> "0", null -> "". Structures are not scalars.
 */
export const scalarToString = (value: unknown): string | undefined => {
  switch (typeof value) {
    case "string":
      return value
    case "bigint":
      return value.toString()
    case "number":
      return Number.isInteger(value) && Number.isSafeInteger(value) ? value.toFixed(0) : String(value)
    case "boolean":
      return value ? "1" : "0"
    default:
      return value === null ? "" : undefined
  }
}

const describeType = (value: unknown): string =>
  Array.isArray(value) ? "a list" : isRecord(value) ? "a mapping" : typeof value === "string" ? "text" : `a ${typeof value}`

const make = <A>(spec: Omit<FieldSpec<A>, typeof FieldTypeId | "emptyIsUnset" | "secret"> & {
  readonly emptyIsUnset?: boolean
  readonly secret?: boolean
}): FieldSpec<A> => ({
  [FieldTypeId]: FieldTypeId,
  emptyIsUnset: true,
  secret: false,
  ...spec
})

// ---------------------------------------------------------------------------------------------------------------------

const stringField = (defaultValue = ""): FieldSpec<string> =>
  make({
    kind: "string",
    defaultValue,
    emptyIsUnset: false,
    expected: "a text value",
    envSyntax: "text",
    decodeFile: (value) => {
      const s = scalarToString(value)
      return s === undefined ? Either.left(`a text value, not ${describeType(value)}`) : Either.right(s)
    },
    decodeEnv: (text) => Either.right(text),
    show: (s) => s
  })

const intExpectation = (min: number | undefined, max: number | undefined): string =>
  min !== undefined && max !== undefined
    ? `an integer from ${min} to ${max}`
    : min !== undefined
      ? `an integer >= ${min}`
      : max !== undefined
        ? `an integer <= ${max}`
        : "an integer"

const intField = (defaultValue: number, options?: { readonly min?: number; readonly max?: number }): FieldSpec<number> => {
  const min = options?.min
  const max = options?.max
  const expected = intExpectation(min, max)
  const check = (n: bigint | undefined): Either.Either<number, string> => {
    if (n === undefined) return Either.left(`${expected} (decimal, or 0x hex / 0o octal / 0b binary)`)
    if ((min !== undefined && n < BigInt(min)) || (max !== undefined && n > BigInt(max))) return Either.left(expected)
    if (n > BigInt(Number.MAX_SAFE_INTEGER) || n < BigInt(Number.MIN_SAFE_INTEGER)) {
      return Either.left(`${expected} (this one is too large)`)
    }
    return Either.right(Number(n))
  }
  return make({
    kind: "int",
    defaultValue,
    expected,
    envSyntax: "integer",
    decodeFile: (value) => {
      if (typeof value === "bigint") return check(value)
      if (typeof value === "number") return Number.isInteger(value) ? check(BigInt(value)) : check(undefined)
      if (typeof value === "string") return check(parseGoInt(value))
      return Either.left(`${expected}, not ${describeType(value)}`)
    },
    decodeEnv: (text) => check(parseGoInt(text)),
    show: (n) => String(n)
  })
}

const BOOL_EXPECTED = "a boolean: true or false (also 1, t, T, TRUE, True, 0, f, F, FALSE, False)"

const boolField = (defaultValue: boolean): FieldSpec<boolean> =>
  make({
    kind: "bool",
    defaultValue,
    expected: "true or false",
    envSyntax: "true/false",
    decodeFile: (value) => {
      if (typeof value === "boolean") return Either.right(value)
      if (value === 0 || value === 0n) return Either.right(false)
      if (value === 1 || value === 1n) return Either.right(true)
      const b = typeof value === "string" ? parseGoBool(value) : undefined
      return b === undefined ? Either.left(BOOL_EXPECTED) : Either.right(b)
    },
    decodeEnv: (text) => {
      const b = parseGoBool(text)
      return b === undefined ? Either.left(BOOL_EXPECTED) : Either.right(b)
    },
    show: (b) => String(b)
  })

const DURATION_EXPECTED = "a duration such as 1s, 500ms, 1m30s or 2h (units ns, us, ms, s, m, h)"

const durationField = (defaultValue: string): FieldSpec<Duration.Duration> => {
  const parse = (text: string): Either.Either<Duration.Duration, string> => {
    const ns = parseGoDuration(text)
    if (ns === undefined) {
      return Either.left(/^[+-]?[0-9.]+$/.test(text) ? `${DURATION_EXPECTED}; a bare number has no unit` : DURATION_EXPECTED)
    }
    if (ns < 0n) return Either.left(`a non-negative ${DURATION_EXPECTED.slice(2)}`)
    return Either.right(Duration.nanos(ns))
  }
  const initial = parse(defaultValue)
  if (Either.isLeft(initial)) throw new Error(`Field.duration: bad default ${JSON.stringify(defaultValue)}`)
  return make({
    kind: "duration",
    defaultValue: initial.right,
    expected: DURATION_EXPECTED,
    envSyntax: "Go duration (1s, 500ms)",
    decodeFile: (value) => {
      if (value === 0 || value === 0n) return Either.right(Duration.zero)
      if (typeof value === "string") return parse(value)
      if (typeof value === "number" || typeof value === "bigint") return Either.left(`${DURATION_EXPECTED}; a bare number has no unit`)
      return Either.left(`${DURATION_EXPECTED}, not ${describeType(value)}`)
    },
    decodeEnv: parse,
    show: (d) => formatGoDuration(Duration.unsafeToNanos(d))
  })
}

export interface ListOptions {
  /**
   * Remove every space before splitting: "env" for the env var only (falcosidekick's CUSTOMTAGS),
   * "always" for file and env (prometheus.extralabels, given as a comma string).
   */
  readonly removeSpaces?: "env" | "always"
}

const listField = (defaultValue: ReadonlyArray<string> = [], options?: ListOptions): FieldSpec<ReadonlyArray<string>> => {
  const split = (text: string, removeSpaces: boolean): ReadonlyArray<string> => {
    const t = removeSpaces ? text.replace(/ /g, "") : text
    return t === "" ? [] : t.split(",")
  }
  const always = options?.removeSpaces === "always"
  return make({
    kind: "list",
    defaultValue,
    expected: "a list of text values, or one comma-separated text",
    envSyntax: options?.removeSpaces !== undefined ? "comma-separated, spaces removed" : "comma-separated (not trimmed)",
    decodeFile: (value) => {
      if (typeof value === "string") return Either.right(split(value, always))
      if (Array.isArray(value)) {
        const out: Array<string> = []
        for (const [i, item] of value.entries()) {
          const s = scalarToString(item)
          if (s === undefined) return Either.left(`a list of text values; item ${i + 1} is ${describeType(item)}`)
          out.push(always ? s.replace(/ /g, "") : s)
        }
        return Either.right(out)
      }
      const s = scalarToString(value)
      return s === undefined ? Either.left(`a list of text values, not ${describeType(value)}`) : Either.right([s])
    },
    decodeEnv: (text) => Either.right(split(text, options?.removeSpaces !== undefined)),
    show: (l) => JSON.stringify(l)
  })
}

export interface MapOptions {
  /** env var syntax (default "pairs") */
  readonly env?: MapEnvFormat
  /**
   * falcosidekick's CUSTOMFIELDS: an env-supplied value `%NAME` is replaced by the env var NAME, which
   * must be set and non-empty. Only for the env var (never for the file), as in falcosidekick.
   */
  readonly expandEnvRefs?: boolean
}

const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/

type StringMap = Readonly<Record<string, string>>

/** `secret` only changes the error texts (they name an item by its key, never its value): see `Field.secretMap`. */
const mapField = (options: MapOptions | undefined, secret: boolean): FieldSpec<StringMap> => {
  const format: MapEnvFormat = options?.env ?? "pairs"
  // a secret map's item is named by its key, or by its position when it has no ":" (then it may be a bare secret)
  const item = (raw: string, index: number): string =>
    !secret ? `item ${JSON.stringify(raw)}` : raw.includes(":") ? `the item with key "${raw.split(":")[0] ?? ""}"` : `item ${index + 1}`
  const expandRef = (key: string, value: string, env: Env): Either.Either<string, string> => {
    if (options?.expandEnvRefs !== true || !value.startsWith("%")) return Either.right(value)
    const name = value.slice(1)
    const resolved = env[name]
    return resolved === undefined || resolved === ""
      ? Either.left(`the env var ${name} referenced by "${key}:%${name}" to be set and non-empty; it is ${resolved === undefined ? "unset" : "empty"}`)
      : Either.right(resolved)
  }
  const decodeEnv = (text: string, env: Env): Either.Either<StringMap, string> => {
    if (format === "json") {
      let parsed: unknown
      try {
        parsed = JSON.parse(text)
      } catch {
        return Either.left(`a JSON object such as {"Authorization":"Bearer xyz"}; this is not valid JSON`)
      }
      return fromObject(parsed, `a JSON object such as {"Authorization":"Bearer xyz"}`)
    }
    const out: Record<string, string> = {}
    for (const [index, raw] of text.split(",").entries()) {
      if (raw.trim() === "") return Either.left(`comma-separated key:value pairs; found an empty item (stray comma?)`)
      if (format === "pairs") {
        const parts = raw.split(":")
        if (parts.length !== 2) {
          return Either.left(
            `comma-separated key:value pairs; ${item(raw, index)} has ${parts.length} part${parts.length === 1 ? "" : "s"} when split on ":"` +
              (parts.length > 2 ? ` (values containing ":" or "," cannot be given through the env var; use the config file)` : "")
          )
        }
        const [k = "", v = ""] = parts
        if (k === "") return Either.left(`comma-separated key:value pairs; ${item(raw, index)} has an empty key`)
        const value = expandRef(k, v, env)
        if (Either.isLeft(value)) return Either.left(value.left)
        out[k] = value.right
      } else {
        const at = raw.indexOf(":")
        const k = (at < 0 ? raw : raw.slice(0, at)).trim()
        const v = at < 0 ? "" : raw.slice(at + 1).trim()
        if (!LABEL_NAME.test(k)) {
          const name = secret && at < 0 ? "an invalid name" : `name ${JSON.stringify(k)}`
          return Either.left(`comma-separated name:value pairs with names matching ^[a-zA-Z_][a-zA-Z0-9_]*$; ${item(raw, index)} has ${name}`)
        }
        out[k] = v
      }
    }
    return Either.right(out)
  }
  const fromObject = (value: unknown, expected: string): Either.Either<StringMap, string> => {
    if (!isRecord(value)) return Either.left(`${expected}, not ${describeType(value)}`)
    const out: Record<string, string> = {}
    for (const [k, v] of Object.entries(value)) {
      const s = scalarToString(v)
      if (s === undefined) return Either.left(`${expected}; key ${JSON.stringify(k)} holds ${describeType(v)}, not a plain value`)
      out[k] = s
    }
    return Either.right(out)
  }
  return make<StringMap>({
    kind: "map",
    defaultValue: {},
    secret,
    ...(format === "json" ? {} : { mergeEnv: (fileValue, envValue) => ({ ...fileValue, ...envValue }) }),
    expected: "a mapping of names to values",
    envSyntax: format === "json" ? `JSON object {"k":"v"}` : format === "cut" ? "k:v,k2:v2 (cut at first :, trimmed)" : "k:v,k2:v2",
    decodeFile: (value) => {
      if (format === "json" && typeof value === "string") {
        let parsed: unknown
        try {
          parsed = JSON.parse(value)
        } catch {
          return Either.left("a mapping of names to values (or a JSON object string); this is not valid JSON")
        }
        return fromObject(parsed, "a mapping of names to values")
      }
      return fromObject(value, "a mapping of names to values")
    },
    decodeEnv,
    show: (m) => JSON.stringify(m)
  })
}

const literalField = <L extends string>(
  values: ReadonlyArray<L>,
  defaultValue: L,
  options?: { readonly caseInsensitive?: boolean }
): FieldSpec<L> => {
  const expected = `one of ${values.join(", ")}`
  const parse = (text: string): Either.Either<L, string> => {
    const found =
      options?.caseInsensitive === true ? values.find((v) => v.toLowerCase() === text.toLowerCase()) : values.find((v) => v === text)
    return found === undefined ? Either.left(expected) : Either.right(found)
  }
  return make({
    kind: "literal",
    defaultValue,
    expected,
    envSyntax: values.join(" | "),
    decodeFile: (value) => {
      const s = scalarToString(value)
      return s === undefined ? Either.left(`${expected}, not ${describeType(value)}`) : parse(s)
    },
    decodeEnv: parse,
    show: (l) => l
  })
}

const minimumPriorityField = (): FieldSpec<string> => ({
  ...stringField(""),
  kind: "minimumPriority",
  expected: "a priority: emergency, alert, critical, error, warning, notice, informational, debug (\"\" = all)",
  envSyntax: "priority name"
})

/** The env value merged over the file value when `field` merges, else the env value. */
export const mergeOver = <A>(field: FieldSpec<A>, fileValue: A, envValue: A): A =>
  field.mergeEnv === undefined ? envValue : field.mergeEnv(fileValue, envValue)

/**
 * `inner`'s decoding, errors and env merge, with the value wrapped in a `Redacted`. `show` gives
 * `<redacted>` for a set value, and `inner`'s text (`""`, `{}`) for an empty one.
 */
const redactedField = <A>(inner: FieldSpec<A>, isEmpty: (value: A) => boolean): FieldSpec<Redacted.Redacted<A>> =>
  make<Redacted.Redacted<A>>({
    kind: inner.kind,
    defaultValue: Redacted.make(inner.defaultValue),
    secret: true,
    emptyIsUnset: inner.emptyIsUnset,
    expected: inner.expected,
    envSyntax: inner.envSyntax,
    decodeFile: (value) => Either.map(inner.decodeFile(value), Redacted.make),
    decodeEnv: (text, env) => Either.map(inner.decodeEnv(text, env), Redacted.make),
    ...(inner.mergeEnv === undefined
      ? {}
      : { mergeEnv: (fileValue, envValue) => Redacted.make(mergeOver(inner, Redacted.value(fileValue), Redacted.value(envValue))) }),
    show: (r) => {
      const value = Redacted.value(r)
      return isEmpty(value) ? inner.show(value) : REDACTED
    }
  })

const secretField = (defaultValue = ""): FieldSpec<Redacted.Redacted<string>> =>
  redactedField(stringField(defaultValue), (s) => s === "")

const secretMapField = (options?: MapOptions): FieldSpec<Redacted.Redacted<StringMap>> =>
  redactedField(mapField(options, true), (m) => Object.keys(m).length === 0)

/**
 * `field`, or `undefined` when neither the file nor the env var sets the key (`field`'s own default is
 * not used). A set value is decoded by `field`, with its errors and `expected` text.
 */
const optionalField = <A>(field: FieldSpec<A>): FieldSpec<A | undefined> =>
  make<A | undefined>({
    kind: field.kind,
    defaultValue: undefined,
    secret: field.secret,
    emptyIsUnset: field.emptyIsUnset,
    expected: field.expected,
    envSyntax: field.envSyntax,
    decodeFile: field.decodeFile,
    decodeEnv: field.decodeEnv,
    ...(field.mergeEnv === undefined
      ? {}
      : {
          mergeEnv: (fileValue, envValue) =>
            fileValue === undefined || envValue === undefined ? (envValue ?? fileValue) : mergeOver(field, fileValue, envValue)
        }),
    show: (value) => (value === undefined ? "" : field.show(value))
  })

/** The fields of a group, each made optional. */
export type OptionalFields<F extends Fields> = {
  readonly [K in keyof F]: F[K] extends FieldSpec<infer A> ? FieldSpec<A | undefined>
    : F[K] extends Fields ? OptionalFields<F[K]>
    : never
}

const optionalGroup = <F extends Fields>(fields: F): OptionalFields<F> =>
  Object.fromEntries(
    Object.entries(fields).map(([name, member]) => [name, isField(member) ? optionalField(member) : optionalGroup(member)])
  ) as OptionalFields<F>

/** Field constructors. Defaults follow falcosidekick where the key exists there. */
export const Field = {
  /** text; YAML scalars are stringified the Go way (1 -> "1", true -> "1") */
  string: stringField,
  /**
   * a credential (URL with a token, API key, password): decoded like `string`, into a `Redacted`; shown
   * as `<redacted>` in errors and `describeConfig`. Read it with `Redacted.value(...)`.
   */
  secret: secretField,
  /** strconv.ParseInt(s, 0, 64) syntax (`0x10`, `0o17`, `1_000`); optional inclusive bounds */
  int: intField,
  /** strconv.ParseBool syntax */
  bool: boolField,
  /** time.ParseDuration syntax; negative durations are refused */
  duration: durationField,
  /** YAML list, or a comma-separated string (file or env), split on "," without trimming */
  list: listField,
  /** YAML mapping (keys keep their case); env syntax per `options.env` */
  map: (options?: MapOptions): FieldSpec<StringMap> => mapField(options, false),
  /**
   * a map of credentials (auth headers): decoded like `map`, into a `Redacted`; errors name an item by
   * its key, never its value. Read it with `Redacted.value(...)`.
   */
  secretMap: secretMapField,
  /** one of fixed values */
  literal: literalField,
  /** kept raw; outputs turn it into a rank with `minimumPriorityRank` */
  minimumPriority: minimumPriorityField,
  /** `undefined` unless the file or the env var sets the key, for settings that fall back to another one */
  optional: optionalField,
  /** every field of a group optional: overrides of a group declared elsewhere (`<output>.delivery.*` over `delivery.*`) */
  optionalGroup
} as const

// ---------------------------------------------------------------------------------------------------------------------

/** One declared key of a section. */
export interface KeyInfo {
  /** dotted lower-case key: "elasticsearch.batching.flushinterval" */
  readonly key: string
  /** "ELASTICSEARCH_BATCHING_FLUSHINTERVAL" */
  readonly envVar: string
  /** lower-case YAML path: ["elasticsearch", "batching", "flushinterval"] */
  readonly segments: ReadonlyArray<string>
  /** property path inside the decoded section value, as declared: ["batching", "flushinterval"] */
  readonly property: ReadonlyArray<string>
  readonly field: AnyField
}

/** A declared config section. `Type` is phantom (like Schema's): use `typeof XConfig.Type`. */
export interface Section<A> {
  readonly Type: A
  /** dotted path ("webhook", "aws.sqs"); "" for top-level keys */
  readonly path: string
  readonly fields: Fields
  /** every leaf key, in declaration order */
  readonly keys: ReadonlyArray<KeyInfo>
}

/** A section of any decoded type. */
export type AnySection = Section<unknown>

export const envVarOf = (key: string): string => key.toUpperCase().replace(/\./g, "_")

/** Declare a section. Field names are matched case-insensitively in YAML; they may not contain "." or repeat ignoring case. */
export const section = <F extends Fields>(path: string, fields: F): Section<Decoded<F>> => {
  const prefix = path === "" ? [] : path.toLowerCase().split(".")
  if (prefix.some((s) => s === "")) throw new Error(`section: bad path ${JSON.stringify(path)}`)
  const keys: Array<KeyInfo> = []
  const walk = (group: Fields, property: ReadonlyArray<string>) => {
    const seen = new Set<string>()
    for (const [name, member] of Object.entries(group)) {
      const lower = name.toLowerCase()
      if (name === "" || name.includes(".") || seen.has(lower)) {
        throw new Error(`section ${JSON.stringify(path)}: bad or duplicate field name ${JSON.stringify(name)}`)
      }
      seen.add(lower)
      const here = [...property, name]
      if (isField(member)) {
        const segments = [...prefix, ...here.map((s) => s.toLowerCase())]
        const key = segments.join(".")
        keys.push({ key, envVar: envVarOf(key), segments, property: here, field: member })
      } else {
        walk(member, here)
      }
    }
  }
  walk(fields, [])
  return { Type: undefined as unknown as Decoded<F>, path, fields, keys }
}

export const redact = (field: AnyField, text: string): string => (field.secret ? REDACTED : text)
