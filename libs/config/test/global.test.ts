import { describe, expect, it } from "@effect/vitest"
import { Duration } from "effect"
import {
  DeliveryConfig,
  describeConfig,
  Field,
  GlobalConfig,
  globalSections,
  makeSource,
  section
} from "../src/index.js"
import { failure, read, yaml } from "./support.js"


describe("GlobalConfig", () => {
  it("falcosidekick's defaults", () => {
    const g: GlobalConfig = read(makeSource({}), GlobalConfig)
    expect(g).toEqual({
      listenaddress: "",
      listenport: 2801,
      processes: 1,
      debug: false,
      customfields: {},
      templatedfields: {},
      customtags: [],
      bracketreplacer: "",
      outputfieldformat: "",
      mutualtlsfilespath: "/etc/certs",
      mutualtlsclient: { certfile: "", keyfile: "", cacertfile: "" },
      tlsclient: { cacertfile: "" },
      tlsserver: {
        deploy: false,
        certfile: "/etc/certs/server/server.crt",
        keyfile: "/etc/certs/server/server.key",
        mutualtls: false,
        cacertfile: "/etc/certs/server/ca.crt",
        notlsport: 2810,
        notlspaths: []
      },
      prometheus: { extralabels: [] }
    })
  })

  it("env var names", () => {
    expect(GlobalConfig.keys.map((k) => k.envVar)).toEqual([
      "LISTENADDRESS",
      "LISTENPORT",
      "PROCESSES",
      "DEBUG",
      "CUSTOMFIELDS",
      "TEMPLATEDFIELDS",
      "CUSTOMTAGS",
      "BRACKETREPLACER",
      "OUTPUTFIELDFORMAT",
      "MUTUALTLSFILESPATH",
      "MUTUALTLSCLIENT_CERTFILE",
      "MUTUALTLSCLIENT_KEYFILE",
      "MUTUALTLSCLIENT_CACERTFILE",
      "TLSCLIENT_CACERTFILE",
      "TLSSERVER_DEPLOY",
      "TLSSERVER_CERTFILE",
      "TLSSERVER_KEYFILE",
      "TLSSERVER_MUTUALTLS",
      "TLSSERVER_CACERTFILE",
      "TLSSERVER_NOTLSPORT",
      "TLSSERVER_NOTLSPATHS",
      "PROMETHEUS_EXTRALABELS"
    ])
  })

  it("file values, case-insensitive (falcosidekick's example config spelling)", () => {
    const g = read(
      yaml(
        [
          "listenAddress: 127.0.0.1",
          "listenPort: 2802",
          "debug: true",
          "customFields:",
          "  Akey: AValue",
          "templatedFields:",
          '  Dkey: \'{{ or (index . "k8s.ns.labels.foo") "bar" }}\'',
          "customtags: [tagA, tagB]",
          "bracketReplacer: _",
          'outputFieldFormat: "<timestamp>: <priority> <output> <custom_fields>"',
          "tlsServer:",
          "  deploy: true",
          "  notlsPort: 2810",
          '  notlsPaths: ["/ping", "/metrics"]',
          "prometheus:",
          '  extraLabels: "k8s.ns.name, rule"'
        ].join("\n")
      ),
      GlobalConfig
    )
    expect(g.listenaddress).toBe("127.0.0.1")
    expect(g.listenport).toBe(2802)
    expect(g.debug).toBe(true)
    expect(g.customfields).toEqual({ Akey: "AValue" })
    expect(g.templatedfields).toEqual({ Dkey: '{{ or (index . "k8s.ns.labels.foo") "bar" }}' })
    expect(g.customtags).toEqual(["tagA", "tagB"])
    expect(g.bracketreplacer).toBe("_")
    expect(g.outputfieldformat).toBe("<timestamp>: <priority> <output> <custom_fields>")
    expect(g.tlsserver.deploy).toBe(true)
    expect(g.tlsserver.notlspaths).toEqual(["/ping", "/metrics"])
    expect(g.prometheus.extralabels).toEqual(["k8s.ns.name", "rule"])
  })

  it("CUSTOMFIELDS: k:v pairs merged over the file, with %VAR expansion", () => {
    const g = read(
      yaml("customfields:\n  team: file\n  keep: yes\n", { CUSTOMFIELDS: "env:%ENVIRONMENT,team:sec,Cluster:prod", ENVIRONMENT: "staging" }),
      GlobalConfig
    )
    expect(g.customfields).toEqual({ team: "sec", keep: "yes", env: "staging", Cluster: "prod" })
  })

  it("CUSTOMFIELDS: a %VAR naming an unset or empty env var is an error", () => {
    expect(failure(makeSource({ env: { CUSTOMFIELDS: "env:%ENVIRONMENT" } }), GlobalConfig).message).toBe(
      `invalid config: customfields (CUSTOMFIELDS from env) = "env:%ENVIRONMENT": expected the env var ENVIRONMENT referenced by "env:%ENVIRONMENT" to be set and non-empty; it is unset`
    )
    expect(failure(makeSource({ env: { CUSTOMFIELDS: "env:%ENVIRONMENT", ENVIRONMENT: "" } }), GlobalConfig).expected).toMatch(/it is empty$/)
  })

  it("% expansion is env-only: a YAML value starting with % is kept", () => {
    expect(read(yaml("customfields: {env: '%ENVIRONMENT'}", { ENVIRONMENT: "x" }), GlobalConfig).customfields).toEqual({ env: "%ENVIRONMENT" })
  })

  it("TEMPLATEDFIELDS: pairs; a template containing ':' cannot come from env", () => {
    expect(read(makeSource({ env: { TEMPLATEDFIELDS: "a:{{.rule}}" } }), GlobalConfig).templatedfields).toEqual({ a: "{{.rule}}" })
    expect(failure(makeSource({ env: { TEMPLATEDFIELDS: 'x:{{ printf "%s:%s" .a .b }}' } }), GlobalConfig).message).toBe(
      `invalid config: templatedfields (TEMPLATEDFIELDS from env) = "x:{{ printf \\"%s:%s\\" .a .b }}": expected comma-separated key:value pairs; item "x:{{ printf \\"%s:%s\\" .a .b }}" has 3 parts when split on ":" (values containing ":" or "," cannot be given through the env var; use the config file)`
    )
  })

  it("CUSTOMTAGS removes every space; TLSSERVER_NOTLSPATHS is not trimmed; PROMETHEUS_EXTRALABELS removes spaces", () => {
    const g = read(
      yaml("customtags: [z]\n", { CUSTOMTAGS: " tag A , b ", TLSSERVER_NOTLSPATHS: "/ping, /metrics", PROMETHEUS_EXTRALABELS: "a, b" }),
      GlobalConfig
    )
    expect(g.customtags).toEqual(["tagA", "b"])
    expect(g.tlsserver.notlspaths).toEqual(["/ping", " /metrics"])
    expect(g.prometheus.extralabels).toEqual(["a", "b"])
  })

  it("CUSTOMTAGS= (empty) is unset, not one empty tag (deviation)", () => {
    expect(read(yaml("customtags: [a]\n", { CUSTOMTAGS: "" }), GlobalConfig).customtags).toEqual(["a"])
  })

  it("bad ports are errors", () => {
    expect(failure(makeSource({ env: { LISTENPORT: "0" } }), GlobalConfig).message).toBe(
      `invalid config: listenport (LISTENPORT from env) = "0": expected an integer from 1 to 65535`
    )
    expect(failure(yaml("tlsserver:\n  notlsport: 65536\n"), GlobalConfig).message).toBe(
      `invalid config: tlsserver.notlsport (from file /etc/sk.yaml; env TLSSERVER_NOTLSPORT) = "65536": expected an integer from 1 to 65535`
    )
    expect(failure(makeSource({ env: { DEBUG: "yes" } }), GlobalConfig).message).toBe(
      `invalid config: debug (DEBUG from env) = "yes": expected a boolean: true or false (also 1, t, T, TRUE, True, 0, f, F, FALSE, False)`
    )
  })
})

