import { Data } from "effect"

/** Shown instead of the value of a secret field, everywhere. */
export const REDACTED = "<redacted>"

/**
 * A configuration value that cannot be used. One line, naming the key, its env var, where the value
 * came from, the value (or `<redacted>` for secrets) and what was expected:
 *
 *   invalid config: slack.outputformat (SLACK_OUTPUTFORMAT from env) = "bogus": expected one of all, text, fields
 *   invalid config: listenport (from file /etc/sidekick.yaml; env LISTENPORT) = "70000": expected an integer from 1 to 65535
 */
export class ConfigError extends Data.TaggedError("ConfigError")<{
  /** dotted lower-case key: "slack.outputformat" */
  readonly key: string
  /** the env var that sets this key: "SLACK_OUTPUTFORMAT" ("" for a structural problem in the file) */
  readonly envVar: string
  readonly origin: "file" | "env"
  /** the offending value as text, already redacted when the field is secret */
  readonly value: string
  /** what would have been accepted */
  readonly expected: string
  /** the config file the value came from, when origin is "file" */
  readonly file?: string
}> {
  override get message(): string {
    const where =
      this.origin === "env"
        ? `${this.envVar} from env`
        : [this.file === undefined ? "from file" : `from file ${this.file}`, ...(this.envVar === "" ? [] : [`env ${this.envVar}`])].join(
            "; "
          )
    const shown = this.value === REDACTED ? REDACTED : JSON.stringify(this.value)
    return `invalid config: ${this.key} (${where}) = ${shown}: expected ${this.expected}`
  }
}

/** The command line or the config file could not be used at all (unknown flag, missing file, broken YAML). */
export class ConfigLoadError extends Data.TaggedError("ConfigLoadError")<{
  readonly message: string
  /** the config file concerned, if any */
  readonly file?: string
}> {}

const MAX_SHOWN = 200

/** A raw value as one line of text for an error message (YAML scalars as written, structures as compact JSON). */
export const showRaw = (value: unknown): string => {
  let text: string
  if (typeof value === "string") text = value
  else if (typeof value === "bigint" || typeof value === "number" || typeof value === "boolean") text = String(value)
  else if (value === null || value === undefined) text = ""
  else {
    try {
      text = JSON.stringify(value, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v)) ?? String(value)
    } catch {
      text = String(value)
    }
  }
  return text.length > MAX_SHOWN ? `${text.slice(0, MAX_SHOWN)}...` : text
}
