/**
 * Google Chat: a space message through an incoming webhook (falcosidekick's `googlechat` output): the
 * rendered `messageformat` as text and, unless `outputformat` is `text`, a cards-v1 card whose key/value
 * widgets are rule, priority, source, hostname, every string output field, tags and the time.
 */
import { Field } from "@sidekick/config"
import { type FalcoEvent, goJson, goTimeString, omitEmpty, stringOutputFields } from "@sidekick/event"
import type { GoTemplate } from "@sidekick/gotemplate"
import { define } from "./Definition.js"
import { httpFields, outputSection } from "./OutputConfig.js"
import { chatWebhook, hasWebhookUrl, renderMessageFormat } from "./Slack.js"

export const GoogleChatConfig = outputSection("googlechat", {
  webhookurl: Field.secret(),
  outputformat: Field.literal(["all", "text"] as const, "all"),
  messageformat: Field.string(""),
  ...httpFields()
})
export type GoogleChatConfig = typeof GoogleChatConfig.Type

export interface GoogleChatPayloadOptions {
  readonly outputformat: "all" | "text"
  readonly messageformat?: GoTemplate | undefined
}

const keyValue = (topLabel: string, content: string) => ({ keyValue: { topLabel, content } })


/**
 * falcosidekick's googlechatPayload, as an ordered object for goJson: `text?,cards?`; card `header,sections`
 * (the header is an empty struct that Go's omitempty never drops: `{"title":"","subtitle":""}`); widget
 * `{keyValue:{topLabel,content}}`. The `text` format sends only the text: `{}` without a messageformat.
 */
export const googleChatPayload = (event: FalcoEvent, o: GoogleChatPayloadOptions): object => {
  const text = omitEmpty(renderMessageFormat(o.messageformat, event))
  if (o.outputformat === "text") return { text }
  const widgets = [keyValue("rule", event.rule), keyValue("priority", event.priority), keyValue("source", event.source)]
  if (event.hostname !== "") widgets.push(keyValue("hostname", event.hostname))
  for (const [key, value] of stringOutputFields(event)) widgets.push(keyValue(key, value))
  if (event.tags.length > 0) widgets.push(keyValue("tags", event.tags.join(", ")))
  widgets.push(keyValue("time", goTimeString(event)))
  return {
    text,
    cards: [{ header: { title: "", subtitle: "" }, sections: [{ widgets }] }]
  }
}

/** the request body: Go json.Encoder output of googleChatPayload */
export const googleChatBody = (event: FalcoEvent, o: GoogleChatPayloadOptions): string => goJson(googleChatPayload(event, o)) + "\n"

export const GoogleChat = define({
  config: GoogleChatConfig,
  displayName: "GoogleChat",
  enabled: hasWebhookUrl,
  make: chatWebhook((c, messageformat) => {
    const options: GoogleChatPayloadOptions = { ...c, messageformat }
    return (event) => googleChatBody(event, options)
  })
})
