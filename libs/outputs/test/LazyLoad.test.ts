/**
 * An output's client library is loaded when the output is enabled (its `make` imports it), never with the
 * registry: a process that enables none of them does not pay for them (their start-up time and memory,
 * which would grow with every output added).
 *
 * A fresh node process, run from source as the app is (tsx, the @sidekick/source condition, the repository
 * root as cwd), registers a module-resolution hook that writes down every module it resolves, then imports
 * the registry. This process cannot tell: vitest and the other tests here load those libraries themselves.
 * The hook sees ESM resolutions (every import of our sources; on Node 20 not what a CommonJS package
 * require()s, which only matters once such a package is itself loaded).
 */
import { spawn } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, relative } from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"
import { afterAll, describe, expect, it } from "vitest"

const root = fileURLToPath(new URL("../../../", import.meta.url))

/** what no output (nor the JetStream spool, nats) may load before its `make` runs (package names, or their prefix when ending in / or -) */
const clientLibraries = [
  "@aws-sdk/",
  "@smithy/",
  "google-auth-library",
  "@opentelemetry/sdk-",
  "@opentelemetry/exporter-",
  "@grpc/grpc-js",
  "hot-shots",
  "nodemailer",
  "nats"
]

const dir = mkdtempSync(join(tmpdir(), "sidekick-lazyload-"))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const log = join(dir, "resolved.tsv")
const hooks = join(dir, "hooks.mjs")
// runs on the loader thread; one line per resolution: specifier, resolved URL, importing module
writeFileSync(
  hooks,
  `import { appendFileSync } from "node:fs"
let log
export const initialize = (data) => { log = data.log }
export const resolve = async (specifier, context, next) => {
  const resolved = await next(specifier, context)
  appendFileSync(log, [specifier, resolved.url, context.parentURL ?? ""].join("\\t") + "\\n")
  return resolved
}
`
)

const script = `
import { register } from "node:module"
register(${JSON.stringify(pathToFileURL(hooks).href)}, { data: { log: ${JSON.stringify(log)} } })
await import("@sidekick/outputs")
`

/** node, as apps/sidekick/test/processes.ts runs it: its exit code and what it printed */
const importRegistry = () =>
  new Promise<{ readonly code: number | null; readonly output: string }>((resolve, reject) => {
    const child = spawn(process.execPath, ["--conditions=@sidekick/source", "--import", "tsx", "--input-type=module", "-e", script], {
      cwd: root,
      env: { PATH: process.env["PATH"] ?? "", HOME: process.env["HOME"] ?? "/tmp" },
      stdio: ["ignore", "pipe", "pipe"]
    })
    let output = ""
    child.stdout.on("data", (c) => (output += c))
    child.stderr.on("data", (c) => (output += c))
    child.on("error", reject)
    child.on("exit", (code) => resolve({ code, output }))
  })

interface Resolution {
  readonly specifier: string
  readonly url: string
  readonly parent: string
}

/** whether the module is one of a client library's, by where it was found */
const inClientLibrary = (url: string) => clientLibraries.some((library) => url.includes(`/node_modules/${library}`))

/** whether the resolution is of a client library: by its specifier, or by where it was found (another package's import of it) */
const ofClientLibrary = (r: Resolution) => clientLibraries.some((library) => r.specifier.startsWith(library)) || inClientLibrary(r.url)

const shortPath = (url: string) => (url.startsWith("file:") ? relative(root, fileURLToPath(url)) : url)

describe("lazy loading of the outputs' client libraries", () => {
  it("importing the registry resolves none of them", async () => {
    const { code, output } = await importRegistry()
    expect(code, output).toBe(0)
    const resolutions: Array<Resolution> = readFileSync(log, "utf8").split("\n").filter((l) => l !== "").map((line) => {
      const [specifier = "", url = "", parent = ""] = line.split("\t")
      return { specifier, url, parent }
    })
    // the hook saw the registry's graph: this test cannot pass by seeing nothing
    expect(resolutions.map((r) => r.specifier)).toEqual(expect.arrayContaining(["@sidekick/outputs", "@sidekick/telemetry", "effect"]))
    expect(resolutions.some((r) => r.url.endsWith("/libs/outputs/src/registry.ts"))).toBe(true)

    // named with what imported them (the libraries' imports of their own modules left out)
    const loaded = resolutions
      .filter((r) => ofClientLibrary(r) && !inClientLibrary(r.parent))
      .map((r) => `${r.specifier} (imported by ${shortPath(r.parent)})`)
    expect(loaded).toEqual([])
  })
})
