import { Either } from "effect"
import { type ConfigError, type ConfigSource, readSectionEither, type Section, sourceFromYaml } from "../src/index.js"

/** a source from YAML text (as if read from /etc/sk.yaml) and an environment */
export const yaml = (text: string, env: Record<string, string> = {}): ConfigSource =>
  Either.getOrThrow(sourceFromYaml(text, { env, file: "/etc/sk.yaml" }))

/** the decoded section; throws on a ConfigError */
export const read = <A>(source: ConfigSource, s: Section<A>): A => Either.getOrThrow(readSectionEither(source, s))

/** the ConfigError; throws when the section decodes */
export const failure = <A>(source: ConfigSource, s: Section<A>): ConfigError => {
  const r = readSectionEither(source, s)
  if (Either.isRight(r)) throw new Error(`expected a ConfigError, got ${JSON.stringify(r.right)}`)
  return r.left
}
