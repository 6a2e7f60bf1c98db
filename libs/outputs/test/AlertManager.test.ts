import { it } from "@effect/vitest"
import { eventWith, makeReceiver, referenceEvent, referenceOutput as O, status } from "@sidekick/testing"
import { Effect, Either } from "effect"
import { describe, expect } from "vitest"
import { rfc3339NanoAt } from "@sidekick/event"
import {
  AlertManager,
  alertManagerBody,
  AlertManagerConfig,
  alertManagerOptions,
  type AlertManagerPayloadOptions,
  parseDropThresholds,
  safeLabel
} from "../src/AlertManager.js"
import { config, jsonHeaders, startSingle } from "./helpers.js"

/** falcosidekick's payload for the reference event */
const catalogExample =
  `[{"labels":{"alertname":"Terminal shell in container","container_id":"abc123","eventsource":"syscall","hostname":"node-1","k8s_ns_name":"default","k8s_pod_name":"nginx-1","priority":"Critical","proc_name":"bash","proc_pid":"4242","rule":"Terminal shell in container","severity":"critical","source":"falco","tags":"T1059,container,mitre_execution,shell","user_name":"root"},"annotations":{"description":"${O}","info":"${O}","summary":"Terminal shell in container"},"endsAt":"0001-01-01T00:00:00Z"}]\n`

const defaults = (): AlertManagerPayloadOptions => Either.getOrThrow(alertManagerOptions(config(AlertManagerConfig, {})))

const dropEvent = (fields: Record<string, unknown>, priority: "Debug" | "Critical" = "Debug") =>
  eventWith({ rule: "Falco internal: syscall event drop", priority, output_fields: fields, tags: [], hostname: "" })

const labelsOf = (body: string) => JSON.parse(body)[0].labels as Record<string, string>

describe("AlertManager", () => {
  it("payload: falcosidekick's, for the reference event", () => {
    expect(alertManagerBody(referenceEvent, defaults())).toBe(catalogExample)
  })

  it("label sanitising", () => {
    expect(safeLabel("k8s.ns.name")).toBe("k8s_ns_name")
    expect(safeLabel("proc.aname[2]")).toBe("proc_aname_2")
    expect(safeLabel("_a..b_")).toBe("a_b")
  })

  it("drop events: thresholds, zero, default priority, n_evts skipped", () => {
    const o = defaults()
    const big = labelsOf(alertManagerBody(dropEvent({ n_drops: "815508", n_evts: "10", n_drops_pf: "0", n_drops_x: "abc" }), o))
    expect(big["n_drops"]).toBe(">10000")
    expect(big["n_drops_pf"]).toBe("0")
    expect(big["n_drops_x"]).toBeUndefined()
    expect(big["n_evts"]).toBeUndefined()
    expect(big["priority"]).toBe("Critical")
    expect(big["severity"]).toBe("critical")
    const small = labelsOf(alertManagerBody(dropEvent({ n_drops: "5" }), o))
    expect(small["n_drops"]).toBe(">1")
    expect(small["priority"]).toBe("Warning")
    const zero = labelsOf(alertManagerBody(dropEvent({ n_drops: "0" }), o))
    expect(zero["priority"]).toBe("Warning")
    const none = Either.getOrThrow(alertManagerOptions(config(AlertManagerConfig, { dropeventthresholds: "100:critical" })))
    const fallback = labelsOf(alertManagerBody(dropEvent({ n_drops: "7" }), none))
    expect(fallback["n_drops"]).toBe("7")
    expect(fallback["priority"]).toBe("Critical")
  })

  it("thresholds parse sorted descending; a bad entry is an error", () => {
    expect(Either.getOrThrow(parseDropThresholds("1:warning, 100:critical,10:Warning"))).toEqual([
      { value: 100n, priority: "Critical" },
      { value: 10n, priority: "Warning" },
      { value: 1n, priority: "Warning" }
    ])
    expect(Either.isLeft(parseDropThresholds("10"))).toBe(true)
    expect(Either.isLeft(parseDropThresholds("x:critical"))).toBe(true)
    expect(Either.isLeft(parseDropThresholds("10:bogus"))).toBe(true)
  })

  it("expiresafter, extra labels/annotations, custom severity map", () => {
    const o = Either.getOrThrow(alertManagerOptions(config(AlertManagerConfig, {
      expiresafter: 90,
      extralabels: { team: "sec", source: "override" },
      extraannotations: { runbook: "https://r" },
      customseveritymap: { critical: "page" }
    })))
    const [alert] = JSON.parse(alertManagerBody(referenceEvent, o))
    expect(alert.endsAt).toBe("2024-05-06T10:22:00.123456789Z")
    expect(alert.labels.team).toBe("sec")
    expect(alert.labels.source).toBe("override")
    expect(alert.labels.severity).toBe("page")
    expect(alert.annotations.runbook).toBe("https://r")
    expect(rfc3339NanoAt(1714990830000000000n, "2024-05-06T12:20:30+02:00")).toBe("2024-05-06T12:20:30+02:00")
  })

  it("config: env cut format for labels; defaults", () => {
    const c = config(AlertManagerConfig, {}, { ALERTMANAGER_EXTRALABELS: "team: sec , env:prod", ALERTMANAGER_HOSTPORT: "http://a,http://b" })
    expect(c.extralabels).toEqual({ team: "sec", env: "prod" })
    expect(c.hostport).toEqual(["http://a", "http://b"])
    expect(c.endpoint).toBe("/api/v2/alerts")
    expect(c.dropeventdefaultpriority).toBe("critical")
    expect(AlertManager.enabled(c)).toBe(true)
    expect(AlertManager.enabled(config(AlertManagerConfig, {}))).toBe(false)
  })

  it.scoped("every host gets the alert", () =>
    Effect.gen(function*() {
      const a = yield* makeReceiver()
      const b = yield* makeReceiver()
      const output = yield* startSingle(AlertManager, config(AlertManagerConfig, { hostport: [a.url, b.url], customheaders: { "X-Org": "1" } }))
      yield* output.send(referenceEvent)
      for (const rx of [a, b]) {
        const [r] = yield* rx.waitFor(1)
        expect(r!.method).toBe("POST")
        expect(r!.path).toBe("/api/v2/alerts")
        expect(r!.headers).toMatchObject({ ...jsonHeaders, "x-org": "1" })
        expect(r!.body).toBe(catalogExample)
      }
    }))

  it.scoped("fails when any host fails, naming it", () =>
    Effect.gen(function*() {
      const a = yield* makeReceiver()
      const b = yield* makeReceiver({ responses: [status(503)] })
      const output = yield* startSingle(AlertManager, config(AlertManagerConfig, { hostport: [a.url, b.url] }))
      const error = yield* Effect.flip(output.send(referenceEvent))
      expect(a.count).toBe(1)
      expect(error.reason).toBe("Status")
      expect(error.status).toBe(503)
      expect(error.retryable).toBe(true)
      expect(error.message).toContain(`1 of 2 host(s) failed: ${b.url}`)
    }))

  it.scoped("a bad dropeventthresholds entry is an OutputInitError", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(
        startSingle(AlertManager, config(AlertManagerConfig, { hostport: ["http://127.0.0.1:1"], dropeventthresholds: "10:nope" }))
      )
      expect(error._tag).toBe("OutputInitError")
      expect(error.key).toBe("alertmanager.dropeventthresholds")
    }))
})
