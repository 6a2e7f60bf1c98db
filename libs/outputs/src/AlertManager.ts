/**
 * Alertmanager: one alert per event (`POST <host><endpoint>`, a JSON list of one alert with labels,
 * annotations and severity, as falcosidekick's `alertmanager` output sends it), to every configured host:
 * an HA pair each get it.
 */
import { Field } from "@sidekick/config"
import { originOf } from "@sidekick/delivery"
import { type FalcoEvent, goJson, parsePriority, type Priority, rank, rfc3339NanoAt, sortKeys } from "@sidekick/event"
import { Effect, Either } from "effect"
import { define } from "./Definition.js"
import { httpFields, outputSection } from "./OutputConfig.js"

export const AlertManagerConfig = outputSection("alertmanager", {
  hostport: Field.list([]),
  endpoint: Field.string("/api/v2/alerts"),
  expiresafter: Field.int(0, { min: 0 }),
  extralabels: Field.map({ env: "cut" }),
  extraannotations: Field.map({ env: "cut" }),
  customseveritymap: Field.map({ env: "cut" }),
  dropeventdefaultpriority: Field.string("critical"),
  dropeventthresholds: Field.string("10000:critical, 1000:critical, 100:critical, 10:warning, 1:warning"),
  customheaders: Field.secretMap({ env: "pairs" }),
  ...httpFields()
})
export type AlertManagerConfig = typeof AlertManagerConfig.Type

/** falcosidekick's default Falco priority -> Alertmanager severity */
export const defaultSeverityMap: Readonly<Record<Priority, string>> = {
  Debug: "information",
  Informational: "information",
  Notice: "information",
  Warning: "warning",
  Error: "warning",
  Critical: "critical",
  Alert: "critical",
  Emergency: "critical"
}

export interface DropThreshold {
  readonly value: bigint
  readonly priority: Priority
}

/** The options the payload builder needs, parsed once at start-up. */
export interface AlertManagerPayloadOptions {
  /** sorted by value, descending */
  readonly thresholds: ReadonlyArray<DropThreshold>
  /** undefined: an unknown dropeventdefaultpriority never raises the priority (falcosidekick) */
  readonly dropEventDefaultPriority: Priority | undefined
  readonly severityMap: Readonly<Partial<Record<Priority, string>>>
  readonly expiresAfterSeconds: number
  readonly extraLabels: Readonly<Record<string, string>>
  readonly extraAnnotations: Readonly<Record<string, string>>
}

/** "10000:critical, 1000:critical, ..." -> thresholds sorted descending; Left(reason) names the bad entry */
export const parseDropThresholds = (raw: string): Either.Either<ReadonlyArray<DropThreshold>, string> => {
  const compact = raw.replaceAll(" ", "")
  if (compact === "") return Either.right([])
  const out: Array<DropThreshold> = []
  for (const entry of compact.split(",")) {
    const cut = entry.indexOf(":")
    if (cut < 0) return Either.left(`threshold "${entry}" has no priority (expected value:priority)`)
    const valueText = entry.slice(0, cut).trim()
    if (!/^[+-]?\d+$/.test(valueText)) return Either.left(`threshold "${entry}": "${valueText}" is not an integer`)
    const priority = parsePriority(entry.slice(cut + 1).trim())
    if (priority === undefined) return Either.left(`threshold "${entry}": "${entry.slice(cut + 1)}" is not a Falco priority`)
    out.push({ value: BigInt(valueText), priority })
  }
  return Either.right(out.sort((a, b) => (a.value > b.value ? -1 : a.value < b.value ? 1 : 0)))
}

const labelNamePattern = /^[a-zA-Z_][a-zA-Z0-9_]*$/

/** non [a-zA-Z0-9_] -> "_", "__" -> "_", leading/trailing "_" trimmed (k8s.ns.name -> k8s_ns_name) */
export const safeLabel = (name: string): string =>
  name.replace(/[^a-zA-Z0-9_]/g, "_").replaceAll("__", "_").replace(/_+$/, "").replace(/^_+/, "")

const maxPriority = (a: Priority, b: Priority): Priority => (rank(b) > rank(a) ? b : a)

const numberText = (value: unknown): string | undefined => {
  if (typeof value === "number") return Number.isFinite(value) ? goJson(value) : undefined
  if (typeof value === "object" && value !== null && (value as { isLosslessNumber?: unknown }).isLosslessNumber === true) {
    return String((value as { value: unknown }).value)
  }
  return undefined
}

/** Go's zero time.Time, which falcosidekick still serialises as endsAt when expiresafter is 0 */
export const goZeroTime = "0001-01-01T00:00:00Z"

