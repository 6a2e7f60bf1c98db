/**
 * Gotify: a message to `{hostport}/message` (falcosidekick's `gotify` output: title, the Falco priority as a
 * 1-8 priority, the event rendered as markdown, plain text or JSON, and the display content type in `extras`).
 */
import { Field } from "@sidekick/config"
import { eventJson, type FalcoEvent, goJson, rank, templateData } from "@sidekick/event"
import { mustCompileTemplate } from "@sidekick/gotemplate"
import { Effect, Redacted } from "effect"
import { define, sendEach } from "./Definition.js"
import { outputSection } from "./OutputConfig.js"

export const GotifyConfig = outputSection("gotify", {
  hostport: Field.string(),
  token: Field.secret(),
  format: Field.literal(["markdown", "plaintext", "text", "json"] as const, "markdown", { caseInsensitive: true }),
  // falcosidekick builds this client with checkcert only: mutualtls and maxconcurrentrequests do not exist here
  checkcert: Field.bool(true)
})
export type GotifyConfig = typeof GotifyConfig.Type

export type GotifyFormat = GotifyConfig["format"]

/** falcosidekick's templates, byte for byte: a tab before each markdown field bullet; `{{ end -}}` eats the last newline */
export const gotifyMarkdownSource = `- **Priority**: {{ .Priority }}
- **Rule**: {{ .Rule }}
- **Output**: {{ .Output }}
- **Source**: {{ .Source }}
- **Tags**: {{ range .Tags }}{{ . }} {{ end }}
- **Time**: {{ .Time }}
- **Fields**:
{{ range $key, $value := .OutputFields }}\t- **{{ $key }}**: {{ $value }}
{{ end -}}
`

export const gotifyTextSource = `Priority: {{ .Priority }}
Rule: {{ .Rule }}
Output: {{ .Output }}
Source: {{ .Source }}
Tags: {{ range .Tags }}{{ . }} {{ end }}
Time: {{ .Time }}
Fields:
{{ range $key, $value := .OutputFields }}- {{ $key }}: {{ $value }}
{{ end -}}
`

const markdownTemplate = mustCompileTemplate(gotifyMarkdownSource)
const textTemplate = mustCompileTemplate(gotifyTextSource)

/** the message and its display content type for a format */
const gotifyMessage = (event: FalcoEvent, format: GotifyFormat): { readonly message: string; readonly contentType: string } => {
  if (format === "json") return { message: eventJson(event), contentType: "plaintext" }
  const plain = format === "plaintext" || format === "text"
  const result = (plain ? textTemplate : markdownTemplate).execute(templateData(event))
  // falcosidekick's fallback when the template fails: the output line, with its initial content type
  if (result.error !== undefined) return { message: event.output, contentType: "text/markdown" }
  return { message: result.output, contentType: plain ? "plaintext" : "markdown" }
}

/** falcosidekick's gotifyPayload: `title,priority,message,extras` (priority = rank: Debug 1 ... Emergency 8) */
export const gotifyPayload = (event: FalcoEvent, format: GotifyFormat): object => {
  const { contentType, message } = gotifyMessage(event, format)
  return {
    title: `[Falco] [${event.priority}] ${event.rule}`,
    priority: rank(event.priority),
    message,
    extras: { "client::display": { contentType } }
  }
}

/** the request body: Go json.Encoder output of gotifyPayload */
export const gotifyBody = (event: FalcoEvent, format: GotifyFormat): string => goJson(gotifyPayload(event, format)) + "\n"

export const Gotify = define({
  config: GotifyConfig,
  displayName: "Gotify",
  enabled: (c) => c.hostport !== "",
  make: (c, ctx) =>
    Effect.map(ctx.http(), (http) => {
      const url = `${c.hostport}/message`
      const token = Redacted.value(c.token)
      const headers: Record<string, string> = token === "" ? {} : { "X-Gotify-Key": token }
      return sendEach(http, (event) => ({ url, headers, body: gotifyBody(event, c.format) }))
    })
})
