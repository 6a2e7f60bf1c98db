/**
 * Reading declared sections from a source: per key, non-empty env > file > default.
 */
import { Effect, Either } from "effect"
import { ConfigError, REDACTED, showRaw } from "./ConfigError.js"
import { type AnySection, isRecord, type KeyInfo, mergeOver, redact, type Section } from "./Field.js"
import type { ConfigSource } from "./Source.js"

export type Origin = "default" | "file" | "env"

type Lookup = { readonly found: false } | { readonly found: true; readonly value: unknown }

const fileError = (source: ConfigSource, key: string, envVar: string, value: string, expected: string): ConfigError =>
  new ConfigError({ key, envVar, origin: "file", value, expected, ...(source.file === undefined ? {} : { file: source.file }) })

/** Find a key in the YAML tree, matching names case-insensitively (viper lowercases YAML keys). */
const lookup = (source: ConfigSource, info: KeyInfo): Either.Either<Lookup, ConfigError> => {
  let node: unknown = source.tree
  for (const [depth, segment] of info.segments.entries()) {
    const here = info.segments.slice(0, depth + 1).join(".")
    if (node === null || node === undefined) return Either.right({ found: false })
    if (!isRecord(node)) {
      const parent = info.segments.slice(0, depth).join(".")
      return Either.left(fileError(source, parent, "", showRaw(node), `a mapping of keys under "${parent}"`))
    }
    const matches = Object.keys(node).filter((k) => k.toLowerCase() === segment)
    if (matches.length > 1) {
      return Either.left(
        fileError(
          source,
          here,
          depth === info.segments.length - 1 ? info.envVar : "",
          matches.join(", "),
          `the key once; it appears ${matches.length} times with different letter case (${matches.join(", ")})`
        )
      )
    }
    const name = matches[0]
    if (name === undefined) return Either.right({ found: false })
    node = node[name]
  }
  return Either.right({ found: true, value: node })
}

interface Resolved {
  readonly value: unknown
  readonly origin: Origin
}

/** The decoded value of one key and where it came from. */
const resolveKey = (source: ConfigSource, info: KeyInfo): Either.Either<Resolved, ConfigError> => {
  const { field, key, envVar } = info
  const envText = source.env[envVar]
  const envSet = envText !== undefined && envText !== ""

  let fromFile: Resolved | undefined
  if (!envSet || field.mergeEnv !== undefined) {
    const found = lookup(source, info)
    if (Either.isLeft(found)) return Either.left(found.left)
    const raw = found.right.found ? found.right.value : undefined
    const unset = raw === undefined || raw === null || (raw === "" && field.emptyIsUnset)
    if (!unset) {
      const decoded = field.decodeFile(raw)
      if (Either.isLeft(decoded)) return Either.left(fileError(source, key, envVar, redact(field, showRaw(raw)), decoded.left))
      fromFile = { value: decoded.right, origin: "file" }
    }
  }

  if (envSet) {
    const decoded = field.decodeEnv(envText, source.env)
    if (Either.isLeft(decoded)) {
      return Either.left(new ConfigError({ key, envVar, origin: "env", value: redact(field, showRaw(envText)), expected: decoded.left }))
    }
    const value = fromFile === undefined ? decoded.right : mergeOver(field, fromFile.value, decoded.right)
    return Either.right({ value, origin: "env" })
  }
  return Either.right(fromFile ?? { value: field.defaultValue, origin: "default" })
}

const assemble = <A>(section: Section<A>, values: ReadonlyArray<unknown>): A => {
  const out: Record<string, unknown> = {}
  section.keys.forEach((info, i) => {
    let target = out
    for (const p of info.property.slice(0, -1)) {
      target = (target[p] ??= {}) as Record<string, unknown>
    }
    target[info.property[info.property.length - 1]!] = values[i]
  })
  return out as A
}

/** Decode a section, or fail with the first invalid key (in declaration order). */
export const readSectionEither = <A>(source: ConfigSource, section: Section<A>): Either.Either<A, ConfigError> => {
  const values: Array<unknown> = []
  for (const info of section.keys) {
    const r = resolveKey(source, info)
    if (Either.isLeft(r)) return Either.left(r.left)
    values.push(r.right.value)
  }
  return Either.right(assemble(section, values))
}

/** Decode a section: per key, non-empty env var > file > default. */
export const readSection = <A>(source: ConfigSource, section: Section<A>): Effect.Effect<A, ConfigError> =>
  Effect.suspend(() => readSectionEither(source, section))

/** Every invalid key of these sections (not just the first), so startup can report them all at once. */
export const checkSections = (source: ConfigSource, sections: ReadonlyArray<AnySection>): ReadonlyArray<ConfigError> => {
  const errors: Array<ConfigError> = []
  const seen = new Set<string>()
  for (const s of sections) {
    for (const info of s.keys) {
      const r = resolveKey(source, info)
      if (Either.isLeft(r)) {
        const id = r.left.message
        if (!seen.has(id)) errors.push(r.left)
        seen.add(id)
      }
    }
  }
  return errors
}

/** One line of `describeConfig`. */
export interface ConfigEntry {
  readonly key: string
  readonly envVar: string
  /** the effective value as text; `<redacted>` for secrets that are set */
  readonly value: string
  readonly origin: Origin
  readonly secret: boolean
  /** set when the value is invalid (then `value` is the raw text, redacted if secret) */
  readonly error?: string
}

/** The effective value and origin of every key of these sections, for a startup debug line or docs. */
export const describeConfig = (source: ConfigSource, sections: ReadonlyArray<AnySection>): ReadonlyArray<ConfigEntry> =>
  sections.flatMap((s) =>
    s.keys.map((info): ConfigEntry => {
      const { field, key, envVar } = info
      const r = resolveKey(source, info)
      if (Either.isLeft(r)) {
        return { key, envVar, value: r.left.value, origin: r.left.origin, secret: field.secret, error: r.left.message }
      }
      const text = field.show(r.right.value)
      // secrets' `show` already redacts; this also covers a secret field built by hand
      const value = field.secret && text !== "" && text !== "{}" ? REDACTED : text
      return { key, envVar, value, origin: r.right.origin, secret: field.secret }
    })
  )

interface Trie {
  readonly children: Map<string, Trie>
  leaf: boolean
}

/**
 * YAML keys (top-level and nested, dotted, as written) that no given section declares, so the app can
 * warn about typos and outputs we do not implement. The content of map- and list-typed keys is not checked.
 */
export const unknownKeys = (source: ConfigSource, sections: ReadonlyArray<AnySection>): ReadonlyArray<string> => {
  const root: Trie = { children: new Map(), leaf: false }
  for (const s of sections) {
    for (const info of s.keys) {
      let node = root
      for (const seg of info.segments) {
        let next = node.children.get(seg)
        if (next === undefined) {
          next = { children: new Map(), leaf: false }
          node.children.set(seg, next)
        }
        node = next
      }
      node.leaf = true
    }
  }
  const out: Array<string> = []
  const walk = (tree: Record<string, unknown>, node: Trie, prefix: string) => {
    for (const [name, value] of Object.entries(tree)) {
      const path = prefix === "" ? name : `${prefix}.${name}`
      const child = node.children.get(name.toLowerCase())
      if (child === undefined) out.push(path)
      else if (!child.leaf && isRecord(value)) walk(value, child, path)
    }
  }
  walk(source.tree as Record<string, unknown>, root, "")
  return out
}
