import { type ConfigError, makeSource, readSectionEither, type Section } from "@sidekick/config"
import { HttpTransport, type OutputDefinition, type TlsFiles } from "@sidekick/delivery"
import { Effect, Either } from "effect"
import { GlobalFieldKeys, type GlobalFieldKeysShape } from "../src/index.js"

/** decode a section from a YAML-like tree (the section's own keys) and env vars */
export const decode = <A>(
  section: Section<A>,
  tree: Readonly<Record<string, unknown>>,
  env: Readonly<Record<string, string>> = {}
): Either.Either<A, ConfigError> => readSectionEither(makeSource({ tree: { [section.path]: tree }, env }), section)

export const config = <A>(
  section: Section<A>,
  tree: Readonly<Record<string, unknown>>,
  env: Readonly<Record<string, string>> = {}
): A => Either.getOrThrowWith(decode(section, tree, env), (e) => new Error(e.message))

/** build an output with the real HTTP transport (scoped) */
export const start = <C>(
  definition: OutputDefinition<C, HttpTransport | GlobalFieldKeys>,
  c: C,
  options: { readonly keys?: GlobalFieldKeysShape; readonly tls?: TlsFiles } = {}
) =>
  definition.make(c).pipe(
    Effect.provide(HttpTransport.layer(options.tls)),
    Effect.provide(GlobalFieldKeys.layer(options.keys ?? { customFields: [], templatedFields: [] }))
  )

/** the headers every falcosidekick HTTP output sends */
export const jsonHeaders = { "content-type": "application/json; charset=utf-8", "user-agent": "Falcosidekick" }
