/**
 * What users read must name what the code declares: the README's outputs table and the chart's `config:`
 * values are checked against the registry and the config sections, so an output or a key added to the
 * code cannot be forgotten there (config.example.yaml has its own test).
 */
import { describe, expect, it } from "@effect/vitest"
import { outputs } from "@sidekick/outputs"
import { readFileSync } from "node:fs"
import { parse } from "yaml"
import { allSections } from "../src/AppConfig.js"

const root = new URL("../../../", import.meta.url)
const readme = readFileSync(new URL("README.md", root), "utf8")
const chartValues = parse(readFileSync(new URL("deploy/charts/sidekick/values.yaml", root), "utf8")) as {
  readonly config: Record<string, unknown>
}

/** the section's first key enables it: that is the convention every output follows */
const enablingKey = (o: (typeof outputs)[number]) => o.section.keys[0]!.key

/** dotted leaf paths of a values tree */
const leaves = (tree: Record<string, unknown>, prefix = ""): Array<string> =>
  Object.entries(tree).flatMap(([k, v]) => {
    const path = prefix === "" ? k : `${prefix}.${k}`
    return typeof v === "object" && v !== null && !Array.isArray(v) ? leaves(v as Record<string, unknown>, path) : [path]
  })

describe("docs in step with the code", () => {
  it("README's outputs table has a row per output, naming its enabling key", () => {
    for (const o of outputs) {
      expect(readme, o.name).toContain(`| ${o.displayName} | \`${enablingKey(o)}\``)
    }
  })

  it("the chart's config: values name only declared keys, and every output's enabling key", () => {
    const declared = new Set(allSections.flatMap((s) => s.keys.map((k) => k.key)))
    // the chart's own keys under config:, which are not service keys
    const chartOnly = new Set(["existingSecret", "extraEnv", "extraArgs", "aws.useirsa", "gcp.workloadIdentityServiceAccount"])
    const values = leaves(chartValues.config).filter((k) => !chartOnly.has(k))
    expect(values.filter((k) => !declared.has(k.toLowerCase()))).toEqual([])
    for (const o of outputs) expect(values.map((k) => k.toLowerCase()), o.name).toContain(enablingKey(o))
  })
})
