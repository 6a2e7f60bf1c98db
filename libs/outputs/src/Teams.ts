/**
 * Microsoft Teams: by default falcosidekick's legacy Office 365 connector MessageCard (summary, a theme
 * colour per priority, one section titled "Falcosidekick" with the time as subtitle, the output as text
 * and facts rule, priority, source, hostname, every string output field and tags). Microsoft retired
 * those connectors in favour of Workflows (Power Automate) webhooks, which only take Adaptive Cards, so
 * `format: adaptivecard` sends the same information as an Adaptive Card inside a Teams message.
 *
 * Sources for the Adaptive Card shape (checked against Microsoft's own pages):
 * - the webhook envelope `{"type":"message","attachments":[{"contentType":"application/vnd.microsoft.card.adaptive",
 *   "contentUrl":null,"content":{…}}]}`: learn.microsoft.com/microsoftteams/platform/webhooks-and-connectors/how-to/
 *   connectors-using ("Send Adaptive Cards using an Incoming Webhook"); Workflows take Adaptive Cards only, never
 *   MessageCards (same page, "Known issues").
 * - elements and properties (Container style default|emphasis|good|attention|warning|accent and bleed, ColumnSet,
 *   Column width/verticalContentAlignment, Image url/size/altText, TextBlock weight/size/isSubtle/spacing/wrap,
 *   FactSet of Fact title/value, AdaptiveCard fallbackText): adaptivecards.io/explorer (learn.microsoft.com/
 *   adaptive-cards/schema-explorer), all of them at schema version ≤ 1.2.
 * - `msteams: {width: "Full"}`: learn.microsoft.com/microsoftteams/platform/task-modules-and-cards/cards/cards-format
 *   ("Full width Adaptive Card").
 */
import { Field } from "@sidekick/config"
import { type FalcoEvent, goJson, goTimeString, omitEmpty, type Priority, stringOutputFields } from "@sidekick/event"
import { Effect, Redacted } from "effect"
import { define, sendEach } from "./Definition.js"
import { httpFields, outputSection } from "./OutputConfig.js"
import { defaultSlackIcon, hasWebhookUrl } from "./Slack.js"

export type TeamsOutputFormat = "all" | "text" | "facts"
export type TeamsCardFormat = "messagecard" | "adaptivecard"

export const TeamsConfig = outputSection("teams", {
  webhookurl: Field.secret(),
  activityimage: Field.string(defaultSlackIcon),
  outputformat: Field.literal(["all", "text", "facts"] as const, "all"),
  // ours: connectors (MessageCard) are retired, Workflows webhooks need an Adaptive Card
  format: Field.literal(["messagecard", "adaptivecard"] as const, "messagecard"),
  ...httpFields()
})
export type TeamsConfig = typeof TeamsConfig.Type

/** MessageCard `themeColor` per priority (falcosidekick's, catalog §0.6) */
export const teamsThemeColor: Readonly<Record<Priority, string>> = {
  Emergency: "e20b0b",
  Alert: "ff5400",
  Critical: "ff9000",
  Error: "ffc700",
  Warning: "ffff00",
  Notice: "5bffb5",
  Informational: "68c2ff",
  Debug: "ccfff2"
}

/**
 * Adaptive Card container style of the title per priority: Adaptive Cards have no free colours, only
 * host-themed styles, so the MessageCard's hues are folded onto them (reds and oranges → attention,
 * ambers and yellow → warning, green → good, blue → accent, the pale Debug → default).
 */
export const teamsAdaptiveStyle: Readonly<Record<Priority, "attention" | "warning" | "good" | "accent" | "default">> = {
  Emergency: "attention",
  Alert: "attention",
  Critical: "attention",
  Error: "warning",
  Warning: "warning",
  Notice: "good",
  Informational: "accent",
  Debug: "default"
}

export interface TeamsPayloadOptions {
  readonly outputformat: TeamsOutputFormat
  readonly activityimage: string
}

const withText = (f: TeamsOutputFormat): boolean => f === "all" || f === "text"
const withFacts = (f: TeamsOutputFormat): boolean => f === "all" || f === "facts"

