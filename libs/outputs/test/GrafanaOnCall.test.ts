import { it } from "@effect/vitest"
import { priorities } from "@sidekick/event"
import { eventWith, makeReceiver, referenceEvent, referenceOutput as O, status } from "@sidekick/testing"
import { Effect, Either } from "effect"
import { describe, expect } from "vitest"
import { GrafanaOnCall, grafanaOnCallBody, GrafanaOnCallConfig } from "../src/GrafanaOnCall.js"
import { config, decode, startSingle } from "./helpers.js"

const integrationToken = "Zq1NeVf4wBnTxK9secret"

/** catalog §4.4, with the trailing newline of Go's json.Encoder */
const catalogExample =
  `{"alert_uid":"3f0c0b0e-5c1a-4d2e-9f3a-1b2c3d4e5f60","state":"alerting","title":"[Critical] Terminal shell in container","message":"${O}"}\n`

describe("GrafanaOnCall", () => {
  it("payload: the catalog's example, the event uuid as alert_uid", () => {
    expect(grafanaOnCallBody(referenceEvent)).toBe(catalogExample)
  })

  it("payload: every priority in the title; an empty uuid is still sent; non-ASCII kept, <, > and & escaped", () => {
    for (const priority of priorities) {
      expect(JSON.parse(grafanaOnCallBody(eventWith({ priority }))).title).toBe(`[${priority}] Terminal shell in container`)
    }
    const e = eventWith({ uuid: "", rule: "Écriture — 日本語", output: "fichier <ouvert> & modifié 🚨" })
    expect(grafanaOnCallBody(e)).toBe(
      `{"alert_uid":"","state":"alerting","title":"[Critical] Écriture — 日本語","message":"fichier \\u003couvert\\u003e \\u0026 modifié 🚨"}\n`
    )
  })

  it("config: webhookurl first, defaults, custom headers from YAML and env; errors never show secrets", () => {
    expect(GrafanaOnCallConfig.keys[0]!.key).toBe("grafanaoncall.webhookurl")
    const c = config(GrafanaOnCallConfig, {})
    expect(c.checkcert).toBe(true)
    expect(c.mutualtls).toBe(false)
    expect(c.maxconcurrentrequests).toBe(1)
    expect(GrafanaOnCall.enabled(c)).toBe(false)
    expect(GrafanaOnCall.enabled(config(GrafanaOnCallConfig, {}, { GRAFANAONCALL_WEBHOOKURL: "https://oncall/x" }))).toBe(true)
    const bad = decode(GrafanaOnCallConfig, { webhookurl: `https://oncall/${integrationToken}/`, customheaders: { "X-Team": "sec" } }, {
      GRAFANAONCALL_CUSTOMHEADERS: `X-Token:${integrationToken}:extra`
    })
    expect(Either.isLeft(bad)).toBe(true)
    if (Either.isLeft(bad)) {
      expect(bad.left.message).toContain("grafanaoncall.customheaders")
      expect(bad.left.message).not.toContain(integrationToken)
    }
  })

  it.scoped("POSTs the payload with application/json (no charset) and the custom headers", () =>
    Effect.gen(function*() {
      const rx = yield* makeReceiver()
      const c = config(
        GrafanaOnCallConfig,
        { webhookurl: `${rx.url}/integrations/v1/formatted_webhook/${integrationToken}/`, customheaders: { "X-Team": "sec" } },
        { GRAFANAONCALL_CUSTOMHEADERS: "X-Env:yes" }
      )
      const output = yield* startSingle(GrafanaOnCall, c)
      expect(output.name).toBe("grafanaoncall")
      yield* output.send(referenceEvent)
      const [r] = yield* rx.waitFor(1)
      expect(r!.method).toBe("POST")
      expect(r!.path).toBe(`/integrations/v1/formatted_webhook/${integrationToken}/`)
      expect(r!.headers).toMatchObject({
        "content-type": "application/json",
        "user-agent": "Falcosidekick",
        "x-team": "sec",
        "x-env": "yes"
      })
      expect(r!.body).toBe(catalogExample)
    }))

  it.scoped("a 4xx is a non-retryable Status error that does not carry the integration token", () =>
    Effect.gen(function*() {
      const rx = yield* makeReceiver({ responses: [status(403, "{\"detail\":\"Integration is disabled\"}")] })
      const output = yield* startSingle(
        GrafanaOnCall,
        config(GrafanaOnCallConfig, { webhookurl: `${rx.url}/integrations/v1/formatted_webhook/${integrationToken}/` })
      )
      const error = yield* Effect.flip(output.send(referenceEvent))
      expect(error._tag).toBe("OutputError")
      expect(error.reason).toBe("Status")
      expect(error.status).toBe(403)
      expect(error.retryable).toBe(false)
      expect(error.message).not.toContain(integrationToken)
    }))
})
