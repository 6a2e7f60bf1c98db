/**
 * InfluxDB: one line of line protocol per event (falcosidekick's `influxdb` output), POSTed to the v1
 * `/write?db=` endpoint, or to the v2 `/api/v2/write?org=&bucket=` endpoint when `organization` is set.
 * Measurement `events`; tags rule, priority, source, the string output fields, hostname and the tags
 * joined with `_`; one string field `value`, the output. No timestamp: the server stamps the point.
 *
 * Differences from falcosidekick, each on purpose (none changes the line of an ordinary event, such as the
 * reference event, by a byte):
 * - falcosidekick escapes nothing, so a comma, `=` or space in a tag, or a quote in the output, breaks the
 *   line and InfluxDB refuses the point; here tag keys and values escape `,` `=` and space, and the `value`
 *   string escapes `"` and `\` (the line-protocol rules). falcosidekick's spaces → `_` in the rule and in
 *   output-field values is kept, so those lines stay byte-identical.
 * - falcosidekick lists the output fields in Go's random map order; here they are sorted bytewise, so the
 *   same event always makes the same line.
 * - what InfluxDB would refuse outright is left out instead of failing every attempt: an empty tag key or
 *   value, an output field whose key repeats one of the event's own tags (rule, priority, source, hostname,
 *   tags) or is `time` (duplicate and `time` tag keys are refused with a 400).
 * - a line break in a tag key or value, and a backslash that ends one or precedes an escaped character,
 *   become `_`: line protocol cannot carry them (InfluxDB 1.x refuses `\\,` and a trailing `\`).
 * - query values are URL-escaped (falcosidekick pastes them raw, so a `&` in a password broke the URL),
 *   a trailing `/` of hostport is dropped, and an empty `database` without `organization` refuses start-up
 *   (falcosidekick would post to a URL without a path).
 */
import { Field } from "@sidekick/config"
import { compareBytewise, type FalcoEvent } from "@sidekick/event"
import { Effect, Redacted } from "effect"
import { define } from "./Definition.js"
import { requireHttpUrl, scrubSecrets } from "./Endpoint.js"
import { httpFields, outputSection } from "./OutputConfig.js"

export const InfluxDBConfig = outputSection("influxdb", {
  hostport: Field.string(),
  database: Field.string("falco"),
  organization: Field.string(""),
  bucket: Field.string("falco"),
  precision: Field.string("ns"),
  user: Field.string(""),
  password: Field.secret(),
  token: Field.secret(),
  ...httpFields()
})
export type InfluxDBConfig = typeof InfluxDBConfig.Type

/** the event's own tags: an output field of the same name would repeat a tag key, which InfluxDB refuses */
const ownTagKeys: ReadonlySet<string> = new Set(["rule", "priority", "source", "hostname", "tags", "time"])

/** `,` `=` and space take a backslash; a line break, or a backslash InfluxDB would read as escaping what follows, becomes `_` */
export const escapeTag = (text: string): string =>
  text.replace(/\r\n|[\r\n]/g, "_").replace(/\\+(?=[,= ]|$)/g, (run) => "_".repeat(run.length)).replace(/[,= ]/g, "\\$&")

/** a string field value, quoted: `"` and `\` take a backslash */
export const quoteFieldString = (text: string): string => `"${text.replace(/["\\]/g, "\\$&")}"`

/** falcosidekick's spaces → `_` in the rule and output-field values */
const underscoreSpaces = (text: string): string => text.replaceAll(" ", "_")

/**
 * The line for an event, no trailing newline:
 * `events,rule=<rule>,priority=<priority>,source=<source>[,<field>=<value>...][,hostname=<h>][,tags=<a_b>] value="<output>"`
 */
export const influxdbLine = (event: FalcoEvent): string => {
  const tags: Array<readonly [string, string]> = [
    ["rule", underscoreSpaces(event.rule)],
    ["priority", event.priority],
    ["source", event.source]
  ]
  for (const key of Object.keys(event.output_fields).sort(compareBytewise)) {
    const value = event.output_fields[key]
    // falcosidekick tags string fields only (numbers, booleans and null are left out)
    if (typeof value === "string" && !ownTagKeys.has(key)) tags.push([key, underscoreSpaces(value)])
  }
  if (event.hostname !== "") tags.push(["hostname", event.hostname])
  if (event.tags.length > 0) tags.push(["tags", event.tags.join("_")])
  let line = "events"
  const seen = new Set<string>()
  for (const [key, value] of tags) {
    const k = escapeTag(key)
    if (k === "" || value === "" || seen.has(k)) continue
    seen.add(k)
    line += `,${k}=${escapeTag(value)}`
  }
  return `${line} value=${quoteFieldString(event.output)}`
}

export interface InfluxDBTarget {
  readonly url: string
  readonly headers: Readonly<Record<string, string>>
}

/**
 * falcosidekick's URL and headers: v2 when `organization` and `bucket` are set, else v1; `u` and `p` when
 * user and password are set and no token; `precision` when set. `Accept: application/json` always, and
 * `Authorization: Token <token>` with a token (v1 and v2 alike).
 */
export const influxdbTarget = (c: Pick<InfluxDBConfig, "hostport" | "database" | "organization" | "bucket" | "precision" | "user" | "password" | "token">): InfluxDBTarget => {
  const q = encodeURIComponent
  const password = Redacted.value(c.password)
  const token = Redacted.value(c.token)
  const base = c.hostport.replace(/\/+$/, "")
  let url = c.organization !== "" && c.bucket !== ""
    ? `${base}/api/v2/write?org=${q(c.organization)}&bucket=${q(c.bucket)}`
    : `${base}/write?db=${q(c.database)}`
  if (c.user !== "" && password !== "" && token === "") url += `&u=${q(c.user)}&p=${q(password)}`
  if (c.precision !== "") url += `&precision=${q(c.precision)}`
  return { url, headers: token === "" ? { Accept: "application/json" } : { Accept: "application/json", Authorization: `Token ${token}` } }
}

export const InfluxDB = define({
  config: InfluxDBConfig,
  displayName: "Influxdb",
  enabled: (c) => c.hostport !== "",
  make: (c, ctx) =>
    Effect.gen(function*() {
      yield* requireHttpUrl(ctx, "hostport", c.hostport)
      if ((c.organization === "" || c.bucket === "") && c.database === "") {
        return yield* Effect.fail(ctx.initError("influxdb.database is empty and organization/bucket are not both set: no endpoint to write to", { key: "database" }))
      }
      const http = yield* ctx.http()
      const { headers, url } = influxdbTarget(c)
      const scrub = scrubSecrets([Redacted.value(c.password), Redacted.value(c.token)])
      return {
        kind: "single",
        send: (event) => http.send({ url, headers, body: influxdbLine(event) }).pipe(Effect.asVoid, Effect.mapError(scrub))
      }
    })
})
