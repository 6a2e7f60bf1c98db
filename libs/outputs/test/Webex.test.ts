import { it } from "@effect/vitest"
import { priorities } from "@sidekick/event"
import { eventWith, makeReceiver, referenceEvent, referenceOutput as O, status } from "@sidekick/testing"
import { Effect, Either } from "effect"
import { describe, expect } from "vitest"
import { Webex, webexBody, WebexConfig, webexMarkdown } from "../src/Webex.js"
import { config, decode, jsonHeaders, startSingle } from "./helpers.js"

const token = "https://webexapis.com/v1/webhooks/incoming/s3cr3t-t0ken"

/** falcosidekick's template rendered over the reference event, written out by hand (note "syscall  " and the tabs) */
const referenceMarkdown = [
  "# Falco Rule 'Terminal shell in container'",
  "",
  `### ${O}`,
  "",
  "Additional informations:",
  "  * Hostname: node-1",
  "  * Source:   syscall  ",
  "  * Priority: Critical",
  "  * Tags:",
  "    ",
  "    * T1059",
  "    ",
  "    * container",
  "    ",
  "    * mitre_execution",
  "    ",
  "    * shell",
  "    ",
  "  * Fields:",
  "\t",
  "\t* container.id: abc123",
  "\t",
  "\t* k8s.ns.name: default",
  "\t",
  "\t* k8s.pod.name: nginx-1",
  "\t",
  "\t* proc.name: bash",
  "\t",
  "\t* proc.pid: 4242",
  "\t",
  "\t* user.name: root",
  "\t",
  ""
].join("\n")

const escapeForJson = (s: string) => s.replaceAll("\n", "\\n").replaceAll("\t", "\\t")

/** the catalog's §1.5 payload for the reference event */
const catalogExample = `{"markdown":"${escapeForJson(referenceMarkdown)}"}\n`

describe("Webex", () => {
  it("markdown: falcosidekick's template over the reference event, whitespace and tabs included; every field type printed", () => {
    expect(webexMarkdown(referenceEvent)).toBe(referenceMarkdown)
    expect(webexBody(referenceEvent)).toBe(catalogExample)
  })

  it("markdown: no tags, no hostname, numbers and booleans printed as Go's %v", () => {
    const e = eventWith({ hostname: "", tags: [], output_fields: { "b": true, "a": "x" } })
    expect(webexMarkdown(e)).toBe(
      `# Falco Rule 'Terminal shell in container'\n\n### ${O}\n\nAdditional informations:\n  * Hostname: \n  * Source:   syscall  \n` +
        `  * Priority: Critical\n  * Tags:\n    \n  * Fields:\n\t\n\t* a: x\n\t\n\t* b: true\n\t\n`
    )
  })

  it("markdown: the priority line for every priority", () => {
    for (const priority of priorities) expect(webexMarkdown(eventWith({ priority }))).toContain(`\n  * Priority: ${priority}\n`)
  })

  it("non-ASCII rule and output are sent as UTF-8, <, > and & escaped as Go does", () => {
    const e = eventWith({ rule: "Shell im Behälter 🐚", output: "Ünïcödé <b>&</b>", output_fields: { "user.name": "José" } })
    const body = webexBody(e)
    expect(body).toContain(`# Falco Rule 'Shell im Behälter 🐚'\\n\\n### Ünïcödé \\u003cb\\u003e\\u0026\\u003c/b\\u003e\\n`)
    expect(body).toContain(`\\t* user.name: José\\n`)
  })

  it("config: defaults; the webhook url is a secret no config error shows", () => {
    const c = config(WebexConfig, {})
    expect(c.checkcert).toBe(true)
    expect(c.mutualtls).toBe(false)
    expect(c.maxconcurrentrequests).toBe(1)
    expect(c.minimumpriority).toBe("")
    expect(Webex.enabled(c)).toBe(false)
    expect(Webex.enabled(config(WebexConfig, { webhookurl: token }))).toBe(true)
    expect(Webex.displayName).toBe("Webex")
    expect(WebexConfig.keys[0]!.key).toBe("webex.webhookurl")
    const bad = decode(WebexConfig, { webhookurl: token, maxconcurrentrequests: "many" })
    expect(Either.isLeft(bad)).toBe(true)
    if (Either.isLeft(bad)) {
      expect(bad.left.message).toContain("webex.maxconcurrentrequests")
      expect(bad.left.message).not.toContain("s3cr3t")
    }
  })

  it.scoped("sends the markdown to the webhook URL", () =>
    Effect.gen(function*() {
      const rx = yield* makeReceiver({ responses: [status(204)] })
      const output = yield* startSingle(Webex, config(WebexConfig, { webhookurl: `${rx.url}/v1/webhooks/incoming/abc` }))
      yield* output.send(referenceEvent)
      const [r] = yield* rx.waitFor(1)
      expect(r!.method).toBe("POST")
      expect(r!.path).toBe("/v1/webhooks/incoming/abc")
      expect(r!.headers).toMatchObject(jsonHeaders)
      expect(r!.body).toBe(catalogExample)
    }))

  it.scoped("a 4xx is a permanent Status error carrying the status, without the token", () =>
    Effect.gen(function*() {
      const rx = yield* makeReceiver({ responses: [status(404, "not found")] })
      const output = yield* startSingle(Webex, config(WebexConfig, { webhookurl: `${rx.url}/v1/webhooks/incoming/s3cr3t-t0ken` }))
      const error = yield* Effect.flip(output.send(referenceEvent))
      expect(error.reason).toBe("Status")
      expect(error.status).toBe(404)
      expect(error.retryable).toBe(false)
      expect(error.message).not.toContain("s3cr3t")
    }))
})
