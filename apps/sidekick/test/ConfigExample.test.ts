/** config.example.yaml documents every key with its default: it must stay in step with the code. */
import { describe, expect, it } from "@effect/vitest"
import { describeConfig, sourceFromYaml } from "@sidekick/config"
import { Effect, Either } from "effect"
import { readFileSync } from "node:fs"
import { allSections, readAppConfig } from "../src/AppConfig.js"

const file = new URL("../../../config.example.yaml", import.meta.url).pathname
const source = Either.getOrThrow(sourceFromYaml(readFileSync(file, "utf8"), { file }))

describe("config.example.yaml", () => {
  it.effect("loads, names no unknown key and enables no output", () =>
    Effect.gen(function*() {
      const config = yield* readAppConfig(source)
      expect(config.unknownKeys).toEqual([])
      expect(config.outputs).toEqual([])
    }))

  it("lists every key, each with its default value", () => {
    const entries = describeConfig(source, allSections)
    const missing = entries.filter((e) => e.origin !== "file").map((e) => e.key)
    expect(missing).toEqual([])
    const byKey = new Map(allSections.flatMap((s) => s.keys.map((k) => [k.key, k.field] as const)))
    for (const entry of entries) {
      const field = byKey.get(entry.key)!
      expect(entry.value, entry.key).toBe(field.secret ? entry.value : field.show(field.defaultValue))
    }
  })
})
