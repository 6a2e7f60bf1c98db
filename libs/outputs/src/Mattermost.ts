/**
 * Mattermost: Slack's incoming-webhook payload (falcosidekick's `mattermost` output) with no channel, the
 * hostname listed second, and falcosidekick's plain icon when `icon` is "".
 */
import { Field } from "@sidekick/config"
import { type FalcoEvent, goJson } from "@sidekick/event"
import type { GoTemplate } from "@sidekick/gotemplate"
import { Effect, Redacted } from "effect"
import { define, sendEach } from "./Definition.js"
import { httpFields, outputSection } from "./OutputConfig.js"
import { defaultSlackFooter, defaultSlackIcon, iconOrFallback, type SlackFieldRow, slackPayload } from "./Slack.js"

export const MattermostConfig = outputSection("mattermost", {
  webhookurl: Field.secret(),
  footer: Field.string(defaultSlackFooter),
  icon: Field.string(defaultSlackIcon),
  username: Field.string("Falcosidekick"),
  outputformat: Field.literal(["all", "text", "fields"] as const, "all"),
  messageformat: Field.string(""),
  ...httpFields()
})
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
  enabled: (c) => Redacted.value(c.webhookurl) !== "",
  make: (c, ctx) =>
    Effect.gen(function*() {
      const messageformat = yield* ctx.template("messageformat", c.messageformat)
      const http = yield* ctx.http()
      const options: MattermostPayloadOptions = {
        outputformat: c.outputformat,
        footer: c.footer,
        icon: c.icon,
        username: c.username,
        messageformat
      }
      const url = Redacted.value(c.webhookurl)
      return sendEach(http, (event) => ({ url, body: mattermostBody(event, options) }))
    })
})
