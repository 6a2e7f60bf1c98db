import { describe, expect, it } from "@effect/vitest"
import { propagation } from "@opentelemetry/api"
import { Option, Tracer } from "effect"
import { injectContext, parentFromHeaders, sidekickPropagator } from "../src/index.js"

const traceId = "0af7651916cd43dd8448eb211c80319c"
const spanId = "b7ad6b7169203331"
const otherTraceId = "463ac35c9f6413ad48485a3953bb6124"
const otherSpanId = "0020000000000001"

const parent = (headers: Record<string, string>) =>
  Option.map(parentFromHeaders(headers), (s) => ({ traceId: s.traceId, spanId: s.spanId, sampled: s.sampled }))

const span = Tracer.externalSpan({ traceId, spanId, sampled: true })

describe("Sidekick's default propagator (OTEL_PROPAGATORS unset)", () => {
  it("continues W3C, else B3 single, else B3 multi; W3C wins when both come", () => {
    propagation.setGlobalPropagator(sidekickPropagator)
    try {
      expect(parent({ traceparent: `00-${traceId}-${spanId}-01` })).toEqual(Option.some({ traceId, spanId, sampled: true }))
      expect(parent({ b3: `${traceId}-${spanId}-0` })).toEqual(Option.some({ traceId, spanId, sampled: false }))
      expect(parent({ "x-b3-traceid": traceId, "x-b3-spanid": spanId, "x-b3-sampled": "1" }))
        .toEqual(Option.some({ traceId, spanId, sampled: true }))
      expect(parent({ traceparent: `00-${traceId}-${spanId}-01`, b3: `${otherTraceId}-${otherSpanId}-1` }))
        .toEqual(Option.some({ traceId, spanId, sampled: true }))
      expect(parent({ traceparent: "garbage" })).toEqual(Option.none())
      expect(parent({})).toEqual(Option.none())
    } finally {
      propagation.disable()
    }
  })

  it("sends W3C traceparent only, as Sidekick always did", () => {
    propagation.setGlobalPropagator(sidekickPropagator)
    try {
      const headers: Record<string, string> = { "content-type": "application/json" }
      injectContext(span, headers)
      expect(headers).toEqual({ "content-type": "application/json", traceparent: `00-${traceId}-${spanId}-01` })
    } finally {
      propagation.disable()
    }
  })

  it("with no propagator registered (no SDK started), nothing is read or written", () => {
    expect(parent({ traceparent: `00-${traceId}-${spanId}-01` })).toEqual(Option.none())
    const headers: Record<string, string> = {}
    injectContext(span, headers)
    expect(headers).toEqual({})
  })
})
