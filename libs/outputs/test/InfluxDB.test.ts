/**
 * InfluxDB: the line and the URL byte for byte against a recording receiver (v1, v2, user/password, token),
 * and for real against InfluxDB 1.6 (Debian's `influxdb` package, which .ci/run installs): one `influxd` for
 * the file, with authentication on, written to through the output and read back with `/query`. Without
 * `influxd` the real-peer tests are skipped locally and fail in CI.
 */
import { it } from "@effect/vitest"
import { OutputError } from "@sidekick/delivery"
import { eventWith, makeReceiver, referenceEvent, referenceOutput as O, status } from "@sidekick/testing"
import { Duration, Effect, Either, Exit, Redacted, Scope } from "effect"
import { spawnSync } from "node:child_process"
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect } from "vitest"
import { escapeTag, InfluxDB, InfluxDBConfig, influxdbLine, influxdbTarget, quoteFieldString } from "../src/InfluxDB.js"
import { chosenHeaders, config, decode, freePorts, jsonHeaders, spawnScoped, startSingle, tempDir } from "./helpers.js"

/** catalog §2.5: falcosidekick's line for the reference event (output fields in sorted order) */
const catalogLine =
  `events,rule=Terminal_shell_in_container,priority=Critical,source=syscall,container.id=abc123,k8s.ns.name=default,k8s.pod.name=nginx-1,proc.name=bash,user.name=root,hostname=node-1,tags=T1059_container_mitre_execution_shell value="${O}"`

/** an event whose values break falcosidekick's line: commas, spaces, `=`, quotes, backslashes, a line break */
const awkwardEvent = eventWith({
  rule: "Write below etc, by=root",
  output: `Wrote "/etc/x" \\ then\nmore`,
  output_fields: {
    "fd name": "/tmp/a b",
    "k=v": "x,y=z",
    "path": "C:\\dir\\",
    "rule": "a field named like a tag",
    "empty": "",
    "count": 3
  },
  hostname: "node 1,rack=2",
  tags: ["a b", "c,d"]
})

const awkwardLine =
  `events,rule=Write_below_etc\\,_by\\=root,priority=Critical,source=syscall,fd\\ name=/tmp/a_b,k\\=v=x\\,y\\=z,path=C:\\dir_,` +
  `hostname=node\\ 1\\,rack\\=2,tags=a\\ b_c\\,d value="Wrote \\"/etc/x\\" \\\\ then\nmore"`

const password = "pa&ss=w0rd secret"
const token = "tok-0123456789abcdef"

