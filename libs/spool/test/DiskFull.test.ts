/**
 * A full disk and failing syncs: typed errors, nothing of a failed write kept, and a log that works
 * again once space is freed. Injected faults first, then a real full filesystem (a small tmpfs) when
 * this machine lets the test mount one.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either } from "effect"
import { spawnSync } from "node:child_process"
import { mkdtempSync, readdirSync, readFileSync, rmdirSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type { SegmentLog } from "../src/index.js"
import { errnoError, faultyFs, must, payloadOf, plain, readAll, session, tempDir } from "./support.js"

const expected = (from: number, to: number) =>
  Array.from({ length: to - from + 1 }, (_, i) => [from + i, payloadOf(from + i).toString("hex")] as [number, string])
const lastSegment = (dir: string) => join(dir, readdirSync(dir).filter((n) => n.endsWith(".seg")).sort().pop()!)

/** the first faulty write gets 20 bytes into the file, every later one fails */
const shortThenFull = () => {
  let calls = 0
  return () => (calls++ === 0 ? { partial: 20 } : errnoError("ENOSPC"))
}

describe("a full disk", () => {
  it.scoped("ENOSPC in the middle of a record: a typed error, the partial record cut off, appends work again once space is freed", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const { faults, fs } = faultyFs()
      yield* session({ dir, segmentBytes: 64 * 1024, durability: "write" }, (log) =>
        Effect.sync(() => {
          for (let seq = 1; seq <= 10; seq++) must(log.append(payloadOf(seq)))
          const end = readAll(log).reduce((at, r) => at + 16 + r.payload.length, 32)
          faults.writeFault = shortThenFull()
          const failed = log.append(payloadOf(11))
          expect(Either.isLeft(failed) && failed.left).toMatchObject({ _tag: "SpoolDiskFullError", code: "ENOSPC", operation: "append to" })
          expect(Either.isLeft(failed) && failed.left.message).toMatch(/^spool: no space left \(ENOSPC\) to append to .*\.seg$/)
          expect(log.nextSeq()).toBe(11)
          // the 20 bytes that made it could not be zeroed while the disk is full
          expect(readFileSync(lastSegment(dir)).subarray(end, end + 20).some((b) => b !== 0)).toBe(true)
          expect(Either.isLeft(log.append(payloadOf(11)))).toBe(true)
          faults.writeFault = undefined // space freed
          expect(must(log.append(Buffer.alloc(0))).seq).toBe(11)
          expect(must(log.append(payloadOf(12))).seq).toBe(12)
          const records = readAll(log)
          expect(plain(records.slice(0, 10))).toEqual(expected(1, 10))
          expect(records.slice(10).map((r) => [r.seq, r.payload.length])).toEqual([[11, 0], [12, payloadOf(12).length]])
          const file = readFileSync(lastSegment(dir))
          const newEnd = end + 16 + 16 + payloadOf(12).length
          expect(file.subarray(newEnd).every((b) => b === 0)).toBe(true)
        }), fs)
    }))

  it.scoped("a crash while the partial record is still there: open cuts it off", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const { faults, fs } = faultyFs()
      yield* session({ dir, segmentBytes: 64 * 1024, durability: "write" }, (log) =>
        Effect.sync(() => {
          for (let seq = 1; seq <= 10; seq++) must(log.append(payloadOf(seq)))
          faults.writeFault = shortThenFull()
          expect(Either.isLeft(log.append(payloadOf(11)))).toBe(true)
        }), fs)
      yield* session({ dir, segmentBytes: 64 * 1024 }, (log) =>
        Effect.sync(() => {
          expect(log.recovery.records).toBe(10)
          expect(log.recovery.cutBytes).toBeGreaterThan(0)
          expect(plain(readAll(log))).toEqual(expected(1, 10))
          expect(must(log.append(payloadOf(11))).seq).toBe(11)
        }))
    }))

  it.scoped("ENOSPC while preallocating the next segment: a typed error, no temporary file left, the log goes on once space is freed", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const { faults, fs } = faultyFs()
      yield* session({ dir, segmentBytes: 4096, durability: "fsync" }, (log) =>
        Effect.promise(async () => {
          faults.writeFault = (path) => (path.endsWith(".tmp") ? errnoError("ENOSPC") : undefined)
          let seq = 1
          let failure: SegmentLog.AppendError | undefined
          for (; seq < 500; seq++) {
            const r = log.append(payloadOf(seq))
            if (Either.isLeft(r)) {
              failure = r.left
              break
            }
          }
          expect(failure).toMatchObject({ _tag: "SpoolDiskFullError", code: "ENOSPC", operation: "preallocate" })
          // the failed background preallocation removes its file when its write fails
          for (let i = 0; i < 100 && readdirSync(dir).some((n) => n.endsWith(".tmp")); i++) await new Promise((r) => setTimeout(r, 5))
          expect(readdirSync(dir).filter((n) => n.endsWith(".tmp"))).toEqual([])
          expect(log.nextSeq()).toBe(seq)
          faults.writeFault = undefined
          let durable: Promise<void> | undefined
          for (let s = seq; s < seq + 50; s++) durable = must(log.append(payloadOf(s))).durable
          await durable
          expect(plain(readAll(log))).toEqual(expected(1, seq + 49))
        }), fs)
      yield* session({ dir, segmentBytes: 4096 }, (log) => Effect.sync(() => expect(readAll(log).length).toBe(log.nextSeq() - 1)))
    }))

  it.scoped("EDQUOT is a full disk too", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const { faults, fs } = faultyFs()
      yield* session({ dir, segmentBytes: 4096 }, (log) =>
        Effect.sync(() => {
          faults.writeFault = () => errnoError("EDQUOT")
          const r = log.append(payloadOf(1))
          expect(Either.isLeft(r) && r.left).toMatchObject({ _tag: "SpoolDiskFullError", code: "EDQUOT" })
          faults.writeFault = undefined
        }), fs)
    }))

  it.scoped("a failed fdatasync rejects the group's durable and refuses later appends (the page cache can no longer be trusted)", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const { faults, fs } = faultyFs()
      yield* session({ dir, segmentBytes: 4096, durability: "fsync" }, (log) =>
        Effect.promise(async () => {
          await must(log.append(payloadOf(1))).durable
          faults.fdatasyncFault = errnoError("EIO")
          const durable = must(log.append(payloadOf(2))).durable!
          const error = await durable.then(() => undefined, (e: unknown) => e)
          expect(error).toMatchObject({ _tag: "SpoolIOError", operation: "fdatasync" })
          const refused = log.append(payloadOf(3))
          expect(Either.isLeft(refused) && refused.left).toBe(error)
          expect(readAll(log).map((r) => r.seq)).toEqual([1, 2])
          faults.fdatasyncFault = undefined
        }), fs)
    }))

  it("a real full filesystem (a 1 MiB tmpfs): ENOSPC as a typed error, and usable again once segments are reclaimed", async (ctx) => {
    const mnt = mkdtempSync(join(tmpdir(), "spool-tmpfs-"))
    const mounted = spawnSync("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", mnt], { encoding: "utf8" })
    if (mounted.status !== 0) {
      rmdirSync(mnt)
      ctx.skip(`mounting a tmpfs is not permitted here: ${(mounted.stderr || String(mounted.error)).trim()}`)
    }
    try {
      const dir = join(mnt, "spool")
      const options = { dir, segmentBytes: 64 * 1024, durability: "fsync" } as const
      await Effect.runPromise(session(options, (log) =>
        Effect.promise(async () => {
          let seq = 1
          let failure: SegmentLog.AppendError | undefined
          let durable: Promise<void> | undefined
          for (; seq < 100_000; seq++) {
            const r = log.append(payloadOf(seq))
            if (Either.isLeft(r)) {
              failure = r.left
              break
            }
            durable = r.right.durable
          }
          await durable
          expect(failure).toMatchObject({ _tag: "SpoolDiskFullError", code: "ENOSPC" })
          expect(seq).toBeGreaterThan(1000) // most of the 1 MiB was used first
          log.cursor("out")
          log.setCursor("out", seq - 100) // an output catches up: its segments are deleted
          for (let s = seq; s < seq + 2000; s++) durable = must(log.append(payloadOf(s))).durable
          await durable
        })))
      await Effect.runPromise(session(options, (log) =>
        Effect.sync(() => {
          const records = readAll(log)
          expect(records[0]!.seq).toBe(log.firstSeq())
          expect(log.firstSeq()).toBeLessThanOrEqual(log.cursor("out"))
          expect(plain(records)).toEqual(expected(log.firstSeq(), log.nextSeq() - 1))
        })))
    } finally {
      spawnSync("umount", [mnt])
      rmdirSync(mnt)
    }
  })
})