describe("DeliveryConfig", () => {
  it("defaults", () => {
    const d: DeliveryConfig = read(makeSource({}), DeliveryConfig)
    expect(d.queuecapacity).toBe(10000)
    expect(d.overflow).toBe("dropnewest")
    expect(Duration.toMillis(d.timeout)).toBe(10_000)
    expect(d.retry.maxattempts).toBe(0)
    expect(Duration.toMillis(d.retry.maxage)).toBe(3_600_000)
    expect(d.queue.maxbytes).toBe(32 * 1024 * 1024)
    expect(d.maxbytes).toBe(128 * 1024 * 1024)
    expect(Duration.toMillis(d.backpressure.maxwait)).toBe(1000)
    expect(Duration.toMillis(d.retry.initialdelay)).toBe(500)
    expect(Duration.toMillis(d.retry.maxdelay)).toBe(30_000)
    expect(d.circuitbreaker.failures).toBe(5)
    expect(Duration.toMillis(d.circuitbreaker.resetafter)).toBe(30_000)
    expect(Duration.toMillis(d.shutdowntimeout)).toBe(10_000)
    expect(d.maxconcurrency).toBe(64)
  })

  it("env and file, with errors", () => {
    const d = read(yaml("delivery:\n  retry:\n    maxAttempts: 2\n", { DELIVERY_OVERFLOW: "DropOldest", DELIVERY_TIMEOUT: "2s" }), DeliveryConfig)
    expect(d.retry.maxattempts).toBe(2)
    expect(d.overflow).toBe("dropoldest")
    expect(Duration.toMillis(d.timeout)).toBe(2000)
    expect(failure(makeSource({ env: { DELIVERY_OVERFLOW: "block" } }), DeliveryConfig).message).toBe(
      `invalid config: delivery.overflow (DELIVERY_OVERFLOW from env) = "block": expected one of dropnewest, dropoldest, reject`
    )
    expect(failure(makeSource({ env: { DELIVERY_RETRY_MAXATTEMPTS: "-1" } }), DeliveryConfig).message).toBe(
      `invalid config: delivery.retry.maxattempts (DELIVERY_RETRY_MAXATTEMPTS from env) = "-1": expected an integer >= 0`
    )
  })
})

