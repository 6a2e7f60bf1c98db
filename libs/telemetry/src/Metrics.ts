/**
 * The metrics registry: falcosidekick's three Prometheus families (same names and labels, so existing
 * dashboards and alerts keep working), Sidekick's pipeline-health families, and the expvar-style
 * counters behind /debug/vars. One registry per service instance: nothing global.
 */
import type { FalcoEvent } from "@sidekick/event"
import { Context, Effect, Layer } from "effect"
import * as Prom from "prom-client"

export type InputStatus = "accepted" | "rejected"
/** spool_error: the durable spool could not store the event (answered 503) */
export type IngestRejection = "method" | "malformed_json" | "invalid_event" | "queue_full" | "spool_error"
/**
 * queue_full: the output's queue overflowed; retries_exhausted: every attempt allowed
 * (delivery.retry.maxattempts) failed; max_age: still failing when delivery.retry.maxage passed;
 * rejected: the peer refused it for good (a 4xx); defect: the output itself failed unexpectedly (a bug);
 * shutdown: still queued when the shutdown deadline passed
 */
export type DropReason = "queue_full" | "retries_exhausted" | "max_age" | "rejected" | "defect" | "shutdown"
/** 0 closed, 1 half-open, 2 open (the value of sidekick_output_circuit_state) */
export type CircuitLevel = 0 | 1 | 2

/** Pre-bound instruments of one output; cheap to call on every event. */
export interface OutputInstruments {
  readonly attempt: (status: "ok" | "error") => void
  readonly retried: () => void
  readonly delivered: (events: number, seconds: number) => void
  readonly failed: (events: number, seconds: number) => void
  readonly dropped: (reason: DropReason, events: number) => void
}

/** What the Dispatcher reports about one output when Prometheus scrapes. */
export interface LaneSnapshot {
  readonly destination: string
  readonly depth: number
  readonly capacity: number
  /** bytes of event JSON waiting */
  readonly bytes: number
  readonly circuit: CircuitLevel
}

/** What the dead-letter store reports when Prometheus scrapes. */
export interface DeadLetterSnapshot {
  /** dead letters kept */
  readonly stored: number
  /** dead letters forgotten because the store was full */
  readonly forgotten: number
}

/**
 * What a push sink of Sidekick's own metrics hears (StatsD, DogStatsD, OTLP metrics), as it happens:
 * the same counts /metrics shows, each call synchronous and cheap (it runs on the ingest path).
 */
export interface MetricsListener {
  /** a request to the event endpoint, accepted or rejected (with the reason) */
  readonly input?: (status: InputStatus, rejection: IngestRejection | undefined) => void
  /** an accepted event, enriched */
  readonly falcoEvent?: (event: FalcoEvent) => void
  /** one delivery attempt of an output, by its destination label */
  readonly outputAttempt?: (destination: string, status: "ok" | "error") => void
}

/** A /metrics answer: the Prometheus text exposition and its content type. */
export interface MetricsExposition {
  readonly contentType: string
  readonly body: string
}

/**
 * The metrics of one service instance. Every method is synchronous and cheap, so the pipeline can call
 * it on every event.
 */
export interface MetricsService {
  /** the instance's prom-client registry (the cluster's AggregatorRegistry reads it in a worker) */
  readonly registry: Prom.Registry
  /**
   * label names of falcosecurity_falcosidekick_falco_events_total, in order: `fixedFalcoEventLabels`,
   * then `MetricsOptions.falcoEventLabels`
   */
  readonly falcoEventLabelNames: ReadonlyArray<string>
  /**
   * one request reached the event endpoint (falcosidekick_inputs_total and `inputs.requests`); a rejected
   * one with its reason is also counted in sidekick_ingest_rejected_total
   */
  readonly input: (status: InputStatus, rejection?: IngestRejection) => void
  /**
   * one accepted event: counts it under its priority (`falco.priority`) and in
   * falcosecurity_falcosidekick_falco_events_total; `labelValues` in the order of `falcoEventLabelNames`
   */
  readonly falcoEvent: (event: FalcoEvent, labelValues: ReadonlyArray<string>) => void
  /** the instruments of one output, bound to its labels; its `outputs.<destination>` expvar starts at zero */
  readonly output: (destination: string) => OutputInstruments
  /** register a source of per-output gauges (queue depth, capacity, circuit state), read at each scrape */
  readonly observeLanes: (snapshot: () => ReadonlyArray<LaneSnapshot>) => void
  /** register the dead-letter store's figures, read at each scrape */
  readonly observeDeadLetters: (snapshot: () => DeadLetterSnapshot) => void
  /** dead letters of `destination` put back in its queue (sidekick_deadletters_replayed_total) */
  readonly deadLettersReplayed: (destination: string, events: number) => void
  /** dead letters of `from` handed to the `deadletter.output` (sidekick_deadletters_forwarded_total) */
  readonly deadLettersForwarded: (from: string, events: number) => void
  /** tell `listener` every count from now on, until the returned function is called */
  readonly listen: (listener: MetricsListener) => () => void
  /** the Prometheus text exposition of the registry */
  readonly expose: Effect.Effect<MetricsExposition>
  /** falcosidekick's expvar variables (the ones that are about Sidekick, not the Go runtime), a fresh copy */
  readonly debugVars: () => Record<string, unknown>
}

