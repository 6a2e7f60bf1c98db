/**
 * A minimal OTLP decoder for the tests: only the messages and fields the OTLP outputs' tests read, declared
 * here as protobufjs reflection JSON (field numbers and wire types from the OTLP specification; on the wire
 * only those matter, so the package name and the message names are ours, and enums are read as int32).
 * Unknown fields are skipped by the decoder, so a field left out here cannot break a test.
 */
import { type Receiver, type RecordedRequest, type Responder, status } from "@sidekick/testing"
import protobuf from "protobufjs"

const repeated = (type: string, id: number) => ({ rule: "repeated", type, id })
const field = (type: string, id: number) => ({ type, id })

const root = protobuf.Root.fromJSON({
  nested: {
    otlp: {
      nested: {
        AnyValue: {
          oneofs: { value: { oneof: ["stringValue", "boolValue", "intValue", "doubleValue", "arrayValue", "kvlistValue", "bytesValue"] } },
          fields: {
            stringValue: field("string", 1),
            boolValue: field("bool", 2),
            intValue: field("int64", 3),
            doubleValue: field("double", 4),
            arrayValue: field("ArrayValue", 5),
            kvlistValue: field("KeyValueList", 6),
            bytesValue: field("bytes", 7)
          }
        },
        ArrayValue: { fields: { values: repeated("AnyValue", 1) } },
        KeyValueList: { fields: { values: repeated("KeyValue", 1) } },
        KeyValue: { fields: { key: field("string", 1), value: field("AnyValue", 2) } },
        Resource: { fields: { attributes: repeated("KeyValue", 1), droppedAttributesCount: field("uint32", 2) } },
        Scope: {
          fields: { name: field("string", 1), version: field("string", 2), attributes: repeated("KeyValue", 3) }
        },
        // traces
        TracesRequest: { fields: { resourceSpans: repeated("ResourceSpans", 1) } },
        ResourceSpans: { fields: { resource: field("Resource", 1), scopeSpans: repeated("ScopeSpans", 2), schemaUrl: field("string", 3) } },
        ScopeSpans: { fields: { scope: field("Scope", 1), spans: repeated("Span", 2), schemaUrl: field("string", 3) } },
        Span: {
          fields: {
            traceId: field("bytes", 1),
            spanId: field("bytes", 2),
            traceState: field("string", 3),
            parentSpanId: field("bytes", 4),
            name: field("string", 5),
            kind: field("int32", 6),
            startTimeUnixNano: field("fixed64", 7),
            endTimeUnixNano: field("fixed64", 8),
            attributes: repeated("KeyValue", 9),
            droppedAttributesCount: field("uint32", 10),
            events: repeated("SpanEvent", 11),
            status: field("SpanStatus", 15),
            flags: field("fixed32", 16)
          }
        },
        SpanEvent: { fields: { timeUnixNano: field("fixed64", 1), name: field("string", 2), attributes: repeated("KeyValue", 3) } },
        SpanStatus: { fields: { message: field("string", 2), code: field("int32", 3) } },
        // logs
        LogsRequest: { fields: { resourceLogs: repeated("ResourceLogs", 1) } },
        ResourceLogs: { fields: { resource: field("Resource", 1), scopeLogs: repeated("ScopeLogs", 2), schemaUrl: field("string", 3) } },
        ScopeLogs: { fields: { scope: field("Scope", 1), logRecords: repeated("LogRecord", 2), schemaUrl: field("string", 3) } },
        LogRecord: {
          fields: {
            timeUnixNano: field("fixed64", 1),
            severityNumber: field("int32", 2),
            severityText: field("string", 3),
            body: field("AnyValue", 5),
            attributes: repeated("KeyValue", 6),
            flags: field("fixed32", 8),
            traceId: field("bytes", 9),
            spanId: field("bytes", 10),
            observedTimeUnixNano: field("fixed64", 11)
          }
        },
        // metrics (only Sum data: the outputs send counters)
        MetricsRequest: { fields: { resourceMetrics: repeated("ResourceMetrics", 1) } },
        ResourceMetrics: {
          fields: { resource: field("Resource", 1), scopeMetrics: repeated("ScopeMetrics", 2), schemaUrl: field("string", 3) }
        },
        ScopeMetrics: { fields: { scope: field("Scope", 1), metrics: repeated("Metric", 2), schemaUrl: field("string", 3) } },
        Metric: { fields: { name: field("string", 1), description: field("string", 2), unit: field("string", 3), sum: field("Sum", 7) } },
        Sum: {
          fields: { dataPoints: repeated("NumberDataPoint", 1), aggregationTemporality: field("int32", 2), isMonotonic: field("bool", 3) }
        },
        NumberDataPoint: {
          fields: {
            startTimeUnixNano: field("fixed64", 2),
            timeUnixNano: field("fixed64", 3),
            asDouble: field("double", 4),
            asInt: field("sfixed64", 6),
            attributes: repeated("KeyValue", 7)
          }
        }
      }
    }
  }
})

