/**
 * The machinery of `SegmentLog`: opening and recovery, appends, group commit, reads through the
 * per-segment offset index, cursors, deletion of consumed segments, background preallocation.
 *
 * Invariants:
 * - the last segment is the one written ("active"); it is never deleted, so the next seq is always
 *   known from disk, even when every record was consumed;
 * - in every segment, the bytes after the last valid record are zero (a write that failed is zeroed
 *   again before the next one, a torn tail is zeroed on open), so a scan stops exactly at the end;
 * - an fd is closed only when no fdatasync on the thread pool can be using it.
 */
import { Duration, Effect, Either, Option, type Scope } from "effect"
import { join } from "node:path"
import type { AppendedMany, Corruption, Durability, LogRecord, Options, Recovery, SegmentLog } from "../SegmentLog.js"
import { CURSOR_TMP_FILE, CursorFile } from "./cursors.js"
import {
  type AppendError,
  ioError,
  type OpenError,
  SpoolClosedError,
  SpoolCorruptError,
  type SpoolDiskFullError,
  type SpoolError,
  SpoolFullError,
  SpoolIOError,
  SpoolOptionsError,
  SpoolRecordTooLargeError
} from "./errors.js"
import type { FileOps } from "./files.js"
import {
  decodeHeader,
  encodeHeader,
  encodeRecord,
  HEADER_BYTES,
  OffsetIndex,
  RECORD_HEADER_BYTES,
  scanRecords,
  SEGMENT_FILE,
  segmentFileName
} from "./format.js"

export const SPARE_FILE = "spare"
export const SPARE_TMP_FILE = "spare.tmp"
const MiB = 1024 * 1024

interface Resolved {
  readonly dir: string
  readonly segmentBytes: number
  readonly durability: Durability
  readonly maxRecords: number
  readonly maxDelayMs: number
  readonly maxBytes: number
  readonly cursorIntervalMs: number
  readonly onCorruption: ((c: Corruption) => void) | undefined
}

const resolveOptions = (o: Options): Either.Either<Resolved, SpoolOptionsError> => {
  const segmentBytes = o.segmentBytes ?? 16 * MiB
  const maxBytes = o.maxBytes ?? 0
  const maxRecords = o.groupCommit?.maxRecords ?? 256
  const maxDelayMs = Duration.toMillis(Duration.decode(o.groupCommit?.maxDelay ?? "5 millis"))
  const cursorIntervalMs = Duration.toMillis(Duration.decode(o.cursorInterval ?? "1 second"))
  const bad = (message: string) => Either.left(new SpoolOptionsError({ message: `spool: ${message}` }))
  if (!Number.isSafeInteger(segmentBytes) || segmentBytes < 4096 || segmentBytes > 1024 * MiB) {
    return bad(`segmentBytes must be an integer from 4096 to 1 GiB, got ${segmentBytes}`)
  }
  if (!Number.isSafeInteger(maxBytes) || maxBytes < 0 || (maxBytes > 0 && maxBytes < 2 * segmentBytes)) {
    return bad(`maxBytes must be 0 (unlimited) or at least two segments (${2 * segmentBytes}), got ${maxBytes}`)
  }
  if (!Number.isSafeInteger(maxRecords) || maxRecords < 1) return bad(`groupCommit.maxRecords must be at least 1, got ${maxRecords}`)
  if (!Number.isFinite(maxDelayMs) || maxDelayMs < 0) return bad(`groupCommit.maxDelay must be finite`)
  if (!Number.isFinite(cursorIntervalMs) || cursorIntervalMs <= 0) return bad(`cursorInterval must be finite and positive`)
  return Either.right({
    dir: o.dir,
    segmentBytes,
    durability: o.durability ?? "fsync",
    maxRecords,
    maxDelayMs,
    maxBytes,
    cursorIntervalMs,
    onCorruption: o.onCorruption
  })
}

interface Segment {
  readonly firstSeq: number
  readonly path: string
  readonly fileBytes: number
  /** -1 when not open (a segment from before open that was not read yet) */
  fd: number
  /** undefined until the segment is first read (segments before the last one are scanned lazily) */
  index: OffsetIndex | undefined
  /** byte offset after the last valid record: where the next record goes in the active segment */
  end: number
}

interface Group {
  count: number
  readonly promise: Promise<void>
  readonly resolve: () => void
  readonly reject: (e: SpoolIOError) => void
  readonly timer: ReturnType<typeof setTimeout>
}

interface Prealloc {
  cancelled: boolean
  promise: Promise<void>
}

let zeros: Buffer | undefined
const zeroChunk = (): Buffer => (zeros ??= Buffer.alloc(MiB))

const writeFully = (fs: FileOps, fd: number, buf: Uint8Array, offset: number, length: number, position: number): void => {
  let done = 0
  while (done < length) done += fs.writeSync(fd, buf, offset + done, length - done, position + done)
}