/** falcosidekick's fact rows: rule, priority, source, hostname (if set), string output fields sorted, tags (if any); no time */
export const teamsFacts = (event: FalcoEvent): Array<readonly [name: string, value: string]> => {
  const facts: Array<readonly [string, string]> = [["rule", event.rule], ["priority", event.priority], ["source", event.source]]
  if (event.hostname !== "") facts.push(["hostname", event.hostname])
  facts.push(...stringOutputFields(event))
  if (event.tags.length > 0) facts.push(["tags", event.tags.join(", ")])
  return facts
}


/**
 * falcosidekick's teamsPayload, as an ordered object for goJson: `@type,summary?,themeColor?,sections`;
 * section `activityTitle,activitySubtitle,activityImage?,text,facts?` (`text` has no omitempty in Go, so
 * the `facts` format sends `"text":""`); fact `name,value`.
 */
export const teamsMessageCard = (event: FalcoEvent, o: TeamsPayloadOptions): object => ({
  "@type": "MessageCard",
  summary: omitEmpty(event.output),
  themeColor: teamsThemeColor[event.priority] ?? undefined,
  sections: [{
    activityTitle: "Falcosidekick",
    activitySubtitle: goTimeString(event),
    activityImage: omitEmpty(o.activityimage),
    text: withText(o.outputformat) ? event.output : "",
    facts: withFacts(o.outputformat) ? teamsFacts(event).map(([name, value]) => ({ name, value })) : undefined
  }]
})

/** the title band: "Falcosidekick" over the time (the MessageCard's activity title and subtitle), the image beside them when set */
const adaptiveTitle = (event: FalcoEvent, activityImage: string): object => {
  const titles = [
    { type: "TextBlock", text: "Falcosidekick", weight: "Bolder", size: "Medium", wrap: true },
    { type: "TextBlock", text: goTimeString(event), isSubtle: true, spacing: "None", wrap: true }
  ]
  const items = activityImage === ""
    ? titles
    : [{
      type: "ColumnSet",
      columns: [
        { type: "Column", width: "auto", items: [{ type: "Image", url: activityImage, size: "Small", altText: "Falcosidekick" }] },
        { type: "Column", width: "stretch", verticalContentAlignment: "Center", items: titles }
      ]
    }]
  return { type: "Container", style: teamsAdaptiveStyle[event.priority] ?? "default", bleed: true, items }
}

/**
 * The Adaptive Card (schema 1.4, the newest every Teams client renders) carrying what the MessageCard
 * carries: the output as `fallbackText` (the MessageCard's summary), a title band styled per priority,
 * the output as a TextBlock for `all|text`, the facts as a FactSet in the same order for `all|facts`.
 */
export const teamsAdaptiveCard = (event: FalcoEvent, o: TeamsPayloadOptions): object => {
  const body: Array<object> = [adaptiveTitle(event, o.activityimage)]
  if (withText(o.outputformat)) body.push({ type: "TextBlock", text: event.output, wrap: true })
  if (withFacts(o.outputformat)) {
    body.push({ type: "FactSet", facts: teamsFacts(event).map(([title, value]) => ({ title, value })) })
  }
  return {
    $schema: "http://adaptivecards.io/schemas/adaptive-card.json",
    type: "AdaptiveCard",
    version: "1.4",
    fallbackText: omitEmpty(event.output),
    body,
    msteams: { width: "Full" }
  }
}

/** the message a Workflows webhook takes: one Adaptive Card attachment */
export const teamsWorkflowMessage = (event: FalcoEvent, o: TeamsPayloadOptions): object => ({
  type: "message",
  attachments: [{ contentType: "application/vnd.microsoft.card.adaptive", contentUrl: null, content: teamsAdaptiveCard(event, o) }]
})

/** the request body: Go json.Encoder output of the MessageCard or the Workflows message */
export const teamsBody = (event: FalcoEvent, o: TeamsPayloadOptions & { readonly format: TeamsCardFormat }): string =>
  goJson(o.format === "adaptivecard" ? teamsWorkflowMessage(event, o) : teamsMessageCard(event, o)) + "\n"

export const Teams = define({
  config: TeamsConfig,
  displayName: "Teams",
  enabled: hasWebhookUrl,
  make: (c, ctx) =>
    Effect.map(ctx.http(), (http) => {
      const url = Redacted.value(c.webhookurl)
      const options = { outputformat: c.outputformat, activityimage: c.activityimage, format: c.format }
      return sendEach(http, (event) => ({ url, body: teamsBody(event, options) }))
    })
})
