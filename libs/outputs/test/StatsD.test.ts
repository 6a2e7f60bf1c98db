import { it } from "@effect/vitest"
import { Metrics } from "@sidekick/telemetry"
import { referenceEvent } from "@sidekick/testing"
import { Context, Effect, Exit, Layer, Scope } from "effect"
import * as dgram from "node:dgram"
import type { AddressInfo } from "node:net"
import { afterAll, beforeAll, describe, expect } from "vitest"
import { GlobalFieldKeys } from "../src/index.js"
import { counterOf, DogStatsD, DogstatsdConfig, StatsD, StatsdConfig } from "../src/StatsD.js"
import { config } from "./helpers.js"

/** a StatsD server stand-in: every datagram it gets */
interface Collector {
  readonly forwarder: string
  readonly datagrams: Array<string>
  readonly lines: () => Array<string>
  readonly close: () => void
}

const collector = (): Promise<Collector> =>
  new Promise((resolve) => {
    const socket = dgram.createSocket("udp4")
    const datagrams: Array<string> = []
    socket.on("message", (message) => datagrams.push(message.toString("utf8")))
    socket.bind(0, "127.0.0.1", () =>
      resolve({
        forwarder: `127.0.0.1:${(socket.address() as AddressInfo).port}`,
        datagrams,
        lines: () => datagrams.flatMap((d) => d.split("\n")),
        close: () => socket.close()
      }))
  })

/** wait (the test's timeout is the limit) until `condition` holds */
const until = (condition: () => boolean): Effect.Effect<void> =>
  Effect.promise(async () => {
    while (!condition()) await new Promise((r) => setTimeout(r, 5))
  })

// datadog-go and hot-shots add tags from these to every line: the expected lines are without them
const ddVariables = ["DD_ENV", "DD_SERVICE", "DD_VERSION", "DD_ENTITY_ID", "DD_TAGS", "DATADOG_TAGS"]
const savedEnv: Record<string, string | undefined> = {}
const collectors: Array<Collector> = []
let statsd: Collector
let dogstatsd: Collector
let tagged: Collector

beforeAll(async () => {
  for (const name of ddVariables) {
    savedEnv[name] = process.env[name]
    delete process.env[name]
  }
  collectors.push(statsd = await collector(), dogstatsd = await collector(), tagged = await collector())
})

afterAll(() => {
  for (const c of collectors) c.close()
  for (const name of ddVariables) if (savedEnv[name] !== undefined) process.env[name] = savedEnv[name]
})

const sevenLabels = ["node-1", "Terminal shell in container", "6", "critical", "syscall", "default", "nginx-1"]

/** what the pipeline reports for a short run: requests accepted and refused for each reason, three attempts */
const drive = (metrics: Context.Tag.Service<Metrics>) => {
  metrics.input("accepted")
  metrics.falcoEvent(referenceEvent, sevenLabels)
  metrics.input("rejected", "malformed_json")
  metrics.input("rejected", "invalid_event")
  metrics.input("rejected", "method")
  metrics.input("rejected", "queue_full")
  metrics.input("rejected", "spool_error")
  const kafka = metrics.output("kafka")
  kafka.attempt("ok")
  kafka.attempt("error")
  metrics.output("awscloudwatchlogs").attempt("ok")
}

const sorted = (lines: ReadonlyArray<string>) => [...lines].sort()