const readFully = (fs: FileOps, fd: number, buf: Uint8Array, length: number, position: number): number => {
  let done = 0
  while (done < length) {
    const n = fs.readSync(fd, buf, done, length - done, position + done)
    if (n === 0) break
    done += n
  }
  return done
}

const zeroRange = (fs: FileOps, fd: number, from: number, to: number): void => {
  const z = zeroChunk()
  for (let pos = from; pos < to; pos += z.length) writeFully(fs, fd, z, 0, Math.min(z.length, to - pos), pos)
}

const closeQuietly = (fs: FileOps, fd: number): void => {
  try {
    fs.closeSync(fd)
  } catch {
    // nothing to do about it
  }
}

const unlinkQuietly = (fs: FileOps, path: string): void => {
  try {
    fs.unlinkSync(path)
  } catch {
    // already gone
  }
}

export class SegmentLogImpl implements SegmentLog {
  readonly dir: string
  readonly durability: Durability
  private next: number
  private scratch = Buffer.allocUnsafe(64 * 1024)
  private closed = false
  /** close() is done: every file is closed */
  private finished = false
  /** set by a failed fdatasync: the page cache can no longer be trusted, appends are refused */
  private failure: SpoolIOError | undefined
  /** a failed write left bytes up to here after the active segment's end: zeroed before the next write */
  private dirtyTo = 0

  // group commit
  private group: Group | undefined
  private syncing = false
  private syncAgain = false
  private roundsStarted = 0
  private roundsDone = 0
  private roundWaiters: Array<{ readonly round: number; readonly resolve: () => void }> = []
  /** fds written since the last sync round started, with their paths */
  private readonly unsynced = new Map<number, string>()
  private dirDirty = false
  private deferredClose: Array<number> = []
  /** fds of segments that were active, closed once the next sync round (which includes them) is done */
  private retired: Array<number> = []

  // cursors
  private readonly cursorMap: Map<string, number>
  private cursorsDirty = false
  private cursorSync: Promise<void> | undefined
  private cursorTimer: ReturnType<typeof setInterval> | undefined

  // the next segment, zero-filled ahead of time
  private spareReady: boolean
  private prealloc: Prealloc | undefined

  private constructor(
    private readonly o: Resolved,
    private readonly fs: FileOps,
    private readonly dirFd: number,
    private readonly segments: Array<Segment>,
    private readonly cursorFile: CursorFile,
    cursors: Map<string, number>,
    spareReady: boolean,
    readonly recovery: Recovery
  ) {
    this.dir = o.dir
    this.durability = o.durability
    const active = segments[segments.length - 1]!
    this.next = active.firstSeq + active.index!.count
    this.cursorMap = cursors
    this.spareReady = spareReady
  }

  // -------------------------------------------------------------------------------------------------------------------
  // open

