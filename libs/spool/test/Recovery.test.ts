/**
 * What open makes of damaged files: torn and corrupt tails, torn cursor slots, corrupt earlier
 * segments, files of a newer format. The file layout is spelled out here independently of the
 * module's encoder, so a change of the format shows up as a failing test.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either } from "effect"
import { createHash } from "node:crypto"
import { readdirSync, readFileSync, truncateSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { crc32 } from "node:zlib"
import { type SegmentLog } from "../src/index.js"
import { must, payloadOf, plain, readAll, session, tempDir } from "./support.js"

const segmentsIn = (dir: string) => readdirSync(dir).filter((n) => n.endsWith(".seg")).sort()
const expected = (from: number, to: number) =>
  Array.from({ length: to - from + 1 }, (_, i) => [from + i, payloadOf(from + i).toString("hex")] as [number, string])

/** record offsets in a segment file, parsed by the documented layout */
const recordsOf = (file: Buffer): Array<{ offset: number; length: number; seq: number }> => {
  const out: Array<{ offset: number; length: number; seq: number }> = []
  for (let at = 32; at + 16 <= file.length;) {
    const length = file.readUInt32LE(at)
    const seq = Number(file.readBigUInt64LE(at + 8))
    if (seq === 0) break
    out.push({ offset: at, length, seq })
    at += 16 + length
  }
  return out
}

/** a v1 segment header, by the documented layout */
const v1Header = (firstSeq: number, version = 1): Buffer => {
  const h = Buffer.alloc(32)
  h.write("SKSPLSEG", 0, "latin1")
  h.writeUInt32LE(version, 8)
  h.writeUInt32LE(32, 12)
  h.writeBigUInt64LE(BigInt(firstSeq), 16)
  h.writeUInt32LE(crc32(h.subarray(0, 28)), 28)
  return h
}

const v1Record = (seq: number, payload: Buffer): Buffer => {
  const r = Buffer.alloc(16 + payload.length)
  r.writeUInt32LE(payload.length, 0)
  r.writeBigUInt64LE(BigInt(seq), 8)
  payload.copy(r, 16)
  r.writeUInt32LE(crc32(r.subarray(8)), 4)
  return r
}

/** name → sha256 of every file in the directory */
const snapshot = (dir: string) =>
  Object.fromEntries(readdirSync(dir).sort().map((n) => [n, createHash("sha256").update(readFileSync(join(dir, n))).digest("hex")]))

const write = (dir: string, n: number) =>
  session({ dir, segmentBytes: 8192, durability: "write" }, (log) =>
    Effect.sync(() => {
      for (let seq = 1; seq <= n; seq++) must(log.append(payloadOf(seq)))
    }))

interface Damage {
  readonly name: string
  /** damage the last segment; returns the number of records that must survive */
  readonly damage: (path: string, records: ReturnType<typeof recordsOf>, total: number) => number
  readonly stop: SegmentLog.StopReason
  readonly cut: boolean
}

const lastOf = (records: ReturnType<typeof recordsOf>) => records[records.length - 1]!

