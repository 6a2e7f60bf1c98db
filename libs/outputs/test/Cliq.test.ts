import { it } from "@effect/vitest"
import { type FalcoEvent, priorities } from "@sidekick/event"
import { compileTemplate } from "@sidekick/gotemplate"
import { eventWith, makeReceiver, referenceEvent, referenceOutput as O, status } from "@sidekick/testing"
import { Effect, Either } from "effect"
import { describe, expect } from "vitest"
import { Cliq, cliqBody, CliqConfig, type CliqPayloadOptions } from "../src/Cliq.js"
import { config, decode, startSingle } from "./helpers.js"

const colorIcon = "https://raw.githubusercontent.com/falcosecurity/falcosidekick/master/imgs/falcosidekick_color.png"
const plainIcon = "https://raw.githubusercontent.com/falcosecurity/falcosidekick/master/imgs/falcosidekick.png"
const T = "2024-05-06 10:20:30.123456789 +0000 UTC"

const bot = `{"name":"Falcosidekick","image":"${colorIcon}"}`
/** rule, priority, hostname, string output fields, time: no source, no tags (catalog §1.8) */
const tableSlide = `{"type":"table","data":{"headers":["field","value"],"rows":[{"field":"rule","value":"Terminal shell in container"},` +
  `{"field":"priority","value":"Critical"},{"field":"hostname","value":"node-1"},{"field":"container.id","value":"abc123"},` +
  `{"field":"k8s.ns.name","value":"default"},{"field":"k8s.pod.name","value":"nginx-1"},{"field":"proc.name","value":"bash"},` +
  `{"field":"user.name","value":"root"},{"field":"time","value":"${T}"}]}}`
const textSlide = `{"type":"text","data":"${O}"}`

/** falcosidekick's payload for the reference event with the default keys */
const catalogExample = `{"text":"${O}","bot":${bot},"slides":[${tableSlide}]}\n`

const defaults: CliqPayloadOptions = { outputformat: "all", icon: colorIcon, useemoji: false }

const template = (source: string) => Either.getOrThrow(compileTemplate(source))
const ruleTemplate = template("Rule: {{ .Rule }} Priority: {{ .Priority }}")
const ruleText = "Rule: Terminal shell in container Priority: Critical"