  static make(options: Options, fs: FileOps): Either.Either<SegmentLogImpl, OpenError> {
    const resolved = resolveOptions(options)
    if (Either.isLeft(resolved)) return Either.left(resolved.left)
    const o = resolved.right
    const dir = o.dir
    let names: Array<string>
    try {
      fs.mkdirSync(dir)
      names = fs.readdirSync(dir)
    } catch (e) {
      return Either.left(ioError(e, dir, "open directory"))
    }
    const opened: Array<number> = []
    const fail = (e: OpenError) => {
      for (const fd of opened) closeQuietly(fs, fd)
      return Either.left(e)
    }

    // 1. Read-only checks of every file, so that a refused open (a newer format, a corrupt header)
    // changes nothing on disk.
    const segments: Array<Segment> = []
    const header = Buffer.alloc(HEADER_BYTES)
    const segmentNames = names.filter((n) => SEGMENT_FILE.test(n)).sort()
    /** the last segment's header was never written to the disk (a power cut right after it was renamed into place) */
    let headerLost = false
    for (const name of segmentNames) {
      const path = join(dir, name)
      let fd: number
      let size: number
      let got: number
      try {
        fd = fs.openSync(path, "r")
        opened.push(fd)
        size = fs.sizeSync(fd)
        got = readFully(fs, fd, header, HEADER_BYTES, 0)
      } catch (e) {
        return fail(ioError(e, path, "open"))
      }
      const named = Number(name.slice(0, 20))
      if (name === segmentNames[segmentNames.length - 1] && got === HEADER_BYTES && header.every((b) => b === 0) && named >= 1) {
        // Nothing in it can have been acknowledged: the fdatasync that covers a record covers the header too.
        headerLost = true
      } else {
        const firstSeq = decodeHeader(header, got, path)
        if (Either.isLeft(firstSeq)) return fail(firstSeq.left)
        if (firstSeq.right !== named) {
          return fail(new SpoolCorruptError({ file: path, reason: `its header names first seq ${firstSeq.right}` }))
        }
      }
      segments.push({ firstSeq: named, path, fileBytes: size, fd, index: undefined, end: HEADER_BYTES })
    }
    // Earlier segments are opened again when they are first read: a long backlog does not hold an fd per segment.
    for (const seg of segments.slice(0, -1)) {
      closeQuietly(fs, seg.fd)
      opened.splice(opened.indexOf(seg.fd), 1)
      seg.fd = -1
    }
    const cursorRead = CursorFile.read(fs, dir)
    if (Either.isLeft(cursorRead)) return fail(cursorRead.left)

    // 2. The valid prefix of the last segment.
    let recovery: Recovery = { file: "", records: 0, stop: "zeros", cutBytes: 0, invalidCursorSlots: 0 }
    const last = segments[segments.length - 1]
    let lastContent: Buffer | undefined
    let lastSize = 0
    if (last !== undefined) {
      lastContent = Buffer.allocUnsafe(last.fileBytes)
      let got: number
      try {
        got = readFully(fs, last.fd, lastContent, last.fileBytes, 0)
      } catch (e) {
        return fail(ioError(e, last.path, "read"))
      }
      if (headerLost) lastContent.fill(0, 0, HEADER_BYTES)
      const scan = headerLost
        ? { index: new OffsetIndex(), end: HEADER_BYTES, stop: "zeros" as const }
        : scanRecords(lastContent, got, last.firstSeq)
      last.index = scan.index
      last.end = scan.end
      lastSize = got
      recovery = { ...recovery, file: last.path, records: scan.index.count, stop: scan.stop }
    }

    // 3. Changes: the directory fd, the tail zeroed, leftovers removed, the first segment created.
    let dirFd: number
    try {
      dirFd = fs.openSync(dir, "r")
      opened.push(dirFd)
    } catch (e) {
      return fail(ioError(e, dir, "open directory"))
    }
    if (last !== undefined) {
      try {
        fs.closeSync(last.fd)
        opened.splice(opened.indexOf(last.fd), 1)
        last.fd = fs.openSync(last.path, "r+")
        opened.push(last.fd)
        if (headerLost) writeFully(fs, last.fd, encodeHeader(last.firstSeq), 0, HEADER_BYTES, 0)
        const cutBytes = zeroJunk(fs, last.fd, lastContent!, last.end, lastSize)
        if (cutBytes > 0 || headerLost) fs.fdatasyncSync(last.fd)
        recovery = { ...recovery, cutBytes }
      } catch (e) {
        return fail(ioError(e, last.path, "recover the tail of"))
      }
    }
    for (const name of names) {
      if (name === SPARE_TMP_FILE || name === CURSOR_TMP_FILE || name.endsWith(".seg.tmp")) unlinkQuietly(fs, join(dir, name))
    }
    let spareReady = false
    if (names.includes(SPARE_FILE)) {
      const spare = join(dir, SPARE_FILE)
      try {
        const fd = fs.openSync(spare, "r")
        const size = fs.sizeSync(fd)
        fs.closeSync(fd)
        spareReady = size === o.segmentBytes
      } catch {
        // not usable
      }
      if (!spareReady) unlinkQuietly(fs, spare)
    }
    if (last === undefined) {
      const created = createSegmentFile(fs, o, join(dir, segmentFileName(1)), 1)
      if (Either.isLeft(created)) return fail(created.left)
      opened.push(created.right)
      try {
        if (o.durability === "fsync") {
          fs.fdatasyncSync(created.right)
          fs.fsyncSync(dirFd)
        }
      } catch (e) {
        return fail(ioError(e, dir, "sync"))
      }
      segments.push({
        firstSeq: 1,
        path: join(dir, segmentFileName(1)),
        fileBytes: o.segmentBytes,
        fd: created.right,
        index: new OffsetIndex(),
        end: HEADER_BYTES
      })
    }

    // 4. Cursors, clamped to what is on disk.
    const generation = cursorRead.right?.generation ?? 0
    const cursorFile = CursorFile.open(fs, dir, generation)
    if (Either.isLeft(cursorFile)) return fail(cursorFile.left)
    const active = segments[segments.length - 1]!
    const nextSeq = active.firstSeq + active.index!.count
    const firstSeq = segments[0]!.firstSeq
    const cursors = new Map<string, number>()
    for (const [name, seq] of cursorRead.right?.recovery.cursors ?? []) cursors.set(name, Math.min(Math.max(seq, firstSeq), nextSeq))
    recovery = { ...recovery, invalidCursorSlots: cursorRead.right?.recovery.invalidSlots ?? 0 }

    const log = new SegmentLogImpl(o, fs, dirFd, segments, cursorFile.right, cursors, spareReady, recovery)
    log.reclaim()
    log.startPrealloc()
    log.cursorTimer = setInterval(() => log.persistCursors(), o.cursorIntervalMs)
    log.cursorTimer.unref()
    return Either.right(log)
  }

