import { it } from "@effect/vitest"
import { type Priority } from "@sidekick/event"
import { eventWith, makeReceiver, referenceEvent, referenceEventJson, referenceOutput as O, status } from "@sidekick/testing"
import { Effect, Either } from "effect"
import { describe, expect } from "vitest"
import { Gotify, gotifyBody, GotifyConfig, gotifyPayload } from "../src/Gotify.js"
import { config, decode, jsonHeaders, startSingle } from "./helpers.js"

const token = "AxYz-gotify-app-token"

/** falcosidekick's markdown message for the reference event: a tab before each field bullet, no newline after the last */
const markdownMessage = "- **Priority**: Critical\n" +
  "- **Rule**: Terminal shell in container\n" +
  `- **Output**: ${O}\n` +
  "- **Source**: syscall\n" +
  "- **Tags**: T1059 container mitre_execution shell \n" +
  "- **Time**: 2024-05-06 10:20:30.123456789 +0000 UTC\n" +
  "- **Fields**:\n" +
  "\t- **container.id**: abc123\n" +
  "\t- **k8s.ns.name**: default\n" +
  "\t- **k8s.pod.name**: nginx-1\n" +
  "\t- **proc.name**: bash\n" +
  "\t- **proc.pid**: 4242\n" +
  "\t- **user.name**: root\n"

const plainMessage = "Priority: Critical\n" +
  "Rule: Terminal shell in container\n" +
  `Output: ${O}\n` +
  "Source: syscall\n" +
  "Tags: T1059 container mitre_execution shell \n" +
  "Time: 2024-05-06 10:20:30.123456789 +0000 UTC\n" +
  "Fields:\n" +
  "- container.id: abc123\n" +
  "- k8s.ns.name: default\n" +
  "- k8s.pod.name: nginx-1\n" +
  "- proc.name: bash\n" +
  "- proc.pid: 4242\n" +
  "- user.name: root\n"

const title = "[Falco] [Critical] Terminal shell in container"
// the messages hold no <, > or &, so JSON.stringify writes them as Go would
const bodyWith = (message: string, contentType: string) =>
  `{"title":"${title}","priority":6,"message":${JSON.stringify(message)},"extras":{"client::display":{"contentType":"${contentType}"}}}\n`

describe("Gotify", () => {
  it("payload: markdown (the default format) is the catalog's", () => {
    expect(gotifyBody(referenceEvent, "markdown")).toBe(bodyWith(markdownMessage, "markdown"))
  })

  it("payload: plaintext and text use the plain template; json sends the event JSON; both as plaintext", () => {
    expect(gotifyBody(referenceEvent, "plaintext")).toBe(bodyWith(plainMessage, "plaintext"))
    expect(gotifyBody(referenceEvent, "text")).toBe(bodyWith(plainMessage, "plaintext"))
    expect(gotifyBody(referenceEvent, "json")).toBe(bodyWith(referenceEventJson, "plaintext"))
  })

  it("priority: Debug 1 ... Emergency 8", () => {
    const expected: Record<Priority, number> = {
      Emergency: 8,
      Alert: 7,
      Critical: 6,
      Error: 5,
      Warning: 4,
      Notice: 3,
      Informational: 2,
      Debug: 1
    }
    for (const [priority, number] of Object.entries(expected) as Array<[Priority, number]>) {
      const payload = gotifyPayload(eventWith({ priority }), "markdown") as { title: string; priority: number }
      expect(payload.priority).toBe(number)
      expect(payload.title).toBe(`[Falco] [${priority}] Terminal shell in container`)
    }
  })

  it("non-ASCII and values of every kind: printed as Go templates print them; JSON escapes <, > and &", () => {
    const e = eventWith({
      rule: "Écriture — 日本語",
      output: "fichier <ouvert> & modifié 🚨",
      output_fields: { "fd.name": "/etc/é", "n": 1.5, "b": false, "z": null },
      tags: []
    })
    const payload = gotifyPayload(e, "markdown") as { title: string; message: string }
    expect(payload.title).toBe("[Falco] [Critical] Écriture — 日本語")
    expect(payload.message).toContain("- **Rule**: Écriture — 日本語\n- **Output**: fichier <ouvert> & modifié 🚨\n")
    expect(payload.message).toContain("- **Tags**: \n")
    expect(payload.message.endsWith("\t- **b**: false\n\t- **fd.name**: /etc/é\n\t- **n**: 1.5\n\t- **z**: <no value>\n")).toBe(true)
    expect(gotifyBody(e, "markdown")).toContain("\"title\":\"[Falco] [Critical] Écriture — 日本語\"")
    expect(gotifyBody(e, "markdown")).toContain("fichier \\u003couvert\\u003e \\u0026 modifié 🚨")
  })

  it("config: hostport first, defaults, format case-insensitive, an unknown format refused without the token", () => {
    expect(GotifyConfig.keys[0]!.key).toBe("gotify.hostport")
    const c = config(GotifyConfig, {})
    expect(c.format).toBe("markdown")
    expect(c.checkcert).toBe(true)
    expect(Gotify.enabled(c)).toBe(false)
    expect(Gotify.enabled(config(GotifyConfig, { hostport: "http://gotify" }))).toBe(true)
    expect(config(GotifyConfig, { format: "JSON" }).format).toBe("json")
    expect(config(GotifyConfig, {}, { GOTIFY_FORMAT: "PlainText" }).format).toBe("plaintext")
    const bad = decode(GotifyConfig, { hostport: "http://gotify", token, format: "html" })
    expect(Either.isLeft(bad)).toBe(true)
    if (Either.isLeft(bad)) {
      expect(bad.left.message).toContain("gotify.format")
      expect(bad.left.message).not.toContain(token)
    }
  })

  it.scoped("POSTs to {hostport}/message with X-Gotify-Key", () =>
    Effect.gen(function*() {
      const rx = yield* makeReceiver()
      const output = yield* startSingle(Gotify, config(GotifyConfig, { hostport: rx.url, token }))
      expect(output.name).toBe("gotify")
      yield* output.send(referenceEvent)
      const [r] = yield* rx.waitFor(1)
      expect(r!.method).toBe("POST")
      expect(r!.path).toBe("/message")
      expect(r!.headers).toMatchObject({ ...jsonHeaders, "x-gotify-key": token })
      expect(r!.body).toBe(bodyWith(markdownMessage, "markdown"))
    }))

  it.scoped("without a token there is no X-Gotify-Key header; format json is sent as configured", () =>
    Effect.gen(function*() {
      const rx = yield* makeReceiver()
      const output = yield* startSingle(Gotify, config(GotifyConfig, { hostport: rx.url, format: "json" }))
      yield* output.send(referenceEvent)
      const [r] = yield* rx.waitFor(1)
      expect(r!.headers["x-gotify-key"]).toBeUndefined()
      expect(r!.body).toBe(bodyWith(referenceEventJson, "plaintext"))
    }))

  it.scoped("a 4xx is a non-retryable Status error that does not carry the token", () =>
    Effect.gen(function*() {
      const rx = yield* makeReceiver({ responses: [status(401, "{\"error\":\"Unauthorized\"}")] })
      const output = yield* startSingle(Gotify, config(GotifyConfig, { hostport: rx.url, token }))
      const error = yield* Effect.flip(output.send(referenceEvent))
      expect(error._tag).toBe("OutputError")
      expect(error.reason).toBe("Status")
      expect(error.status).toBe(401)
      expect(error.retryable).toBe(false)
      expect(error.message).not.toContain(token)
    }))
})