describe("describeConfig", () => {
  const Slack = section("slack", { webhookurl: Field.secret(""), headers: Field.secretMap() })

  it("value, origin and env var of every key; secrets redacted", () => {
    const source = yaml("listenport: 2802\nslack:\n  webhookurl: https://hooks.slack.com/services/T0/B0/s3cr3t\n", {
      DEBUG: "true",
      SLACK_HEADERS: "X-Token:abc"
    })
    const entries = describeConfig(source, [...globalSections, Slack])
    const by = (key: string) => entries.find((e) => e.key === key)
    expect(by("listenport")).toEqual({ key: "listenport", envVar: "LISTENPORT", value: "2802", origin: "file", secret: false })
    expect(by("debug")).toMatchObject({ value: "true", origin: "env" })
    expect(by("mutualtlsfilespath")).toMatchObject({ value: "/etc/certs", origin: "default" })
    expect(by("delivery.timeout")).toMatchObject({ envVar: "DELIVERY_TIMEOUT", value: "10s", origin: "default" })
    expect(by("slack.webhookurl")).toEqual({ key: "slack.webhookurl", envVar: "SLACK_WEBHOOKURL", value: "<redacted>", origin: "file", secret: true })
    expect(by("slack.headers")).toMatchObject({ value: "<redacted>", origin: "env" })
    expect(JSON.stringify(entries)).not.toContain("s3cr3t")
    expect(JSON.stringify(entries)).not.toContain("abc")
  })

  it("an unset secret shows as empty so operators see it is missing", () => {
    const entries = describeConfig(makeSource({}), [Slack])
    expect(entries.map((e) => e.value)).toEqual(["", "{}"])
  })

  it("invalid values are reported, still redacted", () => {
    const entries = describeConfig(makeSource({ env: { SLACK_HEADERS: "a:b:c", LISTENPORT: "x" } }), [GlobalConfig, Slack])
    const bad = entries.filter((e) => e.error !== undefined)
    expect(bad.map((e) => [e.key, e.value])).toEqual([
      ["listenport", "x"],
      ["slack.headers", "<redacted>"]
    ])
  })
})

describe("checkSections", () => {
  it("reports every invalid key at once", async () => {
    const { checkSections } = await import("../src/index.js")
    const errors = checkSections(makeSource({ env: { LISTENPORT: "0", DEBUG: "maybe", DELIVERY_TIMEOUT: "soon" } }), globalSections)
    expect(errors.map((e) => e.key)).toEqual(["listenport", "debug", "delivery.timeout"])
    expect(checkSections(makeSource({}), globalSections)).toEqual([])
  })
})

describe("helpers", () => {
  it("enrichmentOptions and mutualTlsClientFiles", async () => {
    const { enrichmentOptions, mutualTlsClientFiles } = await import("../src/index.js")
    const g = read(
      makeSource({ env: { CUSTOMFIELDS: "a:1,b:2", CUSTOMTAGS: "x", BRACKETREPLACER: "_", MUTUALTLSCLIENT_KEYFILE: "/k/key.pem" } }),
      GlobalConfig
    )
    expect(enrichmentOptions(g)).toEqual({
      customFields: [["a", "1"], ["b", "2"]],
      templatedFields: [],
      customTags: ["x"],
      bracketReplacer: "_",
      outputFieldFormat: ""
    })
    expect(mutualTlsClientFiles(g)).toEqual({ certFile: "/etc/certs/client.crt", keyFile: "/k/key.pem", caCertFile: "/etc/certs/ca.crt" })
  })
})
