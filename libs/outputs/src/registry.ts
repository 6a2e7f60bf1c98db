/**
 * Every output kind, in falcosidekick's init order (the order of "Enabled Outputs"). Adding an output:
 * its file beside this one, its test, and one line below.
 */
import { AlertManager } from "./AlertManager.js"
import type { AnyOutputDefinition } from "./Definition.js"
import { Elasticsearch } from "./Elasticsearch.js"
import { Loki } from "./Loki.js"
import { Slack } from "./Slack.js"
import { Webhook } from "./Webhook.js"

export const outputs: ReadonlyArray<AnyOutputDefinition> = [
  Slack,
  AlertManager,
  Elasticsearch,
  Loki,
  Webhook
]
