import { it, layer } from "@effect/vitest"
import { LosslessNumber } from "@sidekick/event"
import { eventWith, referenceEvent, referenceOutput as O, status } from "@sidekick/testing"
import { Effect, Either } from "effect"
import { describe, expect } from "vitest"
import { sprintV } from "@sidekick/gotemplate"
import { Grafana, grafanaBody, GrafanaConfig, grafanaTags } from "../src/Grafana.js"
import { chosenHeaders, config, decode, Peer, peer, startSingle } from "./helpers.js"

const apikey = "glsa_0123456789abcdefghijklmnopqrstuv_0a1b2c3d"

const plain = { dashboardid: 0, panelid: 0, allfieldsastags: false }

/** catalog §2.9, with the trailing newline of Go's json.Encoder */
const catalogExample =
  `{"time":1714990830123,"timeEnd":1714990830123,"tags":["falco","Critical","Terminal shell in container","syscall","node-1"],"text":"${O}"}\n`

describe("Grafana", () => {
  it("payload: the catalog's example, byte for byte", () => {
    expect(grafanaBody(referenceEvent, plain)).toBe(catalogExample)
  })

  it("payload: dashboardId and panelId when not 0; no hostname tag when empty; time in ms truncated toward zero", () => {
    const e = eventWith({ hostname: "", timeUnixNanos: 978311400999999999n, output: "a <b> & c" })
    expect(grafanaBody(e, { dashboardid: 12, panelid: 3, allfieldsastags: false })).toBe(
      `{"dashboardId":12,"panelId":3,"time":978311400999,"timeEnd":978311400999,"tags":["falco","Critical","Terminal shell in container","syscall"],"text":"a \\u003cb\\u003e \\u0026 c"}\n`
    )
    expect(grafanaBody(eventWith({ timeUnixNanos: -1_500_000n }), plain)).toContain(`"time":-1,"timeEnd":-1,`)
  })

  it("allfieldsastags: every output field value as %v in sorted key order, then the event's tags", () => {
    expect(grafanaBody(referenceEvent, { ...plain, allfieldsastags: true })).toBe(
      `{"time":1714990830123,"timeEnd":1714990830123,"tags":["falco","Critical","Terminal shell in container","syscall","node-1","abc123","default","nginx-1","bash","4242","root","T1059","container","mitre_execution","shell"],"text":"${O}"}\n`
    )
    const e = eventWith({
      output_fields: { z: null, "10": true, "2": new LosslessNumber("1.10"), m: { b: 1, a: "x" }, l: ["p", 2] },
      tags: []
    })
    expect(grafanaTags(e, true).slice(5)).toEqual(["true", "1.10", "[p 2]", "map[a:x b:1]", "<nil>"])
    expect(grafanaTags(e, false)).toEqual(["falco", "Critical", "Terminal shell in container", "syscall", "node-1"])
    expect(sprintV(new LosslessNumber("1714990830123456789"))).toBe("1714990830123456789")
  })

  it("config: hostport and apikey both enable; defaults; customheaders from YAML and env, errors without secrets", () => {
    expect(GrafanaConfig.keys.slice(0, 2).map((k) => k.key)).toEqual(["grafana.hostport", "grafana.apikey"])
    const c = config(GrafanaConfig, {})
    expect(c.dashboardid).toBe(0)
    expect(c.panelid).toBe(0)
    expect(c.allfieldsastags).toBe(false)
    expect(c.checkcert).toBe(true)
    expect(c.mutualtls).toBe(false)
    expect(c.maxconcurrentrequests).toBe(1)
    expect(Grafana.enabled(c)).toBe(false)
    expect(Grafana.enabled(config(GrafanaConfig, { hostport: "http://grafana:3000" }))).toBe(false)
    expect(Grafana.enabled(config(GrafanaConfig, { apikey }))).toBe(false)
    const fromEnv = config(GrafanaConfig, {}, {
      GRAFANA_HOSTPORT: "http://grafana:3000",
      GRAFANA_APIKEY: apikey,
      GRAFANA_DASHBOARDID: "7",
      GRAFANA_ALLFIELDSASTAGS: "true"
    })
    expect(Grafana.enabled(fromEnv)).toBe(true)
    expect(fromEnv.dashboardid).toBe(7)
    expect(fromEnv.allfieldsastags).toBe(true)
    const bad = decode(GrafanaConfig, { hostport: "http://g", apikey }, { GRAFANA_CUSTOMHEADERS: `X-Org:${apikey}:x` })
    expect(Either.isLeft(bad)).toBe(true)
    if (Either.isLeft(bad)) {
      expect(bad.left.message).toContain("grafana.customheaders")
      expect(bad.left.message).not.toContain(apikey)
    }
    expect(Either.isLeft(decode(GrafanaConfig, { panelid: "first" }))).toBe(true)
  })

  it.scoped("a hostport that is not an http(s) URL refuses start-up naming grafana.hostport", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(startSingle(Grafana, config(GrafanaConfig, { hostport: "grafana:3000", apikey })))
      expect(error.key).toBe("grafana.hostport")
      expect(error.message).not.toContain(apikey)
    }))

  layer(Peer.layer)((it) => {
    it.scoped("POSTs the annotation with Bearer auth, application/json and the custom headers; minimumpriority is read", () =>
      Effect.gen(function*() {
        const rx = yield* peer(status(200, "{\"message\":\"Annotation added\",\"id\":1}"))
        const c = config(
          GrafanaConfig,
          { hostport: `${rx.url}/`, apikey, dashboardid: 12, customheaders: { "X-Grafana-Org-Id": "2" }, minimumpriority: "notice" },
          { GRAFANA_CUSTOMHEADERS: "X-Env:yes" }
        )
        const output = yield* startSingle(Grafana, c)
        expect(output.name).toBe("grafana")
        expect(output.minimumPriority).toBe(3)
        yield* output.send(referenceEvent)
        const [r] = yield* rx.waitFor(1)
        expect(r!.method).toBe("POST")
        expect(r!.path).toBe("/api/annotations")
        expect(chosenHeaders(r!.headers)).toEqual({
          "content-type": "application/json",
          "user-agent": "Falcosidekick",
          authorization: `Bearer ${apikey}`,
          "x-grafana-org-id": "2",
          "x-env": "yes"
        })
        expect(r!.body).toBe(`{"dashboardId":12,${catalogExample.slice(1)}`)
      }))

    it.scoped("a custom Authorization header replaces the Bearer one, as in falcosidekick", () =>
      Effect.gen(function*() {
        const rx = yield* peer(status(200))
        const c = config(GrafanaConfig, { hostport: rx.url, apikey, customheaders: { Authorization: "Basic YWRtaW46YWRtaW4=" } })
        const output = yield* startSingle(Grafana, c)
        yield* output.send(referenceEvent)
        const [r] = yield* rx.waitFor(1)
        expect(r!.headers["authorization"]).toBe("Basic YWRtaW46YWRtaW4=")
      }))

    it.scoped("a 4xx is permanent, a 5xx retryable; neither message shows the API key", () =>
      Effect.gen(function*() {
        const rx = yield* peer(status(401, "{\"message\":\"invalid API key\"}"), status(500))
        const output = yield* startSingle(Grafana, config(GrafanaConfig, { hostport: rx.url, apikey }))
        const unauthorized = yield* Effect.flip(output.send(referenceEvent))
        expect(unauthorized.status).toBe(401)
        expect(unauthorized.retryable).toBe(false)
        expect(unauthorized.message).toContain("invalid API key")
        expect(unauthorized.message).not.toContain(apikey)
        const down = yield* Effect.flip(output.send(referenceEvent))
        expect(down.status).toBe(500)
        expect(down.retryable).toBe(true)
        expect(rx.requests).toHaveLength(2)
      }))
  })
})
