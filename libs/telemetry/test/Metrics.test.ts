import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { eventWith, referenceEvent } from "@sidekick/testing"
import { Metrics } from "../src/index.js"

const metrics = Metrics.layer({ falcoEventLabels: ["env"], defaultMetrics: false })

describe("Metrics", () => {
  it.effect("falcosidekick's families, with its names and labels", () =>
    Effect.gen(function*() {
      const m = yield* Metrics
      m.input("accepted")
      m.input("accepted")
      m.input("rejected")
      m.falcoEvent(referenceEvent, ["node-1", "Terminal shell", "6", "critical", "syscall", "default", "nginx", "prod"])
      const out = m.output("webhook")
      out.attempt("ok")
      out.attempt("error")
      const { body, contentType } = yield* m.expose
      expect(contentType).toContain("text/plain")
      expect(body).toContain(`falcosecurity_falcosidekick_inputs_total{source="requests",status="accepted"} 2`)
      expect(body).toContain(`falcosecurity_falcosidekick_inputs_total{source="requests",status="rejected"} 1`)
      expect(body).toContain(
        `falcosecurity_falcosidekick_falco_events_total{hostname="node-1",rule="Terminal shell",priority="6",priority_raw="critical",source="syscall",k8s_ns_name="default",k8s_pod_name="nginx",env="prod"} 1`
      )
      expect(body).toContain(`falcosecurity_falcosidekick_outputs_total{destination="webhook",status="ok"} 1`)
      expect(body).toContain(`falcosecurity_falcosidekick_outputs_total{destination="webhook",status="error"} 1`)
    }).pipe(Effect.provide(metrics)))

  it.effect("pipeline gauges are read from the lanes when scraped", () =>
    Effect.gen(function*() {
      const m = yield* Metrics
      let depth = 3
      m.observeLanes(() => [{ destination: "loki", depth, capacity: 100, bytes: depth * 600, circuit: 2 }])
      let stored = 4
      m.observeDeadLetters(() => ({ stored, forgotten: 7 }))
      m.deadLettersReplayed("loki", 2)
      m.deadLettersForwarded("loki", 3)
      expect((yield* m.expose).body).toContain(`sidekick_output_queue_depth{destination="loki"} 3`)
      depth = 0
      const body = (yield* m.expose).body
      expect(body).toContain(`sidekick_output_queue_depth{destination="loki"} 0`)
      expect(body).toContain(`sidekick_output_queue_capacity{destination="loki"} 100`)
      expect(body).toContain(`sidekick_output_circuit_state{destination="loki"} 2`)
      expect(body).toContain(`sidekick_output_queue_bytes{destination="loki"} 0`)
      expect(body).toContain(`sidekick_deadletters_stored 4`)
      expect(body).toContain(`sidekick_deadletters_forgotten_total 7`)
      expect(body).toContain(`sidekick_deadletters_replayed_total{destination="loki"} 2`)
      expect(body).toContain(`sidekick_deadletters_forwarded_total{destination="loki"} 3`)
      stored = 1
      expect((yield* m.expose).body).toContain(`sidekick_deadletters_stored 1`)
    }).pipe(Effect.provide(metrics)))

  it.effect("drops, retries, deliveries and latency per output", () =>
    Effect.gen(function*() {
      const m = yield* Metrics
      const out = m.output("slack")
      out.retried()
      out.delivered(2, 0.03)
      out.failed(1, 12)
      out.dropped("queue_full", 4)
      const body = (yield* m.expose).body
      expect(body).toContain(`sidekick_output_retries_total{destination="slack"} 1`)
      expect(body).toContain(`sidekick_output_delivered_total{destination="slack"} 2`)
      expect(body).toContain(`sidekick_output_dropped_total{destination="slack",reason="queue_full"} 4`)
      expect(body).toContain(`sidekick_output_delivery_duration_seconds_count{destination="slack",outcome="delivered"} 2`)
      expect(body).toContain(`sidekick_output_delivery_duration_seconds_bucket{le="0.05",destination="slack",outcome="delivered"} 2`)
      expect(body).toContain(`sidekick_output_delivery_duration_seconds_count{destination="slack",outcome="failed"} 1`)
    }).pipe(Effect.provide(metrics)))

  it.effect("/debug/vars counters keep falcosidekick's expvar names", () =>
    Effect.gen(function*() {
      const m = yield* Metrics
      m.input("accepted")
      m.input("rejected")
      m.falcoEvent(eventWith({ priority: "Notice" }), ["h", "r", "3", "notice", "syscall", "", "", ""])
      m.output("webhook").attempt("ok")
      const vars = m.debugVars()
      expect(vars["inputs.requests"]).toEqual({ accepted: 1, rejected: 1, total: 2 })
      expect(vars["falco.priority"]).toMatchObject({ notice: 1, critical: 0, none: 0 })
      expect(vars["outputs.webhook"]).toEqual({ error: 0, ok: 1, total: 1 })
    }).pipe(Effect.provide(metrics)))

  it.effect("a listener hears every input, accepted event and output attempt until it stops listening", () =>
    Effect.gen(function*() {
      const m = yield* Metrics
      const heard: Array<string> = []
      const stop = m.listen({
        input: (status, rejection) => heard.push(`input ${status} ${rejection ?? "-"}`),
        falcoEvent: (event) => heard.push(`event ${event.rule}`),
        outputAttempt: (destination, status) => heard.push(`output ${destination} ${status}`)
      })
      const onlyInputs: Array<string> = []
      m.listen({ input: (status) => onlyInputs.push(status) })
      m.input("accepted")
      m.input("rejected", "malformed_json")
      m.falcoEvent(referenceEvent, ["h", "r", "6", "critical", "syscall", "", "", ""])
      m.output("awssqs").attempt("error")
      stop()
      m.input("accepted")
      m.output("awssqs").attempt("ok")
      expect(heard).toEqual([
        "input accepted -",
        "input rejected malformed_json",
        `event ${referenceEvent.rule}`,
        "output awssqs error"
      ])
      expect(onlyInputs).toEqual(["accepted", "rejected", "accepted"])
      expect((yield* m.expose).body).toContain(`sidekick_ingest_rejected_total{reason="malformed_json"} 1`)
    }).pipe(Effect.provide(metrics)))
})
