import { it } from "@effect/vitest"
import { Effect } from "effect"
import * as https from "node:https"
import * as zlib from "node:zlib"
import { describe, expect } from "vitest"
import { hang, makeReceiver, makeTlsMaterial, opensslAvailable, status } from "../src/index.js"

const post = (url: string, body: string | Buffer, headers: Record<string, string> = {}) =>
  Effect.promise(() =>
    fetch(url, { method: "POST", body, headers }).then(async (r) => ({ status: r.status, body: await r.text() }))
  )

describe("Receiver", () => {
  it.scoped("records requests and answers from the script, last response repeating", () =>
    Effect.gen(function*() {
      const rx = yield* makeReceiver({ responses: [status(500, "boom"), status(204)] })
      const a = yield* post(`${rx.url}/a?x=1`, "one", { "X-Custom": "v" })
      const b = yield* post(`${rx.url}/b`, "two")
      const c = yield* post(`${rx.url}/c`, "three")
      expect([a.status, b.status, c.status]).toEqual([500, 204, 204])
      expect(a.body).toBe("boom")
      const reqs = yield* rx.waitFor(3)
      expect(reqs.map((r) => r.path)).toEqual(["/a?x=1", "/b", "/c"])
      expect(reqs[0]!.method).toBe("POST")
      expect(reqs[0]!.headers["x-custom"]).toBe("v")
      expect(reqs[0]!.rawHeaders).toContainEqual(["X-Custom", "v"])
      expect(reqs[0]!.body).toBe("one")
      yield* rx.respondWith(status(418))
      expect((yield* post(rx.url, "")).status).toBe(418)
    }))

  it.scoped("gunzips gzip bodies and keeps the raw bytes", () =>
    Effect.gen(function*() {
      const rx = yield* makeReceiver()
      const gz = zlib.gzipSync(Buffer.from("hello gzip"))
      yield* post(rx.url, gz, { "Content-Encoding": "gzip" })
      const [r] = yield* rx.waitFor(1)
      expect(r!.gzipped).toBe(true)
      expect(r!.body).toBe("hello gzip")
      expect(r!.rawBody.equals(gz)).toBe(true)
    }))

  it.scoped("hang mode keeps the request open; waitFor times out with a typed error", () =>
    Effect.gen(function*() {
      const rx = yield* makeReceiver({ responses: [hang] })
      const controller = new AbortController()
      const pending = fetch(rx.url, { method: "POST", body: "x", signal: controller.signal }).catch(() => "aborted")
      yield* rx.waitFor(1)
      expect(rx.pending).toBe(1)
      controller.abort()
      expect(yield* Effect.promise(() => pending)).toBe("aborted")
      const err = yield* Effect.flip(rx.waitFor(2, "50 millis"))
      expect(err._tag).toBe("WaitTimeout")
      expect(err.received).toBe(1)
    }))

  it.scoped.skipIf(!opensslAvailable())("HTTPS with a generated CA, and mTLS with requestCert", () =>
    Effect.gen(function*() {
      const tls = yield* makeTlsMaterial
      const rx = yield* makeReceiver({ tls, requestCert: true })
      expect(rx.url.startsWith("https://127.0.0.1:")).toBe(true)
      const request = (withCert: boolean) =>
        Effect.promise(() =>
          new Promise<string>((resolve) => {
            const req = https.request(`${rx.url}/m`, {
              method: "POST",
              ca: tls.caCert,
              ...(withCert ? { cert: tls.clientCert, key: tls.clientKey } : {})
            }, (res) => {
              res.resume()
              res.on("end", () => resolve(String(res.statusCode)))
            })
            req.on("error", () => resolve("refused"))
            req.end("body")
          })
        )
      expect(yield* request(true)).toBe("200")
      expect(yield* request(false)).toBe("refused")
      const [r] = yield* rx.waitFor(1)
      expect(r!.tlsClient).toEqual({ authorized: true, subjectCN: "sidekick-test-client" })
      expect(rx.count).toBe(1)
    }))
})
