/**
 * The route table on the plain side server that `tlsserver.notlspaths` creates: the reserved prefix
 * /api/ belongs to the main server only, and is never an event on either.
 */
import { describe, expect, it } from "@effect/vitest"
import { makeReceiver, makeTlsMaterial, opensslAvailable } from "@sidekick/testing"
import { Effect } from "effect"
import { falcoEvent, post, request, startApp } from "./support.js"

describe.skipIf(!opensslAvailable())("routes on the plain side server", () => {
  it.scopedLive("notlspaths [\"/\"]: the plain server takes events on any path but /api/..., which gets 404", () =>
    Effect.gen(function*() {
      const tls = yield* makeTlsMaterial
      const hook = yield* makeReceiver()
      const { address } = yield* startApp({
        tree: {
          tlsserver: { deploy: true, certfile: tls.serverCertPath, keyfile: tls.serverKeyPath, notlspaths: ["/"] },
          webhook: { address: hook.url }
        }
      })
      const plainUrl = address.plainUrl!
      for (const path of ["/", "/foo", "/apix"]) expect((yield* post(`${plainUrl}${path}`, falcoEvent)).status, path).toBe(200)
      yield* hook.waitFor(3)
      const api = yield* post(`${plainUrl}/api/anything`, falcoEvent)
      expect(api.status).toBe(404)
      expect(api.body).toBe("404 page not found\n")
      // the control routes stay on the TLS server; on the plain one they are events too
      expect((yield* request(`${plainUrl}/ping`)).body).toBe("Please send with post http method\n")
      yield* Effect.sleep("100 millis")
      expect(hook.count).toBe(3)
    }))
})
