/**
 * What outputs share about their endpoints: joining a base URL and an API path, the start-up check of an
 * endpoint URL, and keeping a secret that travels in a URL (a query parameter, a path) out of every error.
 */
import { REDACTED } from "@sidekick/config"
import { OutputError, type OutputInitError } from "@sidekick/delivery"
import { Effect } from "effect"
import type { OutputContext } from "./Definition.js"

/**
 * `base` and an API path (starting with "/") joined with one slash. falcosidekick concatenates them, which
 * doubles the slash of a base ending in "/" (its own default `datadoglogs.host` does); Dynatrace's apiurl is
 * trimmed the same way by falcosidekick itself.
 */
export const joinUrlPath = (base: string, path: string): string => base.replace(/\/+$/, "") + path

/** whether `text` is an absolute http:// or https:// URL with a host */
export const isHttpUrl = (text: string): boolean => {
  try {
    const url = new URL(text)
    return (url.protocol === "http:" || url.protocol === "https:") && url.hostname !== ""
  } catch {
    return false
  }
}

/**
 * Refuse start-up unless `url` is an http(s) URL (falcosidekick disables such an output: "Bad Endpoint").
 * The message names the key `<output>.<key>`; it shows the URL only when it holds no secret.
 */
export const requireHttpUrl = (
  ctx: OutputContext,
  key: string,
  url: string,
  options: { readonly secret?: boolean } = {}
): Effect.Effect<string, OutputInitError> => {
  if (isHttpUrl(url)) return Effect.succeed(url)
  const shown = options.secret === true ? "" : ` (${JSON.stringify(url)})`
  return Effect.fail(ctx.initError(`${ctx.name}.${key} is not an http:// or https:// URL${shown}`, { key }))
}

const mentions = (u: unknown, secret: string): boolean =>
  (u instanceof Error ? u.message : typeof u === "string" ? u : "").includes(secret)

/**
 * The error with every occurrence of a secret (as it is, and URL-escaped) in its message replaced by `<redacted>`,
 * and its cause left out when that mentions one: errors end up in logs, dead letters and span attributes.
 */
export const scrubSecrets = (secrets: ReadonlyArray<string>) => (error: OutputError): OutputError => {
  const forms = secrets.filter((s) => s !== "").flatMap((s) => (encodeURIComponent(s) === s ? [s] : [s, encodeURIComponent(s)]))
  const present = forms.filter((s) => error.message.includes(s) || mentions(error.cause, s))
  if (present.length === 0) return error
  let message = error.message
  for (const s of present) message = message.replaceAll(s, REDACTED)
  const causeLeaks = present.some((s) => mentions(error.cause, s))
  return new OutputError({
    output: error.output,
    reason: error.reason,
    message,
    ...(error.status === undefined ? {} : { status: error.status }),
    ...(error.retryAfter === undefined ? {} : { retryAfter: error.retryAfter }),
    ...(error.cause === undefined || causeLeaks ? {} : { cause: error.cause })
  })
}
