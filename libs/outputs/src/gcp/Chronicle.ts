/**
 * GCP Chronicle / Google SecOps (catalog §3.11): one `logs:import` per event, the event's JSON in base64,
 * with a bearer token from the shared GCP credentials (./Gcp.ts, scope cloud-platform). Success is any 2xx.
 *
 * Beyond falcosidekick, each on purpose:
 * - `collectionTime` is strictly after `logEntryTime` as sent (both at whole seconds): falcosidekick only
 *   compares the instants, so an event less than a second old gets both times equal once formatted;
 * - `gcp.chronicle.endpoint` (Sidekick's) replaces the regional host (a proxy, tests);
 * - the ids are checked only when the output is enabled (falcosidekick exits on a bad id even when it is
 *   off), and `logtype` may not be empty (falcosidekick would post to `logTypes//logs:import`);
 * - the attempt's timeout is `delivery.timeout` (falcosidekick: a fixed 30 s).
 */
import { Field } from "@sidekick/config"
import { statusError } from "@sidekick/delivery"
import { eventJson, type FalcoEvent, rfc3339NanoAt } from "@sidekick/event"
import { Clock, Effect } from "effect"
import { define } from "../Definition.js"
import { outputSection } from "../OutputConfig.js"
import { gcpAccessToken, GcpShared } from "./Gcp.js"
import { isHttpUrl } from "../Endpoint.js"

export const ChronicleConfig = outputSection("gcp.chronicle", {
  projectid: Field.string(),
  instanceid: Field.string(),
  region: Field.string(),
  logtype: Field.string("FALCO_IDS"),
  /** Sidekick's: the API's base URL ("" = https://chronicle.<region>.rep.googleapis.com) */
  endpoint: Field.string()
})
export type ChronicleConfig = typeof ChronicleConfig.Type

/** falcosidekick's rule for the values it puts in the URL */
export const chronicleIdPattern = /^[a-zA-Z0-9][a-zA-Z0-9_-]*$/

export const chronicleUrl = (c: ChronicleConfig): string => {
  const base = c.endpoint === "" ? `https://chronicle.${c.region}.rep.googleapis.com` : c.endpoint.replace(/\/+$/, "")
  return `${base}/v1beta/projects/${c.projectid}/locations/${c.region}/instances/${c.instanceid}/logTypes/${c.logtype}/logs:import`
}

const nanosPerSecond = 1_000_000_000n

/** whole seconds since the epoch, rounded down (also before 1970) */
const floorSeconds = (nanos: bigint): bigint => (nanos >= 0n ? nanos / nanosPerSecond : -((-nanos + nanosPerSecond - 1n) / nanosPerSecond))

/**
 * The request body (Go json.Marshal of maps: keys sorted). `logEntryTime` is the event time at whole
 * seconds at its own offset (Go `Format(time.RFC3339)`), `collectionTime` now in UTC, or one second after
 * the event when now is not after it.
 */
export const chronicleBody = (event: FalcoEvent, nowMillis: number): string => {
  const eventSeconds = floorSeconds(event.timeUnixNanos)
  const nowSeconds = BigInt(Math.floor(nowMillis / 1000))
  const logEntryTime = rfc3339NanoAt(eventSeconds * nanosPerSecond, event.time)
  const collectionTime = nowSeconds > eventSeconds
    ? rfc3339NanoAt(nowSeconds * nanosPerSecond, "Z")
    : rfc3339NanoAt((eventSeconds + 1n) * nanosPerSecond, event.time)
  const data = Buffer.from(eventJson(event), "utf8").toString("base64")
  return `{"inlineSource":{"logs":[{"collectionTime":"${collectionTime}","data":"${data}","logEntryTime":"${logEntryTime}"}]}}`
}


export const Chronicle = define({
  config: ChronicleConfig,
  displayName: "GCPChronicle",
  enabled: (c) => c.projectid !== "" && c.instanceid !== "" && c.region !== "",
  shared: GcpShared,
  make: (c, ctx, gcp) =>
    Effect.gen(function*() {
      for (const key of ["projectid", "instanceid", "region", "logtype"] as const) {
        if (!chronicleIdPattern.test(c[key])) {
          return yield* Effect.fail(
            ctx.initError(`gcp.chronicle.${key} must match ${chronicleIdPattern.source}, got ${JSON.stringify(c[key])}`, { key })
          )
        }
      }
      if (c.endpoint !== "" && !isHttpUrl(c.endpoint)) {
        return yield* Effect.fail(ctx.initError(`gcp.chronicle.endpoint must be an http(s) URL, got ${JSON.stringify(c.endpoint)}`, { key: "endpoint" }))
      }
      const url = chronicleUrl(c)
      const http = yield* ctx.http({ contentType: "application/json" })
      return {
        kind: "single",
        // the token request is not the transport's: the Dispatcher's timer ends the whole attempt
        enforcesTimeout: false,
        send: (event) =>
          Effect.gen(function*() {
            const token = yield* gcpAccessToken(ctx, gcp)
            const now = yield* Clock.currentTimeMillis
            const response = yield* http.exchange({ url, headers: { authorization: `Bearer ${token}` }, body: chronicleBody(event, now) })
            if (response.status < 200 || response.status > 299) return yield* Effect.fail(statusError(ctx.name, response, url))
          })
      }
    })
})
