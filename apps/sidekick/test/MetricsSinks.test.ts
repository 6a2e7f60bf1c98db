/**
 * The outputs of Sidekick's own counts, wired in the app: StatsD hears what /metrics counts, as it happens —
 * each request, each accepted event, each delivery attempt of an output of events — and is closed (flushed)
 * after the outputs, so the last attempts still go out.
 */
import { describe, expect, it } from "@effect/vitest"
import { makeReceiver, status } from "@sidekick/testing"
import { Effect } from "effect"
import * as dgram from "node:dgram"
import { falcoEvent, post, request, startApp } from "./support.js"

/** a UDP socket on loopback collecting the StatsD lines it receives */
const statsdServer = Effect.acquireRelease(
  Effect.async<{ readonly port: number; readonly lines: Array<string>; readonly socket: dgram.Socket }>((resume) => {
    const socket = dgram.createSocket("udp4")
    const lines: Array<string> = []
    socket.on("message", (message) => lines.push(...message.toString("utf8").split("\n").filter((l) => l !== "")))
    socket.bind(0, "127.0.0.1", () => resume(Effect.succeed({ port: socket.address().port, lines, socket })))
  }),
  ({ socket }) => Effect.sync(() => socket.close())
)

describe("metrics sinks in the app", () => {
  it.scopedLive("StatsD counts the app's inputs, events and output attempts; the sinks are not outputs of events", () =>
    Effect.gen(function*() {
      const statsd = yield* statsdServer
      const hook = yield* makeReceiver({ responses: [status(500), status(200)] })
      yield* Effect.scoped(Effect.gen(function*() {
        const { address } = yield* startApp({
          env: { STATSD_FORWARDER: `127.0.0.1:${statsd.port}`, WEBHOOK_ADDRESS: hook.url, DELIVERY_RETRY_INITIALDELAY: "10ms" }
        })
        expect((yield* post(address.url, falcoEvent)).status).toBe(200)
        expect((yield* post(address.url, "{not json")).status).toBe(400)
        yield* hook.waitFor(2)
        const vars = JSON.parse((yield* request(`${address.url}/debug/vars`)).body)
        // no lane, no expvar, no dead letters for a metrics sink
        expect(Object.keys(vars).filter((k) => k.startsWith("outputs."))).toEqual(["outputs.webhook"])
      }))
      // the app is closed: the sink flushed on its way out
      const expected = [
        "falcosidekick.total:1|c",
        "falcosidekick.inputs.requests.accepted:1|c",
        "falcosidekick.falco.accepted.Notice:1|c",
        "falcosidekick.inputs.requests.rejected.invalidjson:1|c",
        "falcosidekick.outputs.webhook.error:1|c",
        "falcosidekick.outputs.webhook.ok:1|c"
      ]
      for (let i = 0; i < 100 && !expected.every((l) => statsd.lines.includes(l)); i++) yield* Effect.sleep("20 millis")
      expect(statsd.lines).toEqual(expect.arrayContaining(expected))
    }))
})
