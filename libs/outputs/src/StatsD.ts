/**
 * StatsD and DogStatsD: Sidekick's own counts pushed as falcosidekick pushes them (`statsd` and
 * `dogstatsd` sections), counters over UDP with the `hot-shots` client, buffered and flushed every
 * 100 ms as falcosidekick's datadog-go client does (several `\n`-separated lines per datagram).
 *
 * The counters, with falcosidekick's names, under `namespace` (default `falcosidekick.`):
 * - `total`: every request to the event endpoint;
 * - `inputs.requests.accepted`, `inputs.requests.rejected` with tag `error:<why>` (`rejectionTag`);
 * - `falco.accepted` with tag `priority:<Priority>`;
 * - `outputs` with tags `output:<destination>` and `status:ok|error`, for every delivery attempt.
 * The DogStatsD flavour sends the tags as DogStatsD tags (`falcosidekick.outputs:1|c|#output:kafka,status:ok`);
 * the StatsD flavour appends their values to the name (`falcosidekick.outputs.kafka.ok:1|c`). The global
 * `tags` (and datadog-go's DD_ENV, DD_SERVICE, DD_VERSION, DD_ENTITY_ID tags; hot-shots also reads DD_TAGS)
 * go on every line as DogStatsD tags, in both flavours, as falcosidekick's client sends them.
 *
 * Differences from falcosidekick, each on purpose:
 * - falcosidekick sends the input counters (`total`, `inputs.*`, `falco.accepted`) through its
 *   DogStatsD code path even for StatsD (DogStatsD-tagged lines to a plain StatsD server), and to only
 *   one of the two when both are enabled; here each sink sends all of them, in its own flavour;
 * - falcosidekick sends `outputs` only for the outputs it built with their own client (AWS, GCP,
 *   Kafka, SMTP...), plus a second `status:<HTTP status text>` line for HTTP outputs; here every output's
 *   attempts are counted (`status:ok|error` only: the sink hears the outcome of an attempt, not its status);
 * - the sink does not count its own sends in `outputs.statsd|dogstatsd` (they are fire-and-forget UDP);
 * - no client telemetry (`datadog.dogstatsd.client.*`, which datadog-go v4 sends every 10 s);
 * - `namespace: ""` means no prefix (datadog-go turns it into a lone ".").
 */
import { Field, section } from "@sidekick/config"
import type { FalcoEvent } from "@sidekick/event"
import type { IngestRejection, MetricsListener } from "@sidekick/telemetry"
import { Effect, Runtime } from "effect"
import { defineMetricsSink, type MetricsSinkContext } from "./Definition.js"
import { parseHostPort } from "./Socket.js"

const statsdFields = () => ({
  /** host:port of the StatsD server or agent (UDP) */
  forwarder: Field.string(),
  namespace: Field.string("falcosidekick."),
  /** tags added to every line (`key:value`) */
  tags: Field.list()
})

export const StatsdConfig = section("statsd", statsdFields())
export type StatsdConfig = typeof StatsdConfig.Type
export const DogstatsdConfig = section("dogstatsd", statsdFields())
export type DogstatsdConfig = typeof DogstatsdConfig.Type

export type StatsdFlavour = "statsd" | "dogstatsd"

/**
 * The `error` tag of a rejected request. falcosidekick's own: `nobody` (it answers a request without a
 * body, or not a POST, that way) and `invalidjson` (a body that does not decode or is not a valid
 * event); the refusals falcosidekick never makes (it has no queue and no spool) get their own values.
 */
export const rejectionTag: Readonly<Record<IngestRejection, string>> = {
  method: "nobody",
  malformed_json: "invalidjson",
  invalid_event: "invalidjson",
  queue_full: "queuefull",
  spool_error: "spoolerror"
}

/** one counter as the flavour writes it: its name (namespace excluded) and its DogStatsD tags */
export interface Counter {
  readonly name: string
  readonly tags: ReadonlyArray<string>
}

/** falcosidekick's StatsD naming: each tag's value (spaces removed) appended to the name with a dot */
export const counterOf = (flavour: StatsdFlavour, metric: string, tags: ReadonlyArray<string>): Counter =>
  flavour === "dogstatsd" || tags.length === 0
    ? { name: metric, tags }
    : { name: metric + tags.map((tag) => "." + (tag.split(":")[1] ?? "").replaceAll(" ", "")).join(""), tags: [] }

