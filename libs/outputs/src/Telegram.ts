/**
 * Telegram: a Bot API `sendMessage` (falcosidekick's `telegram` output: POST `{host}/bot{token}/sendMessage`,
 * the event rendered by a fixed MarkdownV2 template with every value escaped).
 * The token is in the URL path: the transport's messages and spans name the origin only, never the path.
 */
import { Field } from "@sidekick/config"
import { type FalcoEvent, goJson, omitEmpty, templateData } from "@sidekick/event"
import { mustCompileTemplate, sprintV } from "@sidekick/gotemplate"
import { Effect, Redacted } from "effect"
import { define, sendEach } from "./Definition.js"
import { outputSection } from "./OutputConfig.js"

export const defaultTelegramHost = "https://api.telegram.org"

export const TelegramConfig = outputSection("telegram", {
  // enabled by token AND chatid; token comes first because the docs name an output by its first key
  token: Field.secret(),
  chatid: Field.string(""),
  host: Field.string(defaultTelegramHost),
  messagethreadid: Field.string(""),
  // falcosidekick builds this client with checkcert only: mutualtls and maxconcurrentrequests do not exist here
  checkcert: Field.bool(true)
})
export type TelegramConfig = typeof TelegramConfig.Type


/** the characters MarkdownV2 reserves, as falcosidekick's replacer lists them (a backslash is not among them) */
const markdownV2Reserved = /[_*[\]()~`>#+\-=|{}.!]/g

/** falcosidekick's `markdownV2EscapeText`: `%v` of the value, each reserved character prefixed with a backslash */
export const markdownV2EscapeText = (value: unknown): string => sprintV(value).replace(markdownV2Reserved, "\\$&")

/** falcosidekick's template, byte for byte (the tab before each field bullet and the blank lines included) */
export const telegramTemplateSource = `*\\[Falco\\] \\[{{markdownV2EscapeText .Priority }}\\] {{markdownV2EscapeText .Rule }}*

• *Time*: {{markdownV2EscapeText .Time }}
• *Source*: {{markdownV2EscapeText .Source }}
• *Hostname*: {{markdownV2EscapeText .Hostname }}
• *Tags*: {{ range .Tags }}{{markdownV2EscapeText . }} {{ end }}
• *Fields*:
{{ range $key, $value := .OutputFields }}\t  • *{{markdownV2EscapeText $key }}*: {{markdownV2EscapeText $value }}
{{ end }}

**Output**: {{markdownV2EscapeText .Output }}
`

const telegramTemplate = mustCompileTemplate(telegramTemplateSource, { markdownV2EscapeText })

/** the message text; undefined when the template fails (falcosidekick then sends the message without text) */
export const telegramText = (event: FalcoEvent): string | undefined => {
  const result = telegramTemplate.execute(templateData(event))
  return result.error === undefined ? result.output : undefined
}

export interface TelegramPayloadOptions {
  readonly chatid: string
  readonly messagethreadid: string
}


/** falcosidekick's telegramPayload: `text,parse_mode,disable_web_page_preview,chat_id,message_thread_id`, all omitempty */
export const telegramPayload = (event: FalcoEvent, o: TelegramPayloadOptions): object => ({
  text: omitEmpty(telegramText(event)),
  parse_mode: "MarkdownV2",
  disable_web_page_preview: true,
  chat_id: omitEmpty(o.chatid),
  message_thread_id: omitEmpty(o.messagethreadid)
})

/** the request body: Go json.Encoder output of telegramPayload */
export const telegramBody = (event: FalcoEvent, o: TelegramPayloadOptions): string => goJson(telegramPayload(event, o)) + "\n"

/** `{host}/bot{token}/sendMessage`; an empty host is falcosidekick's default host */
export const telegramUrl = (host: string, token: string): string => `${host === "" ? defaultTelegramHost : host}/bot${token}/sendMessage`

export const Telegram = define({
  config: TelegramConfig,
  displayName: "Telegram",
  enabled: (c) => Redacted.value(c.token) !== "" && c.chatid !== "",
  make: (c, ctx) =>
    Effect.map(ctx.http(), (http) => {
      const url = telegramUrl(c.host, Redacted.value(c.token))
      const options: TelegramPayloadOptions = { chatid: c.chatid, messagethreadid: c.messagethreadid }
      return sendEach(http, (event) => ({ url, body: telegramBody(event, options) }))
    })
})
