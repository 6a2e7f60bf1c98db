/**
 * Opsgenie: an alert through the Alert API (falcosidekick's `opsgenie` output: POST `/v2/alerts` on the
 * region's host with `Authorization: GenieKey <apikey>`; the output line as message, the rule as
 * description, the string fields and the event's attributes as details, P1-P5 from the Falco priority).
 * Extension: `opsgenie.url` replaces the alerts endpoint (a proxy, a test double).
 */
import { Field } from "@sidekick/config"
import { type FalcoEvent, goJson, omitEmpty, type Priority, sortKeys, stringOutputFields } from "@sidekick/event"
import { Effect, Redacted } from "effect"
import { define } from "./Definition.js"
import { httpFields, outputSection } from "./OutputConfig.js"

export const opsgenieUrls = {
  us: "https://api.opsgenie.com/v2/alerts",
  eu: "https://api.eu.opsgenie.com/v2/alerts"
} as const

export const OpsgenieConfig = outputSection("opsgenie", {
  apikey: Field.secret(),
  region: Field.literal(["us", "eu"] as const, "us", { caseInsensitive: true }),
  url: Field.string(""),
  ...httpFields()
})
export type OpsgenieConfig = typeof OpsgenieConfig.Type

/** Opsgenie `priority` per Falco priority (falcosidekick's mapping) */
export const opsgeniePriority: Readonly<Record<Priority, string>> = {
  Emergency: "P1",
  Alert: "P1",
  Critical: "P2",
  Error: "P3",
  Warning: "P4",
  Notice: "P5",
  Informational: "P5",
  Debug: "P5"
}

/** string output fields with `.` turned into `_`, then source, rule, priority, hostname and tags (these win); a Go map */
export const opsgenieDetails = (event: FalcoEvent): Record<string, string> => {
  const details: Record<string, string> = {}
  for (const [key, value] of stringOutputFields(event)) details[key.replaceAll(".", "_")] = value
  details["source"] = event.source
  details["rule"] = event.rule
  details["priority"] = event.priority
  if (event.hostname !== "") details["hostname"] = event.hostname
  if (event.tags.length > 0) details["tags"] = event.tags.join(", ")
  return sortKeys(details)
}


/** falcosidekick's opsgeniePayload: `message,entity?,description?,details?,priority?` */
export const opsgeniePayload = (event: FalcoEvent): object => ({
  message: event.output,
  entity: "Falcosidekick",
  description: omitEmpty(event.rule),
  details: opsgenieDetails(event),
  priority: opsgeniePriority[event.priority]
})

/** the request body: Go json.Encoder output of opsgeniePayload */
export const opsgenieBody = (event: FalcoEvent): string => goJson(opsgeniePayload(event)) + "\n"

/** `opsgenie.url` when set, else the region's alerts endpoint */
export const opsgenieUrl = (c: Pick<OpsgenieConfig, "region" | "url">): string => (c.url !== "" ? c.url : opsgenieUrls[c.region])

export const Opsgenie = define({
  config: OpsgenieConfig,
  displayName: "Opsgenie",
  enabled: (c) => Redacted.value(c.apikey) !== "",
  make: (c, ctx) =>
    Effect.map(ctx.http(), (http) => {
      const url = opsgenieUrl(c)
      const headers = { Authorization: `GenieKey ${Redacted.value(c.apikey)}` }
      return {
        kind: "single",
        // Opsgenie answers 202; the transport's other successes (200, 201, 204) are accepted as falcosidekick does
        send: (event) => http.send({ url, headers, body: opsgenieBody(event) }).pipe(Effect.asVoid)
      }
    })
})
