/**
 * The service on the JetStream spool (`delivery.spool.nats.url`), against the NATS server that runs on
 * this machine and in CI (127.0.0.1:4222). Outside CI, skipped when no server answers.
 */
import { describe, expect, it } from "@effect/vitest"
import { makeSource } from "@sidekick/config"
import { makeReceiver } from "@sidekick/testing"
import { Effect } from "effect"
import { connect } from "nats"
import { randomBytes } from "node:crypto"
import { Socket } from "node:net"
import { readAppConfig } from "../src/AppConfig.js"
import { falcoEvent, post, startApp } from "./support.js"

const natsUp = await new Promise<boolean>((resolve) => {
  const s = new Socket()
  s.once("connect", () => (s.destroy(), resolve(true)))
  s.once("error", () => resolve(false))
  s.connect(4222, "127.0.0.1")
})
const run = natsUp || process.env["CI"] !== undefined
if (!run) console.warn("JetStream tests skipped: no NATS server on 127.0.0.1:4222 (CI runs them)")

describe.runIf(run)("the JetStream spool", () => {
  it.scopedLive("events are published to the stream and delivered; the stream is the one configured", () =>
    Effect.gen(function*() {
      const suffix = randomBytes(4).toString("hex")
      const stream = `sidekick-app-${suffix}`
      yield* Effect.addFinalizer(() =>
        Effect.promise(async () => {
          const nc = await connect({ servers: "nats://127.0.0.1:4222" })
          await (await nc.jetstreamManager()).streams.delete(stream).catch(() => false)
          await nc.close()
        })
      )
      const hook = yield* makeReceiver()
      const env = {
        WEBHOOK_ADDRESS: hook.url,
        DELIVERY_SPOOL_NATS_URL: "nats://127.0.0.1:4222",
        DELIVERY_SPOOL_NATS_STREAM: stream,
        DELIVERY_SPOOL_NATS_SUBJECT: `sidekick.app.${suffix}`
      }
      const { address } = yield* startApp({ env })
      for (let i = 0; i < 3; i++) expect((yield* post(address.url, falcoEvent)).status).toBe(200)
      expect(yield* hook.waitFor(3)).toHaveLength(3)
      const info = yield* Effect.promise(async () => {
        const nc = await connect({ servers: "nats://127.0.0.1:4222" })
        const i = await (await nc.jetstreamManager()).streams.info(stream)
        await nc.close()
        return i
      })
      // three events in packs: at least one message went through the stream
      expect(info.state.messages).toBeGreaterThanOrEqual(1)
      expect(info.config.subjects).toEqual([`sidekick.app.${suffix}`])
    }))
})

describe("delivery.spool.nats.* config", () => {
  it.effect("secrets reach only the client's options; a spool on disk and on JetStream at once is refused", () =>
    Effect.gen(function*() {
      const config = yield* readAppConfig(makeSource({
        tree: {},
        env: { DELIVERY_SPOOL_NATS_URL: "nats://n:4222", DELIVERY_SPOOL_NATS_USER: "u", DELIVERY_SPOOL_NATS_PASSWORD: "p4ss" }
      }))
      expect(config.jetstream).toEqual({ url: "nats://n:4222", stream: "sidekick", subject: "sidekick.events", replicas: 1, user: "u", password: "p4ss" })
      expect(config.delivery.drainOnShutdown).toBe(false)
      const both = yield* Effect.flip(readAppConfig(makeSource({ tree: {}, env: { DELIVERY_SPOOL_NATS_URL: "nats://n:4222", DELIVERY_SPOOL_DIR: "/tmp/x" } })))
      expect(both.message).toBe(
        `invalid config: delivery.spool.nats.url (DELIVERY_SPOOL_NATS_URL from env) = "nats://n:4222": expected no NATS URL while delivery.spool.dir is set: one spool, on disk or on JetStream`
      )
    }))
})
