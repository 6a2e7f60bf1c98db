/**
 * Mattermost: Slack's incoming-webhook payload (falcosidekick's `mattermost` output) with no channel, the
 * hostname listed second, and falcosidekick's plain icon when `icon` is "".
 */
import { type FalcoEvent, goJson } from "@sidekick/event"
import type { GoTemplate } from "@sidekick/gotemplate"
import { define } from "./Definition.js"
import { outputSection } from "./OutputConfig.js"
import { chatWebhook, hasWebhookUrl, iconOrFallback, type SlackFieldRow, slackPayload, slackStyleFields } from "./Slack.js"

export const MattermostConfig = outputSection("mattermost", slackStyleFields())
export type MattermostConfig = typeof MattermostConfig.Type

/** falcosidekick's Mattermost row order: the hostname right after the rule */
export const mattermostFieldOrder: ReadonlyArray<SlackFieldRow> = ["rule", "hostname", "priority", "source", "tags", "outputFields", "time"]

export interface MattermostPayloadOptions {
  readonly outputformat: "all" | "text" | "fields" | ""
  readonly footer: string
  readonly icon: string
  readonly username: string
  readonly messageformat?: GoTemplate | undefined
}

/** Slack's payload with Mattermost's differences: `text?,username?,icon_url,attachments` */
export const mattermostPayload = (event: FalcoEvent, o: MattermostPayloadOptions): object =>
  slackPayload(event, { ...o, icon: iconOrFallback(o.icon), channel: "", fieldOrder: mattermostFieldOrder })

/** the request body: Go json.Encoder output of mattermostPayload */
export const mattermostBody = (event: FalcoEvent, o: MattermostPayloadOptions): string => goJson(mattermostPayload(event, o)) + "\n"

export const Mattermost = define({
  config: MattermostConfig,
  displayName: "Mattermost",
  enabled: hasWebhookUrl,
  make: chatWebhook((c, messageformat) => {
    const options: MattermostPayloadOptions = { ...c, messageformat }
    return (event) => mattermostBody(event, options)
  })
})
