/**
 * Sidekick's own metrics over OTLP: an OpenTelemetry MetricProducer that reads the prom-client registry behind
 * /metrics at each collection. The OTLP export therefore has exactly the families of /metrics that are about
 * Sidekick (falcosidekick's three `falcosecurity_falcosidekick_*` and the `sidekick_*` pipeline ones), with the
 * same names, label names and values, and costs nothing on the ingest path (nothing is counted twice).
 *
 * Mapping: a counter is a cumulative monotonic Sum of integers, a gauge a Gauge of doubles, a histogram a
 * cumulative explicit-bucket Histogram with the registry's buckets (prom-client keeps cumulative `le` counts,
 * OTLP per-bucket ones). Every series starts when the export started. Node's `process_*` / `nodejs_*` gauges stay
 * on /metrics only. Temporality is cumulative whatever OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE says:
 * the registry holds totals, not deltas.
 */
import { type HrTime, ValueType } from "@opentelemetry/api"
import { emptyResource } from "@opentelemetry/resources"
// types only: the SDK is loaded at the first collection (only an OTLP export of the metrics collects)
import type * as SdkMetrics from "@opentelemetry/sdk-metrics"
import type { CollectionResult, MetricData, MetricProducer } from "@opentelemetry/sdk-metrics"
import type * as Prom from "prom-client"

/** the families exported: falcosidekick's and Sidekick's pipeline ones */
export const ownFamily = /^(falcosecurity_falcosidekick_|sidekick_)/

interface PromValue {
  readonly value: number
  readonly labels: Readonly<Record<string, string | number | undefined>>
  readonly metricName?: string
}

interface PromFamily {
  readonly name: string
  readonly help: string
  /** "counter", "gauge", "histogram" or "summary" at run time (prom-client's types say an enum) */
  readonly type: unknown
  readonly values: ReadonlyArray<PromValue>
}

const hrTimeNow = (): HrTime => {
  const ms = Date.now()
  return [Math.floor(ms / 1000), (ms % 1000) * 1_000_000]
}

const attributesOf = (labels: PromValue["labels"]): Record<string, string> => {
  const attributes: Record<string, string> = {}
  for (const key in labels) {
    const v = labels[key]
    if (v !== undefined) attributes[key] = String(v)
  }
  return attributes
}

/** the SDK's enums the metric data is written with */
type SdkEnums = Pick<typeof SdkMetrics, "AggregationTemporality" | "DataPointType">

const histogram = (sdk: SdkEnums, family: PromFamily, startTime: HrTime, endTime: HrTime): MetricData => {
  const series = new Map<string, { attributes: Record<string, string>; le: Array<[number, number]>; sum: number; count: number }>()
  for (const v of family.values) {
    const { le, ...labels } = v.labels
    const attributes = attributesOf(labels)
    const key = JSON.stringify(attributes)
    let s = series.get(key)
    if (s === undefined) {
      s = { attributes, le: [], sum: 0, count: 0 }
      series.set(key, s)
    }
    if (v.metricName === `${family.name}_bucket`) {
      if (le !== "+Inf") s.le.push([Number(le), v.value])
    } else if (v.metricName === `${family.name}_sum`) s.sum = v.value
    else if (v.metricName === `${family.name}_count`) s.count = v.value
  }
  return {
    descriptor: { name: family.name, description: family.help, unit: "", valueType: ValueType.DOUBLE },
    aggregationTemporality: sdk.AggregationTemporality.CUMULATIVE,
    dataPointType: sdk.DataPointType.HISTOGRAM,
    dataPoints: [...series.values()].map((s) => {
      const le = s.le.sort((a, b) => a[0] - b[0])
      const counts = le.map(([, cumulative], i) => cumulative - (i === 0 ? 0 : le[i - 1]![1]))
      counts.push(s.count - (le.at(-1)?.[1] ?? 0))
      return {
        startTime,
        endTime,
        attributes: s.attributes,
        value: { buckets: { boundaries: le.map(([bound]) => bound), counts }, sum: s.sum, count: s.count }
      }
    })
  }
}

/**
 * One prom-client family as OTLP metric data; undefined for a summary (none of Sidekick's families is one).
 * `sdk` is @opentelemetry/sdk-metrics (or just its enums), loaded by the caller.
 */
export const toMetricData = (sdk: SdkEnums, family: PromFamily, startTime: HrTime, endTime: HrTime): MetricData | undefined => {
  const points = () => family.values.map((v) => ({ startTime, endTime, attributes: attributesOf(v.labels), value: v.value }))
  switch (family.type) {
    case "counter":
      return {
        // Sidekick's counters count whole things (requests, events, attempts)
        descriptor: { name: family.name, description: family.help, unit: "", valueType: ValueType.INT },
        aggregationTemporality: sdk.AggregationTemporality.CUMULATIVE,
        dataPointType: sdk.DataPointType.SUM,
        isMonotonic: true,
        dataPoints: points()
      }
    case "gauge":
      return {
        descriptor: { name: family.name, description: family.help, unit: "", valueType: ValueType.DOUBLE },
        aggregationTemporality: sdk.AggregationTemporality.CUMULATIVE,
        dataPointType: sdk.DataPointType.GAUGE,
        dataPoints: points()
      }
    case "histogram":
      return histogram(sdk, family, startTime, endTime)
    default:
      return undefined
  }
}

/**
 * A producer of the own families of the registry `registry()` returns at each collection (none while it returns
 * undefined), under the instrumentation scope `scope`.
 */
export const registryProducer = (
  registry: () => Prom.Registry | undefined,
  scope: { readonly name: string; readonly version: string }
): MetricProducer => {
  const startTime = hrTimeNow()
  return {
    collect: async (): Promise<CollectionResult> => {
      const sdk = await import("@opentelemetry/sdk-metrics")
      const endTime = hrTimeNow()
      const metrics: Array<MetricData> = []
      const errors: Array<unknown> = []
      const r = registry()
      for (const { name } of r?.getMetricsAsArray() ?? []) {
        if (!ownFamily.test(name)) continue
        try {
          // a gauge's collect() reads the pipeline's state here, as for a scrape
          const family = await r!.getSingleMetric(name)?.get()
          const data = family === undefined || family.values.length === 0 ? undefined : toMetricData(sdk, family, startTime, endTime)
          if (data !== undefined) metrics.push(data)
        } catch (e) {
          errors.push(e)
        }
      }
      // the reader keeps the resource of its MeterProvider and takes only the scope metrics from here
      return { resourceMetrics: { resource: emptyResource(), scopeMetrics: [{ scope, metrics }] }, errors }
    }
  }
}
