import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Redacted } from "effect"
import { inspect } from "node:util"
import {
  ConfigError,
  describeConfig,
  Field,
  makeSource,
  readSection,
  section
} from "../src/index.js"
import { failure, read, yaml } from "./support.js"

const Slack = section("slack", {
  webhookurl: Field.secret(""),
  outputformat: Field.literal(["all", "text", "fields"], "all"),
  minimumpriority: Field.minimumPriority(),
  maxconcurrentrequests: Field.int(1, { min: 0, max: 65535 }),
  checkcert: Field.bool(true),
  footer: Field.string("https://github.com/falcosecurity/falcosidekick")
})

const Es = section("elasticsearch", {
  hostport: Field.string(),
  customheaders: Field.secretMap({ env: "json" }),
  batching: { enabled: Field.bool(false), batchsize: Field.int(5242880), flushinterval: Field.duration("1s") }
})

describe("section", () => {
  it("lists keys and env vars, nested groups included", () => {
    expect(Es.path).toBe("elasticsearch")
    expect(Es.keys.map((k) => [k.key, k.envVar])).toEqual([
      ["elasticsearch.hostport", "ELASTICSEARCH_HOSTPORT"],
      ["elasticsearch.customheaders", "ELASTICSEARCH_CUSTOMHEADERS"],
      ["elasticsearch.batching.enabled", "ELASTICSEARCH_BATCHING_ENABLED"],
      ["elasticsearch.batching.batchsize", "ELASTICSEARCH_BATCHING_BATCHSIZE"],
      ["elasticsearch.batching.flushinterval", "ELASTICSEARCH_BATCHING_FLUSHINTERVAL"]
    ])
    const Aws = section("aws.securitylake", { bucket: Field.string() })
    expect(Aws.keys[0]!.envVar).toBe("AWS_SECURITYLAKE_BUCKET")
  })

  it("decodes defaults into the declared shape", () => {
    const c: typeof Es.Type = read(makeSource({}), Es)
    expect(c.hostport).toBe("")
    expect(Redacted.value(c.customheaders)).toEqual({})
    expect(c.batching.enabled).toBe(false)
    expect(c.batching.batchsize).toBe(5242880)
    expect(Duration.toMillis(c.batching.flushinterval)).toBe(1000)
  })

  it("refuses bad declarations", () => {
    expect(() => section("x", { a: Field.string(), A: Field.string() })).toThrow(/duplicate/)
    expect(() => section("x", { "a.b": Field.string() })).toThrow()
    expect(() => Field.duration("soon")).toThrow()
  })

  it.effect("readSection is an Effect failing with ConfigError", () =>
    Effect.gen(function* () {
      const ok = yield* readSection(makeSource({ env: { SLACK_OUTPUTFORMAT: "text" } }), Slack)
      expect(ok.outputformat).toBe("text")
      const err = yield* Effect.flip(readSection(makeSource({ env: { SLACK_OUTPUTFORMAT: "bogus" } }), Slack))
      expect(err).toBeInstanceOf(ConfigError)
      expect(err._tag).toBe("ConfigError")
    })
  )
})