describe("InfluxDB", () => {
  it("line: the catalog's line for the reference event, byte for byte, no trailing newline", () => {
    expect(influxdbLine(referenceEvent)).toBe(catalogLine)
  })

  it("line: values that break falcosidekick's line are escaped; what InfluxDB refuses is left out", () => {
    expect(influxdbLine(awkwardEvent)).toBe(awkwardLine)
    // the same event always makes the same line, whatever the order of its output fields
    const reversed = eventWith({ ...awkwardEvent, output_fields: Object.fromEntries(Object.entries(awkwardEvent.output_fields).reverse()) })
    expect(influxdbLine(reversed)).toBe(awkwardLine)
    // no hostname, no tags: neither tag
    expect(influxdbLine(eventWith({ hostname: "", tags: [], output_fields: { "a": "1" } }))).toBe(
      `events,rule=Terminal_shell_in_container,priority=Critical,source=syscall,a=1 value="${O}"`
    )
    expect(escapeTag("a\\b\\,c\\")).toBe("a\\b_\\,c_")
    expect(escapeTag("x\r\ny\nz")).toBe("x_y_z")
    expect(quoteFieldString(`a"b\\c`)).toBe(`"a\\"b\\\\c"`)
  })

  it("target: falcosidekick's URL for v1, v2, user/password and token, and its headers", () => {
    const base = config(InfluxDBConfig, { hostport: "http://influx:8086" })
    expect(influxdbTarget(base)).toEqual({ url: "http://influx:8086/write?db=falco&precision=ns", headers: { Accept: "application/json" } })
    expect(influxdbTarget({ ...base, hostport: "http://influx:8086/", precision: "" }).url).toBe("http://influx:8086/write?db=falco")
    expect(influxdbTarget({ ...base, organization: "acme" }).url).toBe("http://influx:8086/api/v2/write?org=acme&bucket=falco&precision=ns")
    // organization without bucket: v1
    expect(influxdbTarget({ ...base, organization: "acme", bucket: "" }).url).toBe("http://influx:8086/write?db=falco&precision=ns")
    const withUser = { ...base, user: "alice", password: Redacted.make("pw") }
    expect(influxdbTarget(withUser).url).toBe("http://influx:8086/write?db=falco&u=alice&p=pw&precision=ns")
    // user alone, or a token: no u/p
    expect(influxdbTarget({ ...base, user: "alice" }).url).toBe("http://influx:8086/write?db=falco&precision=ns")
    expect(influxdbTarget({ ...withUser, token: Redacted.make("t") })).toEqual({
      url: "http://influx:8086/write?db=falco&precision=ns",
      headers: { Accept: "application/json", Authorization: "Token t" }
    })
    // query values URL-escaped
    expect(influxdbTarget({ ...withUser, database: "my db", password: Redacted.make(password) }).url).toBe(
      "http://influx:8086/write?db=my%20db&u=alice&p=pa%26ss%3Dw0rd%20secret&precision=ns"
    )
  })

  it("config: defaults, enabling key, env vars, secrets redacted", () => {
    const c = config(InfluxDBConfig, {})
    expect(InfluxDBConfig.keys[0]!.key).toBe("influxdb.hostport")
    expect([c.database, c.organization, c.bucket, c.precision, c.user]).toEqual(["falco", "", "falco", "ns", ""])
    expect([c.checkcert, c.mutualtls, c.maxconcurrentrequests]).toEqual([true, false, 1])
    expect(InfluxDB.enabled(c)).toBe(false)
    expect(InfluxDB.displayName).toBe("Influxdb")
    const fromEnv = config(InfluxDBConfig, {}, { INFLUXDB_HOSTPORT: "http://i:8086", INFLUXDB_PASSWORD: password, INFLUXDB_TOKEN: token })
    expect(InfluxDB.enabled(fromEnv)).toBe(true)
    expect(Redacted.value(fromEnv.password)).toBe(password)
    expect(String(fromEnv.token)).not.toContain(token)
    const bad = decode(InfluxDBConfig, { checkcert: "maybe", password })
    expect(Either.isLeft(bad) && bad.left.message.includes("influxdb.checkcert")).toBe(true)
  })

  it.scoped("a hostport that is not an http(s) URL, or no database to write to, refuses start-up naming the key", () =>
    Effect.gen(function*() {
      const notUrl = yield* Effect.flip(startSingle(InfluxDB, config(InfluxDBConfig, { hostport: "influx:8086" })))
      expect(notUrl.key).toBe("influxdb.hostport")
      const noDb = yield* Effect.flip(startSingle(InfluxDB, config(InfluxDBConfig, { hostport: "http://i:8086", database: "" })))
      expect(noDb.key).toBe("influxdb.database")
      // v2 needs no database
      yield* startSingle(InfluxDB, config(InfluxDBConfig, { hostport: "http://i:8086", database: "", organization: "acme" }))
    }))

  it.scoped("v1: POST /write?db=falco&precision=ns with falcosidekick's headers and the line as body", () =>
    Effect.gen(function*() {
      const rx = yield* makeReceiver({ responses: [status(204)] })
      const output = yield* startSingle(InfluxDB, config(InfluxDBConfig, { hostport: rx.url }))
      expect(output.name).toBe("influxdb")
      yield* output.send(referenceEvent)
      yield* output.send(awkwardEvent)
      const [r, awkward] = yield* rx.waitFor(2)
      expect(r!.method).toBe("POST")
      expect(r!.path).toBe("/write?db=falco&precision=ns")
      expect(chosenHeaders(r!.headers)).toEqual({ ...jsonHeaders, accept: "application/json" })
      expect(r!.body).toBe(catalogLine)
      expect(awkward!.body).toBe(awkwardLine)
    }))

  it.scoped("v2: POST /api/v2/write?org=&bucket=&precision= with Authorization: Token; a token disables u/p", () =>
    Effect.gen(function*() {
      const rx = yield* makeReceiver({ responses: [status(204)] })
      const c = config(InfluxDBConfig, { hostport: rx.url, organization: "acme", bucket: "alerts", precision: "s", user: "alice", password, token })
      const output = yield* startSingle(InfluxDB, c)
      yield* output.send(referenceEvent)
      const [r] = yield* rx.waitFor(1)
      expect(r!.path).toBe("/api/v2/write?org=acme&bucket=alerts&precision=s")
      expect(chosenHeaders(r!.headers)).toEqual({ ...jsonHeaders, accept: "application/json", authorization: `Token ${token}` })
      expect(r!.body).toBe(catalogLine)
    }))

  it.scoped("user and password: u and p query parameters (escaped); no Authorization header", () =>
    Effect.gen(function*() {
      const rx = yield* makeReceiver({ responses: [status(204)] })
      const output = yield* startSingle(InfluxDB, config(InfluxDBConfig, { hostport: rx.url, database: "events db", user: "alice", password }))
      yield* output.send(referenceEvent)
      const [r] = yield* rx.waitFor(1)
      expect(r!.path).toBe("/write?db=events%20db&u=alice&p=pa%26ss%3Dw0rd%20secret&precision=ns")
      expect(r!.headers.authorization).toBeUndefined()
      expect(r!.body).toBe(catalogLine)
    }))

  it.scoped("secrets never reach an error message, even when the server echoes the request; 4xx permanent, 5xx retried", () =>
    Effect.gen(function*() {
      // a server (or proxy) that quotes the request line and headers in its answer
      const rx = yield* makeReceiver({
        responses: [
          (req) => status(401, `unauthorized: ${req.path} ${req.headers.authorization ?? ""}`),
          (req) => status(503, `try later: ${decodeURIComponent(req.path)}`)
        ]
      })
      const withPassword = yield* startSingle(InfluxDB, config(InfluxDBConfig, { hostport: rx.url, user: "alice", password }))
      const unauthorized = yield* Effect.flip(withPassword.send(referenceEvent))
      expect(unauthorized).toBeInstanceOf(OutputError)
      expect(unauthorized.status).toBe(401)
      expect(unauthorized.retryable).toBe(false)
      expect(unauthorized.message).toContain("<redacted>")
      const later = yield* Effect.flip(withPassword.send(referenceEvent))
      expect(later.status).toBe(503)
      expect(later.retryable).toBe(true)
      const withToken = yield* startSingle(InfluxDB, config(InfluxDBConfig, { hostport: rx.url, organization: "acme", token }))
      yield* rx.respondWith((req) => status(403, `forbidden: ${req.headers.authorization ?? ""}`))
      const forbidden = yield* Effect.flip(withToken.send(referenceEvent))
      expect(forbidden.status).toBe(403)
      // nothing listens on port 1: a Transport error, retried, naming only the origin
      const refused = yield* startSingle(InfluxDB, config(InfluxDBConfig, { hostport: "http://127.0.0.1:1", user: "alice", password }))
      const transport = yield* Effect.flip(refused.send(referenceEvent))
      expect(transport.reason).toBe("Transport")
      expect(transport.retryable).toBe(true)
      for (const error of [unauthorized, later, forbidden, transport]) {
        for (const secret of [password, encodeURIComponent(password), token]) expect(error.message).not.toContain(secret)
      }
    }))
})

