/**
 * Throw-away TLS material for tests: a CA, a server certificate for 127.0.0.1/localhost and a client
 * certificate, all signed by the CA, generated with the `openssl` CLI into a temp directory removed
 * when the scope closes. File names follow falcosidekick's mutualtlsfilespath layout
 * (ca.crt, client.crt, client.key) so the directory can be used as `mutualtlsfilespath` directly.
 */
import { execFile, execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { Data, Effect, type Scope } from "effect"

export interface TlsMaterial {
  /** the temp directory holding every file below */
  readonly dir: string
  readonly caCert: string
  readonly caCertPath: string
  readonly serverCert: string
  readonly serverKey: string
  readonly serverCertPath: string
  readonly serverKeyPath: string
  readonly clientCert: string
  readonly clientKey: string
  readonly clientCertPath: string
  readonly clientKeyPath: string
}

export class TlsUnavailable extends Data.TaggedError("TlsUnavailable")<{ readonly message: string; readonly cause?: unknown }> {}

let opensslChecked: boolean | undefined
/** whether the `openssl` CLI can be run (tests needing TLS material skip otherwise) */
export const opensslAvailable = (): boolean => {
  if (opensslChecked === undefined) {
    try {
      execFileSync("openssl", ["version"], { stdio: "ignore" })
      opensslChecked = true
    } catch {
      opensslChecked = false
    }
  }
  return opensslChecked
}

const run = (cwd: string, args: ReadonlyArray<string>): Effect.Effect<void, TlsUnavailable> =>
  Effect.async<void, TlsUnavailable>((resume) => {
    execFile("openssl", args as Array<string>, { cwd }, (error, _stdout, stderr) => {
      if (error === null) resume(Effect.void)
      else resume(Effect.fail(new TlsUnavailable({ message: `openssl ${args[0]} failed: ${stderr || error.message}`, cause: error })))
    })
  })

const generate = (dir: string): Effect.Effect<void, TlsUnavailable> =>
  Effect.gen(function*() {
    fs.writeFileSync(path.join(dir, "server.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n")
    fs.writeFileSync(path.join(dir, "client.ext"), "extendedKeyUsage=clientAuth\n")
    yield* run(dir, [
      "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt",
      "-days", "2", "-subj", "/CN=sidekick-test-ca"
    ])
    for (const name of ["server", "client"] as const) {
      yield* run(dir, [
        "req", "-newkey", "rsa:2048", "-nodes", "-keyout", `${name}.key`, "-out", `${name}.csr`,
        "-subj", `/CN=sidekick-test-${name}`
      ])
      yield* run(dir, [
        "x509", "-req", "-in", `${name}.csr`, "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", `${name}.crt`, "-days", "2", "-sha256", "-extfile", `${name}.ext`
      ])
    }
  })

/** Generate TLS material in a fresh temp directory; fails with TlsUnavailable when openssl is missing or fails. */
export const makeTlsMaterial: Effect.Effect<TlsMaterial, TlsUnavailable, Scope.Scope> = Effect.gen(function*() {
  if (!opensslAvailable()) return yield* Effect.fail(new TlsUnavailable({ message: "the openssl CLI is not available" }))
  const dir = yield* Effect.acquireRelease(
    Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "sidekick-tls-"))),
    (d) => Effect.sync(() => fs.rmSync(d, { recursive: true, force: true }))
  )
  yield* generate(dir)
  const file = (name: string) => path.join(dir, name)
  const read = (name: string) => fs.readFileSync(file(name), "utf8")
  return {
    dir,
    caCert: read("ca.crt"),
    caCertPath: file("ca.crt"),
    serverCert: read("server.crt"),
    serverKey: read("server.key"),
    serverCertPath: file("server.crt"),
    serverKeyPath: file("server.key"),
    clientCert: read("client.crt"),
    clientKey: read("client.key"),
    clientCertPath: file("client.crt"),
    clientKeyPath: file("client.key")
  }
})
