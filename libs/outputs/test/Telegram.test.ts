import { it } from "@effect/vitest"
import { LosslessNumber, priorities } from "@sidekick/event"
import { eventWith, makeReceiver, referenceEvent, status } from "@sidekick/testing"
import { Effect, Either } from "effect"
import { describe, expect } from "vitest"
import { markdownV2EscapeText, Telegram, telegramBody, TelegramConfig, telegramText, telegramUrl } from "../src/Telegram.js"
import { config, decode, jsonHeaders, startSingle } from "./helpers.js"

const token = "123456789:AAH-secret_bot_token"

/** falcosidekick's text for the reference event (catalog §1.9), written out: blank lines, tabs and escapes included */
const referenceText = "*\\[Falco\\] \\[Critical\\] Terminal shell in container*\n" +
  "\n" +
  "• *Time*: 2024\\-05\\-06 10:20:30\\.123456789 \\+0000 UTC\n" +
  "• *Source*: syscall\n" +
  "• *Hostname*: node\\-1\n" +
  "• *Tags*: T1059 container mitre\\_execution shell \n" +
  "• *Fields*:\n" +
  "\t  • *container\\.id*: abc123\n" +
  "\t  • *k8s\\.ns\\.name*: default\n" +
  "\t  • *k8s\\.pod\\.name*: nginx\\-1\n" +
  "\t  • *proc\\.name*: bash\n" +
  "\t  • *proc\\.pid*: 4242\n" +
  "\t  • *user\\.name*: root\n" +
  "\n" +
  "\n" +
  "**Output**: 10:20:30\\.123456789: Critical A shell was spawned in a container \\(user\\=root shell\\=bash container\\=abc123\\)\n"

/** the same text as a Go JSON string literal (newlines and tabs escaped, backslashes doubled) */
const referenceTextJson = JSON.stringify(referenceText)

const referenceBody = `{"text":${referenceTextJson},"parse_mode":"MarkdownV2","disable_web_page_preview":true,"chat_id":"-987654321"}\n`

