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
    const byKey = new Map(allSections.flatMap((s) => s.keys.map((k) => [k.key, k.field] as const)))
    // an optional key has no default of its own (an output's delivery.* override falls back to the global key)
    const missing = entries.filter((e) => e.origin !== "file" && byKey.get(e.key)!.defaultValue !== undefined).map((e) => e.key)
    expect(missing).toEqual([])
    for (const entry of entries) {
      const field = byKey.get(entry.key)!
      if (field.defaultValue !== undefined) expect(entry.value, entry.key).toBe(field.secret ? entry.value : field.show(field.defaultValue))
    }
  })

  it("names every optional key's group: each output's delivery overrides are documented", () => {
    const text = readFileSync(file, "utf8")
    const optional = allSections.flatMap((s) => s.keys).filter((k) => k.field.defaultValue === undefined).map((k) => k.key)
    expect(optional.length).toBeGreaterThan(0)
    for (const key of optional) {
      const [, ...rest] = key.split(".")
      // elasticsearch.batching.batchsize is named by its comment; <output>.delivery.<key> by the delivery comment
      if (key.includes(".delivery.")) expect(text).toContain(`delivery.* keys (queuecapacity, queue.maxbytes, overflow, timeout, retry.*, circuitbreaker.*)`)
      else expect(text, key).toContain(rest.join("."))
    }
  })
})