/** an attribute value as JS: string, boolean, bigint (int64), number (double), array, record, or bytes as hex */
export type AttributeValue = string | boolean | bigint | number | ReadonlyArray<AttributeValue> | Readonly<Record<string, unknown>>

interface RawAnyValue {
  readonly stringValue?: string
  readonly boolValue?: boolean
  readonly intValue?: bigint
  readonly doubleValue?: number
  readonly arrayValue?: { readonly values: ReadonlyArray<RawAnyValue> }
  readonly kvlistValue?: { readonly values: ReadonlyArray<RawKeyValue> }
  readonly bytesValue?: Uint8Array
}
interface RawKeyValue {
  readonly key: string
  readonly value?: RawAnyValue
}

export const anyValue = (v: RawAnyValue | undefined): AttributeValue | undefined => {
  if (v === undefined) return undefined
  if (v.stringValue !== undefined) return v.stringValue
  if (v.boolValue !== undefined) return v.boolValue
  if (v.intValue !== undefined) return v.intValue
  if (v.doubleValue !== undefined) return v.doubleValue
  if (v.arrayValue !== undefined) return v.arrayValue.values.map((x) => anyValue(x)!)
  if (v.kvlistValue !== undefined) return attributesOf(v.kvlistValue.values)
  if (v.bytesValue !== undefined) return Buffer.from(v.bytesValue).toString("hex")
  return undefined
}

/** key/value pairs in their order on the wire */
export const attributeList = (kvs: ReadonlyArray<RawKeyValue>): Array<readonly [string, AttributeValue | undefined]> =>
  kvs.map((kv) => [kv.key, anyValue(kv.value)] as const)

export const attributesOf = (kvs: ReadonlyArray<RawKeyValue>): Record<string, AttributeValue | undefined> =>
  Object.fromEntries(attributeList(kvs))

const hex = (bytes: Uint8Array | undefined): string => (bytes === undefined ? "" : Buffer.from(bytes).toString("hex"))

const decode = (typeName: string, body: Uint8Array): unknown => {
  const type = root.lookupType(`otlp.${typeName}`)
  // int64 and fixed64 as BigInt: timestamps keep every nanosecond
  return type.toObject(type.decode(body), { longs: BigInt, arrays: true })
}

interface WithResource {
  readonly resource?: { readonly attributes: ReadonlyArray<RawKeyValue> }
  readonly schemaUrl?: string
}
interface WithScope {
  readonly scope?: { readonly name?: string; readonly version?: string }
  readonly schemaUrl?: string
}

export interface DecodedResource {
  readonly attributes: Record<string, AttributeValue | undefined>
  readonly schemaUrl: string
}
export interface DecodedScope {
  readonly name: string
  readonly version: string
}

const resourceOf = (r: WithResource): DecodedResource => ({ attributes: attributesOf(r.resource?.attributes ?? []), schemaUrl: r.schemaUrl ?? "" })
const scopeOf = (s: WithScope): DecodedScope => ({ name: s.scope?.name ?? "", version: s.scope?.version ?? "" })

// ---------------------------------------------------------------------------------------------------------------

export interface DecodedSpan {
  readonly resource: DecodedResource
  readonly scope: DecodedScope
  readonly traceId: string
  readonly spanId: string
  readonly parentSpanId: string
  readonly name: string
  readonly kind: number
  readonly startTimeUnixNano: bigint
  readonly endTimeUnixNano: bigint
  readonly attributes: Array<readonly [string, AttributeValue | undefined]>
  readonly events: ReadonlyArray<{ readonly name: string; readonly timeUnixNano: bigint; readonly attributes: number }>
}

interface RawSpan {
  readonly traceId?: Uint8Array
  readonly spanId?: Uint8Array
  readonly parentSpanId?: Uint8Array
  readonly name?: string
  readonly kind?: number
  readonly startTimeUnixNano?: bigint
  readonly endTimeUnixNano?: bigint
  readonly attributes: ReadonlyArray<RawKeyValue>
  readonly events: ReadonlyArray<{ readonly name?: string; readonly timeUnixNano?: bigint; readonly attributes: ReadonlyArray<RawKeyValue> }>
}

/** every span of an ExportTraceServiceRequest, with its resource and scope */
export const decodeSpans = (body: Uint8Array): Array<DecodedSpan> => {
  const request = decode("TracesRequest", body) as {
    readonly resourceSpans: ReadonlyArray<WithResource & { readonly scopeSpans: ReadonlyArray<WithScope & { readonly spans: ReadonlyArray<RawSpan> }> }>
  }
  return request.resourceSpans.flatMap((rs) =>
    rs.scopeSpans.flatMap((ss) =>
      ss.spans.map((s): DecodedSpan => ({
        resource: resourceOf(rs),
        scope: scopeOf(ss),
        traceId: hex(s.traceId),
        spanId: hex(s.spanId),
        parentSpanId: hex(s.parentSpanId),
        name: s.name ?? "",
        kind: s.kind ?? 0,
        startTimeUnixNano: s.startTimeUnixNano ?? 0n,
        endTimeUnixNano: s.endTimeUnixNano ?? 0n,
        attributes: attributeList(s.attributes),
        events: s.events.map((e) => ({ name: e.name ?? "", timeUnixNano: e.timeUnixNano ?? 0n, attributes: e.attributes.length }))
      }))
    )
  )
}

