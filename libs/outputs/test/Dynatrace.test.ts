import { it, layer } from "@effect/vitest"
import { LosslessNumber } from "@sidekick/event"
import { eventWith, referenceEvent, referenceOutput as O, status } from "@sidekick/testing"
import { Effect } from "effect"
import { describe, expect } from "vitest"
import { Dynatrace, dynatraceAttributes, dynatraceBody, DynatraceConfig, dynatraceUrl } from "../src/Dynatrace.js"
import { chosenHeaders, config, jsonHeaders, Peer, peer, startSingle } from "./helpers.js"

const apitoken = "dt0c01.ABCDEFGHIJKLMNOPQRSTUVWX.secretsecretsecretsecret"

/** catalog §2.7, with the trailing newline of Go's json.Encoder */
const catalogExample =
  `[{"timestamp":"2024-05-06T10:20:30Z","event.id":"3f0c0b0e-5c1a-4d2e-9f3a-1b2c3d4e5f60","event.name":"Terminal shell in container","event.provider":"Falco","severity":"Critical","host.name":"node-1","log.source":"syscall","content":{"output":"${O}","output_fields":{"container.id":"abc123","k8s.ns.name":"default","k8s.pod.name":"nginx-1","proc.name":"bash","proc.pid":4242,"user.name":"root"},"tags":["T1059","container","mitre_execution","shell"]},"mitre.technique":"T1059","mitre.tactic":"mitre_execution","container.id":"abc123","k8s.namespace.name":"default","k8s.pod.name":"nginx-1","process.executable.name":"bash"}]\n`

/** falcosidekick's test event (client_test.go falcoTestInput), without a uuid */
const falcoTestEvent = eventWith({
  uuid: "",
  output: "This is a test from falcosidekick",
  priority: "Debug",
  rule: "Test rule",
  time: "2001-01-01T01:10:00Z",
  timeUnixNanos: 978311400000000000n,
  output_fields: { "proc.name": "falcosidekick", "proc.tty": 1234 },
  source: "syscalls",
  tags: ["test", "example"],
  hostname: "test-host"
})

