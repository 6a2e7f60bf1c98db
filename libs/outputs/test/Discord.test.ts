import { it } from "@effect/vitest"
import { priorities } from "@sidekick/event"
import { eventWith, makeReceiver, referenceEvent, referenceOutput as O, status } from "@sidekick/testing"
import { Effect, Either } from "effect"
import { describe, expect } from "vitest"
import { Discord, discordBody, DiscordConfig } from "../src/Discord.js"
import { config, decode, jsonHeaders, startSingle } from "./helpers.js"

const colorIcon = "https://raw.githubusercontent.com/falcosecurity/falcosidekick/master/imgs/falcosidekick_color.png"
const plainIcon = "https://raw.githubusercontent.com/falcosecurity/falcosidekick/master/imgs/falcosidekick.png"
const T = "2024-05-06 10:20:30.123456789 +0000 UTC"
const fence = "```"

const fieldsJson = `[{"name":"rule","value":"Terminal shell in container","inline":true},{"name":"priority","value":"Critical","inline":true},` +
  `{"name":"source","value":"syscall","inline":true},{"name":"hostname","value":"node-1","inline":true},` +
  `{"name":"container.id","value":"${fence}abc123${fence}","inline":true},{"name":"k8s.ns.name","value":"${fence}default${fence}","inline":true},` +
  `{"name":"k8s.pod.name","value":"${fence}nginx-1${fence}","inline":true},{"name":"proc.name","value":"${fence}bash${fence}","inline":true},` +
  `{"name":"user.name","value":"${fence}root${fence}","inline":true},{"name":"tags","value":"T1059, container, mitre_execution, shell","inline":true},` +
  `{"name":"time","value":"${T}","inline":true}]`

/** the catalog's §1.6 payload for the reference event, with the default icon */
const catalogExample = `{"content":"","avatar_url":"${colorIcon}","embeds":[{"title":"","url":"","description":"${O}","color":"15105570","fields":${fieldsJson}}]}\n`

const token = "https://discord.com/api/webhooks/123/s3cr3t-t0ken"

describe("Discord", () => {
  it("payload: falcosidekick's for the reference event (string output fields only, in code blocks)", () => {
    expect(discordBody(referenceEvent, colorIcon)).toBe(catalogExample)
  })

  it("payload: an empty icon falls back to falcosidekick.png; no hostname or tags field when the event has none", () => {
    const body = JSON.parse(discordBody(eventWith({ hostname: "", tags: [], output_fields: { "z": "last", "a": "first", "n": 7 } }), ""))
    expect(body.avatar_url).toBe(plainIcon)
    expect(body.embeds[0].fields.map((f: { name: string }) => f.name)).toEqual(["rule", "priority", "source", "a", "z", "time"])
    expect(body.embeds[0].fields[3].value).toBe(`${fence}first${fence}`)
  })

  it("payload: the colour per priority is a JSON string (catalog §0.6)", () => {
    const expected = {
      Emergency: "15158332",
      Alert: "11027200",
      Critical: "15105570",
      Error: "15844367",
      Warning: "12745742",
      Notice: "3066993",
      Informational: "3447003",
      Debug: "12370112"
    }
    for (const priority of priorities) {
      const body = discordBody(eventWith({ priority }), colorIcon)
      expect(body).toContain(`"color":"${expected[priority]}"`)
      expect(JSON.parse(body).embeds[0].fields[1]).toEqual({ name: "priority", value: priority, inline: true })
    }
  })

  it("payload: non-ASCII is sent as UTF-8, <, > and & escaped as Go does", () => {
    const e = eventWith({ rule: "Shell im Behälter 🐚", output: "Ünïcödé <b>&</b>", output_fields: { "user.name": "José" } })
    const body = discordBody(e, colorIcon)
    expect(body).toContain(`"description":"Ünïcödé \\u003cb\\u003e\\u0026\\u003c/b\\u003e"`)
    expect(body).toContain(`{"name":"rule","value":"Shell im Behälter 🐚","inline":true}`)
    expect(body).toContain(`{"name":"user.name","value":"${fence}José${fence}","inline":true}`)
  })

  it("config: defaults; the webhook url is a secret that no config error shows", () => {
    const c = config(DiscordConfig, {})
    expect(c.icon).toBe(colorIcon)
    expect(c.checkcert).toBe(true)
    expect(c.mutualtls).toBe(false)
    expect(c.maxconcurrentrequests).toBe(1)
    expect(c.minimumpriority).toBe("")
    expect(Discord.enabled(c)).toBe(false)
    expect(Discord.enabled(config(DiscordConfig, { webhookurl: token }))).toBe(true)
    expect(Discord.displayName).toBe("Discord")
    expect(DiscordConfig.keys[0]!.key).toBe("discord.webhookurl")
    const bad = decode(DiscordConfig, { webhookurl: token, checkcert: "maybe" })
    expect(Either.isLeft(bad)).toBe(true)
    if (Either.isLeft(bad)) {
      expect(bad.left.message).toContain("discord.checkcert")
      expect(bad.left.message).not.toContain("s3cr3t")
    }
  })

  it.scoped("sends falcosidekick's payload to the webhook URL; Discord's 204 is a success", () =>
    Effect.gen(function*() {
      const rx = yield* makeReceiver({ responses: [status(204)] })
      const output = yield* startSingle(Discord, config(DiscordConfig, { webhookurl: `${rx.url}/api/webhooks/123/abc` }))
      yield* output.send(referenceEvent)
      const [r] = yield* rx.waitFor(1)
      expect(r!.method).toBe("POST")
      expect(r!.path).toBe("/api/webhooks/123/abc")
      expect(r!.headers).toMatchObject(jsonHeaders)
      expect(r!.body).toBe(catalogExample)
    }))

  it.scoped("a 4xx is a permanent Status error carrying the status, without the token", () =>
    Effect.gen(function*() {
      const rx = yield* makeReceiver({ responses: [status(401, "invalid webhook token")] })
      const output = yield* startSingle(Discord, config(DiscordConfig, { webhookurl: `${rx.url}/api/webhooks/123/s3cr3t-t0ken` }))
      const error = yield* Effect.flip(output.send(referenceEvent))
      expect(error.reason).toBe("Status")
      expect(error.status).toBe(401)
      expect(error.retryable).toBe(false)
      expect(error.message).not.toContain("s3cr3t")
    }))
})