export interface MetricsOptions {
  /** extra label names of falcosecurity_falcosidekick_falco_events_total (customfields, templatedfields, extralabels) */
  readonly falcoEventLabels: ReadonlyArray<string>
  /** register process_* and nodejs_* metrics (off in tests that create many registries) */
  readonly defaultMetrics?: boolean
}

const priorityKeys = ["alert", "critical", "debug", "emergency", "error", "informational", "none", "notice", "warning"]

export const fixedFalcoEventLabels = [
  "hostname", "rule", "priority", "priority_raw", "source", "k8s_ns_name", "k8s_pod_name"
] as const

/**
 * prom-client's default gauges whose names end in `_total`, which Prometheus reserves for counters
 * (`promtool check metrics` reports them). They are dropped rather than renamed: each one only counts
 * what its sibling without the suffix already counts by type (`nodejs_active_handles{type}` and so on),
 * so `sum(nodejs_active_handles)` gives the figure, while a renamed copy would be a name no Node.js
 * dashboard knows either. prom-client has no option to leave single default metrics out, hence the
 * removal right after registering them.
 */
const nonCounterTotals = ["nodejs_active_handles_total", "nodejs_active_requests_total", "nodejs_active_resources_total"]

export const make = (options: MetricsOptions): Effect.Effect<MetricsService> =>
  Effect.sync((): MetricsService => {
    const registry = new Prom.Registry()
    if (options.defaultMetrics !== false) {
      Prom.collectDefaultMetrics({ register: registry })
      for (const name of nonCounterTotals) registry.removeSingleMetric(name)
    }

    const counter = <L extends string>(name: string, help: string, labelNames: ReadonlyArray<L>) =>
      new Prom.Counter<L>({ name, help, labelNames, registers: [registry] })

    const inputs = counter("falcosecurity_falcosidekick_inputs_total", "Number of times an input is received", [
      "source",
      "status"
    ])
    const outputs = counter("falcosecurity_falcosidekick_outputs_total", "Number of delivery attempts per output and status", [
      "destination",
      "status"
    ])
    const falcoEventLabelNames = [...fixedFalcoEventLabels, ...options.falcoEventLabels]
    const falcoEvents = counter(
      "falcosecurity_falcosidekick_falco_events_total",
      "Number of accepted Falco events",
      falcoEventLabelNames
    )
    const ingestRejected = counter(
      "sidekick_ingest_rejected_total",
      "Requests to the event endpoint that were refused, by reason",
      ["reason"]
    )
    const retries = counter("sidekick_output_retries_total", "Delivery attempts that were retried", ["destination"])
    const delivered = counter("sidekick_output_delivered_total", "Events delivered per output", ["destination"])
    const dropped = counter("sidekick_output_dropped_total", "Events an output will never deliver, by reason", [
      "destination",
      "reason"
    ])
    const latency = new Prom.Histogram({
      name: "sidekick_output_delivery_duration_seconds",
      help: "Time from an event's acceptance to its delivery (or final failure), per output",
      labelNames: ["destination", "outcome"],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
      registers: [registry]
    })

    // Gauges read the pipeline's state when scraped instead of being updated on every event.
    const snapshots: Array<() => ReadonlyArray<LaneSnapshot>> = []
    const laneGauge = (name: string, help: string, read: (lane: LaneSnapshot) => number) =>
      new Prom.Gauge({
        name,
        help,
        labelNames: ["destination"],
        registers: [registry],
        collect() {
          this.reset()
          for (const snapshot of snapshots) {
            for (const lane of snapshot()) this.set({ destination: lane.destination }, read(lane))
          }
        }
      })
    laneGauge("sidekick_output_queue_depth", "Events waiting in an output's queue", (lane) => lane.depth)
    laneGauge("sidekick_output_queue_capacity", "Capacity of an output's queue", (lane) => lane.capacity)
    laneGauge("sidekick_output_queue_bytes", "Bytes of event JSON waiting in an output's queue", (lane) => lane.bytes)
    const deadLetterSources: Array<() => DeadLetterSnapshot> = []
    const deadLetterGauge = (name: string, help: string, read: (s: DeadLetterSnapshot) => number) =>
      new Prom.Gauge({
        name,
        help,
        registers: [registry],
        collect() {
          this.set(deadLetterSources.reduce((n, source) => n + read(source()), 0))
        }
      })
    deadLetterGauge("sidekick_deadletters_stored", "Dead letters kept, all outputs", (s) => s.stored)
    // a counter's value, read from the store at scrape time
    new Prom.Counter({
      name: "sidekick_deadletters_forgotten_total",
      help: "Dead letters forgotten because the store was full (the oldest go first)",
      registers: [registry],
      collect() {
        this.reset()
        this.inc(deadLetterSources.reduce((n, source) => n + source().forgotten, 0))
      }
    })
    const replayed = counter("sidekick_deadletters_replayed_total", "Dead letters put back in their output's queue", ["destination"])
    const forwarded = counter(
      "sidekick_deadletters_forwarded_total",
      "Dead letters handed to the deadletter.output, by the output that could not deliver them",
      ["destination"]
    )
    laneGauge(
      "sidekick_output_circuit_state",
      "Circuit breaker state per output: 0 closed, 1 half-open, 2 open",
      (lane) => lane.circuit
    )

    // push sinks: plain arrays, read on every count, so an empty one costs a length check
    const inputListeners: Array<NonNullable<MetricsListener["input"]>> = []
    const eventListeners: Array<NonNullable<MetricsListener["falcoEvent"]>> = []
    const attemptListeners: Array<NonNullable<MetricsListener["outputAttempt"]>> = []
    const listen = (listener: MetricsListener) => {
      const added: Array<[Array<unknown>, unknown]> = []
      const add = <F>(list: Array<F>, f: F | undefined) => {
        if (f === undefined) return
        list.push(f)
        added.push([list, f])
      }
      add(inputListeners, listener.input)
      add(eventListeners, listener.falcoEvent)
      add(attemptListeners, listener.outputAttempt)
      return () => {
        for (const [list, f] of added) {
          const i = list.indexOf(f)
          if (i >= 0) list.splice(i, 1)
        }
      }
    }

    // expvar-style counters, with falcosidekick's names, for /debug/vars
    const requests = { accepted: 0, rejected: 0, total: 0 }
    const priorities: Record<string, number> = Object.fromEntries(priorityKeys.map((k) => [k, 0]))
    const outputStats: Record<string, { error: number; ok: number; total: number }> = {}

    const output = (destination: string): OutputInstruments => {
      const stats = (outputStats[destination] ??= { error: 0, ok: 0, total: 0 })
      const ok = outputs.labels(destination, "ok")
      const error = outputs.labels(destination, "error")
      const retried = retries.labels(destination)
      const deliveredChild = delivered.labels(destination)
      const latencyDelivered = latency.labels(destination, "delivered")
      const latencyFailed = latency.labels(destination, "failed")
      return {
        attempt: (status) => {
          for (const listener of attemptListeners) listener(destination, status)
          stats.total++
          if (status === "ok") {
            stats.ok++
            ok.inc()
          } else {
            stats.error++
            error.inc()
          }
        },
        retried: () => retried.inc(),
        delivered: (events, seconds) => {
          deliveredChild.inc(events)
          for (let i = 0; i < events; i++) latencyDelivered.observe(seconds)
        },
        failed: (events, seconds) => {
          for (let i = 0; i < events; i++) latencyFailed.observe(seconds)
        },
        dropped: (reason, events) => dropped.labels(destination, reason).inc(events)
      }
    }

    const acceptedChild = inputs.labels("requests", "accepted")
    const rejectedChild = inputs.labels("requests", "rejected")

    return {
      registry,
      falcoEventLabelNames,
      input: (status, rejection) => {
        requests.total++
        if (status === "accepted") {
          requests.accepted++
          acceptedChild.inc()
        } else {
          requests.rejected++
          rejectedChild.inc()
          if (rejection !== undefined) ingestRejected.labels(rejection).inc()
        }
        for (const listener of inputListeners) listener(status, rejection)
      },
      falcoEvent: (event, labelValues) => {
        const priority = event.priority.toLowerCase()
        priorities[priority] = (priorities[priority] ?? 0) + 1
        falcoEvents.labels(...labelValues).inc()
        for (const listener of eventListeners) listener(event)
      },
      listen,
      output,
      observeLanes: (snapshot) => {
        snapshots.push(snapshot)
      },
      observeDeadLetters: (snapshot) => {
        deadLetterSources.push(snapshot)
      },
      deadLettersReplayed: (destination, events) => replayed.labels(destination).inc(events),
      deadLettersForwarded: (from, events) => forwarded.labels(from).inc(events),
      expose: Effect.promise(() => registry.metrics()).pipe(
        Effect.map((body) => ({ contentType: registry.contentType, body }))
      ),
      debugVars: () => ({
        "falco.priority": { ...priorities },
        "inputs.requests": { ...requests },
        "inputs.fifo": { accepted: 0, rejected: 0, total: 0 },
        "inputs.grpc": { accepted: 0, rejected: 0, total: 0 },
        ...Object.fromEntries(Object.entries(outputStats).map(([name, s]) => [`outputs.${name}`, { ...s }]))
      })
    }
  })

export class Metrics extends Context.Tag("@sidekick/telemetry/Metrics")<Metrics, MetricsService>() {
  static readonly layer = (options: MetricsOptions): Layer.Layer<Metrics> => Layer.effect(Metrics, make(options))
}