  // -------------------------------------------------------------------------------------------------------------------
  // appends

  private get active(): Segment {
    return this.segments[this.segments.length - 1]!
  }

  private refused(): AppendError | undefined {
    if (this.closed) return new SpoolClosedError({ dir: this.dir })
    return this.failure
  }

  private scratchFor(bytes: number): Buffer {
    if (this.scratch.length < bytes) this.scratch = Buffer.allocUnsafe(Math.max(bytes, this.scratch.length * 2))
    return this.scratch
  }

  /** room for `bytes` in the active segment: a new segment when it does not fit, a failed write's bytes zeroed */
  private prepare(bytes: number): AppendError | undefined {
    const max = this.o.segmentBytes - HEADER_BYTES
    if (bytes > max) return new SpoolRecordTooLargeError({ bytes, maxBytes: max })
    if (this.active.end + bytes > this.active.fileBytes) {
      const rolled = this.roll()
      if (rolled !== undefined) return rolled
    }
    if (this.dirtyTo > this.active.end) {
      try {
        zeroRange(this.fs, this.active.fd, this.active.end, this.dirtyTo)
        this.dirtyTo = 0
      } catch (e) {
        return ioError(e, this.active.path, "zero a failed write in")
      }
    }
    return undefined
  }

  /** write `bytes` of the scratch buffer at the active segment's end; on failure nothing counts */
  private writeRecords(bytes: number): AppendError | undefined {
    const seg = this.active
    try {
      writeFully(this.fs, seg.fd, this.scratch, 0, bytes, seg.end)
    } catch (e) {
      // Part of it may be in the file: cut it off now, or before the next write if this fails too.
      this.dirtyTo = Math.max(this.dirtyTo, seg.end + bytes)
      try {
        zeroRange(this.fs, seg.fd, seg.end, this.dirtyTo)
        this.dirtyTo = 0
      } catch {
        // retried by the next prepare
      }
      return ioError(e, seg.path, "append to")
    }
    return undefined
  }

  private committed(records: number): Promise<void> | undefined {
    if (this.o.durability === "write") return undefined
    this.unsynced.set(this.active.fd, this.active.path)
    let group = this.group
    if (group === undefined) {
      let resolve!: () => void
      let reject!: (e: SpoolIOError) => void
      const promise = new Promise<void>((res, rej) => {
        resolve = res
        reject = rej
      })
      // a caller that drops `durable` must not turn a failed fdatasync into an unhandled rejection
      promise.catch(() => {})
      const timer = setTimeout(() => this.syncRound(), this.o.maxDelayMs)
      group = this.group = { count: 0, promise, resolve, reject, timer }
    }
    group.count += records
    const promise = group.promise
    if (group.count >= this.o.maxRecords) this.syncRound()
    return promise
  }

  append(payload: Uint8Array): Either.Either<{ readonly seq: number; readonly durable: Promise<void> | undefined }, AppendError> {
    const refused = this.refused()
    if (refused !== undefined) return Either.left(refused)
    const bytes = RECORD_HEADER_BYTES + payload.length
    const room = this.prepare(bytes)
    if (room !== undefined) return Either.left(room)
    const seq = this.next
    encodeRecord(this.scratchFor(bytes), 0, seq, payload)
    const failed = this.writeRecords(bytes)
    if (failed !== undefined) return Either.left(failed)
    const seg = this.active
    seg.index!.push(seg.end)
    seg.end += bytes
    this.next++
    return Either.right({ seq, durable: this.committed(1) })
  }

  appendMany(payloads: ReadonlyArray<Uint8Array>): Either.Either<AppendedMany, AppendError> {
    const refused = this.refused()
    if (refused !== undefined) return Either.left(refused)
    const firstSeq = this.next
    if (payloads.length === 0) return Either.right({ firstSeq, lastSeq: firstSeq - 1, durable: undefined })
    let bytes = 0
    for (const p of payloads) bytes += RECORD_HEADER_BYTES + p.length
    const room = this.prepare(bytes)
    if (room !== undefined) return Either.left(room)
    const buf = this.scratchFor(bytes)
    let at = 0
    for (let i = 0; i < payloads.length; i++) at += encodeRecord(buf, at, firstSeq + i, payloads[i]!)
    const failed = this.writeRecords(bytes)
    if (failed !== undefined) return Either.left(failed)
    const seg = this.active
    let offset = seg.end
    for (const p of payloads) {
      seg.index!.push(offset)
      offset += RECORD_HEADER_BYTES + p.length
    }
    seg.end = offset
    this.next += payloads.length
    return Either.right({ firstSeq, lastSeq: this.next - 1, durable: this.committed(payloads.length) })
  }

