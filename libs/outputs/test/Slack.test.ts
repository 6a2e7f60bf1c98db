import { it } from "@effect/vitest"
import { eventWith, makeReceiver, referenceEvent, referenceOutput as O } from "@sidekick/testing"
import { Effect, Either } from "effect"
import { describe, expect } from "vitest"
import { Slack, slackBody, SlackConfig, type SlackPayloadOptions } from "../src/Slack.js"
import { config, decode, jsonHeaders, startSingle } from "./helpers.js"

const icon = "https://raw.githubusercontent.com/falcosecurity/falcosidekick/master/imgs/falcosidekick_color.png"
const footer = "https://github.com/falcosecurity/falcosidekick"

const fieldsJson =
  `[{"title":"rule","value":"Terminal shell in container","short":true},{"title":"priority","value":"Critical","short":true},{"title":"source","value":"syscall","short":true},{"title":"hostname","value":"node-1","short":true},{"title":"tags","value":"T1059, container, mitre_execution, shell","short":true},{"title":"container.id","value":"abc123","short":true},{"title":"k8s.ns.name","value":"default","short":true},{"title":"k8s.pod.name","value":"nginx-1","short":true},{"title":"proc.name","value":"bash","short":true},{"title":"user.name","value":"root","short":true},{"title":"time","value":"2024-05-06 10:20:30.123456789 +0000 UTC","short":false}]`

/** falcosidekick's payload for the reference event, with the default keys */
const catalogExample =
  `{"username":"Falcosidekick","icon_url":"${icon}","attachments":[{"fallback":"${O}","color":"#ff5400","text":"${O}","fields":${fieldsJson},"footer":"${footer}"}]}\n`

const defaults: SlackPayloadOptions = { outputformat: "all", footer, icon, username: "Falcosidekick", channel: "" }

describe("Slack", () => {
  it("payload: falcosidekick's, with the default keys", () => {
    expect(slackBody(referenceEvent, defaults)).toBe(catalogExample)
  })

  it("payload: text format has fields null and no footer; fields format has no text", () => {
    expect(slackBody(referenceEvent, { ...defaults, outputformat: "text" })).toBe(
      `{"username":"Falcosidekick","icon_url":"${icon}","attachments":[{"fallback":"${O}","color":"#ff5400","text":"${O}","fields":null}]}\n`
    )
    expect(slackBody(referenceEvent, { ...defaults, outputformat: "fields" })).toBe(
      `{"username":"Falcosidekick","icon_url":"${icon}","attachments":[{"fallback":"${O}","color":"#ff5400","fields":${fieldsJson},"footer":"${footer}"}]}\n`
    )
  })

  it("payload: channel, colours, short only under 36 runes, no hostname/tags when empty", () => {
    const long = "é".repeat(36)
    const e = eventWith({
      priority: "Warning",
      hostname: "",
      tags: [],
      output_fields: { "a.long": long, "b.short": "é".repeat(35), "n": 1, "t": true }
    })
    const body = JSON.parse(slackBody(e, { ...defaults, channel: "#sec", username: "", icon: "" }))
    expect(Object.keys(body)).toEqual(["channel", "attachments"])
    expect(body.channel).toBe("#sec")
    expect(body.attachments[0].color).toBe("#ffc700")
    expect(body.attachments[0].fields.map((f: { title: string }) => f.title)).toEqual(["rule", "priority", "source", "a.long", "b.short", "time"])
    expect(body.attachments[0].fields[3].short).toBe(false)
    expect(body.attachments[0].fields[4].short).toBe(true)
  })

  it("config: defaults, secret webhook url, bad outputformat is a config error", () => {
    const c = config(SlackConfig, {})
    expect(c.footer).toBe(footer)
    expect(c.icon).toBe(icon)
    expect(c.username).toBe("Falcosidekick")
    expect(c.outputformat).toBe("all")
    expect(Slack.enabled(c)).toBe(false)
    const bad = decode(SlackConfig, { webhookurl: "https://hooks.slack.com/services/T/B/secret", outputformat: "bogus" })
    expect(Either.isLeft(bad)).toBe(true)
    if (Either.isLeft(bad)) {
      expect(bad.left.message).toContain("slack.outputformat")
      expect(bad.left.message).not.toContain("secret")
    }
  })

  it.scoped("sends falcosidekick's payload to the webhook URL", () =>
    Effect.gen(function*() {
      const rx = yield* makeReceiver()
      const output = yield* startSingle(Slack, config(SlackConfig, { webhookurl: `${rx.url}/services/T000/B000/XXXX` }))
      expect(output.testRuleBypass).toBe(true)
      yield* output.send(referenceEvent)
      const [r] = yield* rx.waitFor(1)
      expect(r!.method).toBe("POST")
      expect(r!.path).toBe("/services/T000/B000/XXXX")
      expect(r!.headers).toMatchObject(jsonHeaders)
      expect(r!.body).toBe(catalogExample)
    }))

  it.scoped("messageformat renders the Go template into text", () =>
    Effect.gen(function*() {
      const rx = yield* makeReceiver()
      const output = yield* startSingle(
        Slack,
        config(SlackConfig, {
          webhookurl: rx.url,
          messageformat: `Alert: *{{ .Rule }}* on {{ index .OutputFields "k8s.pod.name" }}`,
          outputformat: "text"
        })
      )
      yield* output.send(referenceEvent)
      const [r] = yield* rx.waitFor(1)
      expect(r!.body).toBe(
        `{"text":"Alert: *Terminal shell in container* on nginx-1","username":"Falcosidekick","icon_url":"${icon}","attachments":[{"fallback":"${O}","color":"#ff5400","text":"${O}","fields":null}]}\n`
      )
    }))

  it.scoped("a messageformat that does not compile is an OutputInitError naming slack.messageformat", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(startSingle(Slack, config(SlackConfig, { webhookurl: "http://127.0.0.1:1", messageformat: "{{ .Rule " })))
      expect(error._tag).toBe("OutputInitError")
      expect(error.key).toBe("slack.messageformat")
      expect(error.message).toContain("slack.messageformat")
    }))
})