describe("precedence", () => {
  it("non-empty env > file > default", () => {
    const src = yaml("slack:\n  outputformat: text\n  footer: from-file\n", { SLACK_FOOTER: "from-env" })
    const c = read(src, Slack)
    expect(c.footer).toBe("from-env")
    expect(c.outputformat).toBe("text")
    expect(c.checkcert).toBe(true)
  })

  it("an empty env var counts as unset (Helm sets hundreds of them to \"\")", () => {
    const src = yaml("slack:\n  footer: from-file\n  maxconcurrentrequests: 3\n", {
      SLACK_FOOTER: "",
      SLACK_MAXCONCURRENTREQUESTS: "",
      SLACK_CHECKCERT: "",
      SLACK_OUTPUTFORMAT: ""
    })
    const c = read(src, Slack)
    expect(c.footer).toBe("from-file")
    expect(c.maxconcurrentrequests).toBe(3)
    expect(c.checkcert).toBe(true)
    expect(c.outputformat).toBe("all")
  })

  it("every declared key is env-bindable, even without default or file entry", () => {
    const s = section("nats", { minimumpriority: Field.minimumPriority() })
    expect(read(makeSource({ env: { NATS_MINIMUMPRIORITY: "error" } }), s).minimumpriority).toBe("error")
  })

  it("YAML null and \"\" in non-string fields mean unset; \"\" in a string field is a value", () => {
    const c = read(yaml("slack:\n  checkcert:\n  maxconcurrentrequests: ''\n  footer: ''\n"), Slack)
    expect(c.checkcert).toBe(true)
    expect(c.maxconcurrentrequests).toBe(1)
    expect(c.footer).toBe("")
  })
})

describe("YAML keys are case-insensitive", () => {
  it("matches sections, groups and fields in any case", () => {
    const c = read(yaml("ElasticSearch:\n  HostPort: http://es:9200\n  Batching:\n    Enabled: true\n    FlushInterval: 250ms\n"), Es)
    expect(c.hostport).toBe("http://es:9200")
    expect(c.batching.enabled).toBe(true)
    expect(Duration.toMillis(c.batching.flushinterval)).toBe(250)
  })

  it("but keeps the case of keys inside map values (deliberate deviation from viper)", () => {
    const s = section("", { customfields: Field.map() })
    expect(read(yaml("CustomFields:\n  MyKey: v\n  other: w\n"), s).customfields).toEqual({ MyKey: "v", other: "w" })
  })

  it("fails when one key is given twice with different case", () => {
    expect(failure(yaml("slack:\n  footer: a\n  Footer: b\n"), Slack).message).toBe(
      `invalid config: slack.footer (from file /etc/sk.yaml; env SLACK_FOOTER) = "footer, Footer": expected the key once; it appears 2 times with different letter case (footer, Footer)`
    )
  })

  it("fails when a section is not a mapping", () => {
    expect(failure(yaml("slack: hello\n"), Slack).message).toBe(
      `invalid config: slack (from file /etc/sk.yaml) = "hello": expected a mapping of keys under "slack"`
    )
  })
})