// ---------------------------------------------------------------------------------------------------------------
// The real InfluxDB 1.6: one influxd for the file, authentication on
// ---------------------------------------------------------------------------------------------------------------

const influxdFound = spawnSync("influxd", ["version"], { stdio: "ignore" }).error === undefined
const inCI = (process.env.CI ?? "") !== ""
const realTitle = "real InfluxDB 1.6 (influxd)"

interface Influxd {
  readonly url: string
  /** GET /query as the admin; the parsed JSON answer */
  readonly query: (q: string) => Promise<unknown>
}

const admin = { user: "falco", password: "s3cret&pw" }

/** influxd on loopback with its meta, data and wal dirs in a temp dir, auth on, an admin and the `falco` database */
const startInfluxd: Effect.Effect<Influxd, never, Scope.Scope> = Effect.gen(function*() {
  const dir = yield* tempDir("sidekick-influxd-")
  const [httpPort, rpcPort] = yield* Effect.promise(() => freePorts(2))
  writeFileSync(
    join(dir, "influxdb.conf"),
    [
      "reporting-disabled = true",
      `bind-address = "127.0.0.1:${rpcPort}"`,
      "[meta]",
      `  dir = "${dir}/meta"`,
      "[data]",
      `  dir = "${dir}/data"`,
      `  wal-dir = "${dir}/wal"`,
      "  query-log-enabled = false",
      "[http]",
      `  bind-address = "127.0.0.1:${httpPort}"`,
      "  auth-enabled = true",
      "  log-enabled = false",
      "[logging]",
      "  level = \"error\"",
      "[monitor]",
      "  store-enabled = false",
      "[continuous_queries]",
      "  enabled = false",
      ""
    ].join("\n")
  )
  const { child, stderr } = yield* spawnScoped("influxd", ["run", "-config", join(dir, "influxdb.conf")])
  const url = `http://127.0.0.1:${httpPort}`
  // ready when /ping answers (polling the real clock; influxd takes well under a second)
  const deadline = Date.now() + 15_000
  for (;;) {
    const ready = yield* Effect.promise(() => fetch(`${url}/ping`).then((r) => r.status === 204, () => false))
    if (ready) break
    if (Date.now() > deadline || child.exitCode !== null) return yield* Effect.die(new Error(`influxd did not start on ${url}: ${stderr()}`))
    yield* Effect.sleep(Duration.millis(20))
  }
  const post = (q: string, auth: boolean) =>
    Effect.promise(() =>
      fetch(`${url}/query${auth ? `?${new URLSearchParams({ u: admin.user, p: admin.password })}` : ""}`, {
        method: "POST",
        body: new URLSearchParams({ q })
      }).then(async (r) => ({ status: r.status, body: await r.text() }))
    ).pipe(Effect.filterOrDie((a) => a.status === 200 && !a.body.includes("error"), (a) => new Error(`influxd: ${q}: ${a.status} ${a.body}`)))
  // with auth on and no user yet, influxd accepts exactly this unauthenticated statement
  yield* post(`CREATE USER "${admin.user}" WITH PASSWORD '${admin.password}' WITH ALL PRIVILEGES`, false)
  yield* post("CREATE DATABASE falco", true)
  const query = (q: string) =>
    fetch(`${url}/query?${new URLSearchParams({ db: "falco", u: admin.user, p: admin.password, q })}`).then((r) => r.json() as Promise<unknown>)
  return { url, query }
})