  /** the bytes of the segment files, without the spare */
  private segmentBytesOnDisk(): number {
    let total = 0
    for (const s of this.segments) total += s.fileBytes
    return total
  }

  sizeBytes(): number {
    const spare = this.spareReady || (this.prealloc !== undefined && !this.prealloc.cancelled) ? this.o.segmentBytes : 0
    return this.segmentBytesOnDisk() + spare
  }

  /** Start the next segment at the next seq: the spare renamed into place, or a new file made now. */
  private roll(): AppendError | undefined {
    const firstSeq = this.next
    const path = join(this.dir, segmentFileName(firstSeq))
    let fd = -1
    if (this.spareReady) {
      const spare = join(this.dir, SPARE_FILE)
      try {
        fd = this.fs.openSync(spare, "r+")
        writeFully(this.fs, fd, encodeHeader(firstSeq), 0, HEADER_BYTES, 0)
        this.fs.renameSync(spare, path)
        this.spareReady = false
      } catch (e) {
        if (fd >= 0) closeQuietly(this.fs, fd)
        fd = -1
        // a spare that cannot be used is made again
        this.spareReady = false
        unlinkQuietly(this.fs, spare)
        if (!(e instanceof Error && "code" in e && e.code === "ENOENT")) return ioError(e, spare, "start a segment from")
      }
    }
    if (fd < 0) {
      if (this.o.maxBytes > 0 && this.segmentBytesOnDisk() + this.o.segmentBytes > this.o.maxBytes) {
        return new SpoolFullError({ firstSeq: this.firstSeq(), sizeBytes: this.sizeBytes(), maxBytes: this.o.maxBytes })
      }
      // A preallocation under way is abandoned: waiting for it is not possible in a synchronous call.
      if (this.prealloc !== undefined) this.prealloc.cancelled = true
      const created = createSegmentFile(this.fs, this.o, path, firstSeq)
      if (Either.isLeft(created)) return created.left
      fd = created.right
    }
    const previous = this.active
    if (previous.firstSeq === firstSeq) {
      // An empty segment too small for the record (made with a smaller segmentBytes, or cut short): the
      // new file has taken its name.
      this.closeFd(previous.fd)
      this.segments.pop()
    } else {
      // The completed segment is fdatasynced by the next sync round, then closed (reads open it again).
      // In fsync mode that is the round of the group its last records belong to; in write mode it starts
      // now, in the background, with the new directory entry.
      this.unsynced.set(previous.fd, previous.path)
      this.retired.push(previous.fd)
      previous.fd = -1
    }
    this.segments.push({ firstSeq, path, fileBytes: this.o.segmentBytes, fd, index: new OffsetIndex(), end: HEADER_BYTES })
    this.dirtyTo = 0
    this.dirDirty = true
    if (this.o.durability === "write") this.syncRound()
    this.startPrealloc()
    return undefined
  }

  /** zero-fill the next segment in the background, within maxBytes */
  private startPrealloc(): void {
    if (this.closed || this.spareReady || this.prealloc !== undefined || this.failure !== undefined) return
    if (this.o.maxBytes > 0 && this.segmentBytesOnDisk() + this.o.segmentBytes > this.o.maxBytes) return
    const job: Prealloc = { cancelled: false, promise: Promise.resolve() }
    this.prealloc = job
    job.promise = this.preallocate(job).finally(() => {
      if (this.prealloc === job) this.prealloc = undefined
    })
  }

  private async preallocate(job: Prealloc): Promise<void> {
    const tmp = join(this.dir, SPARE_TMP_FILE)
    let fd = -1
    try {
      fd = this.fs.openSync(tmp, "w")
      const z = zeroChunk()
      for (let pos = 0; pos < this.o.segmentBytes && !job.cancelled;) {
        pos += await this.fs.write(fd, z, 0, Math.min(z.length, this.o.segmentBytes - pos), pos)
      }
      if (!job.cancelled && this.o.durability === "fsync") await this.fs.fdatasync(fd)
      this.fs.closeSync(fd)
      fd = -1
      if (job.cancelled) {
        unlinkQuietly(this.fs, tmp)
        return
      }
      this.fs.renameSync(tmp, join(this.dir, SPARE_FILE))
      this.spareReady = true
    } catch {
      // ENOSPC and the like: the next roll makes its segment itself, and reports the error if it fails too
      if (fd >= 0) closeQuietly(this.fs, fd)
      unlinkQuietly(this.fs, tmp)
    }
  }

  // -------------------------------------------------------------------------------------------------------------------
  // group commit

