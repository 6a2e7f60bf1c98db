import { it } from "@effect/vitest"
import { priorities } from "@sidekick/event"
import { eventWith, makeReceiver, referenceEvent, referenceOutput as O, status } from "@sidekick/testing"
import { Effect, Either } from "effect"
import { describe, expect } from "vitest"
import { Teams, teamsBody, TeamsConfig } from "../src/Teams.js"
import { config, decode, jsonHeaders, startSingle } from "./helpers.js"

const image = "https://raw.githubusercontent.com/falcosecurity/falcosidekick/master/imgs/falcosidekick_color.png"
const T = "2024-05-06 10:20:30.123456789 +0000 UTC"
const token = "https://example.webhook.office.com/webhookb2/abc/IncomingWebhook/def/s3cr3t-sig"

const factsJson = `[{"name":"rule","value":"Terminal shell in container"},{"name":"priority","value":"Critical"},` +
  `{"name":"source","value":"syscall"},{"name":"hostname","value":"node-1"},{"name":"container.id","value":"abc123"},` +
  `{"name":"k8s.ns.name","value":"default"},{"name":"k8s.pod.name","value":"nginx-1"},{"name":"proc.name","value":"bash"},` +
  `{"name":"user.name","value":"root"},{"name":"tags","value":"T1059, container, mitre_execution, shell"}]`

/** the catalog's §1.4 MessageCard for the reference event, with the default keys */
const catalogExample =
  `{"@type":"MessageCard","summary":"${O}","themeColor":"ff9000","sections":[{"activityTitle":"Falcosidekick","activitySubtitle":"${T}",` +
  `"activityImage":"${image}","text":"${O}","facts":${factsJson}}]}\n`

const adaptiveFactsJson = factsJson.replaceAll(`{"name":`, `{"title":`)

/** the Adaptive Card design for the reference event, with the default keys */
const adaptiveExample = `{"type":"message","attachments":[{"contentType":"application/vnd.microsoft.card.adaptive","contentUrl":null,"content":{` +
  `"$schema":"http://adaptivecards.io/schemas/adaptive-card.json","type":"AdaptiveCard","version":"1.4","fallbackText":"${O}","body":[` +
  `{"type":"Container","style":"attention","bleed":true,"items":[{"type":"ColumnSet","columns":[` +
  `{"type":"Column","width":"auto","items":[{"type":"Image","url":"${image}","size":"Small","altText":"Falcosidekick"}]},` +
  `{"type":"Column","width":"stretch","verticalContentAlignment":"Center","items":[` +
  `{"type":"TextBlock","text":"Falcosidekick","weight":"Bolder","size":"Medium","wrap":true},` +
  `{"type":"TextBlock","text":"${T}","isSubtle":true,"spacing":"None","wrap":true}]}]}]},` +
  `{"type":"TextBlock","text":"${O}","wrap":true},{"type":"FactSet","facts":${adaptiveFactsJson}}],"msteams":{"width":"Full"}}}]}\n`

const messageCard = { outputformat: "all", activityimage: image, format: "messagecard" } as const
const adaptiveCard = { ...messageCard, format: "adaptivecard" } as const

interface AdaptiveElement {
  readonly type: string
  readonly style?: string
  readonly text?: string
  readonly items?: ReadonlyArray<AdaptiveElement>
  readonly facts?: ReadonlyArray<{ title: string; value: string }>
}
const adaptiveBody = (body: string): ReadonlyArray<AdaptiveElement> => JSON.parse(body).attachments[0].content.body

