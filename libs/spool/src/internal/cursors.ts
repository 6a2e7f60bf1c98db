/**
 * The cursors file: two slots of `slotBytes` each (4 KiB unless the cursors need more). Each write goes
 * to the slot the previous write did not use, so a write torn by a crash leaves the other slot whole;
 * on open the valid slot with the higher generation wins. Version 1 slot, little-endian:
 *
 *   "SKCU" | u32 version | u64 generation | u32 payload length | u32 crc32 of (generation + length + payload) | payload
 *
 * The payload is JSON: `[[name, seq], …]`. Slots grow by rewriting the file under a temporary name and
 * renaming it into place, so there is never a moment without one whole slot.
 */
import { Either } from "effect"
import { join } from "node:path"
import { crc32 } from "node:zlib"
import { ioError, type SpoolDiskFullError, type SpoolIOError, SpoolVersionError } from "./errors.js"
import type { FileOps } from "./files.js"
import { readU64, writeU64 } from "./format.js"

export const CURSOR_FILE = "cursors"
export const CURSOR_TMP_FILE = "cursors.tmp"
export const CURSOR_VERSION = 1
const MAGIC = 0x5543_4b53 // "SKCU" read as a little-endian u32
const SLOT_HEADER = 24
const DEFAULT_SLOT_BYTES = 4096

export const encodeSlot = (generation: number, cursors: ReadonlyMap<string, number>): Buffer => {
  const payload = Buffer.from(JSON.stringify([...cursors]), "utf8")
  const slot = Buffer.alloc(SLOT_HEADER + payload.length)
  slot.writeUInt32LE(MAGIC, 0)
  slot.writeUInt32LE(CURSOR_VERSION, 4)
  writeU64(slot, 8, generation)
  slot.writeUInt32LE(payload.length, 16)
  payload.copy(slot, SLOT_HEADER)
  slot.writeUInt32LE(crc32(payload, crc32(slot.subarray(8, 20))), 20)
  return slot
}

type SlotRead =
  | { readonly _tag: "empty" }
  | { readonly _tag: "invalid" }
  | { readonly _tag: "newer"; readonly version: number }
  | { readonly _tag: "valid"; readonly generation: number; readonly cursors: Map<string, number> }

export const decodeSlot = (slot: Buffer): SlotRead => {
  if (slot.length < SLOT_HEADER) return { _tag: "invalid" }
  if (slot.readUInt32LE(0) === 0 && slot.readUInt32LE(4) === 0) return { _tag: "empty" }
  if (slot.readUInt32LE(0) !== MAGIC) return { _tag: "invalid" }
  const version = slot.readUInt32LE(4)
  if (version > CURSOR_VERSION) return { _tag: "newer", version }
  const len = slot.readUInt32LE(16)
  if (version !== CURSOR_VERSION || len > slot.length - SLOT_HEADER) return { _tag: "invalid" }
  const payload = slot.subarray(SLOT_HEADER, SLOT_HEADER + len)
  if (crc32(payload, crc32(slot.subarray(8, 20))) !== slot.readUInt32LE(20)) return { _tag: "invalid" }
  try {
    const pairs: unknown = JSON.parse(payload.toString("utf8"))
    if (!Array.isArray(pairs)) return { _tag: "invalid" }
    const cursors = new Map<string, number>()
    for (const pair of pairs) {
      if (!Array.isArray(pair) || typeof pair[0] !== "string" || !Number.isSafeInteger(pair[1]) || pair[1] < 1) {
        return { _tag: "invalid" }
      }
      cursors.set(pair[0], pair[1])
    }
    return { _tag: "valid", generation: readU64(slot, 8), cursors }
  } catch {
    return { _tag: "invalid" }
  }
}

export interface CursorRecovery {
  readonly cursors: Map<string, number>
  /** slots that held something but not a valid slot (a torn write) */
  readonly invalidSlots: number
}

/** The cursors file of a spool directory, open. One write at a time (the log never overlaps them). */
export class CursorFile {
  private constructor(
    private readonly fs: FileOps,
    private readonly dir: string,
    readonly path: string,
    public fd: number,
    private slotBytes: number,
    private generation: number
  ) {}