describe("coercions and their errors", () => {
  it("bool: Go ParseBool from env and file; YAML booleans and 0/1", () => {
    const s = section("x", { a: Field.bool(false), b: Field.bool(true), c: Field.bool(false), d: Field.bool(false) })
    expect(read(yaml("x:\n  a: true\n  b: 0\n  c: T\n", { X_D: "TRUE" }), s)).toEqual({ a: true, b: false, c: true, d: true })
    expect(failure(makeSource({ env: { X_A: "yes" } }), s).message).toBe(
      `invalid config: x.a (X_A from env) = "yes": expected a boolean: true or false (also 1, t, T, TRUE, True, 0, f, F, FALSE, False)`
    )
    expect(failure(yaml("x:\n  b: on\n"), s).message).toBe(
      `invalid config: x.b (from file /etc/sk.yaml; env X_B) = "on": expected a boolean: true or false (also 1, t, T, TRUE, True, 0, f, F, FALSE, False)`
    )
  })

  it("int: ParseInt base 0 from env and strings; YAML ints; bounds", () => {
    const s = section("", { listenport: Field.int(2801, { min: 1, max: 65535 }), n: Field.int(0) })
    expect(read(makeSource({ env: { LISTENPORT: "0x10", N: "-0b11" } }), s)).toEqual({ listenport: 16, n: -3 })
    expect(read(yaml("listenport: 0x1F\nn: '1_000'\n"), s)).toEqual({ listenport: 31, n: 1000 })
    expect(failure(makeSource({ env: { LISTENPORT: "70000" } }), s).message).toBe(
      `invalid config: listenport (LISTENPORT from env) = "70000": expected an integer from 1 to 65535`
    )
    expect(failure(yaml("listenport: 0\n"), s).message).toBe(
      `invalid config: listenport (from file /etc/sk.yaml; env LISTENPORT) = "0": expected an integer from 1 to 65535`
    )
    expect(failure(makeSource({ env: { LISTENPORT: "28o1" } }), s).message).toBe(
      `invalid config: listenport (LISTENPORT from env) = "28o1": expected an integer from 1 to 65535 (decimal, or 0x hex / 0o octal / 0b binary)`
    )
    expect(failure(yaml("n: 1.5\n"), s).message).toBe(
      `invalid config: n (from file /etc/sk.yaml; env N) = "1.5": expected an integer (decimal, or 0x hex / 0o octal / 0b binary)`
    )
    expect(failure(yaml("n: [1]\n"), s).message).toBe(`invalid config: n (from file /etc/sk.yaml; env N) = "[1]": expected an integer, not a list`)
    expect(failure(makeSource({ env: { N: "99999999999999999" } }), s).message).toBe(
      `invalid config: n (N from env) = "99999999999999999": expected an integer (this one is too large)`
    )
  })

  it("duration: Go syntax; bare numbers and negatives refused", () => {
    const s = section("d", { t: Field.duration("1s") })
    expect(Duration.toMillis(read(makeSource({ env: { D_T: "1m30s" } }), s).t)).toBe(90_000)
    expect(Duration.toMillis(read(yaml("d:\n  t: 0\n"), s).t)).toBe(0)
    expect(failure(makeSource({ env: { D_T: "10" } }), s).message).toBe(
      `invalid config: d.t (D_T from env) = "10": expected a duration such as 1s, 500ms, 1m30s or 2h (units ns, us, ms, s, m, h); a bare number has no unit`
    )
    expect(failure(yaml("d:\n  t: 1000\n"), s).message).toBe(
      `invalid config: d.t (from file /etc/sk.yaml; env D_T) = "1000": expected a duration such as 1s, 500ms, 1m30s or 2h (units ns, us, ms, s, m, h); a bare number has no unit`
    )
    expect(failure(makeSource({ env: { D_T: "5 days" } }), s).message).toBe(
      `invalid config: d.t (D_T from env) = "5 days": expected a duration such as 1s, 500ms, 1m30s or 2h (units ns, us, ms, s, m, h)`
    )
    expect(failure(makeSource({ env: { D_T: "-1s" } }), s).message).toBe(
      `invalid config: d.t (D_T from env) = "-1s": expected a non-negative duration such as 1s, 500ms, 1m30s or 2h (units ns, us, ms, s, m, h)`
    )
  })

  it("string: YAML scalars are stringified the Go way; structures are refused", () => {
    const s = section("t", { chatid: Field.string(), flag: Field.string(), big: Field.string(), f: Field.string() })
    expect(read(yaml("t:\n  chatid: -1001234567890123456\n  flag: true\n  big: 12\n  f: 1.5\n"), s)).toEqual({
      chatid: "-1001234567890123456",
      flag: "1",
      big: "12",
      f: "1.5"
    })
    expect(failure(yaml("t:\n  chatid: {a: 1}\n"), s).message).toBe(
      `invalid config: t.chatid (from file /etc/sk.yaml; env T_CHATID) = "{a: 1}": expected a text value, not a mapping`
    )
  })

  it("literal: exact by default, optionally case-insensitive, canonical value returned", () => {
    expect(failure(makeSource({ env: { SLACK_OUTPUTFORMAT: "bogus" } }), Slack).message).toBe(
      `invalid config: slack.outputformat (SLACK_OUTPUTFORMAT from env) = "bogus": expected one of all, text, fields`
    )
    expect(failure(makeSource({ env: { SLACK_OUTPUTFORMAT: "Text" } }), Slack).expected).toBe("one of all, text, fields")
    const s = section("q", { mode: Field.literal(["dropNewest", "reject"], "reject", { caseInsensitive: true }) })
    expect(read(makeSource({ env: { Q_MODE: "DROPNEWEST" } }), s).mode).toBe("dropNewest")
  })

  it("minimumPriority: kept raw", () => {
    expect(read(makeSource({ env: { SLACK_MINIMUMPRIORITY: "Warn" } }), Slack).minimumpriority).toBe("Warn")
  })
})

