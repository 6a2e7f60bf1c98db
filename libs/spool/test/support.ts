import { Effect, Either, type Scope } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type { FileOps } from "../src/internal/files.js"
import { nodeFileOps } from "../src/internal/files.js"
import { openWith } from "../src/internal/segmentLog.js"
import { SegmentLog } from "../src/index.js"

type LogRecord = SegmentLog.LogRecord
type Options = SegmentLog.Options

export { payloadOf } from "./fixtures/payload.js"

/** a fresh directory, removed with the scope */
export const tempDir: Effect.Effect<string, never, Scope.Scope> = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "spool-test-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)

/** open, run `f`, close: one session of the log */
export const session = <A, E>(
  options: Options,
  f: (log: SegmentLog.SegmentLog) => Effect.Effect<A, E>,
  fs: FileOps = nodeFileOps
): Effect.Effect<A, E | SegmentLog.OpenError> => Effect.scoped(Effect.flatMap(openWith(options, fs), f))

export const must = <A, E>(e: Either.Either<A, E>): A => {
  if (Either.isLeft(e)) throw new Error(`expected Right, got ${String(e.left)}`)
  return e.right
}

/** every record from `from` on */
export const readAll = (log: SegmentLog.SegmentLog, from = 0): Array<LogRecord> => must(log.read(from, Number.MAX_SAFE_INTEGER))

/** seqs and payloads as plain values, for toEqual */
export const plain = (records: ReadonlyArray<LogRecord>): Array<[number, string]> =>
  records.map((r) => [r.seq, Buffer.from(r.payload).toString("hex")])

export const errnoError = (code: string): NodeJS.ErrnoException =>
  Object.assign(new Error(`${code}: simulated`), { code, errno: code === "ENOSPC" ? -28 : -5 })

/** what a faulty write does: fail with this error, or write only this many bytes */
export type WriteFault = NodeJS.ErrnoException | { readonly partial: number } | undefined

/**
 * The node filesystem with a switchboard: count calls, make writes fail or come up short (by the path
 * of the file), make fdatasync fail.
 */
export interface Faults {
  writeFault: ((path: string, length: number, position: number) => WriteFault) | undefined
  fdatasyncFault: NodeJS.ErrnoException | undefined
  writes: number
  fdatasyncs: number
}

export const faultyFs = (): { readonly fs: FileOps; readonly faults: Faults } => {
  const faults: Faults = { writeFault: undefined, fdatasyncFault: undefined, writes: 0, fdatasyncs: 0 }
  const paths = new Map<number, string>()
  const fault = (fd: number, length: number, position: number): WriteFault =>
    faults.writeFault?.(paths.get(fd) ?? "", length, position)
  const fs: FileOps = {
    ...nodeFileOps,
    openSync: (path, flags) => {
      const fd = nodeFileOps.openSync(path, flags)
      paths.set(fd, path)
      return fd
    },
    renameSync: (from, to) => {
      nodeFileOps.renameSync(from, to)
      for (const [fd, path] of paths) if (path === from) paths.set(fd, to)
    },
    writeSync: (fd, buffer, offset, length, position) => {
      faults.writes++
      const f = fault(fd, length, position)
      if (f === undefined) return nodeFileOps.writeSync(fd, buffer, offset, length, position)
      if ("partial" in f) return nodeFileOps.writeSync(fd, buffer, offset, Math.min(length, f.partial), position)
      throw f
    },
    write: (fd, buffer, offset, length, position) => {
      const f = fault(fd, length, position)
      if (f === undefined) return nodeFileOps.write(fd, buffer, offset, length, position)
      if ("partial" in f) return nodeFileOps.write(fd, buffer, offset, Math.min(length, f.partial), position)
      return Promise.reject(f)
    },
    fdatasyncSync: (fd) => {
      faults.fdatasyncs++
      if (faults.fdatasyncFault !== undefined) throw faults.fdatasyncFault
      nodeFileOps.fdatasyncSync(fd)
    },
    fdatasync: (fd) => {
      faults.fdatasyncs++
      return faults.fdatasyncFault !== undefined ? Promise.reject(faults.fdatasyncFault) : nodeFileOps.fdatasync(fd)
    }
  }
  return { fs, faults }
}
