/**
 * The on-disk format of a segment, version 1. Little-endian throughout.
 *
 *   header, 32 bytes:  "SKSPLSEG" | u32 version | u32 header bytes (32) | u64 first seq | u32 flags (0) | u32 crc32 of bytes 0..27
 *   record:            u32 payload length | u32 crc32 of (seq + payload) | u64 seq | payload
 *   then zeros:        the rest of the preallocated file; 16 zero bytes where a record would start end the log
 *
 * A segment's file name is its first seq, 20 digits: `00000000000000000001.seg`. An empty payload is a
 * valid record (its seq is never 0, so its 16 header bytes are never all zero).
 */
import { Either } from "effect"
import { crc32 } from "node:zlib"
import { SpoolCorruptError, SpoolVersionError } from "./errors.js"

export const FORMAT_VERSION = 1
export const SEGMENT_MAGIC = Buffer.from("SKSPLSEG", "latin1")
export const HEADER_BYTES = 32
export const RECORD_HEADER_BYTES = 16

const TWO_32 = 0x1_0000_0000

export const segmentFileName = (firstSeq: number): string => `${String(firstSeq).padStart(20, "0")}.seg`
export const SEGMENT_FILE = /^(\d{20})\.seg$/

export const writeU64 = (buf: Buffer, at: number, value: number): void => {
  buf.writeUInt32LE(value % TWO_32, at)
  buf.writeUInt32LE(Math.floor(value / TWO_32), at + 4)
}

export const readU64 = (buf: Buffer, at: number): number => buf.readUInt32LE(at) + buf.readUInt32LE(at + 4) * TWO_32

export const encodeHeader = (firstSeq: number): Buffer => {
  const h = Buffer.alloc(HEADER_BYTES)
  SEGMENT_MAGIC.copy(h, 0)
  h.writeUInt32LE(FORMAT_VERSION, 8)
  h.writeUInt32LE(HEADER_BYTES, 12)
  writeU64(h, 16, firstSeq)
  h.writeUInt32LE(0, 24)
  h.writeUInt32LE(crc32(h.subarray(0, 28)), 28)
  return h
}

/**
 * The first seq a segment header names. The version is looked at before the checksum: a newer version
 * may lay its header out differently, and must be refused as newer, not as corrupt.
 */
export const decodeHeader = (
  h: Buffer,
  length: number,
  file: string
): Either.Either<number, SpoolVersionError | SpoolCorruptError> => {
  if (length < 12 || !h.subarray(0, 8).equals(SEGMENT_MAGIC)) {
    return Either.left(new SpoolCorruptError({ file, reason: "not a spool segment (bad magic)" }))
  }
  const version = h.readUInt32LE(8)
  if (version > FORMAT_VERSION) return Either.left(new SpoolVersionError({ file, version, supported: FORMAT_VERSION }))
  if (version < 1) return Either.left(new SpoolCorruptError({ file, reason: `format version ${version}` }))
  if (length < HEADER_BYTES || h.readUInt32LE(12) !== HEADER_BYTES || h.readUInt32LE(28) !== crc32(h.subarray(0, 28))) {
    return Either.left(new SpoolCorruptError({ file, reason: "segment header checksum mismatch" }))
  }
  const firstSeq = readU64(h, 16)
  if (firstSeq < 1 || !Number.isSafeInteger(firstSeq)) {
    return Either.left(new SpoolCorruptError({ file, reason: `first seq ${firstSeq}` }))
  }
  return Either.right(firstSeq)
}

/** Encode one record at `at`; returns its size. `target` must have room for RECORD_HEADER_BYTES + payload. */
export const encodeRecord = (target: Buffer, at: number, seq: number, payload: Uint8Array): number => {
  const len = payload.length
  target.writeUInt32LE(len, at)
  writeU64(target, at + 8, seq)
  target.set(payload, at + RECORD_HEADER_BYTES)
  target.writeUInt32LE(crc32(target.subarray(at + 8, at + RECORD_HEADER_BYTES + len)), at + 4)
  return RECORD_HEADER_BYTES + len
}

/** Where each record of a segment starts, by seq - firstSeq: reads find a seq without scanning. */
export class OffsetIndex {
  private offsets: Uint32Array
  count = 0

  constructor(capacity = 1024) {
    this.offsets = new Uint32Array(capacity)
  }

  push(offset: number): void {
    if (this.count === this.offsets.length) {
      const grown = new Uint32Array(this.offsets.length * 2)
      grown.set(this.offsets)
      this.offsets = grown
    }
    this.offsets[this.count++] = offset
  }

  at(i: number): number {
    return this.offsets[i]!
  }

  /** forget records from `count` on (a write that failed after its records were indexed) */
  truncate(count: number): void {
    this.count = Math.min(this.count, count)
  }
}

/** why a scan stopped: the end of the file, zeros (the normal end), or the first invalid record */
export type StopReason = "end" | "zeros" | "length" | "checksum" | "sequence"

export interface Scan {
  readonly index: OffsetIndex
  /** the byte offset after the last valid record */
  readonly end: number
  readonly stop: StopReason
}

/**
 * The valid prefix of a segment's records: each length within the file, each checksum right, seqs
 * continuous from `firstSeq`. Stops at 16 zero bytes (the preallocated rest) or the first record that is not valid.
 */
export const scanRecords = (buf: Buffer, size: number, firstSeq: number): Scan => {
  const index = new OffsetIndex(Math.max(16, Math.min(1 << 16, size >>> 8)))
  let pos = HEADER_BYTES
  let seq = firstSeq
  let stop: StopReason = "end"
  while (pos + RECORD_HEADER_BYTES <= size) {
    const len = buf.readUInt32LE(pos)
    const crc = buf.readUInt32LE(pos + 4)
    const s = readU64(buf, pos + 8)
    if (len === 0 && crc === 0 && s === 0) {
      stop = "zeros"
      break
    }
    if (len > size - pos - RECORD_HEADER_BYTES) {
      stop = "length"
      break
    }
    if (crc32(buf.subarray(pos + 8, pos + RECORD_HEADER_BYTES + len)) !== crc) {
      stop = "checksum"
      break
    }
    if (s !== seq) {
      stop = "sequence"
      break
    }
    index.push(pos)
    pos += RECORD_HEADER_BYTES + len
    seq++
  }
  return { index, end: pos, stop }
}