describe("Dynatrace", () => {
  it("payload: the catalog's example, byte for byte", () => {
    expect(dynatraceBody(referenceEvent)).toBe(catalogExample)
  })

  it("payload: falcosidekick's test vector (no uuid: no event.id; tags as given)", () => {
    expect(dynatraceBody(falcoTestEvent)).toBe(
      `[{"timestamp":"2001-01-01T01:10:00Z","event.name":"Test rule","event.provider":"Falco","severity":"Debug","host.name":"test-host","log.source":"syscalls","content":{"output":"This is a test from falcosidekick","output_fields":{"proc.name":"falcosidekick","proc.tty":1234},"tags":["test","example"]},"process.executable.name":"falcosidekick"}]\n`
    )
  })

  it("attributes: falcosidekick's vector with extra output fields (null skipped, span.id as %v)", () => {
    const e = eventWith({
      ...falcoTestEvent,
      output_fields: {
        "container.id": "77d156711504",
        "container.name": "hello-world",
        "container.image": "falcosecurity/falco:latest",
        "k8s.ns.name": "falco",
        "k8s.pod.name": "falco-khx2g",
        "k8s.pod.id": null,
        "proc.name": "falcosidekick",
        "span.id": 1337
      },
      tags: ["test", "example", "T1059", "mitre_execution"]
    })
    expect(dynatraceBody(e)).toBe(
      `[{"timestamp":"2001-01-01T01:10:00Z","event.name":"Test rule","event.provider":"Falco","severity":"Debug","host.name":"test-host","log.source":"syscalls","content":{"output":"This is a test from falcosidekick","output_fields":{"container.id":"77d156711504","container.image":"falcosecurity/falco:latest","container.name":"hello-world","k8s.ns.name":"falco","k8s.pod.id":null,"k8s.pod.name":"falco-khx2g","proc.name":"falcosidekick","span.id":1337},"tags":["test","example","T1059","mitre_execution"]},"mitre.technique":"T1059","mitre.tactic":"mitre_execution","container.id":"77d156711504","container.name":"hello-world","container.image.name":"falcosecurity/falco:latest","k8s.namespace.name":"falco","k8s.pod.name":"falco-khx2g","process.executable.name":"falcosidekick","span.id":"1337"}]\n`
    )
  })

  it("attributes: non-string values are left out, span.id of any type printed as Go's %v", () => {
    const attributes = (output_fields: Record<string, unknown>) => dynatraceAttributes(eventWith({ output_fields, tags: [] }))
    expect(attributes({ "container.id": 12345, "container.name": true, "k8s.ns.name": 42, "proc.name": ["unexpected"], "span.id": false }))
      .toEqual({
        "mitre.technique": undefined,
        "mitre.tactic": undefined,
        "container.id": undefined,
        "container.name": undefined,
        "container.image.name": undefined,
        "k8s.namespace.name": undefined,
        "k8s.pod.name": undefined,
        "k8s.pod.uid": undefined,
        "process.executable.name": undefined,
        "span.id": "false"
      })
    expect(attributes({ "span.id": new LosslessNumber("18446744073709551615") })["span.id"]).toBe("18446744073709551615")
    expect(attributes({ "span.id": { b: [1, "x"], a: null } })["span.id"]).toBe("map[a:<nil> b:[1 x]]")
    expect(attributes({ "span.id": null })["span.id"]).toBeUndefined()
    // an empty string is omitted from the body (omitempty)
    expect(dynatraceBody(eventWith({ output_fields: { "span.id": "" } }))).toMatch(/"output_fields":\{"span\.id":""\},.*"mitre\.tactic":"mitre_execution"\}\]\n$/)
    // audit events name their namespace ka.target.namespace; k8s.ns.name wins when both are strings
    expect(attributes({ "ka.target.namespace": "audit" })["k8s.namespace.name"]).toBe("audit")
    expect(attributes({ "ka.target.namespace": "audit", "k8s.ns.name": "pod-ns" })["k8s.namespace.name"]).toBe("pod-ns")
    expect(attributes({ "ka.target.namespace": "audit", "k8s.ns.name": 3 })["k8s.namespace.name"]).toBe("audit")
    expect(attributes({ "k8s.pod.id": "uid-1" })["k8s.pod.uid"]).toBe("uid-1")
  })

  it("attributes: the last tag naming a technique, else the last naming a tactic (matched anywhere in the tag)", () => {
    const mitre = (tags: Array<string>) => {
      const a = dynatraceAttributes(eventWith({ tags }))
      return [a["mitre.technique"], a["mitre.tactic"]]
    }
    expect(mitre(["T1055.008", "T1059", "mitre_defense_evasion", "mitre_execution"])).toEqual(["T1059", "mitre_execution"])
    expect(mitre(["attack:T1611", "container"])).toEqual(["attack:T1611", undefined])
    // a tag that is both counts as a technique only
    expect(mitre(["mitre_T1059"])).toEqual(["mitre_T1059", undefined])
    expect(mitre(["container", "shell"])).toEqual([undefined, undefined])
  })

  it("url: the ingest path on apiurl, trailing slashes trimmed as falcosidekick does", () => {
    expect(dynatraceUrl("https://abc123.live.dynatrace.com/api")).toBe("https://abc123.live.dynatrace.com/api/v2/logs/ingest")
    expect(dynatraceUrl("https://dt.example/e/env/api//")).toBe("https://dt.example/e/env/api/v2/logs/ingest")
  })

  it("config: apitoken and apiurl both enable; checkcert only", () => {
    expect(DynatraceConfig.keys.slice(0, 2).map((k) => k.key)).toEqual(["dynatrace.apitoken", "dynatrace.apiurl"])
    expect(DynatraceConfig.keys.map((k) => k.key)).not.toContain("dynatrace.mutualtls")
    expect(DynatraceConfig.keys.map((k) => k.key)).not.toContain("dynatrace.maxconcurrentrequests")
    const c = config(DynatraceConfig, {})
    expect(c.checkcert).toBe(true)
    expect(Dynatrace.enabled(c)).toBe(false)
    expect(Dynatrace.enabled(config(DynatraceConfig, { apitoken }))).toBe(false)
    expect(Dynatrace.enabled(config(DynatraceConfig, { apiurl: "https://x/api" }))).toBe(false)
    expect(Dynatrace.enabled(config(DynatraceConfig, {}, { DYNATRACE_APITOKEN: apitoken, DYNATRACE_APIURL: "https://x/api" }))).toBe(true)
  })

  it.scoped("an apiurl that is not an http(s) URL refuses start-up naming dynatrace.apiurl", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(startSingle(Dynatrace, config(DynatraceConfig, { apitoken, apiurl: "abc123.live.dynatrace.com/api" })))
      expect(error.key).toBe("dynatrace.apiurl")
      expect(error.message).toContain("abc123.live.dynatrace.com/api")
      expect(error.message).not.toContain(apitoken)
    }))

  layer(Peer.layer)((it) => {
    it.scoped("POSTs the array to <apiurl>/v2/logs/ingest with Authorization: Api-Token; minimumpriority is read", () =>
      Effect.gen(function*() {
        const rx = yield* peer(status(204))
        const output = yield* startSingle(Dynatrace, config(DynatraceConfig, { apitoken, apiurl: `${rx.url}/e/env/api/`, minimumpriority: "critical" }))
        expect(output.name).toBe("dynatrace")
        expect(output.minimumPriority).toBe(6)
        yield* output.send(referenceEvent)
        const [r] = yield* rx.waitFor(1)
        expect(r!.method).toBe("POST")
        expect(r!.path).toBe("/e/env/api/v2/logs/ingest")
        expect(chosenHeaders(r!.headers)).toEqual({ ...jsonHeaders, authorization: `Api-Token ${apitoken}` })
        expect(r!.body).toBe(catalogExample)
      }))

    it.scoped("a 4xx is permanent, a 5xx retryable; neither message shows the token", () =>
      Effect.gen(function*() {
        const rx = yield* peer(status(401, "{\"error\":{\"code\":401,\"message\":\"Token Authentication failed\"}}"), status(502))
        const output = yield* startSingle(Dynatrace, config(DynatraceConfig, { apitoken, apiurl: rx.url }))
        const unauthorized = yield* Effect.flip(output.send(referenceEvent))
        expect(unauthorized.status).toBe(401)
        expect(unauthorized.retryable).toBe(false)
        expect(unauthorized.message).not.toContain(apitoken)
        const badGateway = yield* Effect.flip(output.send(referenceEvent))
        expect(badGateway.status).toBe(502)
        expect(badGateway.retryable).toBe(true)
        expect(rx.requests).toHaveLength(2)
      }))
  })
})
