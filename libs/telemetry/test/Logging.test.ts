import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { Logging } from "../src/index.js"

const capture = <A, E>(effect: Effect.Effect<A, E>, debug = false) =>
  Effect.gen(function*() {
    const lines: Array<string> = []
    yield* Effect.exit(effect.pipe(Effect.provide(Logging.layer({ debug, write: (l) => lines.push(l) }))))
    return lines
  })

describe("falcosidekick log format", () => {
  it.effect("date, level tag padded like falcosidekick's, output prefix, annotations after the message", () =>
    Effect.gen(function*() {
      const lines = yield* capture(
        Effect.all([
          Effect.logInfo("Enabled Outputs: [Webhook]"),
          Effect.logWarning("circuit Closed -> Open").pipe(Effect.annotateLogs("output", "slack")),
          Effect.logError("event dropped (rejected): resource not found (404)").pipe(
            Effect.annotateLogs({ output: "webhook", rule: "Terminal shell in container" })
          )
        ])
      )
      expect(lines).toHaveLength(3)
      expect(lines[0]).toMatch(/^\d{4}\/\d{2}\/\d{2} \d{2}:\d{2}:\d{2} \[INFO\] {2}: Enabled Outputs: \[Webhook\]$/)
      expect(lines[1]).toMatch(/ \[WARN\] {2}: slack - circuit Closed -> Open$/)
      expect(lines[2]).toMatch(
        / \[ERROR\] : webhook - event dropped \(rejected\): resource not found \(404\) rule="Terminal shell in container"$/
      )
    }))

  it.effect("debug lines only in debug mode", () =>
    Effect.gen(function*() {
      expect(yield* capture(Effect.logDebug("payload"))).toEqual([])
      const lines = yield* capture(Effect.logDebug("payload"), true)
      expect(lines[0]).toMatch(/ \[DEBUG\] : payload$/)
    }))

  it.effect("a failure's cause is appended on the same line", () =>
    Effect.gen(function*() {
      const lines = yield* capture(Effect.logError("startup failed", new Error("boom")))
      expect(lines).toHaveLength(1)
      expect(lines[0]).toContain("[ERROR] : startup failed")
    }))
})
