/**
 * kill -9 at random moments: a child process appends as fast as it can (test/fixtures/appender.ts) and
 * reports what is acknowledged; the parent SIGKILLs it, reopens the log and checks that every
 * acknowledged record is there, intact, with seqs contiguous from the first, and that the next child
 * goes on at the right seq. Write and fsync mode alternate on the same directory.
 *
 * The child is bundled with esbuild once: it then starts in a fraction of a second, where loading
 * Effect's modules one by one through tsx takes seconds on a small machine.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { build } from "esbuild"
import { type ChildProcess, spawn } from "node:child_process"
import { join } from "node:path"
import { must, payloadOf, session, tempDir } from "./support.js"

const fixture = new URL("./fixtures/appender.ts", import.meta.url).pathname
const KILLS = 8

interface Child {
  readonly process: ChildProcess
  readonly state: { start: number; acked: number; cursor: number; error: string; output: string }
  readonly exited: Promise<void>
}

const startChild = (script: string, dir: string, durability: "write" | "fsync"): Child => {
  const child = spawn(process.execPath, [script, dir, durability], { stdio: ["ignore", "pipe", "pipe"] })
  const state = { start: 0, acked: 0, cursor: 0, error: "", output: "" }
  let pending = ""
  child.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
    pending += chunk
    const lines = pending.split("\n")
    pending = lines.pop()!
    for (const line of lines) {
      const [what, value] = line.split(" ", 2)
      if (what === "start") state.start = Number(value)
      else if (what === "ack") state.acked = Math.max(state.acked, Number(value))
      else if (what === "cursor") state.cursor = Math.max(state.cursor, Number(value))
      else state.error += `${line}\n`
    }
  })
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (state.output += chunk))
  const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()))
  return { process: child, state, exited }
}

const until = async (cond: () => boolean, what: string, child: Child, ms = 15_000) => {
  const deadline = Date.now() + ms
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; child said: ${child.state.error}${child.state.output}`)
    await new Promise((r) => setTimeout(r, 5))
  }
}

describe("kill -9", () => {
  it.scopedLive(`at ${KILLS} random moments, in both durability modes: every acknowledged record survives`, () =>
    Effect.gen(function*() {
      const work = yield* tempDir
      const script = join(work, "appender.mjs")
      yield* Effect.promise(() =>
        build({
          entryPoints: [fixture],
          bundle: true,
          platform: "node",
          format: "esm",
          target: "node20",
          conditions: ["@sidekick/source"],
          outfile: script,
          logLevel: "warning"
        })
      )
      const dir = join(work, "spool")
      let next = 1
      let cursorBound = 1
      for (let kill = 0; kill < KILLS; kill++) {
        const durability = kill % 2 === 0 ? "write" : "fsync"
        const child = startChild(script, dir, durability)
        yield* Effect.addFinalizer(() => Effect.sync(() => child.process.kill("SIGKILL")))
        const state = child.state
        yield* Effect.promise(async () => {
          await until(() => state.start > 0 || state.error !== "", "start", child)
          expect(state.error).toBe("")
          expect(state.start).toBe(next) // appending goes on at the right seq
          await until(() => state.acked > 0, "a first acknowledgement", child)
          await new Promise((r) => setTimeout(r, Math.random() * 250))
          child.process.kill("SIGKILL")
          await child.exited
        })
        expect(state.error).toBe("")
        const acked = state.acked
        cursorBound = Math.max(cursorBound, state.cursor)
        yield* session({ dir, segmentBytes: 64 * 1024, durability: "write" }, (log) =>
          Effect.sync(() => {
            const first = log.firstSeq()
            // every acknowledged record not yet consumed is there
            expect(log.nextSeq() - 1).toBeGreaterThanOrEqual(acked)
            // segments go only once the consumer is past them
            expect(first).toBeLessThanOrEqual(cursorBound)
            let seq = first
            let from = first
            for (;;) {
              const records = must(log.read(from, 10_000))
              if (records.length === 0) break
              for (const r of records) {
                if (r.seq !== seq || !payloadOf(seq).equals(r.payload)) {
                  throw new Error(`after kill ${kill + 1} (${durability}): expected seq ${seq} intact, got seq ${r.seq}`)
                }
                seq++
              }
              from = seq
            }
            expect(seq).toBe(log.nextSeq()) // contiguous from the first to the last
            next = log.nextSeq()
          }))
      }
      expect(next).toBeGreaterThan(KILLS * 10)
    }), 60_000)
})
