import { type ConfigError, makeSource, readSectionEither, type Section } from "@sidekick/config"
import { HttpTransport, type Output, type TlsFiles } from "@sidekick/delivery"
import { makeReceiver, type Receiver, type Responder } from "@sidekick/testing"
import { Context, Effect, Either, Layer } from "effect"
import { spawn } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import * as net from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { type CommonConfig, GlobalFieldKeys, type GlobalFieldKeysShape, type OutputDefinition } from "../src/index.js"

/** `tree` placed at a dotted section path: "otlp.traces" -> { otlp: { traces: tree } } */
const nestAt = (path: string, tree: Readonly<Record<string, unknown>>): Record<string, unknown> =>
  path.split(".").reduceRight<Record<string, unknown>>((inner, key) => ({ [key]: inner }), tree)

/** decode a section from a YAML-like tree (the section's own keys) and env vars */
export const decode = <A>(
  section: Section<A>,
  tree: Readonly<Record<string, unknown>>,
  env: Readonly<Record<string, string>> = {}
): Either.Either<A, ConfigError> => readSectionEither(makeSource({ tree: nestAt(section.path, tree), env }), section)

export const config = <A>(
  section: Section<A>,
  tree: Readonly<Record<string, unknown>>,
  env: Readonly<Record<string, string>> = {}
): A => Either.getOrThrowWith(decode(section, tree, env), (e) => new Error(e.message))

/** build an output with the real HTTP transport (scoped) */
export const start = <C extends CommonConfig>(
  definition: OutputDefinition<C>,
  c: C,
  options: StartOptions = {}
) =>
  definition.make(c).pipe(
    Effect.provide(HttpTransport.layer(options.tls)),
    Effect.provide(GlobalFieldKeys.layer(options.keys ?? { customFields: [], templatedFields: [] }))
  )

type StartOptions = { readonly keys?: GlobalFieldKeysShape; readonly tls?: TlsFiles }

const kind = <K extends Output["kind"]>(k: K) => (output: Output): Extract<Output, { kind: K }> => {
  if (output.kind !== k) throw new Error(`${output.name} is a ${output.kind} output, not ${k}`)
  return output as Extract<Output, { kind: K }>
}

/** build an output that must send one event per request */
export const startSingle = <C extends CommonConfig>(definition: OutputDefinition<C>, c: C, options: StartOptions = {}) =>
  Effect.map(start(definition, c, options), kind("single"))

/** build an output that must send batches */
export const startBatch = <C extends CommonConfig>(definition: OutputDefinition<C>, c: C, options: StartOptions = {}) =>
  Effect.map(start(definition, c, options), kind("batch"))

/** the headers every falcosidekick HTTP output sends */
export const jsonHeaders = { "content-type": "application/json; charset=utf-8", "user-agent": "Falcosidekick" }

/** the headers an output chose: the connection's own (host, connection, content-length) left out */
export const chosenHeaders = (headers: Readonly<Record<string, string>>) =>
  Object.fromEntries(Object.entries(headers).filter(([k]) => k !== "host" && k !== "connection" && k !== "content-length"))

/** one recording receiver for a whole test file (`layer(Peer.layer)((it) => ...)`); each test scripts it with `peer` */
export class Peer extends Context.Tag("@sidekick/outputs/test/Peer")<Peer, Receiver>() {
  static readonly layer = Layer.scoped(Peer, makeReceiver())
}

/** the file's receiver, cleared and answering `responses` in turn */
export const peer = (...responses: Array<Responder>) =>
  Effect.gen(function*() {
    const rx = yield* Peer
    yield* rx.clear
    yield* rx.respondWith(...responses)
    return rx
  })

/** ports the kernel hands out now; held together so that they differ */
export const freePorts = (n: number): Promise<Array<number>> =>
  Promise.all(Array.from({ length: n }, () =>
    new Promise<net.Server>((resolve) => {
      const server = net.createServer()
      server.listen(0, "127.0.0.1", () => resolve(server))
    }))).then((servers) =>
      Promise.all(servers.map((s) =>
        new Promise<number>((resolve) => {
          const port = (s.address() as net.AddressInfo).port
          s.close(() => resolve(port))
        })
      ))
    )

/** a temp dir, removed when the scope closes */
export const tempDir = (prefix: string) =>
  Effect.acquireRelease(
    Effect.sync(() => mkdtempSync(join(tmpdir(), prefix))),
    (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
  )

/** a child process (a real peer), killed (SIGTERM) and awaited when the scope closes; its stderr kept for failure messages */
export const spawnScoped = (command: string, args: ReadonlyArray<string>) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const child = spawn(command, args, { stdio: ["ignore", "ignore", "pipe"] })
      let stderr = ""
      child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()))
      child.on("error", () => {})
      return { child, stderr: () => stderr }
    }),
    ({ child }) =>
      Effect.async<void>((resume) => {
        if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return resume(Effect.void)
        child.once("exit", () => resume(Effect.void))
        child.kill("SIGTERM")
      })
  )