const damages: ReadonlyArray<Damage> = [
  {
    name: "the last record cut in the middle (its second half never written)",
    damage: (path, records, total) => {
      const f = readFileSync(path)
      const last = lastOf(records)
      f.fill(0, last.offset + 16 + (last.length >> 1), last.offset + 16 + last.length)
      writeFileSync(path, f)
      return total - 1
    },
    stop: "checksum",
    cut: true
  },
  {
    name: "the file truncated in the middle of the last record",
    damage: (path, records, total) => {
      truncateSync(path, lastOf(records).offset + 10)
      return total - 1
    },
    stop: "end",
    cut: true
  },
  {
    name: "a bit flipped in the last record's payload",
    damage: (path, records, total) => {
      const f = readFileSync(path)
      const last = lastOf(records)
      f[last.offset + 16 + last.length - 1]! ^= 0x10
      writeFileSync(path, f)
      return total - 1
    },
    stop: "checksum",
    cut: true
  },
  {
    name: "a bit flipped in the last record's seq",
    damage: (path, records, total) => {
      const f = readFileSync(path)
      f[lastOf(records).offset + 8]! ^= 0x01
      writeFileSync(path, f)
      return total - 1
    },
    stop: "checksum",
    cut: true
  },
  {
    name: "a length beyond the end of the file",
    damage: (path, records, total) => {
      const f = readFileSync(path)
      f.writeUInt32LE(0xffff_fff0, lastOf(records).offset)
      writeFileSync(path, f)
      return total - 1
    },
    stop: "length",
    cut: true
  },
  {
    name: "a bit flipped in a record in the middle of the segment",
    damage: (path, records, total) => {
      const f = readFileSync(path)
      const middle = records[records.length >> 1]!
      f[middle.offset + 16]! ^= 0x80
      writeFileSync(path, f)
      return total - (records.length - (records.length >> 1))
    },
    stop: "checksum",
    cut: true
  },
  {
    name: "garbage after the valid end",
    damage: (path, records, total) => {
      const f = readFileSync(path)
      const last = lastOf(records)
      const end = last.offset + 16 + last.length
      for (let i = end + 100; i < end + 400; i++) f[i] = (i * 31) & 0xff
      writeFileSync(path, f)
      return total
    },
    stop: "zeros",
    cut: true
  },
  {
    name: "a whole, valid record whose seq does not follow",
    damage: (path, records, total) => {
      const f = readFileSync(path)
      const last = lastOf(records)
      v1Record(total + 5, payloadOf(total + 5)).copy(f, last.offset + 16 + last.length)
      writeFileSync(path, f)
      return total
    },
    stop: "sequence",
    cut: true
  }
]

