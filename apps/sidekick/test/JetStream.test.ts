/**
 * The service on the JetStream spool (`delivery.spool.nats.url`), against the NATS server that runs on
 * this machine and in CI (127.0.0.1:4222). Outside CI, skipped when no server answers.
 */
import { describe, expect, it } from "@effect/vitest"
import { makeSource } from "@sidekick/config"
import { makeReceiver } from "@sidekick/testing"
import { Duration, Effect } from "effect"
import { connect } from "nats"
import { randomBytes } from "node:crypto"
import { Socket } from "node:net"
import { readAppConfig } from "../src/AppConfig.js"
import { freePort, runNode, waitUntil } from "./processes.js"
import { falcoEvent, post, startApp } from "./support.js"

const natsUp = await new Promise<boolean>((resolve) => {
  const s = new Socket()
  s.once("connect", () => (s.destroy(), resolve(true)))
  s.once("error", () => resolve(false))
  s.connect(4222, "127.0.0.1")
})
/** a fresh stream and subject, deleted when the test ends */
const freshStream = (prefix: string) =>
  Effect.gen(function*() {
    const suffix = randomBytes(4).toString("hex")
    const stream = `${prefix}-${suffix}`
    yield* Effect.addFinalizer(() =>
      Effect.promise(async () => {
        const nc = await connect({ servers: "nats://127.0.0.1:4222" })
        await (await nc.jetstreamManager()).streams.delete(stream).catch(() => false)
        await nc.close()
      })
    )
    return { stream, subject: `sidekick.${prefix}.${suffix}` }
  })

const run = natsUp || process.env["CI"] !== undefined
if (!run) console.warn("JetStream tests skipped: no NATS server on 127.0.0.1:4222 (CI runs them)")

describe.runIf(run)("the JetStream spool", () => {
  it.scopedLive("events are published to the stream and delivered; the stream is the one configured", () =>
    Effect.gen(function*() {
      const { stream, subject } = yield* freshStream("app")
      const hook = yield* makeReceiver()
      const env = {
        WEBHOOK_ADDRESS: hook.url,
        DELIVERY_SPOOL_NATS_URL: "nats://127.0.0.1:4222",
        DELIVERY_SPOOL_NATS_STREAM: stream,
        DELIVERY_SPOOL_NATS_SUBJECT: subject
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
      expect(info.config.subjects).toEqual([subject])
    }))

  it.scopedLive("two Sidekick processes share the stream; one killed by SIGKILL mid-stream: every accepted event is delivered", () =>
    Effect.gen(function*() {
      const { stream, subject } = yield* freshStream("replicas")
      // slow enough that the killed process holds undelivered packs when it dies
      const hook = yield* makeReceiver({ responses: [{ status: 200, delay: "50 millis" }] })
      const env = {
        LISTENADDRESS: "127.0.0.1",
        WEBHOOK_ADDRESS: hook.url,
        WEBHOOK_MAXCONCURRENTREQUESTS: "2",
        DELIVERY_SPOOL_NATS_URL: "nats://127.0.0.1:4222",
        DELIVERY_SPOOL_NATS_STREAM: stream,
        DELIVERY_SPOOL_NATS_SUBJECT: subject,
        // what the killed replica held goes to the other one 2 s after its last sign of life
        DELIVERY_SPOOL_NATS_ACKWAIT: "2s"
      }
      const ports = [yield* freePort(), yield* freePort()]
      const replicas = ports.map((port) => runNode({ ...env, LISTENPORT: String(port) }))
      for (const r of replicas) yield* Effect.addFinalizer(() => Effect.sync(() => r.child.kill("SIGKILL")))
      yield* waitUntil(() => replicas.every((r) => r.output().includes("listening")), "both replicas to listen")
      const urls = ports.map((port) => `http://127.0.0.1:${port}`)
      const rule = (i: number) => falcoEvent.replace(`"rule":"Terminal shell in container"`, `"rule":"event ${i}"`)
      const total = 300
      // 20 at a time, so that packs hold several events; each gets its 200 once it is in the stream
      const postAll = (from: number, to: number, url: (i: number) => string) =>
        Effect.forEach(Array.from({ length: to - from }, (_, k) => from + k), (i) => post(url(i), rule(i)), { concurrency: 20 })
      const accepted = yield* postAll(0, 200, (i) => urls[i % 2]!)
      expect(accepted.every((r) => r.status === 200)).toBe(true)
      // at 2 × 50 ms per replica, most of the 200 are still to deliver: the killed replica holds packs
      yield* waitUntil(() => hook.count >= 10, "some deliveries")
      const [killed, survivor] = replicas
      killed!.child.kill("SIGKILL")
      yield* Effect.promise(() => killed!.exited)
      const after = yield* postAll(200, total, () => urls[1]!)
      expect(after.every((r) => r.status === 200)).toBe(true)
      const seen = () => new Set(hook.requests.map((r) => JSON.parse(r.body).rule as string))
      yield* waitUntil(() => seen().size === total, `all ${total} events (seen ${seen().size})`, 30_000)
      expect([...seen()].sort()).toEqual(Array.from({ length: total }, (_, i) => `event ${i}`).sort())
      // at least once: what the killed replica was sending when it died may arrive twice, nothing more
      expect(hook.count - total).toBeLessThanOrEqual(2 * 32)
      expect(survivor!.output()).toContain("listening")
    }), 60_000)
})

describe("delivery.spool.nats.* config", () => {
  it.effect("secrets reach only the client's options; a spool on disk and on JetStream at once is refused", () =>
    Effect.gen(function*() {
      const config = yield* readAppConfig(makeSource({
        tree: {},
        env: { DELIVERY_SPOOL_NATS_URL: "nats://n:4222", DELIVERY_SPOOL_NATS_USER: "u", DELIVERY_SPOOL_NATS_PASSWORD: "p4ss" }
      }))
      const { ackWait, ...rest } = config.jetstream!
      expect(rest).toEqual({ url: "nats://n:4222", stream: "sidekick", subject: "sidekick.events", replicas: 1, user: "u", password: "p4ss" })
      expect(Duration.toMillis(ackWait!)).toBe(30_000)
      expect(config.delivery.drainOnShutdown).toBe(false)
      const both = yield* Effect.flip(readAppConfig(makeSource({ tree: {}, env: { DELIVERY_SPOOL_NATS_URL: "nats://n:4222", DELIVERY_SPOOL_DIR: "/tmp/x" } })))
      expect(both.message).toBe(
        `invalid config: delivery.spool.nats.url (DELIVERY_SPOOL_NATS_URL from env) = "nats://n:4222": expected no NATS URL while delivery.spool.dir is set: one spool, on disk or on JetStream`
      )
    }))
})
