/**
 * Every output kind, in falcosidekick's init order (the order of "Enabled Outputs"). Adding an output:
 * one file beside this one and one line in `outputs` below.
 */
import type { Section } from "@sidekick/config"
import type { HttpTransport, OutputDefinition } from "@sidekick/delivery"
import { AlertManager, AlertManagerConfig } from "./AlertManager.js"
import type { GlobalFieldKeys } from "./common.js"
import { Elasticsearch, ElasticsearchConfig } from "./Elasticsearch.js"
import { Loki, LokiConfig } from "./Loki.js"
import { Slack, SlackConfig } from "./Slack.js"
import { Webhook, WebhookConfig } from "./Webhook.js"

/** what any output's `make` may require; the app provides all of it */
export type OutputServices = HttpTransport | GlobalFieldKeys

/** an output definition with its config section, so the app can read the section and build the output */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export interface RegisteredOutput<C = any> {
  readonly section: Section<C>
  readonly definition: OutputDefinition<C, OutputServices>
}

const entry = <C, R extends OutputServices>(section: Section<C>, definition: OutputDefinition<C, R>): RegisteredOutput<C> => ({
  section,
  definition: definition as unknown as OutputDefinition<C, OutputServices>
})



export const outputs: ReadonlyArray<RegisteredOutput> = [
  entry(SlackConfig, Slack),
  entry(AlertManagerConfig, AlertManager),
  entry(ElasticsearchConfig, Elasticsearch),
  entry(LokiConfig, Loki),
  entry(WebhookConfig, Webhook)
]

/** the config sections of every output, for the app's unknownKeys/describeConfig */
export const outputSections: ReadonlyArray<Section<unknown>> = outputs.map((o) => o.section)