/** falcosidekick's alert list (one alert) for an event */
export const alertManagerPayload = (event: FalcoEvent, o: AlertManagerPayloadOptions): object => {
  const labels: Record<string, string> = {}
  let priority: Priority = event.priority
  for (const key of Object.keys(event.output_fields).sort()) {
    const value = event.output_fields[key]
    if (key.startsWith("n_evts")) continue
    if (key.startsWith("n_drop")) {
      const text = typeof value === "string" ? value : numberText(value)
      if (text === undefined || !/^[+-]?\d+$/.test(text)) continue
      const count = BigInt(text)
      let label = ""
      if (count === 0n) {
        priority = maxPriority(priority, "Warning")
        label = "0"
      } else {
        for (const threshold of o.thresholds) {
          if (count > threshold.value) {
            label = `>${threshold.value}`
            priority = maxPriority(priority, threshold.priority)
            break
          }
        }
      }
      if (label === "") {
        label = text
        if (o.dropEventDefaultPriority !== undefined) priority = maxPriority(priority, o.dropEventDefaultPriority)
      }
      labels[key] = label
      continue
    }
    const text = typeof value === "string" ? value : numberText(value)
    if (text === undefined) continue
    labels[safeLabel(key)] = text
  }
  labels["source"] = "falco"
  labels["rule"] = event.rule
  labels["alertname"] = event.rule
  labels["eventsource"] = event.source
  if (event.hostname !== "") labels["hostname"] = event.hostname
  if (event.tags.length > 0) labels["tags"] = event.tags.join(",") // already sorted bytewise at ingest
  labels["priority"] = priority
  labels["severity"] = o.severityMap[priority] ?? defaultSeverityMap[priority]
  for (const [k, v] of Object.entries(o.extraLabels)) labels[k] = v

  const annotations: Record<string, string> = {
    info: event.output,
    description: event.output,
    summary: event.rule
  }
  for (const [k, v] of Object.entries(o.extraAnnotations)) annotations[k] = v

  const endsAt = o.expiresAfterSeconds !== 0
    ? rfc3339NanoAt(event.timeUnixNanos + BigInt(o.expiresAfterSeconds) * 1_000_000_000n, event.time)
    : goZeroTime
  return [{ labels: sortKeys(labels), annotations: sortKeys(annotations), endsAt }]
}

/** the request body (Go json.Encoder: trailing newline) */
export const alertManagerBody = (event: FalcoEvent, o: AlertManagerPayloadOptions): string =>
  goJson(alertManagerPayload(event, o)) + "\n"

/** Parse the start-up options; Left names the offending key. */
export const alertManagerOptions = (
  c: AlertManagerConfig
): Either.Either<AlertManagerPayloadOptions, { readonly key: string; readonly message: string }> => {
  const thresholds = parseDropThresholds(c.dropeventthresholds)
  if (Either.isLeft(thresholds)) {
    return Either.left({ key: "dropeventthresholds", message: `invalid alertmanager.dropeventthresholds: ${thresholds.left}` })
  }
  const severityMap: Partial<Record<Priority, string>> = {}
  for (const [k, v] of Object.entries(c.customseveritymap)) {
    const p = parsePriority(k.trim())
    if (p === undefined) {
      return Either.left({ key: "customseveritymap", message: `invalid alertmanager.customseveritymap: "${k}" is not a Falco priority` })
    }
    severityMap[p] = v.trim()
  }
  for (const [key, name] of [["alertmanager.extralabels", c.extralabels], ["alertmanager.extraannotations", c.extraannotations]] as const) {
    for (const label of Object.keys(name)) {
      if (!labelNamePattern.test(label)) {
        return Either.left({ key, message: `invalid ${key}: "${label}" must match ${labelNamePattern.source}` })
      }
    }
  }
  return Either.right({
    thresholds: thresholds.right,
    dropEventDefaultPriority: parsePriority(c.dropeventdefaultpriority.trim()),
    severityMap,
    expiresAfterSeconds: c.expiresafter,
    extraLabels: c.extralabels,
    extraAnnotations: c.extraannotations
  })
}

const hostsOf = (c: AlertManagerConfig): ReadonlyArray<string> =>
  c.hostport.flatMap((h) => h.split(",")).map((h) => h.trim()).filter((h) => h !== "")

export const AlertManager = define({
  config: AlertManagerConfig,
  displayName: "AlertManager",
  enabled: (c) => hostsOf(c).length > 0,
  make: (c, ctx) =>
    Effect.gen(function*() {
      const parsed = alertManagerOptions(c)
      if (Either.isLeft(parsed)) return yield* Effect.fail(ctx.initError(parsed.left.message, { key: parsed.left.key }))
      const options = parsed.right
      const http = yield* ctx.http({ customHeaders: c.customheaders })
      const hosts = hostsOf(c)
      return {
        kind: "single",
        // Every host gets the alert; a retry re-sends to all of them, which Alertmanager deduplicates.
        send: (event) => {
          const body = alertManagerBody(event, options)
          return Effect.forEach(
            hosts,
            (host) => Effect.either(http.send({ url: host + c.endpoint, body })),
            { concurrency: "unbounded" }
          ).pipe(
            Effect.flatMap((results) => {
              const failures = results.flatMap((r, i) => (Either.isLeft(r) ? [{ host: hosts[i]!, error: r.left }] : []))
              if (failures.length === 0) return Effect.void
              // the retryable failure if any, so a transient one on one host gets the alert retried
              const first = (failures.find((f) => f.error.retryable) ?? failures[0]!).error
              const message = `${failures.length} of ${hosts.length} host(s) failed: ` +
                failures.map((f) => `${originOf(f.host)}: ${f.error.message}`).join("; ")
              return Effect.fail(ctx.error(first.reason, message, {
                ...(first.status === undefined ? {} : { status: first.status }),
                ...(first.retryAfter === undefined ? {} : { retryAfter: first.retryAfter }),
                cause: first
              }))
            })
          )
        }
      }
    })
})