describe("Telegram", () => {
  it("text: the catalog's rendering of the reference event", () => {
    expect(telegramText(referenceEvent)).toBe(referenceText)
  })

  it("text: falcosidekick's own test vector (numbers printed with %v, tags in event order)", () => {
    const e = eventWith({
      output: "This is a test from falcosidekick",
      priority: "Debug",
      rule: "Test rule",
      time: "2001-01-01T01:10:00Z",
      timeUnixNanos: 978311400000000000n,
      output_fields: { "proc.name": "falcosidekick", "proc.tty": 1234 },
      source: "syscalls",
      tags: ["test", "example"],
      hostname: "test-host"
    })
    expect(telegramText(e)).toBe(
      "*\\[Falco\\] \\[Debug\\] Test rule*\n\n• *Time*: 2001\\-01\\-01 01:10:00 \\+0000 UTC\n• *Source*: syscalls\n• *Hostname*: test\\-host\n• *Tags*: test example \n• *Fields*:\n\t  • *proc\\.name*: falcosidekick\n\t  • *proc\\.tty*: 1234\n\n\n**Output**: This is a test from falcosidekick\n"
    )
  })

  it("escaping: each MarkdownV2 reserved character gets a backslash; backslashes, < and other text do not", () => {
    expect(markdownV2EscapeText("_*[]()~`>#+-=|{}.!")).toBe("\\_\\*\\[\\]\\(\\)\\~\\`\\>\\#\\+\\-\\=\\|\\{\\}\\.\\!")
    expect(markdownV2EscapeText("a\\b <c & é 🚨 @:;,?'\"")).toBe("a\\b <c & é 🚨 @:;,?'\"")
  })

  it("escaping: values print as Go's %v (json.Number digits, bool, nil, map, list)", () => {
    const e = eventWith({
      output_fields: {
        "a.big": new LosslessNumber("1700000000408091526"),
        "b.float": 1.5,
        "c.bool": true,
        "d.null": null,
        "e.map": { z: "1", a: 2 },
        "f.list": ["x", 3]
      },
      tags: []
    })
    const text = telegramText(e)!
    expect(text).toContain("• *Tags*: \n")
    expect(text).toContain(
      "\t  • *a\\.big*: 1700000000408091526\n" +
        "\t  • *b\\.float*: 1\\.5\n" +
        "\t  • *c\\.bool*: true\n" +
        "\t  • *d\\.null*: <nil\\>\n" +
        "\t  • *e\\.map*: map\\[a:2 z:1\\]\n" +
        "\t  • *f\\.list*: \\[x 3\\]\n"
    )
  })

  it("non-ASCII rule, output and fields pass through unescaped; JSON escapes <, > and &", () => {
    const e = eventWith({
      rule: "Écriture sous /etc — 日本語",
      output: "fichier <ouvert> & modifié 🚨",
      output_fields: { "fd.name": "/etc/é" },
      tags: ["étiquette"],
      hostname: "nœud"
    })
    const text = telegramText(e)!
    expect(text.split("\n")[0]).toBe("*\\[Falco\\] \\[Critical\\] Écriture sous /etc — 日本語*")
    expect(text).toContain("• *Hostname*: nœud\n")
    expect(text).toContain("• *Tags*: étiquette \n")
    expect(text).toContain("\t  • *fd\\.name*: /etc/é\n")
    expect(text.endsWith("**Output**: fichier <ouvert\\> & modifié 🚨\n")).toBe(true)
    const body = telegramBody(e, { chatid: "1", messagethreadid: "" })
    expect(body).toContain("**Output**: fichier \\u003couvert\\\\\\u003e \\u0026 modifié 🚨\\n")
  })

  it("every priority is named in the title line", () => {
    for (const priority of priorities) {
      expect(telegramText(eventWith({ priority }))!.split("\n")[0]).toBe(`*\\[Falco\\] \\[${priority}\\] Terminal shell in container*`)
    }
  })

  it("payload: message_thread_id only when set, ids as JSON strings", () => {
    expect(telegramBody(referenceEvent, { chatid: "-987654321", messagethreadid: "" })).toBe(referenceBody)
    const body = JSON.parse(telegramBody(referenceEvent, { chatid: "-1001", messagethreadid: "42" }))
    expect(Object.keys(body)).toEqual(["text", "parse_mode", "disable_web_page_preview", "chat_id", "message_thread_id"])
    expect(body.chat_id).toBe("-1001")
    expect(body.message_thread_id).toBe("42")
  })

  it("config: token first, defaults, enabled by token AND chatid, an empty host means the default host", () => {
    expect(TelegramConfig.keys[0]!.key).toBe("telegram.token")
    const c = config(TelegramConfig, {})
    expect(c.host).toBe("https://api.telegram.org")
    expect(c.messagethreadid).toBe("")
    expect(c.checkcert).toBe(true)
    expect(Telegram.enabled(c)).toBe(false)
    expect(Telegram.enabled(config(TelegramConfig, { token }))).toBe(false)
    expect(Telegram.enabled(config(TelegramConfig, { chatid: "1" }))).toBe(false)
    expect(Telegram.enabled(config(TelegramConfig, { token, chatid: "1" }))).toBe(true)
    expect(Telegram.enabled(config(TelegramConfig, {}, { TELEGRAM_TOKEN: token, TELEGRAM_CHATID: "1" }))).toBe(true)
    expect(config(TelegramConfig, { host: "" }).host).toBe("")
    expect(telegramUrl("", "T")).toBe("https://api.telegram.org/botT/sendMessage")
    expect(telegramUrl("http://proxy:8080", "T")).toBe("http://proxy:8080/botT/sendMessage")
    const bad = decode(TelegramConfig, { token, chatid: "1", checkcert: "maybe" })
    expect(Either.isLeft(bad)).toBe(true)
    if (Either.isLeft(bad)) {
      expect(bad.left.message).toContain("telegram.checkcert")
      expect(bad.left.message).not.toContain(token)
    }
  })

  it.scoped("POSTs the catalog's payload to {host}/bot{token}/sendMessage", () =>
    Effect.gen(function*() {
      const rx = yield* makeReceiver()
      const output = yield* startSingle(Telegram, config(TelegramConfig, { host: rx.url, token, chatid: "-987654321" }))
      expect(output.name).toBe("telegram")
      expect(output.maxConcurrentRequests).toBe(1)
      yield* output.send(referenceEvent)
      const [r] = yield* rx.waitFor(1)
      expect(r!.method).toBe("POST")
      expect(r!.path).toBe(`/bot${token}/sendMessage`)
      expect(r!.headers).toMatchObject(jsonHeaders)
      expect(r!.body).toBe(referenceBody)
    }))

  it.scoped("a 4xx is a non-retryable Status error whose message does not carry the token", () =>
    Effect.gen(function*() {
      const rx = yield* makeReceiver({ responses: [status(400, "{\"ok\":false,\"description\":\"Bad Request: chat not found\"}")] })
      const output = yield* startSingle(Telegram, config(TelegramConfig, { host: rx.url, token, chatid: "1" }))
      const error = yield* Effect.flip(output.send(referenceEvent))
      expect(error._tag).toBe("OutputError")
      expect(error.reason).toBe("Status")
      expect(error.status).toBe(400)
      expect(error.retryable).toBe(false)
      expect(error.message).toContain("chat not found")
      expect(error.message).not.toContain(token)
      expect(error.message).not.toContain("/bot")
    }))

  it.scoped("transport and URL failures do not carry the token either", () =>
    Effect.gen(function*() {
      const refused = yield* startSingle(Telegram, config(TelegramConfig, { host: "http://127.0.0.1:1", token, chatid: "1" }))
      const transport = yield* Effect.flip(refused.send(referenceEvent))
      expect(transport.reason).toBe("Transport")
      expect(transport.message).toContain("127.0.0.1:1")
      expect(transport.message).not.toContain(token)
      expect(String(transport.cause)).not.toContain(token)

      const invalid = yield* startSingle(Telegram, config(TelegramConfig, { host: "not a url", token, chatid: "1" }))
      const encode = yield* Effect.flip(invalid.send(referenceEvent))
      expect(encode.reason).toBe("Encode")
      expect(encode.message).not.toContain(token)
    }))
})