describe("lists", () => {
  const s = section("o", { hosts: Field.list(), tags: Field.list([], { removeSpaces: "env" }), labels: Field.list([], { removeSpaces: "always" }) })

  it("from a YAML list or a comma string in the file", () => {
    expect(read(yaml("o:\n  hosts: [a, 'b ', 3]\n  tags: 'x, y'\n  labels: 'k8s.ns.name, rule'\n"), s)).toEqual({
      hosts: ["a", "b ", "3"],
      tags: ["x", " y"],
      labels: ["k8s.ns.name", "rule"]
    })
  })

  it("from env: split on ',' without trimming, env replaces the file list", () => {
    const c = read(yaml("o:\n  hosts: [z]\n", { O_HOSTS: "http://a:9093, http://b:9093", O_TAGS: " a , b c" }), s)
    expect(c.hosts).toEqual(["http://a:9093", " http://b:9093"])
    expect(c.tags).toEqual(["a", "bc"])
  })

  it("refuses nested structures", () => {
    expect(failure(yaml("o:\n  hosts: [a, [b]]\n"), s).message).toBe(
      `invalid config: o.hosts (from file /etc/sk.yaml; env O_HOSTS) = "[a, [b]]": expected a list of text values; item 2 is a list`
    )
  })
})

describe("maps", () => {
  const s = section("w", {
    headers: Field.secretMap({ env: "pairs" }),
    ext: Field.map({ env: "pairs" }),
    labels: Field.map({ env: "cut" }),
    es: Field.map({ env: "json" })
  })

  it("pairs: k:v,k2:v2, merged over the file map (env wins per key)", () => {
    const c = read(yaml("w:\n  ext:\n    A: file\n    b: file\n", { W_EXT: "b:env,C:env" }), s)
    expect(c.ext).toEqual({ A: "file", b: "env", C: "env" })
    expect(Redacted.value(read(makeSource({ env: { W_HEADERS: "Authorization:Bearer xyz" } }), s).headers)).toEqual({ Authorization: "Bearer xyz" })
  })

  it("pairs: an item that does not split in exactly 2 parts is an error naming the item", () => {
    expect(failure(makeSource({ env: { W_EXT: "a:b,url:http://x" } }), s).message).toBe(
      `invalid config: w.ext (W_EXT from env) = "a:b,url:http://x": expected comma-separated key:value pairs; item "url:http://x" has 3 parts when split on ":" (values containing ":" or "," cannot be given through the env var; use the config file)`
    )
    expect(failure(makeSource({ env: { W_EXT: "novalue" } }), s).message).toBe(
      `invalid config: w.ext (W_EXT from env) = "novalue": expected comma-separated key:value pairs; item "novalue" has 1 part when split on ":"`
    )
    expect(failure(makeSource({ env: { W_EXT: "a:b," } }), s).message).toBe(
      `invalid config: w.ext (W_EXT from env) = "a:b,": expected comma-separated key:value pairs; found an empty item (stray comma?)`
    )
  })

  it("secret maps never show values, even in the bad item", () => {
    const e = failure(makeSource({ env: { W_HEADERS: "Authorization:Bearer:s3cr3t" } }), s)
    expect(e.message).toBe(
      `invalid config: w.headers (W_HEADERS from env) = <redacted>: expected comma-separated key:value pairs; the item with key "Authorization" has 3 parts when split on ":" (values containing ":" or "," cannot be given through the env var; use the config file)`
    )
    expect(e.value).toBe("<redacted>")
    expect(JSON.stringify(e)).not.toContain("s3cr3t")
  })

  it("cut: first ':' and trim; names must be label names", () => {
    expect(read(makeSource({ env: { W_LABELS: " team : sec ops , url:http://x:1,empty" } }), s).labels).toEqual({
      team: "sec ops",
      url: "http://x:1",
      empty: ""
    })
    expect(failure(makeSource({ env: { W_LABELS: "bad-name:x" } }), s).message).toBe(
      `invalid config: w.labels (W_LABELS from env) = "bad-name:x": expected comma-separated name:value pairs with names matching ^[a-zA-Z_][a-zA-Z0-9_]*$; item "bad-name:x" has name "bad-name"`
    )
  })

  it("json: a JSON object string in env (replaces the file map) or file", () => {
    expect(read(yaml("w:\n  es: {a: b}\n", { W_ES: `{"X-Key":"v","n":1}` }), s).es).toEqual({ "X-Key": "v", n: "1" })
    expect(read(yaml(`w:\n  es: '{"k":"v"}'\n`), s).es).toEqual({ k: "v" })
    expect(failure(makeSource({ env: { W_ES: "k:v" } }), s).message).toBe(
      `invalid config: w.es (W_ES from env) = "k:v": expected a JSON object such as {"Authorization":"Bearer xyz"}; this is not valid JSON`
    )
    expect(failure(makeSource({ env: { W_ES: "[1]" } }), s).message).toBe(
      `invalid config: w.es (W_ES from env) = "[1]": expected a JSON object such as {"Authorization":"Bearer xyz"}, not a list`
    )
  })

  it("file maps: scalar values stringified, nested values refused", () => {
    expect(read(yaml("w:\n  ext: {n: 1, t: true, z: }\n"), s).ext).toEqual({ n: "1", t: "1", z: "" })
    expect(failure(yaml("w:\n  ext: {n: {deep: 1}}\n"), s).message).toBe(
      `invalid config: w.ext (from file /etc/sk.yaml; env W_EXT) = "{n: {deep: 1}}": expected a mapping of names to values; key "n" holds a mapping, not a plain value`
    )
    expect(failure(yaml("w:\n  ext: [a]\n"), s).message).toBe(
      `invalid config: w.ext (from file /etc/sk.yaml; env W_EXT) = "[a]": expected a mapping of names to values, not a list`
    )
  })
})