// ---------------------------------------------------------------------------------------------------------------

export interface DecodedLogRecord {
  readonly resource: DecodedResource
  readonly scope: DecodedScope
  readonly timeUnixNano: bigint
  readonly observedTimeUnixNano: bigint
  readonly severityNumber: number
  readonly severityText: string
  readonly body: AttributeValue | undefined
  readonly attributes: Array<readonly [string, AttributeValue | undefined]>
  readonly traceId: string
  readonly spanId: string
}

interface RawLogRecord {
  readonly timeUnixNano?: bigint
  readonly observedTimeUnixNano?: bigint
  readonly severityNumber?: number
  readonly severityText?: string
  readonly body?: RawAnyValue
  readonly attributes: ReadonlyArray<RawKeyValue>
  readonly traceId?: Uint8Array
  readonly spanId?: Uint8Array
}

/** every record of an ExportLogsServiceRequest, with its resource and scope */
export const decodeLogRecords = (body: Uint8Array): Array<DecodedLogRecord> => {
  const request = decode("LogsRequest", body) as {
    readonly resourceLogs: ReadonlyArray<WithResource & { readonly scopeLogs: ReadonlyArray<WithScope & { readonly logRecords: ReadonlyArray<RawLogRecord> }> }>
  }
  return request.resourceLogs.flatMap((rl) =>
    rl.scopeLogs.flatMap((sl) =>
      sl.logRecords.map((r): DecodedLogRecord => ({
        resource: resourceOf(rl),
        scope: scopeOf(sl),
        timeUnixNano: r.timeUnixNano ?? 0n,
        observedTimeUnixNano: r.observedTimeUnixNano ?? 0n,
        severityNumber: r.severityNumber ?? 0,
        severityText: r.severityText ?? "",
        body: anyValue(r.body),
        attributes: attributeList(r.attributes),
        traceId: hex(r.traceId),
        spanId: hex(r.spanId)
      }))
    )
  )
}

// ---------------------------------------------------------------------------------------------------------------

export interface DecodedDataPoint {
  readonly attributes: Record<string, AttributeValue | undefined>
  readonly value: bigint | number | undefined
}

export interface DecodedMetric {
  readonly resource: DecodedResource
  readonly scope: DecodedScope
  readonly name: string
  readonly description: string
  /** undefined when the metric is not a Sum */
  readonly sum: { readonly aggregationTemporality: number; readonly isMonotonic: boolean; readonly dataPoints: ReadonlyArray<DecodedDataPoint> } | undefined
}

interface RawMetric {
  readonly name?: string
  readonly description?: string
  readonly sum?: {
    readonly aggregationTemporality?: number
    readonly isMonotonic?: boolean
    readonly dataPoints: ReadonlyArray<{ readonly attributes: ReadonlyArray<RawKeyValue>; readonly asInt?: bigint; readonly asDouble?: number }>
  }
}

/** every metric of an ExportMetricsServiceRequest, with its resource and scope */
export const decodeMetrics = (body: Uint8Array): Array<DecodedMetric> => {
  const request = decode("MetricsRequest", body) as {
    readonly resourceMetrics: ReadonlyArray<WithResource & { readonly scopeMetrics: ReadonlyArray<WithScope & { readonly metrics: ReadonlyArray<RawMetric> }> }>
  }
  return request.resourceMetrics.flatMap((rm) =>
    rm.scopeMetrics.flatMap((sm) =>
      sm.metrics.map((m): DecodedMetric => ({
        resource: resourceOf(rm),
        scope: scopeOf(sm),
        name: m.name ?? "",
        description: m.description ?? "",
        sum: m.sum === undefined ? undefined : {
          aggregationTemporality: m.sum.aggregationTemporality ?? 0,
          isMonotonic: m.sum.isMonotonic ?? false,
          dataPoints: m.sum.dataPoints.map((p) => ({ attributes: attributesOf(p.attributes), value: p.asInt ?? p.asDouble }))
        }
      }))
    )
  )
}

/** one recording receiver serves a whole OTLP test file: a path under /status/<code>/ answers that status, anything else 200 */
export const statusFromPath: Responder = (r) => {
  const code = /^\/status\/([0-9]{3})\//.exec(r.path)?.[1]
  return code === undefined ? { status: 200 } : status(Number(code), "refused")
}

/** the requests a test sent under its own path prefix */
export const requestsUnder = (rx: Receiver, prefix: string): Array<RecordedRequest> => rx.requests.filter((r) => r.path.startsWith(prefix))
