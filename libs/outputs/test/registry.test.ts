import { describe, expect, it } from "vitest"
import { outputs } from "../src/index.js"

describe("registry", () => {
  it("lists the outputs in falcosidekick's order; each name is its section's path", () => {
    // falcosidekick's names and init order (its "Enabled Outputs" line), for the outputs built so far
    expect(outputs.map((o) => o.displayName)).toEqual([
      "StatsD", "DogStatsD", "Slack", "Cliq", "Rocketchat", "Mattermost", "Teams", "Webex", "Datadog", "DatadogLogs", "Discord",
      "AlertManager", "Elasticsearch", "Quickwit", "Loki", "SumoLogic", "Influxdb", "AWSCloudWatchLogs", "SMTP", "Opsgenie", "Webhook", "GCPChronicle",
      "GoogleChat",
      "Pagerduty", "Wavefront", "Grafana", "GrafanaOnCall", "Syslog", "Zincsearch", "Gotify", "Spyderbat", "Logstash", "Telegram",
      "OpenObserve", "Dynatrace", "OTLPTraces", "OTLPLogs", "OTLPMetrics", "Splunk"
    ])
    expect(outputs.map((o) => o.name)).toEqual([
      "statsd", "dogstatsd", "slack", "cliq", "rocketchat", "mattermost", "teams", "webex", "datadog", "datadoglogs", "discord",
      "alertmanager", "elasticsearch", "quickwit", "loki", "sumologic", "influxdb", "aws.cloudwatchlogs", "smtp", "opsgenie", "webhook", "gcp.chronicle",
      "googlechat",
      "pagerduty", "wavefront", "grafana", "grafanaoncall", "syslog", "zincsearch", "gotify", "spyderbat", "logstash", "telegram",
      "openobserve", "dynatrace", "otlp.traces", "otlp.logs", "otlp.metrics", "splunk"
    ])
    for (const o of outputs) expect(o.section.path).toBe(o.name)
  })

  it("every output of events has minimumpriority and the delivery overrides (metrics sinks send counts: they have neither)", () => {
    for (const o of outputs.filter((o) => o.kind === "events")) {
      const keys = o.section.keys.map((k) => k.key)
      expect(keys).toContain(`${o.name}.minimumpriority`)
      expect(keys).toContain(`${o.name}.delivery.timeout`)
      expect(keys).toContain(`${o.name}.delivery.ratelimit.limit`)
    }
  })
})
