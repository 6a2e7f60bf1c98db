/**
 * Webex: a room message through an incoming webhook (falcosidekick's `webex` output): `{"markdown":…}`
 * rendered from falcosidekick's fixed template, whitespace and tabs included, so rooms show the same text.
 */
import { Field } from "@sidekick/config"
import { type FalcoEvent, goJson, templateData } from "@sidekick/event"
import { mustCompileTemplate } from "@sidekick/gotemplate"
import { Effect, Redacted } from "effect"
import { define, sendEach } from "./Definition.js"
import { httpFields, outputSection } from "./OutputConfig.js"
import { hasWebhookUrl } from "./Slack.js"

export const WebexConfig = outputSection("webex", {
  webhookurl: Field.secret(),
  ...httpFields()
})
export type WebexConfig = typeof WebexConfig.Type

/** falcosidekick's markdown template, byte for byte (the trailing spaces after Source and the tabs are its own) */
export const webexMarkdownTemplate = [
  "# Falco Rule '{{ .Rule }}'",
  "",
  "### {{ .Output }}",
  "",
  "Additional informations:",
  "  * Hostname: {{ .Hostname }}",
  "  * Source:   {{ .Source }}  ",
  "  * Priority: {{ .Priority }}",
  "  * Tags:",
  "    {{ range $t := .Tags }}",
  "    * {{ $t }}",
  "    {{ end }}",
  "  * Fields:",
  "\t{{ range $key, $value := .OutputFields }}",
  "\t* {{ $key }}: {{ $value }}",
  "\t{{ end }}",
  ""
].join("\n")

const webexTemplate = mustCompileTemplate(webexMarkdownTemplate)

/** the rendered markdown; on an execution error, what was written before it, as falcosidekick sends */
export const webexMarkdown = (event: FalcoEvent): string => webexTemplate.render(templateData(event))

/** the request body: Go json.Encoder output of `{markdown}` */
export const webexBody = (event: FalcoEvent): string => goJson({ markdown: webexMarkdown(event) }) + "\n"

export const Webex = define({
  config: WebexConfig,
  displayName: "Webex",
  enabled: hasWebhookUrl,
  make: (c, ctx) =>
    Effect.map(ctx.http(), (http) => {
      const url = Redacted.value(c.webhookurl)
      return sendEach(http, (event) => ({ url, body: webexBody(event) }))
    })
})