describe("Cliq", () => {
  it("payload: falcosidekick's, with the default keys", () => {
    expect(cliqBody(referenceEvent, defaults)).toBe(catalogExample)
  })

  it("payload: without messageformat the text is the output; the text format then has no slides", () => {
    expect(cliqBody(referenceEvent, { ...defaults, outputformat: "fields" })).toBe(catalogExample)
    expect(cliqBody(referenceEvent, { ...defaults, outputformat: "text" })).toBe(`{"text":"${O}","bot":${bot}}\n`)
  })

  it("payload: with messageformat the text is the template and the output becomes a text slide (all, text)", () => {
    const withTemplate = { ...defaults, messageformat: ruleTemplate }
    expect(cliqBody(referenceEvent, withTemplate)).toBe(`{"text":"${ruleText}","bot":${bot},"slides":[${textSlide},${tableSlide}]}\n`)
    expect(cliqBody(referenceEvent, { ...withTemplate, outputformat: "text" })).toBe(`{"text":"${ruleText}","bot":${bot},"slides":[${textSlide}]}\n`)
    expect(cliqBody(referenceEvent, { ...withTemplate, outputformat: "fields" })).toBe(`{"text":"${ruleText}","bot":${bot},"slides":[${tableSlide}]}\n`)
  })

  it("payload: a messageformat failing on the event leaves the text empty and drops the output slide", () => {
    const failing = { ...defaults, messageformat: template("{{ .Rule }} {{ index .Tags 10 }}") }
    expect(cliqBody(referenceEvent, failing)).toBe(`{"text":"","bot":${bot},"slides":[${tableSlide}]}\n`)
    expect(cliqBody(referenceEvent, { ...failing, outputformat: "text" })).toBe(`{"text":"","bot":${bot}}\n`)
  })

  it("payload: an empty icon falls back to falcosidekick.png; no hostname row without a hostname; only string output fields", () => {
    const e = eventWith({ hostname: "", output_fields: { "z": "last", "a": "first", "n": 7, "b": true } })
    const body = JSON.parse(cliqBody(e, { ...defaults, icon: "" }))
    expect(body.bot).toEqual({ name: "Falcosidekick", image: plainIcon })
    expect(body.slides[0].data.rows.map((r: { field: string }) => r.field)).toEqual(["rule", "priority", "a", "z", "time"])
  })

  it("payload: useemoji puts the priority's emoji and a space before the text (catalog §0.6)", () => {
    const expected = {
      Emergency: "🚨",
      Alert: "🟠",
      Critical: "🟠",
      Error: "🚨",
      Warning: "🟡",
      Notice: "🔵",
      Informational: "🟢",
      Debug: "⚪"
    }
    const text = (e: FalcoEvent, o: CliqPayloadOptions) => JSON.parse(cliqBody(e, o)).text
    for (const priority of priorities) {
      const e = eventWith({ priority })
      expect(text(e, { ...defaults, useemoji: true })).toBe(`${expected[priority]} ${O}`)
      expect(text(e, { ...defaults, useemoji: true, messageformat: ruleTemplate })).toBe(`${expected[priority]} Rule: Terminal shell in container Priority: ${priority}`)
      expect(text(e, defaults)).toBe(O)
    }
    expect(expected.Debug.codePointAt(0)).toBe(0x26aa)
    expect(expected.Warning.codePointAt(0)).toBe(0x1f7e1)
  })

  it("payload: non-ASCII is sent as UTF-8, <, > and & escaped as Go does", () => {
    const e = eventWith({ rule: "Shell im Behälter 🐚", output: "Ünïcödé <b>&</b>" })
    const body = cliqBody(e, { ...defaults, useemoji: true })
    expect(body).toContain(`"text":"🟠 Ünïcödé \\u003cb\\u003e\\u0026\\u003c/b\\u003e"`)
    expect(body).toContain(`{"field":"rule","value":"Shell im Behälter 🐚"}`)
  })

  it("config: defaults (useemoji false); the webhook url is a secret that no config error shows", () => {
    const c = config(CliqConfig, {})
    expect(c.icon).toBe(colorIcon)
    expect(c.useemoji).toBe(false)
    expect(c.outputformat).toBe("all")
    expect(c.messageformat).toBe("")
    expect(c.checkcert).toBe(true)
    expect(c.mutualtls).toBe(false)
    expect(c.maxconcurrentrequests).toBe(1)
    expect(Cliq.enabled(c)).toBe(false)
    expect(Cliq.displayName).toBe("Cliq")
    expect(CliqConfig.keys[0]!.key).toBe("cliq.webhookurl")
    const bad = decode(CliqConfig, { webhookurl: "https://cliq.zoho.eu/api/v2/channelsbyname/c/message?zapikey=s3cr3t", outputformat: "bogus" })
    expect(Either.isLeft(bad)).toBe(true)
    if (Either.isLeft(bad)) {
      expect(bad.left.message).toContain("cliq.outputformat")
      expect(bad.left.message).not.toContain("s3cr3t")
    }
  })

  it.scoped("sends falcosidekick's payload to the webhook URL as application/json without charset", () =>
    Effect.gen(function*() {
      const rx = yield* makeReceiver()
      const output = yield* startSingle(Cliq, config(CliqConfig, { webhookurl: `${rx.url}/api/v2/channelsbyname/alerts/message?zapikey=YYY` }))
      yield* output.send(referenceEvent)
      const [r] = yield* rx.waitFor(1)
      expect(r!.method).toBe("POST")
      expect(r!.path).toBe("/api/v2/channelsbyname/alerts/message?zapikey=YYY")
      expect(r!.headers["content-type"]).toBe("application/json")
      expect(r!.headers["user-agent"]).toBe("Falcosidekick")
      expect(r!.body).toBe(catalogExample)
    }))

  it.scoped("messageformat and useemoji from the config", () =>
    Effect.gen(function*() {
      const rx = yield* makeReceiver()
      const output = yield* startSingle(
        Cliq,
        config(CliqConfig, { webhookurl: rx.url, messageformat: "Rule: {{ .Rule }} Priority: {{ .Priority }}", useemoji: true, outputformat: "text" })
      )
      yield* output.send(referenceEvent)
      const [r] = yield* rx.waitFor(1)
      expect(r!.body).toBe(`{"text":"🟠 ${ruleText}","bot":${bot},"slides":[${textSlide}]}\n`)
    }))

  it.scoped("a messageformat that does not compile is an OutputInitError naming cliq.messageformat", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(startSingle(Cliq, config(CliqConfig, { webhookurl: "http://127.0.0.1:1", messageformat: "{{ .Rule " })))
      expect(error._tag).toBe("OutputInitError")
      expect(error.key).toBe("cliq.messageformat")
      expect(error.message).toContain("cliq.messageformat")
    }))

  it.scoped("a 4xx is a permanent Status error carrying the status, without the zapikey", () =>
    Effect.gen(function*() {
      const rx = yield* makeReceiver({ responses: [status(401, "unauthorized")] })
      const output = yield* startSingle(Cliq, config(CliqConfig, { webhookurl: `${rx.url}/api/v2/channelsbyname/c/message?zapikey=s3cr3t` }))
      const error = yield* Effect.flip(output.send(referenceEvent))
      expect(error.reason).toBe("Status")
      expect(error.status).toBe(401)
      expect(error.retryable).toBe(false)
      expect(error.message).not.toContain("s3cr3t")
    }))
})
