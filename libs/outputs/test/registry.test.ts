import { describe, expect, it } from "vitest"
import { outputs, outputSections } from "../src/index.js"

describe("registry", () => {
  it("lists the outputs in falcosidekick's order with their sections", () => {
    expect(outputs.map((o) => o.definition.displayName)).toEqual(["Slack", "AlertManager", "Elasticsearch", "Loki", "Webhook"])
    expect(outputs.map((o) => o.definition.key)).toEqual(outputSections.map((s) => s.path))
  })
})