describe("Teams", () => {
  it("MessageCard: falcosidekick's for the reference event (string output fields only, no time fact)", () => {
    expect(teamsBody(referenceEvent, messageCard)).toBe(catalogExample)
  })

  it("MessageCard: text format has the output and no facts; facts format keeps an empty text, as Go serialises it", () => {
    expect(teamsBody(referenceEvent, { ...messageCard, outputformat: "text" })).toBe(
      `{"@type":"MessageCard","summary":"${O}","themeColor":"ff9000","sections":[{"activityTitle":"Falcosidekick","activitySubtitle":"${T}","activityImage":"${image}","text":"${O}"}]}\n`
    )
    expect(teamsBody(referenceEvent, { ...messageCard, outputformat: "facts" })).toBe(
      `{"@type":"MessageCard","summary":"${O}","themeColor":"ff9000","sections":[{"activityTitle":"Falcosidekick","activitySubtitle":"${T}","activityImage":"${image}","text":"","facts":${factsJson}}]}\n`
    )
  })

  it("MessageCard: no activityImage when it is empty; no hostname or tags fact when the event has none", () => {
    const e = eventWith({ hostname: "", tags: [], output_fields: { "z": "last", "a": "first", "n": 7, "b": true } })
    const section = JSON.parse(teamsBody(e, { ...messageCard, activityimage: "" })).sections[0]
    expect(Object.keys(section)).toEqual(["activityTitle", "activitySubtitle", "text", "facts"])
    expect(section.facts.map((f: { name: string }) => f.name)).toEqual(["rule", "priority", "source", "a", "z"])
  })

  it("MessageCard: themeColor per priority (catalog §0.6)", () => {
    const expected = {
      Emergency: "e20b0b",
      Alert: "ff5400",
      Critical: "ff9000",
      Error: "ffc700",
      Warning: "ffff00",
      Notice: "5bffb5",
      Informational: "68c2ff",
      Debug: "ccfff2"
    }
    for (const priority of priorities) {
      const body = JSON.parse(teamsBody(eventWith({ priority }), messageCard))
      expect(body.themeColor).toBe(expected[priority])
      expect(body.sections[0].facts[1]).toEqual({ name: "priority", value: priority })
    }
  })

  it("Adaptive Card: the reference event as a Workflows message", () => {
    expect(teamsBody(referenceEvent, adaptiveCard)).toBe(adaptiveExample)
  })

  it("Adaptive Card: the title container's style per priority", () => {
    const expected = {
      Emergency: "attention",
      Alert: "attention",
      Critical: "attention",
      Error: "warning",
      Warning: "warning",
      Notice: "good",
      Informational: "accent",
      Debug: "default"
    }
    for (const priority of priorities) {
      const [title] = adaptiveBody(teamsBody(eventWith({ priority }), adaptiveCard))
      expect(title!.type).toBe("Container")
      expect(title!.style).toBe(expected[priority])
    }
  })

  it("Adaptive Card: text format has only the output, facts format only the FactSet, in the MessageCard's order", () => {
    const text = adaptiveBody(teamsBody(referenceEvent, { ...adaptiveCard, outputformat: "text" }))
    expect(text.map((e) => e.type)).toEqual(["Container", "TextBlock"])
    expect(text[1]!.text).toBe(O)
    const facts = adaptiveBody(teamsBody(referenceEvent, { ...adaptiveCard, outputformat: "facts" }))
    expect(facts.map((e) => e.type)).toEqual(["Container", "FactSet"])
    const card = JSON.parse(teamsBody(referenceEvent, { ...messageCard, outputformat: "facts" }))
    expect(facts[1]!.facts).toEqual(card.sections[0].facts.map((f: { name: string; value: string }) => ({ title: f.name, value: f.value })))
  })

  it("Adaptive Card: without an activityimage the title has no Image, just the two TextBlocks", () => {
    const [title] = adaptiveBody(teamsBody(referenceEvent, { ...adaptiveCard, activityimage: "" }))
    expect(title!.items).toEqual([
      { type: "TextBlock", text: "Falcosidekick", weight: "Bolder", size: "Medium", wrap: true },
      { type: "TextBlock", text: T, isSubtle: true, spacing: "None", wrap: true }
    ])
  })

  it("non-ASCII rule and output are sent as UTF-8, <, > and & escaped as Go does", () => {
    const e = eventWith({ rule: "Shell im Behälter 🐚", output: "Ünïcödé <b>&</b>", output_fields: { "user.name": "José" } })
    for (const format of ["messagecard", "adaptivecard"] as const) {
      const body = teamsBody(e, { ...messageCard, format })
      expect(body).toContain(`"Ünïcödé \\u003cb\\u003e\\u0026\\u003c/b\\u003e"`)
      expect(body).toContain(`"value":"Shell im Behälter 🐚"`)
      expect(body).toContain(`"value":"José"`)
    }
  })

  it("config: defaults; format messagecard|adaptivecard; the webhook url is a secret no config error shows", () => {
    const c = config(TeamsConfig, {})
    expect(c.activityimage).toBe(image)
    expect(c.outputformat).toBe("all")
    expect(c.format).toBe("messagecard")
    expect(c.checkcert).toBe(true)
    expect(c.mutualtls).toBe(false)
    expect(c.maxconcurrentrequests).toBe(1)
    expect(c.minimumpriority).toBe("")
    expect(Teams.enabled(c)).toBe(false)
    expect(Teams.enabled(config(TeamsConfig, { webhookurl: token }))).toBe(true)
    expect(Teams.displayName).toBe("Teams")
    expect(TeamsConfig.keys[0]!.key).toBe("teams.webhookurl")
    expect(config(TeamsConfig, {}, { TEAMS_FORMAT: "adaptivecard" }).format).toBe("adaptivecard")
    for (const [key, value] of [["format", "workflow"], ["outputformat", "fields"]] as const) {
      const bad = decode(TeamsConfig, { webhookurl: token, [key]: value })
      expect(Either.isLeft(bad)).toBe(true)
      if (Either.isLeft(bad)) {
        expect(bad.left.message).toContain(`teams.${key}`)
        expect(bad.left.message).not.toContain("s3cr3t")
      }
    }
  })

  it.scoped("sends the MessageCard to the webhook URL", () =>
    Effect.gen(function*() {
      const rx = yield* makeReceiver()
      const output = yield* startSingle(Teams, config(TeamsConfig, { webhookurl: `${rx.url}/webhookb2/abc/IncomingWebhook/def` }))
      yield* output.send(referenceEvent)
      const [r] = yield* rx.waitFor(1)
      expect(r!.method).toBe("POST")
      expect(r!.path).toBe("/webhookb2/abc/IncomingWebhook/def")
      expect(r!.headers).toMatchObject(jsonHeaders)
      expect(r!.body).toBe(catalogExample)
    }))

  it.scoped("format adaptivecard sends the Workflows message; the workflow's 202 is a success", () =>
    Effect.gen(function*() {
      const rx = yield* makeReceiver({ responses: [status(202)] })
      const output = yield* startSingle(
        Teams,
        config(TeamsConfig, { webhookurl: `${rx.url}/workflows/abc/triggers/manual/paths/invoke?sig=xyz`, format: "adaptivecard" })
      )
      yield* output.send(referenceEvent)
      const [r] = yield* rx.waitFor(1)
      expect(r!.method).toBe("POST")
      expect(r!.path).toBe("/workflows/abc/triggers/manual/paths/invoke?sig=xyz")
      expect(r!.headers).toMatchObject(jsonHeaders)
      expect(r!.body).toBe(adaptiveExample)
    }))

  it.scoped("a 4xx is a permanent Status error carrying the status, without the signature", () =>
    Effect.gen(function*() {
      const rx = yield* makeReceiver({ responses: [status(400, "Bad payload")] })
      const output = yield* startSingle(Teams, config(TeamsConfig, { webhookurl: `${rx.url}/webhookb2/s3cr3t-sig` }))
      const error = yield* Effect.flip(output.send(referenceEvent))
      expect(error.reason).toBe("Status")
      expect(error.status).toBe(400)
      expect(error.retryable).toBe(false)
      expect(error.message).not.toContain("s3cr3t")
    }))
})
