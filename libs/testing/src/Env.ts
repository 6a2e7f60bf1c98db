/** Environment variables for the span of a test scope: the SDKs under test (AWS, Google, OpenTelemetry) read them. */
import { Effect } from "effect"

/**
 * Set (a string) or unset (undefined) these variables until the scope closes, then put everything back. With
 * `clearing`, every variable with that prefix is unset first, so only the given ones are seen (`"OTEL_"`).
 */
export const withEnv = (vars: Readonly<Record<string, string | undefined>>, options: { readonly clearing?: string } = {}) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const saved = { ...process.env }
      if (options.clearing !== undefined) {
        for (const k of Object.keys(process.env)) if (k.startsWith(options.clearing)) delete process.env[k]
      }
      for (const [k, v] of Object.entries(vars)) {
        if (v === undefined) delete process.env[k]
        else process.env[k] = v
      }
      return saved
    }),
    (saved) =>
      Effect.sync(() => {
        for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k]
        Object.assign(process.env, saved)
      })
  )
