import { describe, expect, it } from "vitest"
import { outputs } from "../src/index.js"

describe("registry", () => {
  it("lists the outputs in falcosidekick's order; each name is its section's path", () => {
    expect(outputs.map((o) => o.displayName)).toEqual(["Slack", "AlertManager", "Elasticsearch", "Loki", "Webhook"])
    expect(outputs.map((o) => o.name)).toEqual(["slack", "alertmanager", "elasticsearch", "loki", "webhook"])
    for (const o of outputs) expect(o.section.path).toBe(o.name)
  })

  it("every output has minimumpriority and the delivery overrides", () => {
    for (const o of outputs) {
      const keys = o.section.keys.map((k) => k.key)
      expect(keys).toContain(`${o.name}.minimumpriority`)
      expect(keys).toContain(`${o.name}.delivery.timeout`)
      expect(keys).toContain(`${o.name}.delivery.ratelimit.limit`)
    }
  })
})
