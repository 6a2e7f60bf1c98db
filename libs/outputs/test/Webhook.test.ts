import { it } from "@effect/vitest"
import { makeReceiver, makeTlsMaterial, opensslAvailable, referenceEvent, referenceEventJson, status } from "@sidekick/testing"
import { Effect } from "effect"
import { describe, expect } from "vitest"
import { Webhook, webhookBody, WebhookConfig, webhookMethod } from "../src/Webhook.js"
import { config, jsonHeaders, startSingle } from "./helpers.js"

describe("Webhook", () => {
  it("body is the canonical event JSON plus a newline", () => {
    expect(webhookBody(referenceEvent)).toBe(referenceEventJson + "\n")
  })

  it("method: PUT in any case, anything else POST", () => {
    expect(webhookMethod("put")).toBe("PUT")
    expect(webhookMethod("PUT")).toBe("PUT")
    expect(webhookMethod("patch")).toBe("POST")
    expect(webhookMethod("")).toBe("POST")
  })

  it("defaults and enabling key", () => {
    const c = config(WebhookConfig, {})
    expect(c.method).toBe("POST")
    expect(c.maxconcurrentrequests).toBe(1)
    expect(c.checkcert).toBe(true)
    expect(Webhook.enabled(c)).toBe(false)
    expect(Webhook.enabled(config(WebhookConfig, { address: "http://x" }))).toBe(true)
  })

  it.scoped("POSTs the event with falcosidekick's headers and the custom headers", () =>
    Effect.gen(function*() {
      const rx = yield* makeReceiver()
      const c = config(WebhookConfig, { address: `${rx.url}/hook?x=1`, customheaders: { Authorization: "Bearer t" }, minimumpriority: "warning" }, {
        WEBHOOK_CUSTOMHEADERS: "X-Env:yes"
      })
      const output = yield* startSingle(Webhook, c)
      expect(output.name).toBe("webhook")
      expect(output.minimumPriority).toBe(4)
      expect(output.maxConcurrentRequests).toBe(1)
      expect(output.kind).toBe("single")
      yield* output.send(referenceEvent)
      const [r] = yield* rx.waitFor(1)
      expect(r!.method).toBe("POST")
      expect(r!.path).toBe("/hook?x=1")
      expect(r!.body).toBe(referenceEventJson + "\n")
      expect(r!.headers).toMatchObject({ ...jsonHeaders, authorization: "Bearer t", "x-env": "yes" })
    }))

  it.scoped("PUT when method is put; a 500 is a retryable Status error", () =>
    Effect.gen(function*() {
      const rx = yield* makeReceiver({ responses: [status(200), status(500, "down")] })
      const output = yield* startSingle(Webhook, config(WebhookConfig, { address: rx.url, method: "put" }))
      yield* output.send(referenceEvent)
      const error = yield* Effect.flip(output.send(referenceEvent))
      const reqs = yield* rx.waitFor(2)
      expect(reqs.map((r) => r.method)).toEqual(["PUT", "PUT"])
      expect(error.reason).toBe("Status")
      expect(error.status).toBe(500)
      expect(error.retryable).toBe(true)
    }))

  it.scoped.skipIf(!opensslAvailable())("checkcert false accepts a self-signed server; mutualtls presents the client cert", () =>
    Effect.gen(function*() {
      const tls = yield* makeTlsMaterial
      const plain = yield* makeReceiver({ tls })
      const insecure = yield* startSingle(Webhook, config(WebhookConfig, { address: plain.url, checkcert: false }))
      yield* insecure.send(referenceEvent)
      const strict = yield* startSingle(Webhook, config(WebhookConfig, { address: plain.url }))
      const refused = yield* Effect.flip(strict.send(referenceEvent))
      expect(refused.reason).toBe("Transport")

      const mtls = yield* makeReceiver({ tls, requestCert: true })
      const files = { caCertFile: "", mutualTls: { certFile: tls.clientCertPath, keyFile: tls.clientKeyPath, caCertFile: tls.caCertPath } }
      const output = yield* startSingle(Webhook, config(WebhookConfig, { address: mtls.url, mutualtls: true }), { tls: files })
      yield* output.send(referenceEvent)
      const [r] = yield* mtls.waitFor(1)
      expect(r!.tlsClient).toEqual({ authorized: true, subjectCN: "sidekick-test-client" })
      expect(r!.body).toBe(referenceEventJson + "\n")
    }))
})
