import { describe, expect, it } from "vitest"
import { outputs } from "../src/index.js"

describe("registry", () => {
  it("lists the outputs in falcosidekick's order; each name is its section's path", () => {
    // falcosidekick's names and init order (its "Enabled Outputs" line), for the outputs built so far
    expect(outputs.map((o) => o.displayName)).toEqual([
      "Slack", "Cliq", "Rocketchat", "Mattermost", "Teams", "Webex", "Discord", "AlertManager", "Elasticsearch", "Loki",
      "SMTP", "Opsgenie", "Webhook", "GoogleChat", "Pagerduty", "GrafanaOnCall", "Gotify", "Telegram"
    ])
    expect(outputs.map((o) => o.name)).toEqual([
      "slack", "cliq", "rocketchat", "mattermost", "teams", "webex", "discord", "alertmanager", "elasticsearch", "loki",
      "smtp", "opsgenie", "webhook", "googlechat", "pagerduty", "grafanaoncall", "gotify", "telegram"
    ])
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
