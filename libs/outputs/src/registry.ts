/**
 * Every output kind, in falcosidekick's init order (the order of "Enabled Outputs"). Adding an output:
 * its file beside this one, its test, and one line below.
 */
import type { AnyOutputDefinition } from "./Definition.js"
import { AlertManager } from "./AlertManager.js"
import { CloudWatchLogs } from "./aws/CloudWatchLogs.js"
import { Cliq } from "./Cliq.js"
import { Datadog } from "./Datadog.js"
import { DatadogLogs } from "./DatadogLogs.js"
import { Discord } from "./Discord.js"
import { Dynatrace } from "./Dynatrace.js"
import { Elasticsearch } from "./Elasticsearch.js"
import { Chronicle } from "./gcp/Chronicle.js"
import { GoogleChat } from "./GoogleChat.js"
import { Gotify } from "./Gotify.js"
import { Grafana } from "./Grafana.js"
import { GrafanaOnCall } from "./GrafanaOnCall.js"
import { InfluxDB } from "./InfluxDB.js"
import { Logstash } from "./Logstash.js"
import { Loki } from "./Loki.js"
import { Mattermost } from "./Mattermost.js"
import { OpenObserve } from "./OpenObserve.js"
import { Opsgenie } from "./Opsgenie.js"
import { OtlpLogs } from "./otlp/Logs.js"
import { OtlpMetrics } from "./otlp/Metrics.js"
import { OtlpTraces } from "./otlp/Traces.js"
import { PagerDuty } from "./PagerDuty.js"
import { Quickwit } from "./Quickwit.js"
import { RocketChat } from "./RocketChat.js"
import { Slack } from "./Slack.js"
import { Smtp } from "./Smtp.js"
import { Splunk } from "./Splunk.js"
import { Spyderbat } from "./Spyderbat.js"
import { DogStatsD, StatsD } from "./StatsD.js"
import { SumoLogic } from "./SumoLogic.js"
import { Syslog } from "./Syslog.js"
import { Teams } from "./Teams.js"
import { Telegram } from "./Telegram.js"
import { Wavefront } from "./Wavefront.js"
import { Webex } from "./Webex.js"
import { Webhook } from "./Webhook.js"
import { ZincSearch } from "./ZincSearch.js"

export const outputs: ReadonlyArray<AnyOutputDefinition> = [
  StatsD,
  DogStatsD,
  Slack,
  Cliq,
  RocketChat,
  Mattermost,
  Teams,
  Webex,
  Datadog,
  DatadogLogs,
  Discord,
  AlertManager,
  Elasticsearch,
  Quickwit,
  Loki,
  SumoLogic,
  InfluxDB,
  CloudWatchLogs,
  Smtp,
  Opsgenie,
  Webhook,
  Chronicle,
  GoogleChat,
  PagerDuty,
  Wavefront,
  Grafana,
  GrafanaOnCall,
  Syslog,
  ZincSearch,
  Gotify,
  Spyderbat,
  Logstash,
  Telegram,
  OpenObserve,
  Dynatrace,
  OtlpTraces,
  OtlpLogs,
  OtlpMetrics,
  Splunk
]
