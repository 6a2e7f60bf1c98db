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

const flow = (value: unknown, depth: number): string => {
  if (typeof value === "string") return /^[^\s,:[\]{}"'#&*!|>%@`]([^,:[\]{}"#]*[^\s,:[\]{}"#])?$/.test(value) ? value : JSON.stringify(value)
  if (typeof value === "bigint" || typeof value === "number" || typeof value === "boolean") return String(value)
  if (value === null || value === undefined) return "null"
  if (depth > 4) return "..."
  if (Array.isArray(value)) return `[${value.map((v) => flow(v, depth + 1)).join(", ")}]`
  if (typeof value === "object") {
    return `{${Object.entries(value)
      .map(([k, v]) => `${flow(k, depth + 1)}: ${flow(v, depth + 1)}`)
      .join(", ")}}`
  }
  return String(value)
}

/** A raw value as one line of text for an error message: scalars as written, structures in YAML flow style. */
export const showRaw = (value: unknown): string => {
  const text =
    typeof value === "string" ? value : value === null || value === undefined ? "" : typeof value === "object" ? flow(value, 0) : String(value)
  return text.length > MAX_SHOWN ? `${text.slice(0, MAX_SHOWN)}...` : text
}
