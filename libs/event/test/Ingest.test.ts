import { describe, expect, it } from "@effect/vitest"
import { compileTemplate } from "@sidekick/gotemplate"
import { Either } from "effect"
import {
  type EnrichmentOptions,
  eventJson,
  type FalcoEvent,
  goJson,
  goTimeString,
  LosslessNumber,
  makeIngest,
  templateData,
  testEventBody
} from "../src/index.js"

/** the realistic event Falco's http_output posts with json_output: true */
const realistic =
  `{"hostname":"node-1","output":"10:20:05.408091526: Notice A shell was spawned in a container with an attached terminal (user=root process=bash k8s_ns=default k8s_pod_name=nginx-7c)","output_fields":{"evt.time":1700000000408091526,"k8s.ns.name":"default","k8s.pod.name":"nginx-7c","proc.aname[2]":"containerd-shim","proc.name":"bash","proc.tty":34816,"user.name":"root"},"priority":"Notice","rule":"Terminal shell in container","source":"syscall","tags":["container","shell","mitre_execution"],"time":"2023-11-14T22:13:20.408091526Z"}`

const none: EnrichmentOptions = { customFields: [], templatedFields: [], customTags: [], bracketReplacer: "", outputFieldFormat: "" }
const ingest = (options: Partial<EnrichmentOptions> = {}) => Either.getOrThrow(makeIngest({ ...none, ...options }))
const accept = (body: string, options: Partial<EnrichmentOptions> = {}): FalcoEvent => {
  const r = ingest(options).decode(body)
  if (Either.isLeft(r)) throw new Error(r.left)
  return r.right
}
const reject = (body: string, options: Partial<EnrichmentOptions> = {}): string => {
  const r = ingest(options).decode(body)
  if (Either.isRight(r)) throw new Error(`accepted: ${eventJson(r.right)}`)
  return r.left
}
const event = (fields: Record<string, unknown>): string =>
  JSON.stringify({ priority: "Notice", rule: "r", time: "2024-05-06T10:20:30Z", output_fields: { a: "b" }, ...fields })
const uuidV4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/
const withoutUuid = (json: string) => json.replace(/"uuid":"[^"]*"/, "\"uuid\":\"<new-v4>\"")