describe("secrets", () => {
  it("a secret string is redacted in errors", () => {
    const s = section("x", { token: Field.secret("") })
    const e = failure(yaml("x:\n  token: [hunter2]\n"), s)
    expect(e.message).toBe(`invalid config: x.token (from file /etc/sk.yaml; env X_TOKEN) = <redacted>: expected a text value, not a list`)
    expect(e.message).not.toContain("hunter2")
  })

  it("a secret decodes to a Redacted that never prints its value", () => {
    const s = section("x", { token: Field.secret(""), url: Field.secret("https://default") })
    const c = read(makeSource({ env: { X_TOKEN: "hunter2" } }), s)
    expect(Redacted.isRedacted(c.token)).toBe(true)
    expect(Redacted.value(c.token)).toBe("hunter2")
    expect(String(c.token)).toBe("<redacted>")
    expect(`${c.token}`).toBe("<redacted>")
    expect(JSON.stringify(c.token)).toBe(`"<redacted>"`)
    expect(inspect(c.token)).toBe("<redacted>")
    expect(JSON.stringify(c)).not.toContain("hunter2")
    expect(inspect(c, { depth: 10 })).not.toContain("hunter2")
    expect(Redacted.value(c.url)).toBe("https://default")
  })

  it("a secret is read from the file (stringified the Go way) and the env wins over it", () => {
    const s = section("x", { token: Field.secret(""), pin: Field.secret(""), empty: Field.secret("d") })
    const c = read(yaml("x:\n  token: from-file\n  pin: 1234\n  empty: ''\n"), s)
    expect(Redacted.value(c.token)).toBe("from-file")
    expect(Redacted.value(c.pin)).toBe("1234")
    expect(Redacted.value(c.empty)).toBe("")
    expect(Redacted.value(read(yaml("x:\n  token: from-file\n", { X_TOKEN: "from-env" }), s).token)).toBe("from-env")
    expect(Redacted.value(read(yaml("x:\n  token: from-file\n", { X_TOKEN: "" }), s).token)).toBe("from-file")
  })

  it("show: <redacted> when set, empty text when empty; describeConfig likewise", () => {
    expect(Field.secret().show(Redacted.make("hunter2"))).toBe("<redacted>")
    expect(Field.secret().show(Redacted.make(""))).toBe("")
    expect(Field.secretMap().show(Redacted.make({ a: "b" }))).toBe("<redacted>")
    expect(Field.secretMap().show(Redacted.make({}))).toBe("{}")
    expect(Field.secret().secret && Field.secretMap().secret && !Field.string().secret && !Field.map().secret).toBe(true)
    const s = section("x", { token: Field.secret(""), headers: Field.secretMap() })
    const entries = describeConfig(makeSource({ env: { X_TOKEN: "hunter2", X_HEADERS: "a:s3cr3t" } }), [s])
    expect(entries.map((e) => [e.key, e.value, e.origin, e.secret])).toEqual([
      ["x.token", "<redacted>", "env", true],
      ["x.headers", "<redacted>", "env", true]
    ])
  })

  it("secret maps: pairs and cut merge the env over the file map, json replaces it", () => {
    const s = section("w", {
      headers: Field.secretMap({ env: "pairs" }),
      labels: Field.secretMap({ env: "cut" }),
      es: Field.secretMap({ env: "json" })
    })
    const c = read(
      yaml("w:\n  headers:\n    Authorization: Bearer file\n    X-Org: acme\n  labels: {team: file, zone: a}\n  es: {a: file}\n", {
        W_HEADERS: "Authorization:Bearer env,X-Extra:1",
        W_LABELS: " team : sec ops ",
        W_ES: `{"b":"env"}`
      }),
      s
    )
    expect(Redacted.value(c.headers)).toEqual({ Authorization: "Bearer env", "X-Org": "acme", "X-Extra": "1" })
    expect(Redacted.value(c.labels)).toEqual({ team: "sec ops", zone: "a" })
    expect(Redacted.value(c.es)).toEqual({ b: "env" })
    expect(Redacted.value(read(yaml(`w:\n  es: '{"k":"v"}'\n`), s).es)).toEqual({ k: "v" })
    expect(Redacted.value(read(makeSource({}), s).headers)).toEqual({})
    expect(String(c.headers)).toBe("<redacted>")
    expect(JSON.stringify(c)).not.toContain("Bearer")
    expect(inspect(c, { depth: 10 })).not.toContain("Bearer")
  })

  it("secret maps: errors never contain a value", () => {
    const s = section("w", {
      headers: Field.secretMap({ env: "pairs" }),
      labels: Field.secretMap({ env: "cut" }),
      es: Field.secretMap({ env: "json" })
    })
    const cases: ReadonlyArray<readonly [ReturnType<typeof makeSource>, string]> = [
      [
        makeSource({ env: { W_HEADERS: "X-Org:acme,s3cr3t" } }),
        `invalid config: w.headers (W_HEADERS from env) = <redacted>: expected comma-separated key:value pairs; item 2 has 1 part when split on ":"`
      ],
      [
        makeSource({ env: { W_LABELS: "team:x,s3cr3t-token" } }),
        `invalid config: w.labels (W_LABELS from env) = <redacted>: expected comma-separated name:value pairs with names matching ^[a-zA-Z_][a-zA-Z0-9_]*$; item 2 has an invalid name`
      ],
      [
        makeSource({ env: { W_LABELS: "bad-name:s3cr3t" } }),
        `invalid config: w.labels (W_LABELS from env) = <redacted>: expected comma-separated name:value pairs with names matching ^[a-zA-Z_][a-zA-Z0-9_]*$; the item with key "bad-name" has name "bad-name"`
      ],
      [
        makeSource({ env: { W_ES: "{s3cr3t" } }),
        `invalid config: w.es (W_ES from env) = <redacted>: expected a JSON object such as {"Authorization":"Bearer xyz"}; this is not valid JSON`
      ],
      [
        yaml("w:\n  headers: {a: {deep: s3cr3t}}\n"),
        `invalid config: w.headers (from file /etc/sk.yaml; env W_HEADERS) = <redacted>: expected a mapping of names to values; key "a" holds a mapping, not a plain value`
      ]
    ]
    for (const [source, message] of cases) {
      const e = failure(source, s)
      expect(e.message).toBe(message)
      expect(JSON.stringify(e)).not.toContain("s3cr3t")
    }
  })
})