  /**
   * One sync round: fdatasync every fd written since the last round started (and the directory when a
   * segment was created), then settle the group those writes belong to. One round at a time; a round
   * asked for meanwhile runs as soon as the current one ends.
   */
  private syncRound(): void {
    if (this.syncing) {
      this.syncAgain = true
      return
    }
    const group = this.group
    if (group !== undefined) {
      clearTimeout(group.timer)
      this.group = undefined
    }
    const files = [...this.unsynced]
    this.unsynced.clear()
    const dir = this.dirDirty
    this.dirDirty = false
    if (files.length === 0 && !dir) {
      group?.resolve()
      return
    }
    // every retired fd is among `files` (it was added when it was retired): closed after the round
    this.deferredClose.push(...this.retired.splice(0))
    this.syncing = true
    this.roundsStarted++
    const run = async (): Promise<void> => {
      for (const [fd, path] of files) {
        try {
          await this.fs.fdatasync(fd)
        } catch (e) {
          throw new SpoolIOError({ file: path, operation: "fdatasync", cause: e })
        }
      }
      if (dir) {
        try {
          await this.fs.fsync(this.dirFd)
        } catch (e) {
          throw new SpoolIOError({ file: this.dir, operation: "fsync", cause: e })
        }
      }
    }
    run().then(
      () => this.roundDone(group, undefined),
      (e: SpoolIOError) => this.roundDone(group, e)
    )
  }

  private roundDone(group: Group | undefined, error: SpoolIOError | undefined): void {
    this.syncing = false
    this.roundsDone++
    for (const fd of this.deferredClose.splice(0)) closeQuietly(this.fs, fd)
    if (error === undefined) {
      group?.resolve()
    } else {
      this.failure ??= error
      group?.reject(error)
    }
    const waiting = this.roundWaiters
    this.roundWaiters = []
    for (const w of waiting) {
      if (w.round <= this.roundsDone) w.resolve()
      else this.roundWaiters.push(w)
    }
    if (this.syncAgain) {
      this.syncAgain = false
      this.syncRound()
    }
  }

  /** close an fd now, or after the sync round that may be using it */
  private closeFd(fd: number): void {
    this.unsynced.delete(fd)
    if (this.syncing) this.deferredClose.push(fd)
    else closeQuietly(this.fs, fd)
  }

  /** everything written so far is fdatasynced, with the directory */
  private async flush(): Promise<void> {
    if (this.finished) return // everything was synced by close
    this.unsynced.set(this.active.fd, this.active.path)
    const round = this.roundsStarted + 1
    this.syncRound()
    if (this.roundsDone < round) await new Promise<void>((resolve) => this.roundWaiters.push({ round, resolve }))
    if (this.failure !== undefined) throw this.failure
  }

  readonly sync: Effect.Effect<void, SpoolIOError> = Effect.tryPromise({
    try: () => this.flush(),
    catch: (e) => (e instanceof SpoolIOError ? e : new SpoolIOError({ file: this.dir, operation: "sync", cause: e }))
  })

  // -------------------------------------------------------------------------------------------------------------------
  // reads

  firstSeq(): number {
    return this.segments[0]!.firstSeq
  }

  nextSeq(): number {
    return this.next
  }

  /** the segment's offset index, scanning it on its first read (the CRC of every record is checked then) */
  private indexOf(k: number): Either.Either<OffsetIndex, SpoolIOError> {
    const seg = this.segments[k]!
    if (seg.index !== undefined) return Either.right(seg.index)
    let content: Buffer
    let size: number
    try {
      if (seg.fd < 0) seg.fd = this.fs.openSync(seg.path, "r")
      content = Buffer.allocUnsafe(seg.fileBytes)
      size = readFully(this.fs, seg.fd, content, seg.fileBytes, 0)
    } catch (e) {
      return Either.left(new SpoolIOError({ file: seg.path, operation: "read", cause: e }))
    }
    const scan = scanRecords(content, size, seg.firstSeq)
    seg.index = scan.index
    seg.end = scan.end
    const expected = this.segments[k + 1]!.firstSeq - seg.firstSeq
    if (scan.index.count < expected && this.o.onCorruption !== undefined) {
      this.o.onCorruption({
        file: seg.path,
        offset: scan.end,
        reason: scan.stop,
        fromSeq: seg.firstSeq + scan.index.count,
        toSeq: seg.firstSeq + expected - 1
      })
    }
    return Either.right(scan.index)
  }