describe("makeIngest / decode", () => {
  it("reproduces falcosidekick's worked enrichment example byte for byte", () => {
    const e = accept(realistic, {
      customFields: [["env", "prod"]],
      customTags: ["team-a"],
      templatedFields: [["ns_label", "{{ or (index . \"k8s.ns.name\") \"none\" }}"]],
      bracketReplacer: "_",
      outputFieldFormat: "<timestamp>: <priority> <output> <custom_fields> <templated_fields>"
    })
    expect(withoutUuid(eventJson(e))).toBe(
      `{"uuid":"<new-v4>","output":"10:20:05.408091526: Notice A shell was spawned in a container with an attached terminal (user=root process=bash k8s_ns=default k8s_pod_name=nginx-7c) env=prod ns_label=default","priority":"Notice","rule":"Terminal shell in container","time":"2023-11-14T22:13:20.408091526Z","output_fields":{"env":"prod","evt.time":1700000000408091526,"k8s.ns.name":"default","k8s.pod.name":"nginx-7c","ns_label":"default","proc.aname_2":"containerd-shim","proc.name":"bash","proc.tty":34816,"user.name":"root"},"source":"syscall","tags":["container","mitre_execution","shell","team-a"],"hostname":"node-1"}`
    )
    expect(e.uuid).toMatch(uuidV4)
    expect(e.timeUnixNanos).toBe(1700000000408091526n)
    expect(e.output_fields["evt.time"]).toEqual(new LosslessNumber("1700000000408091526"))
    expect(goTimeString(e)).toBe("2023-11-14 22:13:20.408091526 +0000 UTC")
  })

  it("plain ingestion of the reference event every output test uses", () => {
    const e = accept(
      `{"output":"10:20:30.123456789: Critical A shell was spawned in a container (user=root shell=bash container=abc123)","priority":"Critical","rule":"Terminal shell in container","time":"2024-05-06T10:20:30.123456789Z","output_fields":{"container.id":"abc123","k8s.ns.name":"default","k8s.pod.name":"nginx-1","proc.name":"bash","proc.pid":4242,"user.name":"root"},"source":"syscall","tags":["container","shell","mitre_execution","T1059"],"hostname":"node-1"}`
    )
    expect(withoutUuid(eventJson(e))).toBe(
      `{"uuid":"<new-v4>","output":"10:20:30.123456789: Critical A shell was spawned in a container (user=root shell=bash container=abc123)","priority":"Critical","rule":"Terminal shell in container","time":"2024-05-06T10:20:30.123456789Z","output_fields":{"container.id":"abc123","k8s.ns.name":"default","k8s.pod.name":"nginx-1","proc.name":"bash","proc.pid":4242,"user.name":"root"},"source":"syscall","tags":["T1059","container","mitre_execution","shell"],"hostname":"node-1"}`
    )
    expect(goTimeString(e)).toBe("2024-05-06 10:20:30.123456789 +0000 UTC")
  })

  it("always assigns a fresh uuid v4", () => {
    const a = accept(event({ uuid: "keep-me" }))
    const b = accept(event({ uuid: "keep-me" }))
    expect(a.uuid).toMatch(uuidV4)
    expect(b.uuid).toMatch(uuidV4)
    expect(a.uuid).not.toBe(b.uuid)
  })

  it("escapes <NA> the Go way and keeps numbers verbatim", () => {
    const e = accept(event({ output: "x <NA> & y", output_fields: { "container.name": "<NA>", n: 1.10 } }).replace("1.1", "1.10"))
    expect(eventJson(e)).toContain(`"output":"x \\u003cNA\\u003e \\u0026 y"`)
    expect(eventJson(e)).toContain(`"output_fields":{"container.name":"\\u003cNA\\u003e","n":1.10}`)
  })

  it("re-emits time as Go RFC3339Nano", () => {
    expect(accept(event({ time: "2024-05-06T10:20:30.700Z" })).time).toBe("2024-05-06T10:20:30.7Z")
    expect(accept(event({ time: "2024-05-06T10:20:30.000+00:00" })).time).toBe("2024-05-06T10:20:30Z")
    const offset = accept(event({ time: "2024-05-06T12:20:30.120+02:00" }))
    expect(offset.time).toBe("2024-05-06T12:20:30.12+02:00")
    expect(goTimeString(offset)).toBe("2024-05-06 12:20:30.12 +0200 +0200")
  })

  it("matches keys case-insensitively and ignores unknown keys", () => {
    const e = accept(`{"PRIORITY":"error","Rule":"R","TIME":"2024-05-06T10:20:30Z","Output_Fields":{"a":1},"HostName":"h","extra":{"x":1},"ſource":"k8s_audit"}`)
    expect([e.priority, e.rule, e.hostname, e.source]).toEqual(["Error", "R", "h", "k8s_audit"])
    expect(e.output_fields).toEqual({ a: 1 })
  })

  it("normalises priority and source, sorts tags bytewise after customtags", () => {
    const e = accept(event({ priority: "info", source: "", tags: ["b", "T1059", "a", null] }), { customTags: ["Z", "a"] })
    expect(e.priority).toBe("Informational")
    expect(e.source).toBe("syscalls")
    expect(e.tags).toEqual(["", "T1059", "Z", "a", "a", "b"])
  })

  it("Test rule forces source internal", () => {
    expect(accept(event({ rule: "Test rule", source: "syscall" })).source).toBe("internal")
    expect(accept(event({ rule: "test rule", source: "syscall" })).source).toBe("syscall")
  })

  it("omits empty tags and hostname from the JSON", () => {
    const json = eventJson(accept(event({ tags: [], hostname: "" })))
    expect(json).not.toContain("\"tags\"")
    expect(json).not.toContain("\"hostname\"")
    expect(json.endsWith(`"source":"syscalls"}`)).toBe(true)
  })

  it("customfields overwrite the event's fields and fill empty output_fields (accepted)", () => {
    const e = accept(event({ output_fields: { env: "dev", a: 1 } }), { customFields: [["env", "prod"]] })
    expect(e.output_fields).toEqual({ env: "prod", a: 1 })
    expect(accept(event({ output_fields: {} }), { customFields: [["env", "prod"]] }).output_fields).toEqual({ env: "prod" })
    expect(accept(event({ output_fields: null }), { customFields: [["env", "prod"]] }).output_fields).toEqual({ env: "prod" })
    expect(accept(event({ output_fields: undefined }), { templatedFields: [["t", "x"]] }).output_fields).toEqual({ t: "x" })
  })

  it("templatedfields run in configured order over output_fields (custom fields included)", () => {
    const e = accept(event({ output_fields: { "k8s.ns.name": "ns1", n: "N" } }).replace("\"N\"", "1700000000408091526"), {
      customFields: [["env", "prod"]],
      templatedFields: [
        ["first", "{{ index . \"env\" }}-{{ index . \"k8s.ns.name\" }}"],
        ["second", "{{ .first }}/{{ index . \"missing\" }}/{{ .n }}"]
      ]
    })
    expect(e.output_fields.first).toBe("prod-ns1")
    expect(e.output_fields.second).toBe("prod-ns1/<no value>/1700000000408091526")
  })

  it("keeps the partial output of a failing template, like Go", () => {
    const e = accept(event({ output_fields: { a: null } }), { templatedFields: [["t", "x{{ .a.b }}y"]] })
    expect(e.output_fields.t).toBe("x")
  })

  it("refuses a templated field that does not compile, naming it", () => {
    expect(makeIngest({ ...none, templatedFields: [["ok", "{{ .a }}"], ["bad", "{{ nope . }}"]] })).toEqual(
      Either.left("templatedfields: cannot compile \"bad\": template: line 1: function \"nope\" not defined")
    )
  })

  it("bracketreplacer renames keys (renamed keys win collisions), output untouched", () => {
    const e = accept(event({ output: "proc.aname[2]=x", output_fields: { "proc.aname[2]": "p", "a_1": "plain", "a[1]": "renamed", "x]y": 1 } }), {
      bracketReplacer: "_"
    })
    expect(e.output_fields).toEqual({ "proc.aname_2": "p", a_1: "renamed", "x]y": 1 })
    expect(e.output).toBe("proc.aname[2]=x")
    expect(accept(event({ output_fields: { "a[0][1]": 1 } }), { bracketReplacer: "." }).output_fields).toEqual({ "a.0.1": 1 })
  })

  it("outputfieldformat rewrites Falco text outputs", () => {
    const o = {
      customFields: [["env", "prod"], ["team", "a"]] as Array<[string, string]>,
      customTags: ["ct"],
      outputFieldFormat: "<timestamp> [<priority>] <output> (<custom_fields>) <tags>"
    }
    expect(accept(event({ priority: "WARNING", output: "10:20:05.1: warning Something odd (user=root)", tags: ["t"] }), o).output).toBe(
      "10:20:05.1 [Warning] Something odd (user=root) (env=prod team=a) ct,t"
    )
    // empty placeholders are trimmed: " ", "( )", "()", " "
    expect(accept(event({ output: "10:20:05.1: Notice x" }), { outputFieldFormat: "<output> (<custom_fields>)" }).output).toBe("x")
    expect(accept(event({ output: "10:20:05.1: Notice x" }), { outputFieldFormat: "<output> ( <custom_fields>)" }).output).toBe("x")
    // ISO 8601 Falco timestamps and other texts do not match
    expect(accept(event({ output: "2024-05-06T10:20:05.1+0000: Notice x" }), o).output).toBe("2024-05-06T10:20:05.1+0000: Notice x")
    expect(accept(event({ output: "plain text" }), o).output).toBe("plain text")
    // placeholders in substituted values behave like Go's sequential ReplaceAll
    expect(accept(event({ output: "10:20:05.1: Notice <tags>" }), { customTags: ["t"], outputFieldFormat: "<output>!" }).output).toBe("t!")
  })

  it("truncates long string fields when the payload exceeds 4096 bytes", () => {
    const long = "x".repeat(600)
    const e = accept(event({ output: `a ${long} b ${long}`, output_fields: { long, other: "y".repeat(4000), short: "s" } }))
    expect(e.output_fields.long).toBe("x".repeat(507) + "[...]")
    expect(e.output_fields.other).toBe("y".repeat(507) + "[...]")
    expect(e.output_fields.short).toBe("s")
    expect(e.output).toBe(`a ${"x".repeat(507)}[...] b ${"x".repeat(507)}[...]`)
    expect(eventJson(e)).toContain(`"long":"${"x".repeat(507)}[...]"`)
    // below the limit nothing changes
    expect(accept(event({ output_fields: { long } })).output_fields.long).toBe(long)
  })

  it("truncates by bytes: a cut multi-byte character becomes \\ufffd escapes, as Go marshals invalid UTF-8", () => {
    const value = "x".repeat(506) + "é".repeat(300) // é = 2 bytes: byte 507 is half an é
    const e = accept(event({ output_fields: { v: value, pad: "p".repeat(4000) } }))
    expect(eventJson(e)).toContain(`"v":"${"x".repeat(506)}\\ufffd[...]"`)
    const euro = "€".repeat(200) // 3 bytes each: 507 = 169 * 3, no cut
    expect(eventJson(accept(event({ output_fields: { v: euro, pad: "p".repeat(4000) } })))).toContain(`"v":"${"€".repeat(169)}[...]"`)
  })

  it.each([
    ["", "malformed JSON: Unexpected end of JSON input"],
    ["{\"rule\":", "malformed JSON: Unexpected end of JSON input"],
    ["[1]", "invalid event: expected a JSON object, got an array"],
    ["\"x\"", "invalid event: expected a JSON object, got a string"],
    [event({ rule: 1 }), "invalid event: \"rule\" must be a string"],
    [event({ priority: 5 }), "invalid event: \"priority\" must be a string"],
    [event({ tags: "x" }), "invalid event: \"tags\" must be an array of strings"],
    [event({ tags: ["a", 1] }), "invalid event: \"tags\" must be an array of strings"],
    [event({ output_fields: [] }), "invalid event: \"output_fields\" must be an object"],
    [event({ hostname: {} }), "invalid event: \"hostname\" must be a string"],
    [event({ time: "nope" }), "invalid event: \"time\" is not an RFC 3339 timestamp: \"nope\""],
    [event({ time: 1700000000 }), "invalid event: \"time\" must be a string"],
    [
      event({ priority: "warn" }),
      "invalid event: unknown priority \"warn\" (expected one of Emergency, Alert, Critical, Error, Warning, Notice, Informational, Debug)"
    ],
    [
      event({ priority: "" }),
      "invalid event: unknown priority \"\" (expected one of Emergency, Alert, Critical, Error, Warning, Notice, Informational, Debug)"
    ],
    [
      event({ priority: null }),
      "invalid event: missing \"priority\" (expected one of Emergency, Alert, Critical, Error, Warning, Notice, Informational, Debug)"
    ],
    [
      "null",
      "invalid event: missing \"priority\" (expected one of Emergency, Alert, Critical, Error, Warning, Notice, Informational, Debug)"
    ],
    [event({ rule: undefined }), "invalid event: missing \"rule\""],
    [event({ rule: "" }), "invalid event: \"rule\" is empty"],
    [event({ time: undefined }), "invalid event: missing \"time\""],
    [event({ time: null }), "invalid event: missing \"time\""],
    [event({ time: "0001-01-01T00:00:00Z" }), "invalid event: \"time\" is the zero time (0001-01-01T00:00:00Z)"],
    [event({ output_fields: undefined }), "invalid event: missing \"output_fields\""],
    [event({ output_fields: null }), "invalid event: missing \"output_fields\""],
    [event({ output_fields: {} }), "invalid event: \"output_fields\" is empty"],
    [event({ output_fields: { "k8s.ns.name": 5 } }), "invalid event: output field \"k8s.ns.name\" must be a string"],
    [event({ output_fields: { "k8s.pod.name": true } }), "invalid event: output field \"k8s.pod.name\" must be a string"]
  ])("rejects %s: %s", (body, reason) => {
    expect(reject(body)).toBe(reason)
  })

  it("accepts what Go accepts at the edges", () => {
    expect(accept(`${event({})} trailing garbage`).rule).toBe("r")
    expect(accept(event({ output_fields: { "k8s.ns.name": null } })).output_fields).toEqual({ "k8s.ns.name": null })
    expect(accept(event({ uuid: null, output: null, source: null, hostname: null, tags: null }))).toMatchObject({
      output: "",
      source: "syscalls",
      hostname: "",
      tags: []
    })
    expect(accept(`{"priority":"Notice","priority":"Error","rule":"r","time":"2024-05-06T10:20:30Z","output_fields":{"a":1}}`).priority)
      .toBe("Error")
  })
})

