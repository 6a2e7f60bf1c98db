/**
 * Spyderbat: one `falco_alert::1.0.0` record per event, gzipped NDJSON, POSTed to the source's `sb-agent` data
 * endpoint (falcosidekick's `spyderbat` output). At start-up the source `falcosidekick_<orguid>` is looked up in
 * the organization's sources and registered when absent.
 *
 * A record needs the event's `evt.time` and `proc.pid` output fields as integers (Falco sends them when the rule's
 * output prints `%evt.time` and `%proc.pid`); an event without them can never be sent and fails for good.
 * Registering the source follows Quickwit's `startupStep`: a passing failure lets the output start and is tried
 * again before each delivery; a refusal (bad API key, unknown organization) refuses start-up.
 */
import { Field } from "@sidekick/config"
import { type OutputError, type OutputHttpClient, statusError } from "@sidekick/delivery"
import { type FalcoEvent, goJson, isLosslessNumber, type Priority } from "@sidekick/event"
import { Clock, Effect, Either, Redacted } from "effect"
import { randomUUID } from "node:crypto"
import { define, type OutputContext } from "./Definition.js"
import { outputSection } from "./OutputConfig.js"
import { startupStep, startupTimeout } from "./StartupStep.js"

export const SpyderbatConfig = outputSection("spyderbat", {
  orguid: Field.string(),
  apikey: Field.secret(),
  apiurl: Field.string("https://api.spyderbat.com"),
  source: Field.string("falcosidekick"),
  sourcedescription: Field.string("")
  // falcosidekick's client: always checkcert, no mutualtls, one request at a time (the defaults `define` applies)
})
export type SpyderbatConfig = typeof SpyderbatConfig.Type

/** the source falcosidekick registers for an organization */
export const spyderbatSourceUid = (orguid: string): string => `falcosidekick_${orguid}`

/** `{apiurl}/api/v1/org/{orguid}/source/`: the sources list (GET) and registration (POST) */
export const spyderbatSourcesUrl = (apiurl: string, orguid: string): string => `${apiurl.replace(/\/+$/, "")}/api/v1/org/${orguid}/source/`

/** `{apiurl}/api/v1/org/{orguid}/source/falcosidekick_{orguid}/data/sb-agent` */
export const spyderbatDataUrl = (apiurl: string, orguid: string): string =>
  `${spyderbatSourcesUrl(apiurl, orguid)}${spyderbatSourceUid(orguid)}/data/sb-agent`

/** falcosidekick's PriorityMap */
export const spyderbatLevels: Record<Priority, string> = {
  Emergency: "critical",
  Alert: "high",
  Critical: "critical",
  Error: "high",
  Warning: "medium",
  Notice: "low",
  Informational: "info",
  Debug: "info"
}

const int64Min = -(2n ** 63n)
const int64Max = 2n ** 63n - 1n

/**
 * An output field as Go's `json.Number.Int64()` reads it: an integer literal within int64, else undefined. The
 * literal is read as a BigInt, never through a JS number: `evt.time` has 19 digits.
 */
export const int64Field = (value: unknown): bigint | undefined => {
  const literal = typeof value === "number" ? goJson(value) : isLosslessNumber(value) ? String((value as { value: unknown }).value) : undefined
  if (literal === undefined || !/^-?[0-9]+$/.test(literal)) return undefined
  const n = BigInt(literal)
  return n < int64Min || n > int64Max ? undefined : n
}

/** the send-time clock readings a record carries */
export interface SpyderbatClock {
  /** Unix time in nanoseconds */
  readonly nowNanos: bigint
}

/**
 * The record for an event: falcosidekick's spyderbatPayload, members in its struct order. Left with the reason when
 * `evt.time` or `proc.pid` is missing or not an integer.
 *
 * - `monotonic_time`: the nanosecond within the current second (Go `time.Now().Nanosecond()`)
 * - `orc_time`: the current Unix time in seconds, as a float64 (`float64(UnixNano) / 1e9`)
 * - `time`: `evt.time` (ns) integer-divided by 1e9, computed on the int64 (a bigint, written as its digits)
 * - `pid`: `proc.pid` as an int32 (Go's conversion wraps)
 * - `msg`: the words of `output` after the first two (its time and priority), null when there are none
 */
export const spyderbatRecord = (event: FalcoEvent, clock: SpyderbatClock, id: string): Either.Either<object, string> => {
  const evtTime = int64Field(event.output_fields["evt.time"])
  if (evtTime === undefined) return Either.left(missingInteger(event, "evt.time", "(Unix nanoseconds) "))
  const pid = int64Field(event.output_fields["proc.pid"])
  if (pid === undefined) return Either.left(missingInteger(event, "proc.pid", ""))
  const words = event.output.split(" ")
  const args = event.output_fields["proc.cmdline"]
  const container = event.output_fields["container.id"]
  return Either.right({
    schema: "falco_alert::1.0.0",
    id,
    monotonic_time: Number(clock.nowNanos % 1_000_000_000n),
    orc_time: Number(clock.nowNanos) / 1e9,
    time: evtTime / 1_000_000_000n,
    pid: Number(BigInt.asIntN(32, pid)),
    level: spyderbatLevels[event.priority],
    msg: words.length > 2 ? words.slice(2) : null,
    args: typeof args === "string" ? args : "",
    container: typeof container === "string" ? container : ""
  })
}

