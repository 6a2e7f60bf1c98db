import { describe, expect, it } from "@effect/vitest"
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect, Either, Redacted } from "effect"
import { ConfigLoadError, Field, loadSource, makeSource, parseArgs, readSection, section, sourceFromYaml, unknownKeys } from "../src/index.js"

const dir = mkdtempSync(join(tmpdir(), "sidekick-config-"))
const write = (name: string, text: string): string => {
  const path = join(dir, name)
  writeFileSync(path, text)
  return path
}

const argsError = (argv: Array<string>): string => {
  const r = parseArgs(argv)
  if (Either.isRight(r)) throw new Error("expected an error")
  return r.left.message
}

describe("command line", () => {
  it("accepts every config-file spelling", () => {
    for (const argv of [
      ["-c", "a.yaml"],
      ["-ca.yaml"],
      ["--config", "a.yaml"],
      ["--config=a.yaml"],
      ["--config-file", "a.yaml"],
      ["--config-file=a.yaml"]
    ]) {
      expect(Either.getOrThrow(parseArgs(argv)), argv.join(" ")).toEqual({ action: "run", configFile: "a.yaml" })
    }
    expect(Either.getOrThrow(parseArgs([]))).toEqual({ action: "run" })
  })

  it("version and help", () => {
    expect(Either.getOrThrow(parseArgs(["-v"])).action).toBe("version")
    expect(Either.getOrThrow(parseArgs(["--version"])).action).toBe("version")
    expect(Either.getOrThrow(parseArgs(["--help"])).action).toBe("help")
    expect(Either.getOrThrow(parseArgs(["-v", "--help"])).action).toBe("help")
  })

  it("errors name the flag or argument", () => {
    expect(argsError(["--port", "1"])).toBe("unknown flag --port (try --help)")
    expect(argsError(["--bogus=1"])).toBe("unknown flag --bogus (try --help)")
    expect(argsError(["config.yaml"])).toBe(`unexpected argument "config.yaml" (try --help)`)
    expect(argsError(["-c"])).toBe("flag -c needs a file path (try --help)")
    expect(argsError(["--config", "-v"])).toBe("flag --config needs a file path (try --help)")
    expect(argsError(["--config="])).toBe("flag --config needs a file path (try --help)")
    expect(argsError(["-c", "a", "-c", "b"])).toBe(`the config file is given twice ("a" and "b") (try --help)`)
    expect(argsError(["--version=1"])).toBe("flag --version takes no value (try --help)")
  })
})

describe("loadSource", () => {
  const S = section("slack", { webhookurl: Field.secret(""), footer: Field.string("x") })

  it.effect("reads the YAML file and keeps env", () =>
    Effect.gen(function* () {
      const file = write("ok.yaml", "slack:\n  WebhookURL: https://hooks\n  footer: f\n")
      const source = yield* loadSource({ argv: ["--config-file", file], env: { SLACK_FOOTER: "e" } })
      expect(source.file).toBe(file)
      expect(source.action).toBe("run")
      const c = yield* readSection(source, S)
      expect({ ...c, webhookurl: Redacted.value(c.webhookurl) }).toEqual({ webhookurl: "https://hooks", footer: "e" })
    })
  )

  it.effect("no file: empty tree, env only", () =>
    Effect.gen(function* () {
      const source = yield* loadSource({ argv: [], env: { SLACK_WEBHOOKURL: "https://h" } })
      expect(source.tree).toEqual({})
      expect(source.file).toBeUndefined()
      expect(Redacted.value((yield* readSection(source, S)).webhookurl)).toBe("https://h")
    })
  )

  it.effect("an empty or comment-only file is an empty config", () =>
    Effect.gen(function* () {
      const source = yield* loadSource({ argv: ["-c", write("empty.yaml", "# nothing\n")], env: {} })
      expect(source.tree).toEqual({})
    })
  )

  it.effect("-v / --help do not read the file", () =>
    Effect.gen(function* () {
      const source = yield* loadSource({ argv: ["-c", join(dir, "missing.yaml"), "-v"], env: {} })
      expect(source.action).toBe("version")
    })
  )

  it.effect("missing file: names the file", () =>
    Effect.gen(function* () {
      const missing = join(dir, "nope.yaml")
      const e = yield* Effect.flip(loadSource({ argv: ["-c", missing], env: {} }))
      expect(e).toBeInstanceOf(ConfigLoadError)
      expect(e.message).toBe(`cannot read config file ${missing}: no such file`)
      expect(e.file).toBe(missing)
    })
  )

  it.effect("a directory: names the file", () =>
    Effect.gen(function* () {
      const e = yield* Effect.flip(loadSource({ argv: ["-c", dir], env: {} }))
      expect(e.message).toBe(`cannot read config file ${dir}: it is a directory`)
    })
  )

  it.effect("invalid YAML: names the file, line and column", () =>
    Effect.gen(function* () {
      const file = write("bad.yaml", "slack:\n  footer: [unclosed\nlistenport: 1\n")
      const e = yield* Effect.flip(loadSource({ argv: ["-c", file], env: {} }))
      expect(e.message).toMatch(new RegExp(`^invalid YAML in config file ${file.replace(/[.]/g, "\\.")} at line \\d+, column \\d+: .+`))
      expect(e.message).not.toContain("\n")
    })
  )

  it.effect("duplicate keys are a YAML error with position", () =>
    Effect.gen(function* () {
      const file = write("dup.yaml", "debug: true\ndebug: false\n")
      const e = yield* Effect.flip(loadSource({ argv: ["-c", file], env: {} }))
      expect(e.message).toBe(`invalid YAML in config file ${file} at line 2, column 1: Map keys must be unique`)
    })
  )

  it.effect("a top-level list is refused", () =>
    Effect.gen(function* () {
      const file = write("list.yaml", "- a\n- b\n")
      const e = yield* Effect.flip(loadSource({ argv: ["-c", file], env: {} }))
      expect(e.message).toBe(`config file ${file} must be a mapping of keys (like "listenport: 2801") at the top level, not a list`)
    })
  )

  it("a JSON file parses too (YAML is a superset)", () => {
    const s = Either.getOrThrow(sourceFromYaml(`{"slack": {"footer": "j"}}`))
    expect(s.tree).toEqual({ slack: { footer: "j" } })
  })
})

describe("unknownKeys", () => {
  const Webhook = section("webhook", { address: Field.string(), customheaders: Field.map(), batching: { enabled: Field.bool(false) } })
  const Sqs = section("aws.sqs", { url: Field.string() })
  const Root = section("", { debug: Field.bool(false), customtags: Field.list() })

  it("reports top-level and nested typos as written; ignores contents of maps and lists", () => {
    const source = Either.getOrThrow(
      sourceFromYaml(
        [
          "Debug: true",
          "customtags: [a]",
          "slak:",
          "  webhookurl: x",
          "webhook:",
          "  adress: x",
          "  customheaders: {Anything: goes}",
          "  Batching: {enabled: true, size: 3}",
          "aws:",
          "  sqs: {url: u}",
          "  sns: {topicarn: t}"
        ].join("\n")
      )
    )
    expect(unknownKeys(source, [Root, Webhook, Sqs])).toEqual(["slak", "webhook.adress", "webhook.Batching.size", "aws.sns"])
  })

  it("empty when everything is declared", () => {
    expect(unknownKeys(makeSource({ tree: { webhook: { address: "x" } } }), [Webhook])).toEqual([])
  })
})
