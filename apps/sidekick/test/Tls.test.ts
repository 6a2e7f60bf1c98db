/**
 * falcosidekick's tlsserver.*: HTTPS, client certificates, and routes moved to a plain side server.
 */
import { describe, expect, it } from "@effect/vitest"
import { makeReceiver, makeTlsMaterial, opensslAvailable, type TlsMaterial } from "@sidekick/testing"
import { Effect, Exit } from "effect"
import { Agent } from "undici"
import { falcoEvent, request, startApp } from "./support.js"

/** a request over TLS trusting the test CA, optionally presenting the client certificate */
const tlsRequest = (tls: TlsMaterial, url: string, init: { method?: string; body?: string; clientCert?: boolean } = {}) =>
  Effect.promise(async () => {
    const agent = new Agent({
      connect: {
        ca: tls.caCert,
        ...(init.clientCert ? { cert: tls.clientCert, key: tls.clientKey } : {})
      }
    })
    try {
      const u = new URL(url)
      const res = await agent.request({
        origin: u.origin,
        path: u.pathname,
        method: (init.method ?? "GET") as "GET",
        ...(init.body === undefined ? {} : { body: init.body, headers: { "content-type": "application/json" } })
      })
      return { status: res.statusCode, body: await res.body.text() }
    } catch (error) {
      return { status: 0, body: String(error) }
    } finally {
      await agent.close()
    }
  })

const tlsTree = (tls: TlsMaterial, extra: Record<string, unknown> = {}) => ({
  tlsserver: { deploy: true, certfile: tls.serverCertPath, keyfile: tls.serverKeyPath, cacertfile: tls.caCertPath, ...extra }
})

describe.skipIf(!opensslAvailable())("TLS server", () => {
  it.scopedLive("tlsserver.deploy serves HTTPS; events still reach the outputs", () =>
    Effect.gen(function*() {
      const tls = yield* makeTlsMaterial
      const hook = yield* makeReceiver()
      const { address } = yield* startApp({ tree: { ...tlsTree(tls), webhook: { address: hook.url } } })
      expect(address.url.startsWith("https://")).toBe(true)
      expect((yield* tlsRequest(tls, `${address.url}/ping`)).body).toBe("pong\n")
      expect((yield* tlsRequest(tls, address.url, { method: "POST", body: falcoEvent })).status).toBe(200)
      yield* hook.waitFor(1)
      // plain HTTP on the TLS port gets no answer
      const plain = yield* Effect.exit(request(address.url.replace("https://", "http://") + "/ping"))
      expect(Exit.isFailure(plain)).toBe(true)
    }))

  it.scopedLive("tlsserver.mutualtls refuses clients without a certificate signed by tlsserver.cacertfile", () =>
    Effect.gen(function*() {
      const tls = yield* makeTlsMaterial
      const { address } = yield* startApp({ tree: tlsTree(tls, { mutualtls: true }) })
      expect((yield* tlsRequest(tls, `${address.url}/ping`)).status).toBe(0)
      expect((yield* tlsRequest(tls, `${address.url}/ping`, { clientCert: true })).body).toBe("pong\n")
    }))

  it.scopedLive("tlsserver.notlspaths moves those routes to a plain server; elsewhere they fall to the event route", () =>
    Effect.gen(function*() {
      const tls = yield* makeTlsMaterial
      const { address } = yield* startApp({ tree: tlsTree(tls, { notlspaths: ["/ping", "/metrics"] }) })
      const plainUrl = address.plainUrl!
      expect((yield* request(`${plainUrl}/ping`)).body).toBe("pong\n")
      expect((yield* request(`${plainUrl}/metrics`)).body).toContain("falcosecurity_falcosidekick_inputs_total")
      // the plain server serves nothing else
      const other = yield* request(`${plainUrl}/healthz`)
      expect(other.status).toBe(404)
      expect(other.body).toBe("404 page not found\n")
      // on the TLS port /ping is now the catch-all event route: a GET there is refused like falcosidekick does
      const moved = yield* tlsRequest(tls, `${address.url}/ping`)
      expect(moved.status).toBe(400)
      expect(moved.body).toBe("Please send with post http method\n")
      expect((yield* tlsRequest(tls, `${address.url}/healthz`)).status).toBe(200)
    }))

  it.scopedLive("a notlspaths entry that is not a route refuses start-up, naming it", () =>
    Effect.gen(function*() {
      const tls = yield* makeTlsMaterial
      const error = yield* Effect.flip(startApp({ tree: tlsTree(tls, { notlspaths: ["/ping", "/debug"] }) }))
      expect(error.message).toContain(`tlsserver.notlspaths (TLSSERVER_NOTLSPATHS) has "/debug"`)
    }))

  it.scopedLive("an unreadable certificate refuses start-up, naming the key and the file", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(startApp({ tree: { tlsserver: { deploy: true, certfile: "/nonexistent/server.crt" } } }))
      expect(error.message).toContain("tlsserver.certfile /nonexistent/server.crt")
    }))
})