const missingInteger = (event: FalcoEvent, field: string, unit: string): string => {
  const value = event.output_fields[field]
  const found = value === undefined ? "missing" : typeof value === "string" ? `the text ${JSON.stringify(value)}` : goJson(value)
  return `the output field ${field} must be an integer ${unit}for rule ${JSON.stringify(event.rule)}; it is ${found}`
}

/** the request body before gzip: Go json.Encoder output of the record */
export const spyderbatBody = (record: object): string => goJson(record) + "\n"

/** whether the sources list holds the source: Left when the answer is not a JSON list */
export const spyderbatHasSource = (responseBody: string, uid: string): Either.Either<boolean, string> => {
  let parsed: unknown
  try {
    parsed = JSON.parse(responseBody)
  } catch {
    return Either.left("the sources list is not JSON")
  }
  if (!Array.isArray(parsed)) return Either.left("the sources list is not a JSON list")
  return Either.right(parsed.some((s) => typeof s === "object" && s !== null && (s as { uid?: unknown }).uid === uid))
}

/** the source registration body: falcosidekick's SourceBody `name,description,uid` (json.Encoder) */
export const spyderbatSourceBody = (c: Pick<SpyderbatConfig, "source" | "sourcedescription" | "orguid">): string =>
  goJson({ name: c.source, description: c.sourcedescription, uid: spyderbatSourceUid(c.orguid) }) + "\n"

/** look the source up; register it when absent (and when registering fails, look again: another replica may have won) */
const ensureSource = (ctx: OutputContext, http: OutputHttpClient, c: SpyderbatConfig, headers: Record<string, string>) => {
  const url = spyderbatSourcesUrl(c.apiurl, c.orguid)
  const uid = spyderbatSourceUid(c.orguid)
  const present: Effect.Effect<boolean, OutputError> = Effect.flatMap(http.exchange({ method: "GET", url, headers }), (response) => {
    // falcosidekick wants exactly 200 for the list
    if (response.status !== 200) return Effect.fail(statusError(ctx.name, response, url))
    return Either.match(spyderbatHasSource(response.body, uid), {
      onLeft: (why) => Effect.fail(ctx.error("Rejected", `${why}: is ${c.apiurl} the Spyderbat API?`)),
      onRight: Effect.succeed
    })
  })
  const register = Effect.flatMap(
    http.exchange({ url, headers: { ...headers, "Content-Type": "application/json" }, body: spyderbatSourceBody(c) }),
    (response) => (response.status === 200 ? Effect.void : Effect.fail(statusError(ctx.name, response, url)))
  )
  return Effect.gen(function*() {
    if (yield* present) return
    const registered = yield* Effect.either(register)
    if (Either.isRight(registered)) return
    if (yield* Effect.orElseSucceed(present, () => false)) return
    return yield* Effect.fail(registered.left)
  })
}

/** the key a start-up refusal names: a refused credential is the API key's fault, anything else the organization's or the URL's */
const refusedKey = (error: OutputError): string =>
  error.status === 401 || error.status === 403 ? "apikey" : error.reason === "Rejected" ? "apiurl" : "orguid"

export const Spyderbat = define({
  config: SpyderbatConfig,
  displayName: "Spyderbat",
  enabled: (c) => c.orguid !== "",
  make: (c, ctx) =>
    Effect.gen(function*() {
      if ([...c.source].length > 32) {
        return yield* Effect.fail(ctx.initError("spyderbat.source is longer than Spyderbat's 32 characters", { key: "source" }))
      }
      if ([...c.sourcedescription].length > 256) {
        return yield* Effect.fail(
          ctx.initError("spyderbat.sourcedescription is longer than Spyderbat's 256 characters", { key: "sourcedescription" })
        )
      }
      const http = yield* ctx.http({ contentType: "application/ndjson" })
      const headers = { Authorization: `Bearer ${Redacted.value(c.apikey)}` }
      const sourceReady = yield* startupStep(ctx, {
        what: `registering the Spyderbat source ${spyderbatSourceUid(c.orguid)}`,
        run: ensureSource(ctx, http, c, headers),
        refuse: (e) =>
          ctx.initError(`cannot register the Spyderbat source ${spyderbatSourceUid(c.orguid)}: ${e.message}`, { key: refusedKey(e), cause: e }),
        timeout: startupTimeout(c)
      })
      const url = spyderbatDataUrl(c.apiurl, c.orguid)
      return {
        kind: "single",
        send: (event) =>
          Effect.gen(function*() {
            const nowNanos = yield* Clock.currentTimeNanos
            const record = spyderbatRecord(event, { nowNanos }, randomUUID())
            if (Either.isLeft(record)) return yield* Effect.fail(ctx.error("Encode", `cannot make a Spyderbat record: ${record.left}`))
            yield* sourceReady
            yield* http.send({ url, headers, gzip: true, body: spyderbatBody(record.right) })
          })
      }
    })
})
