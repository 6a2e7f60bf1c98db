import { describe, expect, it } from "@effect/vitest"
import { ValueType } from "@opentelemetry/api"
import { AggregationTemporality, DataPointType, type MetricData } from "@opentelemetry/sdk-metrics"
import { referenceEvent } from "@sidekick/testing"
import { Effect } from "effect"
import { Metrics, registryProducer } from "../src/index.js"

const collect = (metrics: Metrics["Type"]) =>
  Effect.promise(async () => {
    const result = await registryProducer(() => metrics.registry, { name: "sidekick", version: "test" }).collect()
    expect(result.errors).toEqual([])
    expect(result.resourceMetrics.scopeMetrics.map((s) => s.scope)).toEqual([{ name: "sidekick", version: "test" }])
    return new Map(result.resourceMetrics.scopeMetrics[0]!.metrics.map((m): [string, MetricData] => [m.descriptor.name, m]))
  })

const points = (m: MetricData | undefined) =>
  m?.dataPoints.map((p) => ({ attributes: p.attributes, value: p.value as unknown })) ?? []

describe("Sidekick's own metrics as OTLP data, read from the /metrics registry", () => {
  it.effect("counters: cumulative monotonic integer sums with /metrics' names, label names and values", () =>
    Effect.gen(function*() {
      const m = yield* Metrics
      m.input("accepted")
      m.input("accepted")
      m.input("rejected", "malformed_json")
      m.falcoEvent(referenceEvent, ["node-1", "Terminal shell", "6", "critical", "syscall", "default", "nginx"])
      m.output("webhook").attempt("ok")
      const data = yield* collect(m)

      const inputs = data.get("falcosecurity_falcosidekick_inputs_total")!
      expect(inputs).toMatchObject({
        dataPointType: DataPointType.SUM,
        isMonotonic: true,
        aggregationTemporality: AggregationTemporality.CUMULATIVE,
        descriptor: { description: "Number of times an input is received", valueType: ValueType.INT }
      })
      expect(points(inputs)).toEqual([
        { attributes: { source: "requests", status: "accepted" }, value: 2 },
        { attributes: { source: "requests", status: "rejected" }, value: 1 }
      ])
      expect(points(data.get("falcosecurity_falcosidekick_falco_events_total"))).toEqual([{
        attributes: {
          hostname: "node-1",
          rule: "Terminal shell",
          priority: "6",
          priority_raw: "critical",
          source: "syscall",
          k8s_ns_name: "default",
          k8s_pod_name: "nginx"
        },
        value: 1
      }])
      expect(points(data.get("falcosecurity_falcosidekick_outputs_total"))).toEqual([
        { attributes: { destination: "webhook", status: "ok" }, value: 1 }
      ])
      expect(points(data.get("sidekick_ingest_rejected_total"))).toEqual([{ attributes: { reason: "malformed_json" }, value: 1 }])
      // a family with no series yet is left out rather than sent empty
      expect(data.has("sidekick_output_dropped_total")).toBe(false)
    }).pipe(Effect.provide(Metrics.layer({ falcoEventLabels: [], defaultMetrics: false }))))

  it.effect("gauges are read from the pipeline at each collection, as for a scrape", () =>
    Effect.gen(function*() {
      const m = yield* Metrics
      let depth = 3
      m.observeLanes(() => [{ destination: "loki", depth, capacity: 100, bytes: 1800, circuit: 2 }])
      const first = yield* collect(m)
      expect(first.get("sidekick_output_queue_depth")).toMatchObject({ dataPointType: DataPointType.GAUGE })
      expect(points(first.get("sidekick_output_queue_depth"))).toEqual([{ attributes: { destination: "loki" }, value: 3 }])
      expect(points(first.get("sidekick_output_circuit_state"))).toEqual([{ attributes: { destination: "loki" }, value: 2 }])
      depth = 0
      expect(points((yield* collect(m)).get("sidekick_output_queue_depth"))).toEqual([{ attributes: { destination: "loki" }, value: 0 }])
    }).pipe(Effect.provide(Metrics.layer({ falcoEventLabels: [], defaultMetrics: false }))))

  it.effect("the delivery-time histogram keeps its buckets, as per-bucket counts", () =>
    Effect.gen(function*() {
      const m = yield* Metrics
      const out = m.output("webhook")
      out.delivered(2, 0.003) // first bucket (le 0.005)
      out.delivered(1, 0.3) // le 0.5
      out.delivered(1, 500) // above the last bound (120)
      out.failed(1, 0.02)
      const h = (yield* collect(m)).get("sidekick_output_delivery_duration_seconds")!
      expect(h).toMatchObject({ dataPointType: DataPointType.HISTOGRAM, aggregationTemporality: AggregationTemporality.CUMULATIVE })
      const delivered = h.dataPoints.find((p) => p.attributes["outcome"] === "delivered")!
      expect(delivered.attributes).toEqual({ destination: "webhook", outcome: "delivered" })
      const value = delivered.value as { buckets: { boundaries: Array<number>; counts: Array<number> }; sum: number; count: number }
      expect(value.buckets.boundaries).toEqual([0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120])
      expect(value.buckets.counts).toEqual([2, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1])
      expect(value.count).toBe(4)
      expect(value.sum).toBeCloseTo(500.306)
      const failed = h.dataPoints.find((p) => p.attributes["outcome"] === "failed")!.value as { buckets: { counts: Array<number> } }
      expect(failed.buckets.counts).toEqual([0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])
    }).pipe(Effect.provide(Metrics.layer({ falcoEventLabels: [], defaultMetrics: false }))))

  it.effect("only Sidekick's families: Node's process_* and nodejs_* stay on /metrics", () =>
    Effect.gen(function*() {
      const m = yield* Metrics
      m.input("accepted")
      expect((yield* m.expose).body).toContain("process_cpu_user_seconds_total")
      const names = [...(yield* collect(m)).keys()]
      expect(names).toContain("falcosecurity_falcosidekick_inputs_total")
      expect(names.filter((n) => !/^(falcosecurity_falcosidekick_|sidekick_)/.test(n))).toEqual([])
    }).pipe(Effect.provide(Metrics.layer({ falcoEventLabels: [], defaultMetrics: true }))))

  it.effect("no registry yet, no metrics", () =>
    Effect.promise(async () => {
      const result = await registryProducer(() => undefined, { name: "sidekick", version: "test" }).collect()
      expect(result.resourceMetrics.scopeMetrics[0]!.metrics).toEqual([])
    }))
})