  /** the last segment whose first seq is ≤ seq (0 when seq is below every segment) */
  private segmentOf(seq: number): number {
    let lo = 0
    let hi = this.segments.length - 1
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1
      if (this.segments[mid]!.firstSeq <= seq) lo = mid
      else hi = mid - 1
    }
    return lo
  }

  read(fromSeq: number, maxRecords: number, maxBytes = Number.POSITIVE_INFINITY): Either.Either<Array<LogRecord>, SpoolIOError | SpoolClosedError> {
    if (this.closed) return Either.left(new SpoolClosedError({ dir: this.dir }))
    const out: Array<LogRecord> = []
    let seq = Math.max(fromSeq, this.firstSeq())
    let k = this.segmentOf(seq)
    let bytes = 0
    while (k < this.segments.length && out.length < maxRecords && seq < this.next) {
      const seg = this.segments[k]!
      const indexed = this.indexOf(k)
      if (Either.isLeft(indexed)) return Either.left(indexed.left)
      const index = indexed.right
      const first = seq - seg.firstSeq
      let j = first
      let limited = false
      while (j < index.count && out.length + (j - first) < maxRecords) {
        const recordEnd = j + 1 < index.count ? index.at(j + 1) : seg.end
        const payloadBytes = recordEnd - index.at(j) - RECORD_HEADER_BYTES
        if (bytes + payloadBytes > maxBytes && out.length + (j - first) > 0) {
          limited = true
          break
        }
        bytes += payloadBytes
        j++
      }
      if (j > first) {
        const start = index.at(first)
        const stop = j < index.count ? index.at(j) : seg.end
        const buf = Buffer.allocUnsafe(stop - start)
        try {
          if (seg.fd < 0) seg.fd = this.fs.openSync(seg.path, "r")
          readFully(this.fs, seg.fd, buf, stop - start, start)
        } catch (e) {
          return Either.left(new SpoolIOError({ file: seg.path, operation: "read", cause: e }))
        }
        for (let i = first; i < j; i++) {
          const at = index.at(i) - start
          const len = buf.readUInt32LE(at)
          out.push({ seq: seg.firstSeq + i, payload: buf.subarray(at + RECORD_HEADER_BYTES, at + RECORD_HEADER_BYTES + len) })
        }
      }
      if (limited || out.length >= maxRecords) break
      // a completed segment read to its end: its fd goes until it is read again
      if (k < this.segments.length - 1 && seg.fd >= 0) {
        this.closeFd(seg.fd)
        seg.fd = -1
      }
      k++
      if (k < this.segments.length) seq = Math.max(seg.firstSeq + j, this.segments[k]!.firstSeq)
    }
    return Either.right(out)
  }

  // -------------------------------------------------------------------------------------------------------------------
  // cursors and space

  cursor(name: string, start: "oldest" | "next" = "oldest"): number {
    const seq = this.cursorMap.get(name)
    if (seq !== undefined) return Math.max(seq, this.firstSeq())
    const initial = start === "oldest" ? this.firstSeq() : this.next
    this.cursorMap.set(name, initial)
    this.cursorsDirty = true
    return initial
  }

  cursors(): ReadonlyMap<string, number> {
    return new Map([...this.cursorMap].map(([name, seq]) => [name, Math.max(seq, this.firstSeq())]))
  }

  setCursor(name: string, seq: number): void {
    if (!Number.isSafeInteger(seq) || seq > this.next) {
      throw new RangeError(`spool: cursor ${name} set to ${seq}, beyond the next seq ${this.next}`)
    }
    const value = Math.max(seq, this.firstSeq())
    if (this.cursorMap.get(name) === value) return
    this.cursorMap.set(name, value)
    this.cursorsDirty = true
    if (this.segments.length > 1 && value >= this.segments[1]!.firstSeq) this.reclaim()
  }

  removeCursor(name: string): void {
    if (this.cursorMap.delete(name)) {
      this.cursorsDirty = true
      this.reclaim()
    }
  }

  /** delete the segments every cursor is past; with no cursor at all nothing is consumed, so nothing goes */
  private reclaim(): void {
    if (this.cursorMap.size === 0) return
    let min = Number.POSITIVE_INFINITY
    for (const seq of this.cursorMap.values()) min = Math.min(min, seq)
    let removed = false
    while (this.segments.length > 1 && this.segments[1]!.firstSeq <= min) {
      if (this.removeOldest() !== undefined) break // tried again on the next cursor move
      removed = true
    }
    if (removed) this.startPrealloc()
  }

  /** delete the oldest segment; the error when it could not be deleted */
  private removeOldest(): SpoolIOError | undefined {
    const seg = this.segments[0]!
    try {
      this.fs.unlinkSync(seg.path)
    } catch (e) {
      if (!(e instanceof Error && "code" in e && e.code === "ENOENT")) return new SpoolIOError({ file: seg.path, operation: "delete", cause: e })
    }
    if (seg.fd >= 0) this.closeFd(seg.fd)
    this.segments.shift()
    return undefined
  }

  dropOldestSegment(): Either.Either<Option.Option<{ readonly fromSeq: number; readonly toSeq: number }>, SpoolIOError> {
    if (this.segments.length <= 1) return Either.right(Option.none())
    const fromSeq = this.segments[0]!.firstSeq
    const toSeq = this.segments[1]!.firstSeq - 1
    const failed = this.removeOldest()
    if (failed !== undefined) return Either.left(failed)
    for (const [name, seq] of this.cursorMap) {
      if (seq <= toSeq) {
        this.cursorMap.set(name, toSeq + 1)
        this.cursorsDirty = true
      }
    }
    this.startPrealloc()
    return Either.right(Option.some({ fromSeq, toSeq }))
  }

  /** write changed cursors to the next slot; in fsync mode, fdatasync it (one at a time) */
  private persistCursors(): void {
    if (!this.cursorsDirty || this.cursorSync !== undefined) return
    this.cursorsDirty = false
    let needsSync: boolean
    try {
      needsSync = this.cursorFile.write(this.cursorMap, this.o.durability === "fsync")
    } catch {
      this.cursorsDirty = true // tried again on the next tick
      return
    }
    if (!needsSync) return
    this.cursorSync = this.fs.fdatasync(this.cursorFile.fd).then(
      () => {
        this.cursorSync = undefined
      },
      () => {
        this.cursorSync = undefined
        this.cursorsDirty = true
      }
    )
  }

  // -------------------------------------------------------------------------------------------------------------------
  // close

  /** commit, fdatasync, write the cursors, close the files; returns what failed */
  async close(): Promise<ReadonlyArray<SpoolError>> {
    if (this.closed) return []
    this.closed = true
    const errors: Array<SpoolError> = []
    if (this.cursorTimer !== undefined) clearInterval(this.cursorTimer)
    try {
      await this.flush()
    } catch (e) {
      errors.push(e instanceof SpoolIOError ? e : new SpoolIOError({ file: this.dir, operation: "sync", cause: e }))
    }
    if (this.cursorSync !== undefined) await this.cursorSync
    try {
      const replaced = this.cursorsDirty && !this.cursorFile.write(this.cursorMap, true)
      this.cursorsDirty = false
      if (!replaced) this.fs.fdatasyncSync(this.cursorFile.fd)
    } catch (e) {
      errors.push(ioError(e, this.cursorFile.path, "write cursors to"))
    }
    const job = this.prealloc
    if (job !== undefined) {
      job.cancelled = true
      await job.promise
    }
    for (const fd of this.deferredClose.splice(0)) closeQuietly(this.fs, fd)
    for (const seg of this.segments) {
      if (seg.fd >= 0) closeQuietly(this.fs, seg.fd)
      seg.fd = -1
    }
    closeQuietly(this.fs, this.cursorFile.fd)
    closeQuietly(this.fs, this.dirFd)
    this.finished = true
    return errors
  }
}

