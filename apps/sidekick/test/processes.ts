/**
 * The service as a process, for the tests that start it as an operator does, kill it, or start several.
 */
import { Effect } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import { createServer } from "node:net"
import { join } from "node:path"

export const root = new URL("../../../", import.meta.url).pathname
const tsx = join(root, "node_modules/.bin/tsx")
const main = join(root, "apps/sidekick/src/main.ts")

export interface Run {
  readonly child: ChildProcess
  readonly output: () => string
  readonly exited: Promise<number | null>
}

const watch = (child: ChildProcess): Run => {
  let output = ""
  child.stdout!.on("data", (c) => (output += c))
  child.stderr!.on("data", (c) => (output += c))
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)))
  return { child, output: () => output, exited }
}

/** a clean environment: only what the test sets, plus PATH/HOME for node itself */
const cleanEnv = (env: Record<string, string>) => ({ PATH: process.env["PATH"] ?? "", HOME: process.env["HOME"] ?? "/tmp", ...env })

/** `npm start -- ARGS` as an operator runs it (through the tsx wrapper) */
export const run = (args: ReadonlyArray<string>, env: Record<string, string>): Run =>
  watch(spawn(tsx, ["--conditions=@sidekick/source", main, ...args], { env: cleanEnv(env), stdio: ["ignore", "pipe", "pipe"] }))

/** node itself running the service (not the tsx wrapper, which cannot pass SIGKILL on): for tests that kill it */
export const runNode = (env: Record<string, string>): Run =>
  watch(spawn(process.execPath, ["--import", "tsx", "--conditions=@sidekick/source", main], {
    cwd: root,
    env: cleanEnv(env),
    stdio: ["ignore", "pipe", "pipe"]
  }))

export const freePort = () =>
  Effect.promise(() =>
    new Promise<number>((resolve) => {
      const s = createServer()
      s.listen(0, "127.0.0.1", () => {
        const port = (s.address() as { port: number }).port
        s.close(() => resolve(port))
      })
    })
  )

/**
 * Poll until `cond` holds. The default bound is generous on purpose: these tests start whole node processes
 * that compile the sources with tsx, several at once, while CI runs another project's tests beside them
 * (seen: 3 processes ready after ~11 s alone, over 20 s under that load); a passing wait ends as soon as it can.
 */
export const waitUntil = (cond: () => boolean, what: string, ms = 60_000) =>
  Effect.promise(async () => {
    const deadline = Date.now() + ms
    while (!cond()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
      await new Promise((r) => setTimeout(r, 50))
    }
  })