describe("testEventBody (POST /test's event)", () => {
  it("is falcosidekick's /test body", () => {
    expect(testEventBody(new Date("2024-05-01T12:00:00.987Z"))).toBe(
      `{"output":"This is a test from falcosidekick","source":"debug","priority":"Debug","hostname":"falcosidekick", "rule":"Test rule","time":"2024-05-01T12:00:00Z","output_fields":{"proc.name":"falcosidekick","user.name":"falcosidekick"},"tags":["test","example"]}`
    )
  })

  it("ingests as an internal, sorted, enriched event", () => {
    const e = accept(testEventBody(new Date("2024-05-01T12:00:00Z")), { customTags: ["ct"], customFields: [["env", "prod"]] })
    expect(withoutUuid(eventJson(e))).toBe(
      `{"uuid":"<new-v4>","output":"This is a test from falcosidekick","priority":"Debug","rule":"Test rule","time":"2024-05-01T12:00:00Z","output_fields":{"env":"prod","proc.name":"falcosidekick","user.name":"falcosidekick"},"source":"internal","tags":["ct","example","test"],"hostname":"falcosidekick"}`
    )
  })
})

describe("templateData", () => {
  it("is the Go struct templates see", () => {
    const e = accept(realistic)
    const t = Either.getOrThrow(
      compileTemplate(
        "{{ .Rule }}|{{ .Priority }}|{{ .Time }}|{{ .Source }}|{{ .Hostname }}|{{ index .OutputFields \"evt.time\" }}|{{ range .Tags }}{{ . }},{{ end }}"
      )
    )
    expect(t.render(templateData(e))).toBe(
      "Terminal shell in container|Notice|2023-11-14 22:13:20.408091526 +0000 UTC|syscall|node-1|1700000000408091526|container,mitre_execution,shell,"
    )
    expect(goJson(templateData(e))).toContain(`"Time":"2023-11-14T22:13:20.408091526Z"`)
  })
})