describe("recovery on open", () => {
  it.scoped.each(damages)("$name: exactly the valid prefix, appends continue", ({ cut, damage, stop }) =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const total = 150
      yield* write(dir, total)
      const segments = segmentsIn(dir)
      const path = join(dir, segments[segments.length - 1]!)
      const records = recordsOf(readFileSync(path))
      expect(records.length).toBeGreaterThan(3)
      const survive = damage(path, records, total)
      yield* session({ dir, segmentBytes: 8192, durability: "fsync" }, (log) =>
        Effect.promise(async () => {
          expect(log.recovery.stop).toBe(stop)
          expect(log.recovery.cutBytes > 0).toBe(cut)
          expect(log.nextSeq()).toBe(survive + 1)
          expect(plain(readAll(log))).toEqual(expected(1, survive))
          let durable: Promise<void> | undefined
          for (let seq = survive + 1; seq <= survive + 40; seq++) durable = must(log.append(payloadOf(seq))).durable
          await durable
        }))
      yield* session({ dir, segmentBytes: 8192 }, (log) =>
        Effect.sync(() => {
          expect(log.recovery).toMatchObject({ cutBytes: 0 })
          expect(plain(readAll(log))).toEqual(expected(1, survive + 40))
        }))
    }))

  it.scoped("a torn cursor slot: the other slot's cursors are used", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      yield* session({ dir, segmentBytes: 8192 }, (log) =>
        Effect.sync(() => {
          for (let seq = 1; seq <= 50; seq++) must(log.append(payloadOf(seq)))
          log.cursor("out")
          log.setCursor("out", 10)
        }))
      yield* session({ dir, segmentBytes: 8192 }, (log) => Effect.sync(() => log.setCursor("out", 20)))
      // the slot with the higher generation is the newer one: tear it
      const path = join(dir, "cursors")
      const f = readFileSync(path)
      const half = f.length / 2
      const newer = f.readBigUInt64LE(8) > f.readBigUInt64LE(half + 8) ? 0 : half
      f[newer + 30]! ^= 0xff
      writeFileSync(path, f)
      yield* session({ dir, segmentBytes: 8192 }, (log) =>
        Effect.sync(() => {
          expect(log.recovery.invalidCursorSlots).toBe(1)
          expect(log.cursor("out")).toBe(10)
        }))
      // both slots torn: cursors start over at the oldest seq (redelivery, never loss)
      const g = readFileSync(path)
      g[31]! ^= 0xff
      g[g.length / 2 + 31]! ^= 0xff
      writeFileSync(path, g)
      yield* session({ dir, segmentBytes: 8192 }, (log) =>
        Effect.sync(() => {
          expect(log.recovery.invalidCursorSlots).toBe(2)
          expect(log.cursor("out")).toBe(log.firstSeq())
        }))
    }))

  it.scoped("many cursors with long names grow the slots", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const names = Array.from({ length: 200 }, (_, i) => `output-${i}-${"x".repeat(40)}`)
      yield* session({ dir, segmentBytes: 8192 }, (log) =>
        Effect.sync(() => {
          for (let seq = 1; seq <= 20; seq++) must(log.append(payloadOf(seq)))
          names.forEach((name, i) => {
            log.cursor(name)
            log.setCursor(name, 1 + (i % 20))
          })
        }))
      yield* session({ dir, segmentBytes: 8192 }, (log) =>
        Effect.sync(() => {
          expect(log.cursors().size).toBe(200)
          names.forEach((name, i) => expect(log.cursor(name)).toBe(1 + (i % 20)))
        }))
    }))

  it.scoped("a corrupt record in an earlier segment: reported when the segment is first read, and skipped", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      yield* write(dir, 150)
      const second = join(dir, segmentsIn(dir)[1]!)
      const f = readFileSync(second)
      const records = recordsOf(f)
      const bad = records[3]!
      f[bad.offset + 20]! ^= 0x04
      writeFileSync(second, f)
      const corruptions: Array<SegmentLog.Corruption> = []
      yield* session({ dir, segmentBytes: 8192, onCorruption: (c: SegmentLog.Corruption) => corruptions.push(c) }, (log) =>
        Effect.sync(() => {
          expect(corruptions).toEqual([])
          const lost = { from: bad.seq, to: lastOf(records).seq }
          expect(plain(readAll(log))).toEqual([...expected(1, lost.from - 1), ...expected(lost.to + 1, 150)])
          expect(corruptions).toEqual([{ file: second, offset: bad.offset, reason: "checksum", fromSeq: lost.from, toSeq: lost.to }])
        }))
    }))

  it.scoped("files written in format version 1, built byte by byte, open", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const seg = Buffer.alloc(8192)
      v1Header(41).copy(seg, 0)
      let at = 32
      for (const seq of [41, 42, 43]) at += v1Record(seq, payloadOf(seq)).copy(seg, at)
      writeFileSync(join(dir, "00000000000000000041.seg"), seg)
      // the cursors file: two 4 KiB slots, slot 1 holding generation 1
      const payload = Buffer.from(JSON.stringify([["out", 42]]))
      const slot = Buffer.alloc(24 + payload.length)
      slot.writeUInt32LE(0x5543_4b53, 0)
      slot.writeUInt32LE(1, 4)
      slot.writeBigUInt64LE(1n, 8)
      slot.writeUInt32LE(payload.length, 16)
      payload.copy(slot, 24)
      slot.writeUInt32LE(crc32(payload, crc32(slot.subarray(8, 20))), 20)
      const cursors = Buffer.alloc(8192)
      slot.copy(cursors, 4096)
      writeFileSync(join(dir, "cursors"), cursors)
      yield* session({ dir, segmentBytes: 8192 }, (log) =>
        Effect.sync(() => {
          expect([log.firstSeq(), log.nextSeq()]).toEqual([41, 44])
          expect(plain(readAll(log))).toEqual(expected(41, 43))
          expect(log.cursor("out")).toBe(42)
          expect(must(log.append(payloadOf(44))).seq).toBe(44)
        }))
    }))

  it.scoped("a segment of a newer format version is refused, naming the file and the versions; nothing is changed", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      yield* write(dir, 100)
      const newer = join(dir, "00000000000000000101.seg")
      const seg = Buffer.alloc(8192, 0xab) // whatever a newer version writes
      v1Header(101, 2).copy(seg, 0)
      seg.writeUInt32LE(0xdead_beef, 28)
      writeFileSync(newer, seg)
      writeFileSync(join(dir, "spare.tmp"), "a preallocation interrupted")
      const before = snapshot(dir)
      const error = yield* Effect.flip(session({ dir, segmentBytes: 8192 }, () => Effect.void))
      expect(error).toMatchObject({ _tag: "SpoolVersionError", file: newer, version: 2, supported: 1 })
      expect(error.message).toBe(
        `spool: ${newer} has format version 2, this build reads up to version 1; it was written by a newer Sidekick (nothing was changed on disk)`
      )
      expect(snapshot(dir)).toEqual(before)
    }))

  it.scoped("a cursors file of a newer version is refused too; a corrupt segment header is refused; nothing is changed", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      yield* write(dir, 100)
      const path = join(dir, "cursors")
      const original = readFileSync(path)
      const f = Buffer.from(original)
      f.write("SKCU", 0, "latin1")
      f.writeUInt32LE(3, 4)
      writeFileSync(path, f)
      let before = snapshot(dir)
      const newer = yield* Effect.flip(session({ dir, segmentBytes: 8192 }, () => Effect.void))
      expect(newer).toMatchObject({ _tag: "SpoolVersionError", file: path, version: 3, supported: 1 })
      expect(snapshot(dir)).toEqual(before)
      writeFileSync(path, original)
      const first = join(dir, segmentsIn(dir)[0]!)
      const seg = readFileSync(first)
      seg[20]! ^= 1 // the first seq in the header
      writeFileSync(first, seg)
      before = snapshot(dir)
      const corrupt = yield* Effect.flip(session({ dir, segmentBytes: 8192 }, () => Effect.void))
      expect(corrupt).toMatchObject({ _tag: "SpoolCorruptError", file: first, reason: "segment header checksum mismatch" })
      expect(snapshot(dir)).toEqual(before)
    }))

  it.scoped("segments made with another segmentBytes: used as they are; an empty one too small for a record is replaced", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const seg = Buffer.alloc(4096)
      v1Header(7).copy(seg, 0)
      writeFileSync(join(dir, "00000000000000000007.seg"), seg)
      yield* session({ dir, segmentBytes: 65536 }, (log) =>
        Effect.sync(() => {
          expect(must(log.append(payloadOf(7))).seq).toBe(7) // fits in the 4 KiB file
          expect(must(log.append(Buffer.alloc(5000, 1))).seq).toBe(8) // does not: a new 64 KiB segment
        }))
      expect(segmentsIn(dir)).toEqual(["00000000000000000007.seg", "00000000000000000008.seg"])
      writeFileSync(join(dir, "00000000000000000009.seg"), Buffer.concat([v1Header(9), Buffer.alloc(100)]))
      yield* session({ dir, segmentBytes: 65536 }, (log) =>
        Effect.sync(() => {
          expect(must(log.append(Buffer.alloc(5000, 2))).seq).toBe(9)
          expect(readAll(log).map((r) => [r.seq, r.payload.length])).toEqual([[7, payloadOf(7).length], [8, 5000], [9, 5000]])
        }))
      expect(segmentsIn(dir)).toEqual(["00000000000000000007.seg", "00000000000000000008.seg", "00000000000000000009.seg"])
      yield* session({ dir, segmentBytes: 65536 }, (log) => Effect.sync(() => expect(readAll(log).map((r) => r.seq)).toEqual([7, 8, 9])))
    }))

  it.scoped("a last segment whose header never reached the disk is rewritten from its name", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      yield* write(dir, 100)
      writeFileSync(join(dir, "00000000000000000101.seg"), Buffer.alloc(8192))
      yield* session({ dir, segmentBytes: 8192 }, (log) =>
        Effect.sync(() => {
          expect(log.nextSeq()).toBe(101)
          expect(must(log.append(payloadOf(101))).seq).toBe(101)
        }))
      yield* session({ dir, segmentBytes: 8192 }, (log) => Effect.sync(() => expect(plain(readAll(log))).toEqual(expected(1, 101))))
      expect(Either.right(readFileSync(join(dir, "00000000000000000101.seg")).subarray(0, 8).toString("latin1"))).toEqual(
        Either.right("SKSPLSEG")
      )
    }))
})
