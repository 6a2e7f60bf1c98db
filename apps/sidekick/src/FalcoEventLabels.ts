/**
 * The labels of falcosecurity_falcosidekick_falco_events_total, falcosidekick's "Prometheus output":
 * its seven fixed labels, then one per customfield, templatedfield and prometheus.extralabels entry.
 */
import { type FalcoEvent, rank } from "@sidekick/event"
import { fixedFalcoEventLabels } from "@sidekick/telemetry"
import { Data, Either } from "effect"

export class LabelConfigError extends Data.TaggedError("LabelConfigError")<{ readonly message: string }> {}

const validLabel = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/

export interface FalcoEventLabels {
  /** extra label names, in order, after the fixed ones */
  readonly names: ReadonlyArray<string>
  /** label values for an event, fixed ones first */
  readonly values: (event: FalcoEvent) => ReadonlyArray<string>
  /** label names falcosidekick would have skipped with an error log; we skip them with a warning */
  readonly skipped: ReadonlyArray<string>
}

const stringField = (event: FalcoEvent, key: string): string => {
  const v = event.output_fields[key]
  return typeof v === "string" ? v : ""
}

/**
 * A label name that collides with another one made falcosidekick panic at start-up; we refuse to start
 * with an error naming the keys instead.
 */
export const makeFalcoEventLabels = (options: {
  readonly customFields: ReadonlyArray<readonly [string, string]>
  readonly templatedFields: ReadonlyArray<string>
  readonly extraLabels: ReadonlyArray<string>
}): Either.Either<FalcoEventLabels, LabelConfigError> => {
  const taken = new Map<string, string>(fixedFalcoEventLabels.map((l) => [l, `the fixed label ${l}`]))
  const names: Array<string> = []
  const readers: Array<(event: FalcoEvent) => string> = []
  const skipped: Array<string> = []
  const add = (origin: string, key: string, read: (event: FalcoEvent) => string) => {
    const name = key.replace(/\./g, "_")
    if (!validLabel.test(name)) {
      skipped.push(`${origin} "${key}"`)
      return undefined
    }
    const clash = taken.get(name)
    if (clash !== undefined) {
      return new LabelConfigError({
        message: `${origin} "${key}" becomes the Prometheus label "${name}", which is already ${clash}; rename one of them`
      })
    }
    taken.set(name, `${origin} "${key}"`)
    names.push(name)
    readers.push(read)
    return undefined
  }
  for (const [key, value] of options.customFields) {
    const error = add("customfields key", key, () => value)
    if (error) return Either.left(error)
  }
  for (const key of options.templatedFields) {
    const error = add("templatedfields key", key, (e) => stringField(e, key))
    if (error) return Either.left(error)
  }
  for (const key of options.extraLabels) {
    if (key === "") continue
    const error = add("prometheus.extralabels entry", key, (e) => stringField(e, key))
    if (error) return Either.left(error)
  }
  return Either.right({
    names,
    skipped,
    values: (event) => {
      const values = [
        event.hostname === "" ? "unknown" : event.hostname,
        event.rule,
        String(rank(event.priority)),
        event.priority.toLowerCase(),
        event.source,
        stringField(event, "k8s.ns.name"),
        stringField(event, "k8s.pod.name")
      ]
      for (const read of readers) values.push(read(event))
      return values
    }
  })
}