/** Zero every 64 KiB block after `end` that is not zero already; returns the bytes zeroed. */
const zeroJunk = (fs: FileOps, fd: number, content: Buffer, end: number, size: number): number => {
  const block = 64 * 1024
  const z = zeroChunk()
  let cut = 0
  for (let from = end; from < size;) {
    const to = Math.min(size, (Math.floor(from / block) + 1) * block)
    if (content.compare(z, 0, to - from, from, to) !== 0) {
      zeroRange(fs, fd, from, to)
      cut += to - from
    }
    from = to
  }
  return cut
}

/** A new segment file, zero-filled with its header, made under a temporary name and renamed into place. */
const createSegmentFile = (
  fs: FileOps,
  o: Resolved,
  path: string,
  firstSeq: number
): Either.Either<number, SpoolDiskFullError | SpoolIOError> => {
  const tmp = `${path}.tmp`
  let fd = -1
  try {
    fd = fs.openSync(tmp, "w+")
    zeroRange(fs, fd, 0, o.segmentBytes)
    writeFully(fs, fd, encodeHeader(firstSeq), 0, HEADER_BYTES, 0)
    fs.renameSync(tmp, path)
    return Either.right(fd)
  } catch (e) {
    if (fd >= 0) closeQuietly(fs, fd)
    unlinkQuietly(fs, tmp)
    return Either.left(ioError(e, path, "preallocate"))
  }
}

/** `SegmentLog.open` with the filesystem calls given (tests inject failures). */
export const openWith = (options: Options, fs: FileOps): Effect.Effect<SegmentLog, OpenError, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.suspend(() => SegmentLogImpl.make(options, fs)).pipe(
      Effect.tap((log) =>
        log.recovery.cutBytes > 0 || log.recovery.invalidCursorSlots > 0
          ? Effect.logWarning(
            `spool: recovered ${log.recovery.records} records of ${log.recovery.file} (stopped at: ${log.recovery.stop}), ` +
              `zeroed ${log.recovery.cutBytes} bytes after them, ${log.recovery.invalidCursorSlots} torn cursor slot(s)`
          )
          : Effect.void
      )
    ),
    (log) =>
      Effect.promise(() => log.close()).pipe(
        Effect.flatMap((errors) => Effect.forEach(errors, (e) => Effect.logError(`spool: closing ${log.dir}: ${e.message}`), { discard: true }))
      )
  )
