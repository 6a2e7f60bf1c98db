/**
 * Rocket.Chat: Slack's incoming-webhook payload (falcosidekick's `rocketchat` output) with no channel and
 * no footer, the hostname listed last, falcosidekick's plain icon when `icon` is "", and the attachment
 * only when the format lists fields: with `outputformat: text` the message carries only the rendered
 * `messageformat` (falcosidekick's behaviour, kept for wire compatibility).
 */
import { type FalcoEvent, goJson, omitEmpty } from "@sidekick/event"
import type { GoTemplate } from "@sidekick/gotemplate"
import { define } from "./Definition.js"
import { outputSection } from "./OutputConfig.js"
import { chatWebhook, hasWebhookUrl, iconOrFallback, renderMessageFormat, slackAttachmentFields, slackColor, type SlackFieldRow, slackStyleFields } from "./Slack.js"

export const RocketChatConfig = outputSection("rocketchat", slackStyleFields())
export type RocketChatConfig = typeof RocketChatConfig.Type

/** falcosidekick's Rocket.Chat row order: the hostname after the time */
export const rocketChatFieldOrder: ReadonlyArray<SlackFieldRow> = ["rule", "priority", "source", "tags", "outputFields", "time", "hostname"]

export interface RocketChatPayloadOptions {
  readonly outputformat: "all" | "text" | "fields" | ""
  readonly icon: string
  readonly username: string
  readonly messageformat?: GoTemplate | undefined
}


/**
 * falcosidekick's Rocket.Chat payload, as an ordered object for goJson: `text?,username?,icon_url,attachments?`;
 * attachment `fallback,color,text?,fields`; field `title,value,short`.
 */
export const rocketChatPayload = (event: FalcoEvent, o: RocketChatPayloadOptions): object => {
  const withFields = o.outputformat === "all" || o.outputformat === "fields" || o.outputformat === ""
  const withText = o.outputformat === "all" || o.outputformat === "text" || o.outputformat === ""
  return {
    text: omitEmpty(renderMessageFormat(o.messageformat, event)),
    username: omitEmpty(o.username),
    icon_url: iconOrFallback(o.icon),
    attachments: withFields
      ? [{
        fallback: event.output,
        color: slackColor[event.priority] ?? "",
        text: withText ? omitEmpty(event.output) : undefined,
        fields: slackAttachmentFields(event, rocketChatFieldOrder)
      }]
      : undefined
  }
}

/** the request body: Go json.Encoder output of rocketChatPayload */
export const rocketChatBody = (event: FalcoEvent, o: RocketChatPayloadOptions): string => goJson(rocketChatPayload(event, o)) + "\n"

export const RocketChat = define({
  config: RocketChatConfig,
  displayName: "Rocketchat",
  enabled: hasWebhookUrl,
  make: chatWebhook((c, messageformat) => {
    const options: RocketChatPayloadOptions = { ...c, messageformat }
    return (event) => rocketChatBody(event, options)
  })
})