describe("StatsD and DogStatsD", () => {
  it("config: falcosidekick's keys and defaults, enabled by forwarder", () => {
    for (const [section, sink] of [[StatsdConfig, StatsD], [DogstatsdConfig, DogStatsD]] as const) {
      const c = config(section, {})
      expect(c).toEqual({ forwarder: "", namespace: "falcosidekick.", tags: [] })
      expect(sink.enabled(c)).toBe(false)
      expect(sink.enabled(config(section, { forwarder: "statsd:8125" }))).toBe(true)
    }
    expect(StatsD.name).toBe("statsd")
    expect(StatsD.displayName).toBe("StatsD")
    expect(DogStatsD.name).toBe("dogstatsd")
    expect(DogStatsD.displayName).toBe("DogStatsD")
    expect(config(DogstatsdConfig, { tags: ["env:prod", "team:sec"] }).tags).toEqual(["env:prod", "team:sec"])
    expect(config(DogstatsdConfig, {}, { DOGSTATSD_FORWARDER: "agent:8125", DOGSTATSD_TAGS: "env:prod,team:sec" })).toEqual({
      forwarder: "agent:8125",
      namespace: "falcosidekick.",
      tags: ["env:prod", "team:sec"]
    })
  })

  it.scoped("a forwarder without a port refuses start-up naming the key", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(StatsD.make(config(StatsdConfig, { forwarder: "statsd" })).pipe(Effect.provide(GlobalFieldKeys.empty)))
      expect(error._tag).toBe("OutputInitError")
      expect(error.key).toBe("statsd.forwarder")
      for (const forwarder of ["http://agent", "http://agent:8125"]) {
        const dog = yield* Effect.flip(DogStatsD.make(config(DogstatsdConfig, { forwarder })).pipe(Effect.provide(GlobalFieldKeys.empty)))
        expect(dog.key).toBe("dogstatsd.forwarder")
      }
    }))

  it("naming: StatsD appends the tag values (spaces removed) to the name, DogStatsD keeps them as tags", () => {
    const tags = ["output:kafka", "status:no content"]
    expect(counterOf("statsd", "outputs", tags)).toEqual({ name: "outputs.kafka.nocontent", tags: [] })
    expect(counterOf("dogstatsd", "outputs", tags)).toEqual({ name: "outputs", tags })
    expect(counterOf("statsd", "total", [])).toEqual({ name: "total", tags: [] })
  })

  it.effect("through the Metrics service: falcosidekick's lines in each flavour, several per datagram, flushed on close", () =>
    Effect.gen(function*() {
      const sinks = Layer.mergeAll(
        StatsD.layer(config(StatsdConfig, { forwarder: statsd.forwarder })),
        DogStatsD.layer(config(DogstatsdConfig, { forwarder: dogstatsd.forwarder })),
        DogStatsD.layer(config(DogstatsdConfig, { forwarder: tagged.forwarder, namespace: "sidekick", tags: ["env:prod", "team:sec"] }))
      ).pipe(Layer.provide(GlobalFieldKeys.empty), Layer.provideMerge(Metrics.layer({ falcoEventLabels: [], defaultMetrics: false })))
      const scope = yield* Scope.make()
      const metrics = Context.get(yield* Layer.buildWithScope(sinks, scope), Metrics)
      drive(metrics)
      // closing the sinks flushes their buffers (the 100 ms timer stops with them)
      yield* Scope.close(scope, Exit.void)

      const statsdLines = [
        "falcosidekick.total:1|c",
        "falcosidekick.inputs.requests.accepted:1|c",
        "falcosidekick.falco.accepted.Critical:1|c",
        "falcosidekick.total:1|c",
        "falcosidekick.inputs.requests.rejected.invalidjson:1|c",
        "falcosidekick.total:1|c",
        "falcosidekick.inputs.requests.rejected.invalidjson:1|c",
        "falcosidekick.total:1|c",
        "falcosidekick.inputs.requests.rejected.nobody:1|c",
        "falcosidekick.total:1|c",
        "falcosidekick.inputs.requests.rejected.queuefull:1|c",
        "falcosidekick.total:1|c",
        "falcosidekick.inputs.requests.rejected.spoolerror:1|c",
        "falcosidekick.outputs.kafka.ok:1|c",
        "falcosidekick.outputs.kafka.error:1|c",
        "falcosidekick.outputs.awscloudwatchlogs.ok:1|c"
      ]
      const dogstatsdLines = (namespace: string, global: ReadonlyArray<string>) => {
        const line = (name: string, tags: ReadonlyArray<string> = []) => {
          const all = [...global, ...tags]
          return `${namespace}${name}:1|c${all.length === 0 ? "" : `|#${all.join(",")}`}`
        }
        return [
          line("total"),
          line("inputs.requests.accepted"),
          line("falco.accepted", ["priority:Critical"]),
          ...["invalidjson", "invalidjson", "nobody", "queuefull", "spoolerror"].flatMap((why) => [
            line("total"),
            line("inputs.requests.rejected", [`error:${why}`])
          ]),
          line("outputs", ["output:kafka", "status:ok"]),
          line("outputs", ["output:kafka", "status:error"]),
          line("outputs", ["output:awscloudwatchlogs", "status:ok"])
        ]
      }
      yield* until(() => statsd.lines().length >= 16 && dogstatsd.lines().length >= 16 && tagged.lines().length >= 16)
      expect(sorted(statsd.lines())).toEqual(sorted(statsdLines))
      expect(sorted(dogstatsd.lines())).toEqual(sorted(dogstatsdLines("falcosidekick.", [])))
      expect(dogstatsd.lines()).toEqual(expect.arrayContaining([
        "falcosidekick.falco.accepted:1|c|#priority:Critical",
        "falcosidekick.inputs.requests.rejected:1|c|#error:invalidjson",
        "falcosidekick.outputs:1|c|#output:kafka,status:ok"
      ]))
      // a namespace without its dot gets one (as datadog-go does); global tags come first
      expect(sorted(tagged.lines())).toEqual(sorted(dogstatsdLines("sidekick.", ["env:prod", "team:sec"])))
      // buffered: the sixteen lines left in fewer datagrams
      expect(statsd.datagrams.length).toBeLessThan(16)
    }))
})
