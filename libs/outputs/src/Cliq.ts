/**
 * Zoho Cliq: a channel message (falcosidekick's `cliq` output): the output (or the rendered
 * `messageformat`) as text, the bot's name and image, and slides: the output as a text slide when a
 * `messageformat` replaces it, and a table of rule, priority, hostname, every string output field and
 * the time. Sent as `application/json` without a charset, as falcosidekick does.
 */
import { Field } from "@sidekick/config"
import { type FalcoEvent, goJson, goTimeString, type Priority, stringOutputFields } from "@sidekick/event"
import type { GoTemplate } from "@sidekick/gotemplate"
import { define } from "./Definition.js"
import { httpFields, outputSection } from "./OutputConfig.js"
import { chatWebhook, defaultSlackIcon, hasWebhookUrl, iconOrFallback, renderMessageFormat } from "./Slack.js"

export const CliqConfig = outputSection("cliq", {
  webhookurl: Field.secret(),
  icon: Field.string(defaultSlackIcon),
  // falcosidekick's code default; its docs and Helm chart say true
  useemoji: Field.bool(false),
  outputformat: Field.literal(["all", "text", "fields"] as const, "all"),
  messageformat: Field.string(""),
  ...httpFields()
})
export type CliqConfig = typeof CliqConfig.Type

/** the emoji `useemoji` puts before the text, per priority */
export const cliqEmoji: Readonly<Record<Priority, string>> = {
  Emergency: "\u{1F6A8}",
  Alert: "\u{1F7E0}",
  Critical: "\u{1F7E0}",
  Error: "\u{1F6A8}",
  Warning: "\u{1F7E1}",
  Notice: "\u{1F535}",
  Informational: "\u{1F7E2}",
  Debug: "\u{26AA}"
}

export interface CliqPayloadOptions {
  readonly outputformat: "all" | "text" | "fields" | ""
  readonly icon: string
  readonly useemoji: boolean
  readonly messageformat?: GoTemplate | undefined
}

interface CliqTableRow {
  readonly field: string
  readonly value: string
}

/**
 * falcosidekick's cliqPayload, as an ordered object for goJson: `text,bot,slides?`; bot `name,image`;
 * slide `type,data` (a text slide's data is a string, a table's `{headers,rows}`, row `field,value`).
 */
export const cliqPayload = (event: FalcoEvent, o: CliqPayloadOptions): object => {
  const withFields = o.outputformat === "all" || o.outputformat === "fields" || o.outputformat === ""
  const withText = o.outputformat === "all" || o.outputformat === "text" || o.outputformat === ""
  const slides: Array<object> = []
  let text: string
  if (o.messageformat === undefined) {
    text = event.output
  } else {
    // a template that fails on this event leaves the text empty and drops the output slide, as falcosidekick does
    const rendered = renderMessageFormat(o.messageformat, event)
    text = rendered ?? ""
    if (rendered !== undefined && withText) slides.push({ type: "text", data: event.output })
  }
  if (withFields) {
    const rows: Array<CliqTableRow> = [
      { field: "rule", value: event.rule },
      { field: "priority", value: event.priority }
    ]
    if (event.hostname !== "") rows.push({ field: "hostname", value: event.hostname })
    for (const [key, value] of stringOutputFields(event)) rows.push({ field: key, value })
    rows.push({ field: "time", value: goTimeString(event) })
    slides.push({ type: "table", data: { headers: ["field", "value"], rows } })
  }
  if (o.useemoji) text = `${cliqEmoji[event.priority] ?? "?"} ${text}`
  return {
    text,
    bot: { name: "Falcosidekick", image: iconOrFallback(o.icon) },
    slides: slides.length > 0 ? slides : undefined
  }
}

/** the request body: Go json.Encoder output of cliqPayload */
export const cliqBody = (event: FalcoEvent, o: CliqPayloadOptions): string => goJson(cliqPayload(event, o)) + "\n"

export const Cliq = define({
  config: CliqConfig,
  displayName: "Cliq",
  enabled: hasWebhookUrl,
  make: chatWebhook((c, messageformat) => {
    const options: CliqPayloadOptions = { ...c, messageformat }
    return (event) => cliqBody(event, options)
  }, { contentType: "application/json" })
})
