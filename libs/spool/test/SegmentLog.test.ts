import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Option } from "effect"
import { existsSync, readdirSync, readFileSync, readlinkSync } from "node:fs"
import { join } from "node:path"
import { SegmentLog } from "../src/index.js"
import { faultyFs, must, payloadOf, plain, readAll, session, tempDir } from "./support.js"

const segmentsIn = (dir: string) => readdirSync(dir).filter((n) => n.endsWith(".seg")).sort()
const expected = (from: number, to: number) =>
  Array.from({ length: to - from + 1 }, (_, i) => [from + i, payloadOf(from + i).toString("hex")] as [number, string])

describe("SegmentLog", () => {
  it.scoped("appends and reads back in order across segment boundaries, seqs from 1", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      yield* session({ dir, segmentBytes: 4096, durability: "write" }, (log) =>
        Effect.sync(() => {
          expect([log.firstSeq(), log.nextSeq()]).toEqual([1, 1])
          expect(log.read(1, 10)).toEqual(Either.right([]))
          for (let seq = 1; seq <= 300; seq++) expect(must(log.append(payloadOf(seq))).seq).toBe(seq)
          expect(segmentsIn(dir).length).toBeGreaterThan(10)
          expect(plain(readAll(log))).toEqual(expected(1, 300))
          // in chunks, each read continuing where the last one stopped
          const chunked: Array<[number, string]> = []
          for (let from = 1; from <= 300;) {
            const chunk = must(log.read(from, 7))
            expect(chunk.length).toBe(Math.min(7, 301 - from))
            chunked.push(...plain(chunk))
            from = chunk[chunk.length - 1]!.seq + 1
          }
          expect(chunked).toEqual(expected(1, 300))
          expect(plain(must(log.read(123, 5)))).toEqual(expected(123, 127))
          expect(must(log.read(301, 5))).toEqual([])
          // maxBytes bounds the payload bytes, but the first record always comes
          const bounded = must(log.read(10, 100, 1000))
          const bytes = bounded.reduce((n, r) => n + r.payload.length, 0)
          expect(bytes).toBeLessThanOrEqual(1000)
          expect(bytes + payloadOf(10 + bounded.length).length).toBeGreaterThan(1000)
          expect(must(log.read(10, 100, 1)).map((r) => r.seq)).toEqual([10])
        }))
    }))

  it.scoped("appendMany stores a group with one write, in one segment; a group larger than a segment is refused", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const { faults, fs } = faultyFs()
      yield* session({ dir, segmentBytes: 8192, durability: "write" }, (log) =>
        Effect.sync(() => {
          must(log.append(payloadOf(1)))
          const writes = faults.writes
          const group = must(log.appendMany([2, 3, 4, 5].map(payloadOf)))
          expect(group).toMatchObject({ firstSeq: 2, lastSeq: 5, durable: undefined })
          expect(faults.writes - writes).toBe(1)
          expect(must(log.appendMany([]))).toMatchObject({ firstSeq: 6, lastSeq: 5 })
          const tooLarge = log.appendMany(Array.from({ length: 40 }, (_, i) => payloadOf(6 + i)).map(() => Buffer.alloc(300)))
          expect(Either.isLeft(tooLarge) && tooLarge.left._tag).toBe("SpoolRecordTooLargeError")
          expect(log.nextSeq()).toBe(6)
          // groups that do not fit in the rest of a segment start the next one
          for (let seq = 6; seq < 200; seq += 10) must(log.appendMany(Array.from({ length: 10 }, (_, i) => payloadOf(seq + i))))
          expect(plain(readAll(log))).toEqual(expected(1, 205))
        }), fs)
    }))

  it.scoped("seqs continue after reopen, in both durability modes", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      let seq = 1
      for (const durability of ["write", "fsync", "write", "fsync"] as const) {
        yield* session({ dir, segmentBytes: 4096, durability }, (log) =>
          Effect.promise(async () => {
            expect(log.nextSeq()).toBe(seq)
            expect(log.recovery).toMatchObject({ stop: "zeros", cutBytes: 0 })
            for (let i = 0; i < 25; i++, seq++) {
              const appended = must(log.append(payloadOf(seq)))
              expect(appended.seq).toBe(seq)
              expect(appended.durable === undefined).toBe(durability === "write")
            }
            expect(plain(readAll(log))).toEqual(expected(1, seq - 1))
          }))
      }
    }))

  it.scoped("cursors: start at the oldest seq (or the next), persist across reopen; segments every cursor is past are deleted", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      yield* session({ dir, segmentBytes: 4096, durability: "fsync" }, (log) =>
        Effect.sync(() => {
          for (let seq = 1; seq <= 200; seq++) must(log.append(payloadOf(seq)))
          const segments = segmentsIn(dir).length
          // no cursor yet: nothing is consumed, nothing deleted
          expect(log.cursor("slack")).toBe(1)
          expect(log.cursor("late", "next")).toBe(201)
          log.setCursor("slack", 150)
          expect(segmentsIn(dir).length).toBeLessThan(segments)
          expect(log.firstSeq()).toBeLessThanOrEqual(150)
          expect(log.firstSeq()).toBeGreaterThan(1)
          expect(plain(must(log.read(150, 1000)))).toEqual(expected(150, 200))
          log.cursor("elastic")
          expect(log.cursor("elastic")).toBe(log.firstSeq())
          expect(() => log.setCursor("slack", 202)).toThrow(RangeError)
        }))
      const firstSeq = yield* session({ dir, segmentBytes: 4096 }, (log) =>
        Effect.sync(() => {
          expect(Object.fromEntries(log.cursors())).toEqual({ slack: 150, late: 201, elastic: log.firstSeq() })
          log.setCursor("elastic", 201)
          log.setCursor("slack", 201)
          log.setCursor("late", 201)
          // everything consumed: only the segment being written is left, and seqs go on
          expect(segmentsIn(dir)).toEqual([`${String(log.firstSeq()).padStart(20, "0")}.seg`])
          expect(log.nextSeq()).toBe(201)
          expect(must(log.read(1, 1000)).map((r) => r.seq)).toEqual(expected(log.firstSeq(), 200).map(([seq]) => seq))
          must(log.append(payloadOf(201)))
          log.removeCursor("late")
          expect([...log.cursors().keys()].sort()).toEqual(["elastic", "slack"])
          return log.firstSeq()
        }))
      yield* session({ dir, segmentBytes: 4096 }, (log) =>
        Effect.sync(() => {
          expect([log.firstSeq(), log.nextSeq()]).toEqual([firstSeq, 202])
          expect(Object.fromEntries(log.cursors())).toEqual({ slack: 201, elastic: 201 })
          expect(plain(must(log.read(201, 10)))).toEqual(expected(201, 201))
        }))
    }))

  it.scoped("maxBytes: append fails with SpoolFullError; dropOldestSegment makes room and moves cursors past it", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      yield* session({ dir, segmentBytes: 4096, maxBytes: 4 * 4096, durability: "write" }, (log) =>
        Effect.gen(function*() {
          log.cursor("out")
          let seq = 1
          let full: SegmentLog.AppendError | undefined
          for (; seq < 1000; seq++) {
            const r = log.append(payloadOf(seq))
            if (Either.isLeft(r)) {
              full = r.left
              break
            }
          }
          expect(full?._tag).toBe("SpoolFullError")
          expect(full).toMatchObject({ firstSeq: 1, maxBytes: 4 * 4096 })
          expect(full?.message).toMatch(/spool full: \d+ of 16384 bytes used, oldest seq 1/)
          expect(log.sizeBytes()).toBeLessThanOrEqual(4 * 4096)
          expect(log.nextSeq()).toBe(seq) // nothing was stored
          const dropped = Option.getOrThrow(must(log.dropOldestSegment()))
          expect(dropped.fromSeq).toBe(1)
          expect(log.firstSeq()).toBe(dropped.toSeq + 1)
          expect(log.cursor("out")).toBe(dropped.toSeq + 1)
          expect(must(log.append(payloadOf(seq))).seq).toBe(seq)
          expect(plain(readAll(log))).toEqual(expected(dropped.toSeq + 1, seq))
          // down to the segment being written: nothing more to drop
          while (Option.isSome(must(log.dropOldestSegment()))) {
            // dropping
          }
          expect(segmentsIn(dir).length).toBe(1)
          expect(log.nextSeq()).toBe(seq + 1)
          yield* log.sync
        }))
    }))

  it.scopedLive("fsync mode: one fdatasync per group (maxRecords), a lone record is committed after maxDelay", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const { faults, fs } = faultyFs()
      yield* session({ dir, segmentBytes: 64 * 1024, durability: "fsync", groupCommit: { maxRecords: 8, maxDelay: "300 millis" } }, (log) =>
        Effect.promise(async () => {
          // the spare segment's preallocation (fdatasynced in the background) done first
          while (!existsSync(join(dir, "spare"))) await new Promise((r) => setTimeout(r, 5))
          const before = faults.fdatasyncs
          const appended = Array.from({ length: 8 }, (_, i) => must(log.append(payloadOf(i + 1))))
          // one group: every record shares the commit
          expect(new Set(appended.map((a) => a.durable)).size).toBe(1)
          const start = performance.now()
          await appended[0]!.durable
          expect(performance.now() - start).toBeLessThan(250) // maxRecords reached: no waiting for maxDelay
          expect(faults.fdatasyncs - before).toBe(1)
          const lone = must(log.append(payloadOf(9)))
          const t = performance.now()
          await lone.durable
          expect(performance.now() - t).toBeGreaterThanOrEqual(290)
          expect(faults.fdatasyncs - before).toBe(2)
        }), fs)
    }))

  it.scoped("a long log holds few file descriptors: completed segments are closed once synced, and after they are read", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const fdsInDir = () =>
        readdirSync("/proc/self/fd").filter((fd) => {
          try {
            return readlinkSync(`/proc/self/fd/${fd}`).startsWith(dir)
          } catch {
            return false
          }
        }).length
      const options = { dir, segmentBytes: 4096, durability: "fsync" } as const
      yield* session(options, (log) =>
        Effect.gen(function*() {
          for (let seq = 1; seq <= 1500; seq++) must(log.append(payloadOf(seq)))
          yield* log.sync
          expect(segmentsIn(dir).length).toBeGreaterThan(50)
          // the active segment, the directory, the cursors file (and a spare being made)
          expect(fdsInDir()).toBeLessThanOrEqual(4)
          expect(plain(readAll(log))).toEqual(expected(1, 1500))
          expect(fdsInDir()).toBeLessThanOrEqual(4)
        }))
      yield* session(options, (log) =>
        Effect.sync(() => {
          expect(fdsInDir()).toBeLessThanOrEqual(4)
          expect(plain(readAll(log))).toEqual(expected(1, 1500))
          expect(fdsInDir()).toBeLessThanOrEqual(4)
        }))
      expect(fdsInDir()).toBe(0)
    }))

  it.scoped("write mode: the record is in the file when append returns; durable is undefined", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      yield* session({ dir, segmentBytes: 4096, durability: "write" }, (log) =>
        Effect.sync(() => {
          const payload = Buffer.from("an event that must survive kill -9")
          expect(must(log.append(payload)).durable).toBeUndefined()
          expect(readFileSync(join(dir, segmentsIn(dir)[0]!)).includes(payload)).toBe(true)
        }))
    }))

  it.scoped("closing the scope commits and writes the cursors; a closed log refuses with SpoolClosedError", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const log = yield* session({ dir, segmentBytes: 4096, durability: "fsync", cursorInterval: "1 hour" }, (log) =>
        Effect.sync(() => {
          const durable = must(log.append(payloadOf(1))).durable
          log.cursor("out")
          log.setCursor("out", 2)
          return { log, durable }
        }))
      yield* Effect.promise(() => log.durable!) // resolved by the close
      const closed = log.log.append(payloadOf(2))
      expect(Either.isLeft(closed) && closed.left._tag).toBe("SpoolClosedError")
      expect(Either.isLeft(log.log.read(1, 1))).toBe(true)
      yield* session({ dir, segmentBytes: 4096 }, (reopened) =>
        Effect.sync(() => {
          expect(reopened.cursor("out")).toBe(2)
          expect(reopened.nextSeq()).toBe(2)
        }))
    }))

  it.scoped("refuses a record larger than a segment and options that cannot work", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      yield* session({ dir, segmentBytes: 4096 }, (log) =>
        Effect.sync(() => {
          const r = log.append(Buffer.alloc(4096))
          expect(Either.isLeft(r) && r.left).toMatchObject({ _tag: "SpoolRecordTooLargeError", bytes: 4112, maxBytes: 4064 })
          expect(must(log.append(Buffer.alloc(4064 - 16))).seq).toBe(1)
          expect(must(log.append(Buffer.alloc(0))).seq).toBe(2) // an empty payload is a record too
          expect(readAll(log).map((r) => r.payload.length)).toEqual([4048, 0])
        }))
      const bad = yield* Effect.flip(session({ dir, segmentBytes: 4096, maxBytes: 4096 }, () => Effect.void))
      expect(bad._tag).toBe("SpoolOptionsError")
      expect(bad.message).toMatch(/maxBytes must be 0 \(unlimited\) or at least two segments/)
    }))
})
