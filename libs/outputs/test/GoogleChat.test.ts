import { it } from "@effect/vitest"
import { priorities } from "@sidekick/event"
import { compileTemplate } from "@sidekick/gotemplate"
import { eventWith, makeReceiver, referenceEvent, status } from "@sidekick/testing"
import { Effect, Either } from "effect"
import { describe, expect } from "vitest"
import { GoogleChat, googleChatBody, GoogleChatConfig } from "../src/GoogleChat.js"
import { config, decode, jsonHeaders, startSingle } from "./helpers.js"

const T = "2024-05-06 10:20:30.123456789 +0000 UTC"
const token = "https://chat.googleapis.com/v1/spaces/AAA/messages?key=k3y&token=s3cr3t-t0ken"

const widgetsJson = `[{"keyValue":{"topLabel":"rule","content":"Terminal shell in container"}},{"keyValue":{"topLabel":"priority","content":"Critical"}},` +
  `{"keyValue":{"topLabel":"source","content":"syscall"}},{"keyValue":{"topLabel":"hostname","content":"node-1"}},` +
  `{"keyValue":{"topLabel":"container.id","content":"abc123"}},{"keyValue":{"topLabel":"k8s.ns.name","content":"default"}},` +
  `{"keyValue":{"topLabel":"k8s.pod.name","content":"nginx-1"}},{"keyValue":{"topLabel":"proc.name","content":"bash"}},` +
  `{"keyValue":{"topLabel":"user.name","content":"root"}},{"keyValue":{"topLabel":"tags","content":"T1059, container, mitre_execution, shell"}},` +
  `{"keyValue":{"topLabel":"time","content":"${T}"}}]`

const cardsJson = `[{"header":{"title":"","subtitle":""},"sections":[{"widgets":${widgetsJson}}]}]`

/** the catalog's §1.7 payload for the reference event, with the default keys (no messageformat) */
const catalogExample = `{"cards":${cardsJson}}\n`

const messageformat = `Alert : rule *{{ .Rule }}* triggered by user *{{ index .OutputFields "user.name" }}*`
const renderedText = "Alert : rule *Terminal shell in container* triggered by user *root*"

const template = (source: string) => Either.getOrThrow(compileTemplate(source))

