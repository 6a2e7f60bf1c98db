import { it } from "@effect/vitest"
import { priorities } from "@sidekick/event"
import { compileTemplate } from "@sidekick/gotemplate"
import { eventWith, makeReceiver, referenceEvent, referenceOutput as O, status } from "@sidekick/testing"
import { Effect, Either } from "effect"
import { describe, expect } from "vitest"
import { RocketChat, rocketChatBody, RocketChatConfig, type RocketChatPayloadOptions } from "../src/RocketChat.js"
import { config, decode, jsonHeaders, startSingle } from "./helpers.js"

const colorIcon = "https://raw.githubusercontent.com/falcosecurity/falcosidekick/master/imgs/falcosidekick_color.png"
const plainIcon = "https://raw.githubusercontent.com/falcosecurity/falcosidekick/master/imgs/falcosidekick.png"
const T = "2024-05-06 10:20:30.123456789 +0000 UTC"

/** Rocket.Chat's order: rule, priority, source, tags, string output fields, time, hostname */
const fieldsJson = `[{"title":"rule","value":"Terminal shell in container","short":true},{"title":"priority","value":"Critical","short":true},` +
  `{"title":"source","value":"syscall","short":true},{"title":"tags","value":"T1059, container, mitre_execution, shell","short":true},` +
  `{"title":"container.id","value":"abc123","short":true},{"title":"k8s.ns.name","value":"default","short":true},` +
  `{"title":"k8s.pod.name","value":"nginx-1","short":true},{"title":"proc.name","value":"bash","short":true},` +
  `{"title":"user.name","value":"root","short":true},{"title":"time","value":"${T}","short":false},{"title":"hostname","value":"node-1","short":true}]`

/** falcosidekick's payload for the reference event with the default keys (catalog §1.2): no channel, no footer */
const catalogExample =
  `{"username":"Falcosidekick","icon_url":"${colorIcon}","attachments":[{"fallback":"${O}","color":"#ff5400","text":"${O}","fields":${fieldsJson}}]}\n`

const defaults: RocketChatPayloadOptions = { outputformat: "all", icon: colorIcon, username: "Falcosidekick" }

