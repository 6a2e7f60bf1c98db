/**
 * Slack: an incoming-webhook message with one attachment (falcosidekick's `slack` output: text, username,
 * icon and channel, then an attachment whose fields are rule, priority, source, hostname, tags, every
 * string output field and the time). Mattermost and Rocket.Chat take the same payload; the helpers they (and
 * the other chat outputs) share are exported here: the keys, the attachment fields in a given row order, the
 * rendered `messageformat`, the fallback icon, and the `make` of a webhook chat output.
 */
import { Field } from "@sidekick/config"
import { type FalcoEvent, goJson, goTimeString, omitEmpty, type Priority, stringOutputFields, templateData } from "@sidekick/event"
import type { GoTemplate } from "@sidekick/gotemplate"
import { Effect, Redacted } from "effect"
import { define, type HttpOptions, type OutputContext, sendEach } from "./Definition.js"
import { httpFields, outputSection } from "./OutputConfig.js"

export const defaultSlackFooter = "https://github.com/falcosecurity/falcosidekick"
export const defaultSlackIcon = "https://raw.githubusercontent.com/falcosecurity/falcosidekick/master/imgs/falcosidekick_color.png"
/** falcosidekick's DefaultIconURL: what Mattermost, Rocket.Chat, Discord and Cliq send when `icon` is "" (Slack then sends none) */
export const fallbackChatIcon = "https://raw.githubusercontent.com/falcosecurity/falcosidekick/master/imgs/falcosidekick.png"

/** the configured icon, or falcosidekick's fallback when it is "" */
export const iconOrFallback = (icon: string): string => (icon === "" ? fallbackChatIcon : icon)

/**
 * The keys and defaults falcosidekick gives Slack, Mattermost and Rocket.Chat alike (Slack adds `channel`;
 * Rocket.Chat reads `footer` but never sends it). `webhookurl`, the enabling key, comes first.
 */
export const slackStyleFields = () => ({
  webhookurl: Field.secret(),
  footer: Field.string(defaultSlackFooter),
  icon: Field.string(defaultSlackIcon),
  username: Field.string("Falcosidekick"),
  outputformat: Field.literal(["all", "text", "fields"] as const, "all"),
  messageformat: Field.string(""),
  ...httpFields()
})

export const SlackConfig = outputSection("slack", { ...slackStyleFields(), channel: Field.string("") })
export type SlackConfig = typeof SlackConfig.Type

/** Slack/Mattermost/Rocket.Chat attachment colour per priority (falcosidekick's colours) */
export const slackColor: Readonly<Record<Priority, string>> = {
  Emergency: "#e20b0b",
  Alert: "#ff5400",
  Critical: "#ff5400",
  Error: "#e20b0b",
  Warning: "#ffc700",
  Notice: "#5bffb5",
  Informational: "#68c2ff",
  Debug: "#ccfff2"
}

export interface SlackPayloadOptions {
  readonly outputformat: "all" | "text" | "fields" | ""
  readonly footer: string
  readonly icon: string
  readonly username: string
  readonly channel: string
  readonly messageformat?: GoTemplate | undefined
  /** default `slackFieldOrder`; Mattermost lists the same rows in another order */
  readonly fieldOrder?: ReadonlyArray<SlackFieldRow> | undefined
}

export interface SlackField {
  readonly title: string
  readonly value: string
  readonly short: boolean
}

/** the rows of a Slack-style attachment; `outputFields` stands for every string output field, in sorted key order */
export type SlackFieldRow = "rule" | "priority" | "source" | "hostname" | "tags" | "outputFields" | "time"

/** Slack's row order (Mattermost and Rocket.Chat each list the same rows in their own order) */
export const slackFieldOrder: ReadonlyArray<SlackFieldRow> = ["rule", "priority", "source", "hostname", "tags", "outputFields", "time"]

const runeCount = (s: string): number => {
  let n = 0
  for (const _ of s) n++
  return n
}

