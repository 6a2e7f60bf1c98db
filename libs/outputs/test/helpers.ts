import { type ConfigError, makeSource, readSectionEither, type Section } from "@sidekick/config"
import { HttpTransport, type Output, type TlsFiles } from "@sidekick/delivery"
import { Effect, Either } from "effect"
import { type CommonConfig, GlobalFieldKeys, type GlobalFieldKeysShape, type OutputDefinition } from "../src/index.js"

/** `tree` placed at a dotted section path: "otlp.traces" -> { otlp: { traces: tree } } */
const nestAt = (path: string, tree: Readonly<Record<string, unknown>>): Record<string, unknown> =>
  path.split(".").reduceRight<Record<string, unknown>>((inner, key) => ({ [key]: inner }), tree)

/** decode a section from a YAML-like tree (the section's own keys) and env vars */
export const decode = <A>(
  section: Section<A>,
  tree: Readonly<Record<string, unknown>>,
  env: Readonly<Record<string, string>> = {}
): Either.Either<A, ConfigError> => readSectionEither(makeSource({ tree: nestAt(section.path, tree), env }), section)

export const config = <A>(
  section: Section<A>,
  tree: Readonly<Record<string, unknown>>,
  env: Readonly<Record<string, string>> = {}
): A => Either.getOrThrowWith(decode(section, tree, env), (e) => new Error(e.message))

/** build an output with the real HTTP transport (scoped) */
export const start = <C extends CommonConfig>(
  definition: OutputDefinition<C>,
  c: C,
  options: StartOptions = {}
) =>
  definition.make(c).pipe(
    Effect.provide(HttpTransport.layer(options.tls)),
    Effect.provide(GlobalFieldKeys.layer(options.keys ?? { customFields: [], templatedFields: [] }))
  )

type StartOptions = { readonly keys?: GlobalFieldKeysShape; readonly tls?: TlsFiles }

const kind = <K extends Output["kind"]>(k: K) => (output: Output): Extract<Output, { kind: K }> => {
  if (output.kind !== k) throw new Error(`${output.name} is a ${output.kind} output, not ${k}`)
  return output as Extract<Output, { kind: K }>
}

/** build an output that must send one event per request */
export const startSingle = <C extends CommonConfig>(definition: OutputDefinition<C>, c: C, options: StartOptions = {}) =>
  Effect.map(start(definition, c, options), kind("single"))

/** build an output that must send batches */
export const startBatch = <C extends CommonConfig>(definition: OutputDefinition<C>, c: C, options: StartOptions = {}) =>
  Effect.map(start(definition, c, options), kind("batch"))

/** the headers every falcosidekick HTTP output sends */
export const jsonHeaders = { "content-type": "application/json; charset=utf-8", "user-agent": "Falcosidekick" }