describe("optional fields", () => {
  const Slack = section("slack", {
    delivery: {
      timeout: Field.optional(Field.duration("10s")),
      maxattempts: Field.optional(Field.int(5, { min: 1 })),
      overflow: Field.optional(Field.literal(["dropnewest", "dropoldest", "reject"], "dropnewest", { caseInsensitive: true })),
      checkcert: Field.optional(Field.bool(true)),
      footer: Field.optional(Field.string("x"))
    }
  })
  const UNSET = { timeout: undefined, maxattempts: undefined, overflow: undefined, checkcert: undefined, footer: undefined }

  it("unset in file and env: undefined, not the inner field's default", () => {
    const c = read(makeSource({}), Slack)
    expect(c.delivery).toEqual(UNSET)
    const timeout: Duration.Duration | undefined = c.delivery.timeout
    expect(timeout).toBeUndefined()
    expect(read(yaml("slack:\n  delivery:\n    timeout:\n    maxattempts: ''\n    checkcert:\n"), Slack).delivery).toEqual(UNSET)
    const emptyEnv = { SLACK_DELIVERY_TIMEOUT: "", SLACK_DELIVERY_MAXATTEMPTS: "", SLACK_DELIVERY_OVERFLOW: "", SLACK_DELIVERY_CHECKCERT: "" }
    expect(read(makeSource({ env: emptyEnv }), Slack).delivery).toEqual(UNSET)
  })

  it("set in the file: decoded by the inner field", () => {
    const c = read(yaml("slack:\n  delivery:\n    timeout: 1m30s\n    maxattempts: 0x3\n    overflow: DropOldest\n    checkcert: false\n    footer: ''\n"), Slack)
    expect(Duration.toMillis(c.delivery.timeout!)).toBe(90_000)
    expect(c.delivery.maxattempts).toBe(3)
    expect(c.delivery.overflow).toBe("dropoldest")
    expect(c.delivery.checkcert).toBe(false)
    expect(c.delivery.footer).toBe("")
    expect(Duration.toMillis(read(yaml("slack:\n  delivery:\n    timeout: 0\n"), Slack).delivery.timeout!)).toBe(0)
  })

  it("set in the env: decoded by the inner field, over the file", () => {
    const c = read(
      yaml("slack:\n  delivery:\n    timeout: 1s\n    checkcert: true\n", {
        SLACK_DELIVERY_TIMEOUT: "250ms",
        SLACK_DELIVERY_MAXATTEMPTS: "7",
        SLACK_DELIVERY_OVERFLOW: "reject",
        SLACK_DELIVERY_CHECKCERT: "F"
      }),
      Slack
    )
    expect(Duration.toMillis(c.delivery.timeout!)).toBe(250)
    expect(c.delivery.maxattempts).toBe(7)
    expect(c.delivery.overflow).toBe("reject")
    expect(c.delivery.checkcert).toBe(false)
  })

  it("an invalid value fails with the inner field's error, naming the key and the env var", () => {
    expect(failure(makeSource({ env: { SLACK_DELIVERY_MAXATTEMPTS: "0" } }), Slack).message).toBe(
      `invalid config: slack.delivery.maxattempts (SLACK_DELIVERY_MAXATTEMPTS from env) = "0": expected an integer >= 1`
    )
    expect(failure(yaml("slack:\n  delivery:\n    timeout: 10\n"), Slack).message).toBe(
      `invalid config: slack.delivery.timeout (from file /etc/sk.yaml; env SLACK_DELIVERY_TIMEOUT) = "10": expected a duration such as 1s, 500ms, 1m30s or 2h (units ns, us, ms, s, m, h); a bare number has no unit`
    )
    expect(failure(makeSource({ env: { SLACK_DELIVERY_TIMEOUT: "soon" } }), Slack).message).toBe(
      `invalid config: slack.delivery.timeout (SLACK_DELIVERY_TIMEOUT from env) = "soon": expected a duration such as 1s, 500ms, 1m30s or 2h (units ns, us, ms, s, m, h)`
    )
    expect(failure(makeSource({ env: { SLACK_DELIVERY_OVERFLOW: "block" } }), Slack).message).toBe(
      `invalid config: slack.delivery.overflow (SLACK_DELIVERY_OVERFLOW from env) = "block": expected one of dropnewest, dropoldest, reject`
    )
    expect(failure(yaml("slack:\n  delivery:\n    checkcert: maybe\n"), Slack).message).toBe(
      `invalid config: slack.delivery.checkcert (from file /etc/sk.yaml; env SLACK_DELIVERY_CHECKCERT) = "maybe": expected a boolean: true or false (also 1, t, T, TRUE, True, 0, f, F, FALSE, False)`
    )
  })

  it("keeps the inner field's expected text and kind; show(undefined) is empty", () => {
    const inner = Field.int(5, { min: 1 })
    const field = Field.optional(inner)
    expect(field.defaultValue).toBeUndefined()
    expect(field.expected).toBe(inner.expected)
    expect(field.kind).toBe("int")
    expect(field.show(undefined)).toBe("")
    expect(field.show(3)).toBe("3")
    expect(Field.optional(Field.duration("1s")).show(Duration.millis(1500))).toBe("1.5s")
    const entries = describeConfig(makeSource({ env: { SLACK_DELIVERY_TIMEOUT: "2s" } }), [Slack])
    expect(entries.map((e) => [e.key, e.value, e.origin])).toEqual([
      ["slack.delivery.timeout", "2s", "env"],
      ["slack.delivery.maxattempts", "", "default"],
      ["slack.delivery.overflow", "", "default"],
      ["slack.delivery.checkcert", "", "default"],
      ["slack.delivery.footer", "", "default"]
    ])
  })

  it("an optional secret stays redacted; an optional secret map still merges env over file", () => {
    const s = section("x", { token: Field.optional(Field.secret()), headers: Field.optional(Field.secretMap()) })
    expect(read(makeSource({}), s)).toEqual({ token: undefined, headers: undefined })
    const c = read(yaml("x:\n  headers: {a: file, b: file}\n", { X_TOKEN: "hunter2", X_HEADERS: "b:env" }), s)
    expect(Redacted.value(c.token!)).toBe("hunter2")
    expect(Redacted.value(c.headers!)).toEqual({ a: "file", b: "env" })
    expect(describeConfig(makeSource({ env: { X_TOKEN: "hunter2" } }), [s]).map((e) => e.value)).toEqual(["<redacted>", ""])
  })
})
