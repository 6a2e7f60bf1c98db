/**
 * Discord: an incoming-webhook message with one embed (falcosidekick's `discord` output): the output as
 * the description, a colour per priority, and inline fields rule, priority, source, hostname, every string
 * output field (in a code block), tags and the time. Discord answers 204 on success.
 */
import { Field } from "@sidekick/config"
import { type FalcoEvent, goJson, goTimeString, type Priority, stringOutputFields } from "@sidekick/event"
import { Effect, Redacted } from "effect"
import { define, sendEach } from "./Definition.js"
import { httpFields, outputSection } from "./OutputConfig.js"
import { defaultSlackIcon, hasWebhookUrl, iconOrFallback } from "./Slack.js"

export const DiscordConfig = outputSection("discord", {
  webhookurl: Field.secret(),
  icon: Field.string(defaultSlackIcon),
  ...httpFields()
})
export type DiscordConfig = typeof DiscordConfig.Type

/** the embed colour per priority: a decimal RGB value, sent as a JSON string as falcosidekick does */
export const discordColor: Readonly<Record<Priority, string>> = {
  Emergency: "15158332",
  Alert: "11027200",
  Critical: "15105570",
  Error: "15844367",
  Warning: "12745742",
  Notice: "3066993",
  Informational: "3447003",
  Debug: "12370112"
}

interface DiscordEmbedField {
  readonly name: string
  readonly value: string
  readonly inline: boolean
}

const inlineField = (name: string, value: string): DiscordEmbedField => ({ name, value, inline: true })

/**
 * falcosidekick's discordPayload, as an ordered object for goJson: `content,avatar_url,embeds`; embed
 * `title,url,description,color,fields` (title and url always "", as falcosidekick sends them).
 */
export const discordPayload = (event: FalcoEvent, icon: string): object => {
  const fields: Array<DiscordEmbedField> = [
    inlineField("rule", event.rule),
    inlineField("priority", event.priority),
    inlineField("source", event.source)
  ]
  if (event.hostname !== "") fields.push(inlineField("hostname", event.hostname))
  for (const [key, value] of stringOutputFields(event)) fields.push(inlineField(key, "```" + value + "```"))
  if (event.tags.length > 0) fields.push(inlineField("tags", event.tags.join(", ")))
  fields.push(inlineField("time", goTimeString(event)))
  return {
    content: "",
    avatar_url: iconOrFallback(icon),
    embeds: [{
      title: "",
      url: "",
      description: event.output,
      color: discordColor[event.priority] ?? "",
      fields
    }]
  }
}

/** the request body: Go json.Encoder output of discordPayload */
export const discordBody = (event: FalcoEvent, icon: string): string => goJson(discordPayload(event, icon)) + "\n"

export const Discord = define({
  config: DiscordConfig,
  displayName: "Discord",
  enabled: hasWebhookUrl,
  make: (c, ctx) =>
    Effect.map(ctx.http(), (http) => {
      const url = Redacted.value(c.webhookurl)
      return sendEach(http, (event) => ({ url, body: discordBody(event, c.icon) }))
    })
})