describe("Rocket.Chat", () => {
  it("payload: falcosidekick's, with the default keys", () => {
    expect(rocketChatBody(referenceEvent, defaults)).toBe(catalogExample)
  })

  it("payload: fields format has no attachment text; text format has no attachment at all", () => {
    expect(rocketChatBody(referenceEvent, { ...defaults, outputformat: "fields" })).toBe(
      `{"username":"Falcosidekick","icon_url":"${colorIcon}","attachments":[{"fallback":"${O}","color":"#ff5400","fields":${fieldsJson}}]}\n`
    )
    expect(rocketChatBody(referenceEvent, { ...defaults, outputformat: "text" })).toBe(
      `{"username":"Falcosidekick","icon_url":"${colorIcon}"}\n`
    )
  })

  it("payload: empty icon falls back to falcosidekick.png, empty username is omitted", () => {
    expect(rocketChatBody(referenceEvent, { ...defaults, icon: "", username: "", outputformat: "text" })).toBe(`{"icon_url":"${plainIcon}"}\n`)
  })

  it("payload: no hostname or tags rows when empty; short only under 36 runes; only string output fields", () => {
    const e = eventWith({ hostname: "", tags: [], output_fields: { "b.short": "é".repeat(35), "a.long": "é".repeat(36), "n": 1, "t": true } })
    const fields = JSON.parse(rocketChatBody(e, defaults)).attachments[0].fields
    expect(fields.map((f: { title: string }) => f.title)).toEqual(["rule", "priority", "source", "a.long", "b.short", "time"])
    expect(fields[3].short).toBe(false)
    expect(fields[4].short).toBe(true)
  })

  it("payload: the colour per priority (catalog §0.6)", () => {
    const expected = {
      Emergency: "#e20b0b",
      Alert: "#ff5400",
      Critical: "#ff5400",
      Error: "#e20b0b",
      Warning: "#ffc700",
      Notice: "#5bffb5",
      Informational: "#68c2ff",
      Debug: "#ccfff2"
    }
    for (const priority of priorities) {
      const attachment = JSON.parse(rocketChatBody(eventWith({ priority }), defaults)).attachments[0]
      expect(attachment.color).toBe(expected[priority])
      expect(attachment.fields[1]).toEqual({ title: "priority", value: priority, short: true })
    }
  })

  it("payload: a messageformat failing on the event is left out, not sent half-rendered", () => {
    const failing = Either.getOrThrow(compileTemplate("{{ .Rule }} {{ index .Tags 10 }}"))
    const body = JSON.parse(rocketChatBody(referenceEvent, { ...defaults, messageformat: failing }))
    expect(Object.keys(body)).toEqual(["username", "icon_url", "attachments"])
    const working = Either.getOrThrow(compileTemplate("{{ .Rule }} {{ index .Tags 0 }}"))
    expect(JSON.parse(rocketChatBody(referenceEvent, { ...defaults, messageformat: working })).text).toBe("Terminal shell in container T1059")
  })

  it("payload: non-ASCII is sent as UTF-8, <, > and & escaped as Go does", () => {
    const e = eventWith({ rule: "Shell im Behälter 🐚", output: "Ünïcödé <b>&</b>" })
    const body = rocketChatBody(e, defaults)
    expect(body).toContain(`"fallback":"Ünïcödé \\u003cb\\u003e\\u0026\\u003c/b\\u003e"`)
    expect(body).toContain(`{"title":"rule","value":"Shell im Behälter 🐚","short":true}`)
  })

  it("config: defaults; the webhook url is a secret that no config error shows", () => {
    const c = config(RocketChatConfig, {})
    expect(c.footer).toBe("https://github.com/falcosecurity/falcosidekick")
    expect(c.icon).toBe(colorIcon)
    expect(c.username).toBe("Falcosidekick")
    expect(c.outputformat).toBe("all")
    expect(c.messageformat).toBe("")
    expect(c.checkcert).toBe(true)
    expect(c.mutualtls).toBe(false)
    expect(c.maxconcurrentrequests).toBe(1)
    expect(RocketChat.enabled(c)).toBe(false)
    expect(RocketChat.displayName).toBe("Rocketchat")
    expect(RocketChatConfig.keys[0]!.key).toBe("rocketchat.webhookurl")
    const bad = decode(RocketChatConfig, { webhookurl: "https://rc.example/hooks/s3cr3t", outputformat: "bogus" })
    expect(Either.isLeft(bad)).toBe(true)
    if (Either.isLeft(bad)) {
      expect(bad.left.message).toContain("rocketchat.outputformat")
      expect(bad.left.message).not.toContain("s3cr3t")
    }
  })

  it.scoped("sends falcosidekick's payload to the webhook URL; a configured footer is not sent", () =>
    Effect.gen(function*() {
      const rx = yield* makeReceiver()
      const output = yield* startSingle(RocketChat, config(RocketChatConfig, { webhookurl: `${rx.url}/hooks/XXX/YYY`, footer: "ignored" }))
      yield* output.send(referenceEvent)
      const [r] = yield* rx.waitFor(1)
      expect(r!.method).toBe("POST")
      expect(r!.path).toBe("/hooks/XXX/YYY")
      expect(r!.headers).toMatchObject(jsonHeaders)
      expect(r!.body).toBe(catalogExample)
    }))

  it.scoped("messageformat renders the Go template into text; with the text format it is all that is sent", () =>
    Effect.gen(function*() {
      const rx = yield* makeReceiver()
      const output = yield* startSingle(
        RocketChat,
        config(RocketChatConfig, { webhookurl: rx.url, messageformat: `Alert: {{ .Rule }} by {{ index .OutputFields "user.name" }}`, outputformat: "text" })
      )
      yield* output.send(referenceEvent)
      const [r] = yield* rx.waitFor(1)
      expect(r!.body).toBe(`{"text":"Alert: Terminal shell in container by root","username":"Falcosidekick","icon_url":"${colorIcon}"}\n`)
    }))

  it.scoped("a messageformat that does not compile is an OutputInitError naming rocketchat.messageformat", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(startSingle(RocketChat, config(RocketChatConfig, { webhookurl: "http://127.0.0.1:1", messageformat: "{{ .Rule " })))
      expect(error._tag).toBe("OutputInitError")
      expect(error.key).toBe("rocketchat.messageformat")
      expect(error.message).toContain("rocketchat.messageformat")
    }))

  it.scoped("a 4xx is a permanent Status error carrying the status, without the token", () =>
    Effect.gen(function*() {
      const rx = yield* makeReceiver({ responses: [status(400, "bad request")] })
      const output = yield* startSingle(RocketChat, config(RocketChatConfig, { webhookurl: `${rx.url}/hooks/XXX/s3cr3t` }))
      const error = yield* Effect.flip(output.send(referenceEvent))
      expect(error.reason).toBe("Status")
      expect(error.status).toBe(400)
      expect(error.retryable).toBe(false)
      expect(error.message).not.toContain("s3cr3t")
    }))
})