/** the attachment fields in `order`; hostname and tags only when the event has them, an output field is short under 36 runes */
export const slackAttachmentFields = (event: FalcoEvent, order: ReadonlyArray<SlackFieldRow> = slackFieldOrder): Array<SlackField> => {
  const fields: Array<SlackField> = []
  for (const row of order) {
    switch (row) {
      case "rule":
        fields.push({ title: "rule", value: event.rule, short: true })
        break
      case "priority":
        fields.push({ title: "priority", value: event.priority, short: true })
        break
      case "source":
        fields.push({ title: "source", value: event.source, short: true })
        break
      case "hostname":
        if (event.hostname !== "") fields.push({ title: "hostname", value: event.hostname, short: true })
        break
      case "tags":
        if (event.tags.length > 0) fields.push({ title: "tags", value: event.tags.join(", "), short: true })
        break
      case "outputFields":
        for (const [key, value] of stringOutputFields(event)) fields.push({ title: key, value, short: runeCount(value) < 36 })
        break
      case "time":
        fields.push({ title: "time", value: goTimeString(event), short: false })
        break
    }
  }
  return fields
}

/**
 * The `messageformat` rendered over the event: undefined when there is none, or when executing it fails on
 * this event (falcosidekick then drops the partial output and sends the message without it). "" when it
 * renders to nothing.
 */
export const renderMessageFormat = (template: GoTemplate | undefined, event: FalcoEvent): string | undefined => {
  if (template === undefined) return undefined
  const result = template.execute(templateData(event))
  return result.error === undefined ? result.output : undefined
}

/**
 * falcosidekick's slackPayload, as an ordered object for goJson: `text?,username?,icon_url?,channel?,attachments`;
 * attachment `fallback,color,text?,fields,footer?`; field `title,value,short`.
 */
export const slackPayload = (event: FalcoEvent, o: SlackPayloadOptions): object => {
  const withFields = o.outputformat === "all" || o.outputformat === "fields" || o.outputformat === ""
  const withText = o.outputformat === "all" || o.outputformat === "text" || o.outputformat === ""
  let fields: Array<SlackField> | null = null
  let footer: string | undefined
  if (withFields) {
    fields = slackAttachmentFields(event, o.fieldOrder ?? slackFieldOrder)
    footer = o.footer === "" ? defaultSlackFooter : o.footer
  }
  return {
    text: omitEmpty(renderMessageFormat(o.messageformat, event)),
    username: omitEmpty(o.username),
    icon_url: omitEmpty(o.icon),
    channel: omitEmpty(o.channel),
    attachments: [{
      fallback: event.output,
      color: slackColor[event.priority] ?? "",
      text: withText ? omitEmpty(event.output) : undefined,
      fields,
      footer
    }]
  }
}

/** the request body: Go json.Encoder output of slackPayload */
export const slackBody = (event: FalcoEvent, o: SlackPayloadOptions): string => goJson(slackPayload(event, o)) + "\n"

/** the keys every Slack-style chat output has: a secret webhook URL and an optional Go template */
export interface ChatWebhookConfig {
  readonly webhookurl: Redacted.Redacted<string>
  readonly messageformat: string
}

/** enabled by a webhook URL */
export const hasWebhookUrl = (c: { readonly webhookurl: Redacted.Redacted<string> }): boolean => Redacted.value(c.webhookurl) !== ""

/**
 * The `make` of a chat output that POSTs one message per event to its secret `webhookurl`, its
 * `messageformat` compiled at start-up (Slack, Mattermost, Rocket.Chat, Google Chat, Cliq): `body` is
 * given the section and the template once, and returns the event's request body.
 */
export const chatWebhook = <C extends ChatWebhookConfig>(
  body: (c: C, messageformat: GoTemplate | undefined) => (event: FalcoEvent) => string,
  httpOptions?: HttpOptions
) =>
(c: C, ctx: OutputContext) =>
  Effect.gen(function*() {
    const messageformat = yield* ctx.template("messageformat", c.messageformat)
    const http = yield* ctx.http(httpOptions)
    const url = Redacted.value(c.webhookurl)
    const bodyOf = body(c, messageformat)
    return sendEach(http, (event) => ({ url, body: bodyOf(event) }))
  })

export const Slack = define({
  config: SlackConfig,
  displayName: "Slack",
  enabled: hasWebhookUrl,
  make: chatWebhook((c, messageformat) => {
    const options: SlackPayloadOptions = { ...c, messageformat }
    return (event) => slackBody(event, options)
  })
})