/** datadog-go's buffer for UDP: a datagram that fits an Ethernet MTU */
const maxDatagramBytes = 1432
/** datadog-go's flush interval */
const flushIntervalMillis = 100
/** an unreachable agent fails every flush: say so at most this often */
const errorLogIntervalMillis = 60_000

const makeListener = (
  flavour: StatsdFlavour,
  displayName: string,
  c: StatsdConfig,
  ctx: MetricsSinkContext
) =>
  Effect.gen(function*() {
    // host:port as datadog-go resolves it (a URL such as http://agent:8125, which falcosidekick's chart
    // suggests, never worked: its client refuses it too)
    const address = parseHostPort(c.forwarder)
    if (address === undefined || address.host.includes("/")) {
      return yield* Effect.fail(
        ctx.initError(`${ctx.name}.forwarder must be host:port (UDP), got ${JSON.stringify(c.forwarder)}`, { key: "forwarder" })
      )
    }
    // the client is loaded here, when the sink is enabled, not with the registry (a failure to load is a defect)
    const { default: StatsDClient } = yield* Effect.promise(() => import("hot-shots"))
    const runtime = yield* Effect.runtime<never>()
    let lastErrorLog = 0
    const onError = (error: Error) => {
      const now = Date.now()
      if (now - lastErrorLog < errorLogIntervalMillis) return
      lastErrorLog = now
      Runtime.runFork(runtime)(Effect.logWarning(`${displayName} - cannot send to ${c.forwarder}: ${error.message}`))
    }
    const client = yield* Effect.acquireRelease(
      Effect.sync(() =>
        new StatsDClient({
          protocol: "udp",
          // Go dials "" as the local host
          host: address.host === "" ? "127.0.0.1" : address.host,
          port: address.port,
          prefix: c.namespace,
          globalTags: [...c.tags],
          maxBufferSize: maxDatagramBytes,
          bufferFlushInterval: flushIntervalMillis,
          // datadog-go v4 adds no origin detection (container id) and its telemetry is left out (see above)
          datadog: false,
          includeDatadogTelemetry: false,
          errorHandler: onError
        })
      ),
      // close flushes what is buffered
      (client) => Effect.async<void>((resume) => client.close(() => resume(Effect.void)))
    )
    const count = (counter: Counter) => client.increment(counter.name, 1, undefined, counter.tags as Array<string>)
    // the counters that do not depend on the event, built once
    const total = counterOf(flavour, "total", [])
    const accepted = counterOf(flavour, "inputs.requests.accepted", [])
    const rejectedWithout = counterOf(flavour, "inputs.requests.rejected", [])
    const rejected = Object.fromEntries(
      Object.entries(rejectionTag).map(([reason, tag]) => [reason, counterOf(flavour, "inputs.requests.rejected", [`error:${tag}`])])
    ) as Record<IngestRejection, Counter>
    const attempts = new Map<string, Counter>()
    const attempt = (destination: string, status: "ok" | "error"): Counter => {
      const key = `${destination}\u0000${status}`
      let counter = attempts.get(key)
      if (counter === undefined) {
        counter = counterOf(flavour, "outputs", [`output:${destination}`, `status:${status}`])
        attempts.set(key, counter)
      }
      return counter
    }
    return {
      input: (status, rejection) => {
        count(total)
        count(status === "accepted" ? accepted : rejection === undefined ? rejectedWithout : rejected[rejection])
      },
      falcoEvent: (event: FalcoEvent) => count(counterOf(flavour, "falco.accepted", [`priority:${event.priority}`])),
      outputAttempt: (destination, status) => count(attempt(destination, status))
    } satisfies MetricsListener
  })

export const StatsD = defineMetricsSink({
  config: StatsdConfig,
  displayName: "StatsD",
  enabled: (c) => c.forwarder !== "",
  make: (c, ctx) => makeListener("statsd", "StatsD", c, ctx)
})

export const DogStatsD = defineMetricsSink({
  config: DogstatsdConfig,
  displayName: "DogStatsD",
  enabled: (c) => c.forwarder !== "",
  make: (c, ctx) => makeListener("dogstatsd", "DogStatsD", c, ctx)
})