describe("GoogleChat", () => {
  it("payload: falcosidekick's for the reference event; the empty header is always sent", () => {
    expect(googleChatBody(referenceEvent, { outputformat: "all" })).toBe(catalogExample)
  })

  it("payload: all with a messageformat puts the text before the card", () => {
    expect(googleChatBody(referenceEvent, { outputformat: "all", messageformat: template(messageformat) })).toBe(
      `{"text":"${renderedText}","cards":${cardsJson}}\n`
    )
  })

  it("payload: text format sends only the rendered messageformat, {} without one", () => {
    expect(googleChatBody(referenceEvent, { outputformat: "text", messageformat: template(messageformat) })).toBe(`{"text":"${renderedText}"}\n`)
    expect(googleChatBody(referenceEvent, { outputformat: "text" })).toBe("{}\n")
  })

  it("payload: a messageformat failing on the event is left out, the card still sent", () => {
    const failing = template(`{{ index .Tags 99 }}`)
    expect(googleChatBody(referenceEvent, { outputformat: "all", messageformat: failing })).toBe(catalogExample)
  })

  it("payload: no hostname or tags widget when the event has none; string output fields only, sorted", () => {
    const e = eventWith({ hostname: "", tags: [], output_fields: { "z": "last", "a": "first", "n": 7, "b": false } })
    const widgets = JSON.parse(googleChatBody(e, { outputformat: "all" })).cards[0].sections[0].widgets
    expect(widgets.map((w: { keyValue: { topLabel: string } }) => w.keyValue.topLabel)).toEqual(["rule", "priority", "source", "a", "z", "time"])
  })

  it("payload: the priority widget for every priority", () => {
    for (const priority of priorities) {
      const widgets = JSON.parse(googleChatBody(eventWith({ priority }), { outputformat: "all" })).cards[0].sections[0].widgets
      expect(widgets[1]).toEqual({ keyValue: { topLabel: "priority", content: priority } })
    }
  })

  it("non-ASCII rule, output field and template text are sent as UTF-8, <, > and & escaped as Go does", () => {
    const e = eventWith({ rule: "Shell im Behälter 🐚", output: "Ünïcödé", output_fields: { "user.name": "José <&>" } })
    const body = googleChatBody(e, { outputformat: "all", messageformat: template("Règle {{ .Rule }}") })
    expect(body).toContain(`{"text":"Règle Shell im Behälter 🐚","cards":`)
    expect(body).toContain(`{"keyValue":{"topLabel":"rule","content":"Shell im Behälter 🐚"}}`)
    expect(body).toContain(`{"keyValue":{"topLabel":"user.name","content":"José \\u003c\\u0026\\u003e"}}`)
  })

  it("config: defaults; the webhook url is a secret no config error shows", () => {
    const c = config(GoogleChatConfig, {})
    expect(c.outputformat).toBe("all")
    expect(c.messageformat).toBe("")
    expect(c.checkcert).toBe(true)
    expect(c.mutualtls).toBe(false)
    expect(c.maxconcurrentrequests).toBe(1)
    expect(c.minimumpriority).toBe("")
    expect(GoogleChat.enabled(c)).toBe(false)
    expect(GoogleChat.enabled(config(GoogleChatConfig, { webhookurl: token }))).toBe(true)
    expect(GoogleChat.displayName).toBe("GoogleChat")
    expect(GoogleChatConfig.keys[0]!.key).toBe("googlechat.webhookurl")
    const bad = decode(GoogleChatConfig, { webhookurl: token, outputformat: "fields" })
    expect(Either.isLeft(bad)).toBe(true)
    if (Either.isLeft(bad)) {
      expect(bad.left.message).toContain("googlechat.outputformat")
      expect(bad.left.message).not.toContain("s3cr3t")
    }
  })

  it.scoped("sends the payload to the webhook URL, query string included", () =>
    Effect.gen(function*() {
      const rx = yield* makeReceiver()
      const output = yield* startSingle(
        GoogleChat,
        config(GoogleChatConfig, { webhookurl: `${rx.url}/v1/spaces/AAA/messages?key=k&token=t`, messageformat })
      )
      yield* output.send(referenceEvent)
      const [r] = yield* rx.waitFor(1)
      expect(r!.method).toBe("POST")
      expect(r!.path).toBe("/v1/spaces/AAA/messages?key=k&token=t")
      expect(r!.headers).toMatchObject(jsonHeaders)
      expect(r!.body).toBe(`{"text":"${renderedText}","cards":${cardsJson}}\n`)
    }))

  it.scoped("a messageformat that does not compile is an OutputInitError naming googlechat.messageformat", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(
        startSingle(GoogleChat, config(GoogleChatConfig, { webhookurl: "http://127.0.0.1:1/s3cr3t-t0ken", messageformat: "{{ .Rule " }))
      )
      expect(error._tag).toBe("OutputInitError")
      expect(error.key).toBe("googlechat.messageformat")
      expect(error.message).toContain("googlechat.messageformat")
      expect(error.message).not.toContain("s3cr3t")
    }))

  it.scoped("a 4xx is a permanent Status error carrying the status, without the token", () =>
    Effect.gen(function*() {
      const rx = yield* makeReceiver({ responses: [status(403, "forbidden")] })
      const output = yield* startSingle(GoogleChat, config(GoogleChatConfig, { webhookurl: `${rx.url}/v1/spaces/AAA/messages?token=s3cr3t-t0ken` }))
      const error = yield* Effect.flip(output.send(referenceEvent))
      expect(error.reason).toBe("Status")
      expect(error.status).toBe(403)
      expect(error.retryable).toBe(false)
      expect(error.message).not.toContain("s3cr3t")
    }))
})