/** the rows of a SELECT as objects, null columns left out */
const rowsOf = (answer: unknown): Array<Record<string, unknown>> => {
  const series = (answer as { results: Array<{ series?: Array<{ columns: Array<string>; values: Array<Array<unknown>> }> }> }).results[0]!.series ?? []
  return series.flatMap((s) =>
    s.values.map((row) => Object.fromEntries(s.columns.map((c, i) => [c, row[i]] as const).filter(([c, v]) => c !== "time" && v !== null)))
  )
}

describe(realTitle, () => {
  if (!influxdFound && !inCI) {
    const why = "influxd is not on PATH (Debian: apt-get install influxdb); in CI (CI set) these tests fail instead"
    console.warn(`skipped: ${realTitle}: ${why}`)
    it.skip(`${realTitle} (skipped: ${why})`, () => {})
    return
  }
  if (!influxdFound) {
    it("influxd is installed (CI is set, so the real-peer tests must run): apt-get install influxdb", () => {
      expect(influxdFound).toBe(true)
    })
    return
  }

  const scope = Effect.runSync(Scope.make())
  let influxd: Influxd
  beforeAll(async () => {
    influxd = await Effect.runPromise(Scope.extend(startInfluxd, scope))
  })
  afterAll(() => Effect.runPromise(Scope.close(scope, Exit.void)))

  it.scoped("InfluxDB stores the reference event and an awkward one as sent: tags, value, the right types", () =>
    Effect.gen(function*() {
      const output = yield* startSingle(InfluxDB, config(InfluxDBConfig, { hostport: influxd.url, user: admin.user, password: admin.password }))
      yield* output.send(referenceEvent)
      yield* output.send(awkwardEvent)
      yield* output.send(eventWith({ priority: "Debug", rule: "Third", tags: [], hostname: "" }))
      const rows = rowsOf(yield* Effect.promise(() => influxd.query("SELECT * FROM events")))
      const byRule = Object.fromEntries(rows.map((r) => [r.rule as string, r]))
      expect(Object.keys(byRule).sort()).toEqual(["Terminal_shell_in_container", "Third", "Write_below_etc,_by=root"])
      expect(byRule["Terminal_shell_in_container"]).toEqual({
        rule: "Terminal_shell_in_container",
        priority: "Critical",
        source: "syscall",
        "container.id": "abc123",
        "k8s.ns.name": "default",
        "k8s.pod.name": "nginx-1",
        "proc.name": "bash",
        "user.name": "root",
        hostname: "node-1",
        tags: "T1059_container_mitre_execution_shell",
        value: O
      })
      expect(byRule["Write_below_etc,_by=root"]).toEqual({
        rule: "Write_below_etc,_by=root",
        priority: "Critical",
        source: "syscall",
        "fd name": "/tmp/a_b",
        "k=v": "x,y=z",
        path: "C:\\dir_",
        hostname: "node 1,rack=2",
        tags: "a b_c,d",
        value: `Wrote "/etc/x" \\ then\nmore`
      })
      expect(byRule["Third"]).toMatchObject({ priority: "Debug", value: O })
      expect(byRule["Third"]).not.toHaveProperty("tags")
      // every tag is a tag (InfluxDB tells tags from fields), value the one field
      const keys = rowsOf(yield* Effect.promise(() => influxd.query("SHOW TAG KEYS FROM events")))
      expect(keys.map((k) => k.tagKey)).toContain("rule")
      const fields = rowsOf(yield* Effect.promise(() => influxd.query("SHOW FIELD KEYS FROM events")))
      expect(fields).toEqual([{ fieldKey: "value", fieldType: "string" }])
    }))

  it.scoped("a wrong password: InfluxDB's 401, permanent, and the password is not in the message", () =>
    Effect.gen(function*() {
      const wrong = "not-the-password&x"
      const output = yield* startSingle(InfluxDB, config(InfluxDBConfig, { hostport: influxd.url, user: admin.user, password: wrong }))
      const error = yield* Effect.flip(output.send(referenceEvent))
      expect(error.reason).toBe("Status")
      expect(error.status).toBe(401)
      expect(error.retryable).toBe(false)
      expect(error.message).not.toContain(wrong)
      expect(error.message).not.toContain(encodeURIComponent(wrong))
    }))
})