  /**
   * Only reads: the caller creates the file (`create`) once every other check of the directory passed,
   * so a refused open changes nothing on disk.
   */
  static read(fs: FileOps, dir: string): Either.Either<
    { readonly recovery: CursorRecovery; readonly generation: number } | undefined,
    SpoolVersionError | SpoolIOError | SpoolDiskFullError
  > {
    const path = join(dir, CURSOR_FILE)
    if (!fs.existsSync(path)) return Either.right(undefined)
    let fd: number
    let buf: Buffer
    try {
      fd = fs.openSync(path, "r")
    } catch (e) {
      return Either.left(ioError(e, path, "open"))
    }
    try {
      const size = fs.sizeSync(fd)
      buf = Buffer.alloc(size)
      fs.readSync(fd, buf, 0, size, 0)
    } catch (e) {
      return Either.left(ioError(e, path, "read"))
    } finally {
      fs.closeSync(fd)
    }
    const slotBytes = Math.floor(buf.length / 2)
    let best: { generation: number; cursors: Map<string, number> } | undefined
    let invalidSlots = 0
    for (const slot of [buf.subarray(0, slotBytes), buf.subarray(slotBytes, 2 * slotBytes)]) {
      const read = decodeSlot(slot)
      if (read._tag === "newer") return Either.left(new SpoolVersionError({ file: path, version: read.version, supported: CURSOR_VERSION }))
      if (read._tag === "invalid") invalidSlots++
      if (read._tag === "valid" && (best === undefined || read.generation > best.generation)) best = read
    }
    return Either.right({
      recovery: { cursors: best?.cursors ?? new Map(), invalidSlots },
      generation: best?.generation ?? 0
    })
  }

  /** open the file for writing, creating it (two empty slots) when it is missing */
  static open(fs: FileOps, dir: string, generation: number): Either.Either<CursorFile, SpoolIOError | SpoolDiskFullError> {
    const path = join(dir, CURSOR_FILE)
    try {
      if (fs.existsSync(path)) {
        const fd = fs.openSync(path, "r+")
        const slotBytes = Math.max(SLOT_HEADER, Math.floor(fs.sizeSync(fd) / 2))
        return Either.right(new CursorFile(fs, dir, path, fd, slotBytes, generation))
      }
    } catch (e) {
      return Either.left(ioError(e, path, "open"))
    }
    const file = new CursorFile(fs, dir, path, -1, DEFAULT_SLOT_BYTES, generation)
    try {
      file.replace(undefined, DEFAULT_SLOT_BYTES, true)
    } catch (e) {
      return Either.left(ioError(e, path, "create"))
    }
    return Either.right(file)
  }

  /**
   * Write the cursors into the next slot (throws the fs error). Returns whether the caller still has
   * to fdatasync `fd` for the write to be durable (false when the file was replaced, which syncs itself).
   */
  write(cursors: ReadonlyMap<string, number>, durable: boolean): boolean {
    const generation = this.generation + 1
    const slot = encodeSlot(generation, cursors)
    if (slot.length > this.slotBytes) {
      let slotBytes = this.slotBytes
      while (slotBytes < slot.length) slotBytes *= 2
      this.replace({ slot, generation }, slotBytes, durable)
      this.generation = generation
      return false
    }
    const at = (generation % 2) * this.slotBytes
    let done = 0
    while (done < slot.length) done += this.fs.writeSync(this.fd, slot, done, slot.length - done, at + done)
    this.generation = generation
    return durable
  }

  /** a new file under a temporary name, holding `written` in the slot its generation picks, renamed over the old one */
  private replace(written: { readonly slot: Buffer; readonly generation: number } | undefined, slotBytes: number, durable: boolean): void {
    const tmp = join(this.dir, CURSOR_TMP_FILE)
    const content = Buffer.alloc(2 * slotBytes)
    if (written !== undefined) written.slot.copy(content, (written.generation % 2) * slotBytes)
    const fd = this.fs.openSync(tmp, "w+")
    try {
      let done = 0
      while (done < content.length) done += this.fs.writeSync(fd, content, done, content.length - done, done)
      if (durable) this.fs.fdatasyncSync(fd)
      this.fs.renameSync(tmp, this.path)
      if (durable) this.syncDir()
    } catch (e) {
      this.fs.closeSync(fd)
      try {
        this.fs.unlinkSync(tmp)
      } catch {
        // already gone
      }
      throw e
    }
    if (this.fd >= 0) this.fs.closeSync(this.fd)
    this.fd = fd
    this.slotBytes = slotBytes
  }

  private syncDir(): void {
    const fd = this.fs.openSync(this.dir, "r")
    try {
      this.fs.fsyncSync(fd)
    } finally {
      this.fs.closeSync(fd)
    }
  }
}
