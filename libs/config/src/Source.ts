/**
 * Where configuration comes from: the command line (which file), the YAML file, the environment.
 */
import { readFile } from "node:fs/promises"
import { Effect, Either } from "effect"
import { isMap, isScalar, isSeq, LineCounter, parseDocument } from "yaml"
import { ConfigLoadError } from "./ConfigError.js"
import type { Env } from "./Field.js"

/** What the command line asks for. */
export type Action = "run" | "version" | "help"

/** Everything configuration is read from. Build it with `loadSource`, or `makeSource` / `sourceFromYaml` in tests. */
export interface ConfigSource {
  /** the parsed YAML file (keys as written; matched case-insensitively), `{}` without a file */
  readonly tree: Readonly<Record<string, unknown>>
  readonly env: Env
  /** path of the config file, when one was given */
  readonly file?: string
  /** `run` unless `-v`/`--version` or `--help` was given (then no file is read) */
  readonly action: Action
}

export const makeSource = (options: {
  readonly tree?: Readonly<Record<string, unknown>>
  readonly env?: Env
  readonly file?: string
  readonly action?: Action
}): ConfigSource => ({
  tree: options.tree ?? {},
  env: options.env ?? {},
  action: options.action ?? "run",
  ...(options.file === undefined ? {} : { file: options.file })
})

export const usage = `usage: sidekick [<flags>]

Forwards Falco events to many outputs. Configured by a YAML file and/or env vars (env wins).

Flags:
      --help                 Show this help.
  -c, --config-file=FILE     Configuration file (YAML). Aliases: --config FILE, --config=FILE.
  -v, --version              Print version and exit.
`

export interface ParsedArgs {
  readonly action: Action
  readonly configFile?: string
}

/**
 * Parse the command line (arguments after the program name): `-c FILE`, `-cFILE`, `--config FILE`,
 * `--config=FILE`, `--config-file FILE`, `--config-file=FILE`, `-v`/`--version`, `--help`
 * (also `-h`, `--help-long`, `--help-man`). Anything else is an error naming it.
 */
export const parseArgs = (argv: ReadonlyArray<string>): Either.Either<ParsedArgs, ConfigLoadError> => {
  let configFile: string | undefined
  let action: Action = "run"
  const fail = (message: string) => Either.left(new ConfigLoadError({ message: `${message} (try --help)` }))
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    let value: string | undefined
    let flag = arg
    if (arg.startsWith("--") && arg.includes("=")) {
      flag = arg.slice(0, arg.indexOf("="))
      value = arg.slice(arg.indexOf("=") + 1)
    } else if (arg.startsWith("-c") && arg.length > 2 && !arg.startsWith("--")) {
      flag = "-c"
      value = arg.slice(2)
    }
    switch (flag) {
      case "-c":
      case "--config":
      case "--config-file": {
        if (value === undefined) {
          const next = argv[i + 1]
          if (next === undefined || (next.startsWith("-") && next !== "-")) return fail(`flag ${flag} needs a file path`)
          value = next
          i++
        }
        if (value === "") return fail(`flag ${flag} needs a file path`)
        if (configFile !== undefined) return fail(`the config file is given twice ("${configFile}" and "${value}")`)
        configFile = value
        break
      }
      case "-v":
      case "--version":
        if (value !== undefined) return fail(`flag ${flag} takes no value`)
        if (action === "run") action = "version"
        break
      case "-h":
      case "--help":
      case "--help-long":
      case "--help-man":
        if (value !== undefined) return fail(`flag ${flag} takes no value`)
        action = "help"
        break
      default:
        return arg.startsWith("-") ? fail(`unknown flag ${flag}`) : fail(`unexpected argument ${JSON.stringify(arg)}`)
    }
  }
  return Either.right(configFile === undefined ? { action } : { action, configFile })
}

const kindOf = (node: unknown): string => (isSeq(node) ? "a list" : isScalar(node) ? "a single value" : "something else")

/** Parse YAML text into a source. `file` only names the text in error messages. */
export const sourceFromYaml = (
  text: string,
  options: { readonly env?: Env; readonly file?: string; readonly action?: Action } = {}
): Either.Either<ConfigSource, ConfigLoadError> => {
  const name = options.file ?? "(config text)"
  const lineCounter = new LineCounter()
  const doc = parseDocument(text, { intAsBigInt: true, uniqueKeys: true, prettyErrors: false, lineCounter })
  const problem = doc.errors[0]
  if (problem !== undefined) {
    const pos = lineCounter.linePos(problem.pos[0])
    const reason = problem.message.split("\n")[0] ?? problem.message
    return Either.left(
      new ConfigLoadError({
        message: `invalid YAML in config file ${name} at line ${pos.line}, column ${pos.col}: ${reason}`,
        ...(options.file === undefined ? {} : { file: options.file })
      })
    )
  }
  let tree: Readonly<Record<string, unknown>> = {}
  if (doc.contents !== null && !(isScalar(doc.contents) && doc.contents.value === null)) {
    if (!isMap(doc.contents)) {
      return Either.left(
        new ConfigLoadError({
          message: `config file ${name} must be a mapping of keys (like "listenport: 2801") at the top level, not ${kindOf(doc.contents)}`,
          ...(options.file === undefined ? {} : { file: options.file })
        })
      )
    }
    let converted: unknown
    try {
      converted = doc.toJS({ maxAliasCount: 1000 })
    } catch (e) {
      return Either.left(
        new ConfigLoadError({
          message: `invalid YAML in config file ${name}: ${e instanceof Error ? e.message : String(e)}`,
          ...(options.file === undefined ? {} : { file: options.file })
        })
      )
    }
    tree = converted as Record<string, unknown>
  }
  return Either.right(
    makeSource({
      tree,
      env: options.env ?? {},
      action: options.action ?? "run",
      ...(options.file === undefined ? {} : { file: options.file })
    })
  )
}

const describeFsError = (e: unknown): string => {
  const code = typeof e === "object" && e !== null && "code" in e ? String((e as { code: unknown }).code) : undefined
  switch (code) {
    case "ENOENT":
      return "no such file"
    case "EACCES":
    case "EPERM":
      return "permission denied"
    case "EISDIR":
      return "it is a directory"
    default:
      return e instanceof Error ? e.message : String(e)
  }
}

/**
 * Read the command line and the config file it names. `argv` is the arguments after the program
 * name (`process.argv.slice(2)`). `-v`/`--help` skip reading the file.
 */
export const loadSource = (options: { readonly argv: ReadonlyArray<string>; readonly env: Env }): Effect.Effect<ConfigSource, ConfigLoadError> =>
  Effect.gen(function* () {
    const args = yield* parseArgs(options.argv)
    if (args.configFile === undefined || args.action !== "run") {
      return makeSource({ env: options.env, action: args.action })
    }
    const file = args.configFile
    const text = yield* Effect.tryPromise({
      try: () => readFile(file, "utf8"),
      catch: (e) => new ConfigLoadError({ message: `cannot read config file ${file}: ${describeFsError(e)}`, file })
    })
    return yield* sourceFromYaml(text, { env: options.env, file })
  })
