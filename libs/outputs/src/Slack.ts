/**
 * Slack: an incoming-webhook message with one attachment (falcosidekick's `slack` output: text, username,
 * icon and channel, then an attachment whose fields are rule, priority, source, hostname, tags, every
 * string output field and the time). Mattermost and Rocket.Chat take the same payload.
 */
import { Field } from "@sidekick/config"
import { compareBytewise, type FalcoEvent, goJson, goTimeString, type Priority, templateData } from "@sidekick/event"
import type { GoTemplate } from "@sidekick/gotemplate"
import { Effect, Redacted } from "effect"
import { define } from "./Definition.js"
import { httpFields, outputSection } from "./OutputConfig.js"

export const defaultSlackFooter = "https://github.com/falcosecurity/falcosidekick"
export const defaultSlackIcon = "https://raw.githubusercontent.com/falcosecurity/falcosidekick/master/imgs/falcosidekick_color.png"

export const SlackConfig = outputSection("slack", {
  webhookurl: Field.secret(),
  channel: Field.string(""),
  footer: Field.string(defaultSlackFooter),
  icon: Field.string(defaultSlackIcon),
  username: Field.string("Falcosidekick"),
  outputformat: Field.literal(["all", "text", "fields"] as const, "all"),
  messageformat: Field.string(""),
  ...httpFields()
})
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
}

interface SlackField {
  readonly title: string
  readonly value: string
  readonly short: boolean
}

const runeCount = (s: string): number => {
  let n = 0
  for (const _ of s) n++
  return n
}

const emptyToUndefined = (s: string): string | undefined => (s === "" ? undefined : s)

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
    fields = [
      { title: "rule", value: event.rule, short: true },
      { title: "priority", value: event.priority, short: true },
      { title: "source", value: event.source, short: true }
    ]
    if (event.hostname !== "") fields.push({ title: "hostname", value: event.hostname, short: true })
    if (event.tags.length > 0) fields.push({ title: "tags", value: event.tags.join(", "), short: true })
    for (const key of Object.keys(event.output_fields).sort(compareBytewise)) {
      const value = event.output_fields[key]
      if (typeof value !== "string") continue
      fields.push({ title: key, value, short: runeCount(value) < 36 })
    }
    fields.push({ title: "time", value: goTimeString(event), short: false })
    footer = o.footer === "" ? defaultSlackFooter : o.footer
  }
  let text: string | undefined
  if (o.messageformat !== undefined) {
    try {
      text = emptyToUndefined(o.messageformat.render(templateData(event)))
    } catch {
      text = undefined
    }
  }
  return {
    text,
    username: emptyToUndefined(o.username),
    icon_url: emptyToUndefined(o.icon),
    channel: emptyToUndefined(o.channel),
    attachments: [{
      fallback: event.output,
      color: slackColor[event.priority] ?? "",
      text: withText ? emptyToUndefined(event.output) : undefined,
      fields,
      footer
    }]
  }
}

/** the request body: Go json.Encoder output of slackPayload */
export const slackBody = (event: FalcoEvent, o: SlackPayloadOptions): string => goJson(slackPayload(event, o)) + "\n"

export const Slack = define({
  config: SlackConfig,
  displayName: "Slack",
  enabled: (c) => Redacted.value(c.webhookurl) !== "",
  make: (c, ctx) =>
    Effect.gen(function*() {
      const messageformat = yield* ctx.template("messageformat", c.messageformat)
      const http = yield* ctx.http()
      const options: SlackPayloadOptions = {
        outputformat: c.outputformat,
        footer: c.footer,
        icon: c.icon,
        username: c.username,
        channel: c.channel,
        messageformat
      }
      const url = Redacted.value(c.webhookurl)
      return {
        kind: "single",
        send: (event) => http.send({ url, body: slackBody(event, options) }).pipe(Effect.asVoid)
      }
    })
})
