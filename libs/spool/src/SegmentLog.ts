/**
 * The durable store under Sidekick's spool: an append-only log of records split into segment files,
 * in the style of Kafka's log segments and Vector's disk buffer. Each accepted event is stored once;
 * each output keeps a named cursor (the next seq it has not acknowledged); a segment is deleted once
 * every cursor is past it.
 *
 * Why a log of our own on `node:fs` and not an embedded database: SQLite, LMDB and LevelDB were
 * considered and rejected. All three need native modules (a build per Node ABI and libc, in the image
 * and on every developer machine); LevelDB's compactions and SQLite's checkpoints stall writers at
 * moments the application does not choose; and their files do not shrink when a backlog drains
 * (SQLite needs a VACUUM, LMDB never returns pages to the filesystem), whereas a spool is a FIFO whose
 * size should follow its backlog. A FIFO with one writer needs none of their features: appends at the
 * tail, sequential reads, deletion of whole files at the head.
 *
 * Measured on the development machine (an ext4 volume, 2 cores) with this design — length + CRC32 +
 * seq per record, 16 MiB preallocated segments, cursors in a small double-buffered file: 170k
 * events/s appended at 64 per durable commit, 0.8M events/s read, about 6 % of a core at 5k events/s
 * with group commit (an fdatasync at most every 5 ms or 256 events), a reopen after kill -9 in under
 * 40 ms with every acknowledged event (this implementation, which reads the whole last segment on open:
 * 93-126 ms with a full 16 MiB one), and exactly the valid prefix recovered after a torn or
 * bit-flipped tail. One fdatasync costs 0.2–0.4 ms there, and overwriting a preallocated, zero-filled
 * file syncs about twice as cheaply as appending to a growing one (no block allocation, no size change
 * for fdatasync to write) — hence segments are zero-filled before they are used, in the background.
 *
 * Durability:
 * - `"write"`: every append is written with one `pwrite` before it returns, so it survives a crash of
 *   the process (kill -9, OOM kill) but not of the machine. Segments are fdatasynced in the background
 *   when they are complete, and everything on close.
 * - `"fsync"`: the same write, plus group commit: one `fdatasync` (on the libuv thread pool, the event
 *   loop keeps running) covers every record appended since the previous one; it starts when
 *   `maxRecords` records wait or `maxDelay` after the oldest of them, and `durable` resolves when it is
 *   done. Only one fdatasync runs at a time; records appended meanwhile form the next group. A new
 *   segment's directory entry is fsynced by the group commit that covers its first records.
 *
 * Files in `dir`: `<first seq, 20 digits>.seg` (the segments, see `internal/format.ts`), `cursors`
 * (see `internal/cursors.ts`), `spare` (the next segment, zero-filled ahead of time) and `*.tmp`
 * (files being made; deleted on open).
 *
 * One process at a time: nothing locks the directory (Node has no flock); give each process its own.
 */
import type { Duration, Effect, Either, Option, Scope } from "effect"
import { nodeFileOps } from "./internal/files.js"
import { openWith } from "./internal/segmentLog.js"
import type { AppendError, OpenError, ReadError, SpoolIOError } from "./internal/errors.js"
import type { StopReason } from "./internal/format.js"

export {
  type AppendError,
  type OpenError,
  type ReadError,
  SpoolClosedError,
  SpoolCorruptError,
  SpoolDiskFullError,
  type SpoolError,
  SpoolFullError,
  SpoolIOError,
  SpoolOptionsError,
  SpoolRecordTooLargeError,
  SpoolVersionError
} from "./internal/errors.js"
export { FORMAT_VERSION } from "./internal/format.js"
export type { StopReason } from "./internal/format.js"

export type Durability = "write" | "fsync"

export interface Options {
  readonly dir: string
  /** size of each preallocated segment file; default 16 MiB */
  readonly segmentBytes?: number
  /** default "fsync" */
  readonly durability?: Durability
  /** fsync mode: one fdatasync per group of at most `maxRecords` (default 256) or `maxDelay` (default 5 ms) after its oldest record */
  readonly groupCommit?: { readonly maxRecords?: number; readonly maxDelay?: Duration.DurationInput }
  /** bytes on disk (segments and the spare), at least two segments; 0 (default) = unlimited */
  readonly maxBytes?: number
  /**
   * how often changed cursors are written (default 1 second; and always on close). A cursor update
   * lost in a crash means redelivery of what it had acknowledged, never loss. In fsync mode each
   * write is fdatasynced.
   */
  readonly cursorInterval?: Duration.DurationInput
  /** told about records found unreadable in a segment when it is first read (the range is skipped) */
  readonly onCorruption?: (corruption: Corruption) => void
}

export interface Corruption {
  readonly file: string
  /** byte offset of the first record that is not valid */
  readonly offset: number
  readonly reason: StopReason
  /** the seqs the segment should have held but that could not be read */
  readonly fromSeq: number
  readonly toSeq: number
}

/** What open found in the last segment and the cursors file. */
export interface Recovery {
  /** the last segment ("" when the spool was new) */
  readonly file: string
  /** valid records in it */
  readonly records: number
  /** why its scan stopped: "zeros" or "end" after a clean stop, otherwise the first record that was not valid */
  readonly stop: StopReason
  /** bytes after the valid end that were not zero (a torn or corrupt tail): zeroed */
  readonly cutBytes: number
  /** cursor slots that held something but were not valid (a torn write): the other slot was used */
  readonly invalidCursorSlots: number
}

export interface Appended {
  readonly seq: number
  /** fsync mode: resolves once an fdatasync covers the record (rejects with SpoolIOError if it fails); write mode: undefined */
  readonly durable: Promise<void> | undefined
}

export interface AppendedMany {
  /** seq of the first record (= nextSeq when there were none) */
  readonly firstSeq: number
  readonly lastSeq: number
  readonly durable: Promise<void> | undefined
}

export interface LogRecord {
  readonly seq: number
  /** a view into one buffer shared by the records of the same `read` */
  readonly payload: Uint8Array
}

export interface Dropped {
  readonly fromSeq: number
  readonly toSeq: number
}

export interface SegmentLog {
  readonly dir: string
  readonly durability: Durability
  readonly recovery: Recovery
  /**
   * Store one record: written to the file before this returns (one pwrite). Fails, writing nothing
   * that counts, when the log is full (maxBytes), the disk is full, the record is larger than a segment
   * or the log is closed.
   */
  readonly append: (payload: Uint8Array) => Either.Either<Appended, AppendError>
  /** Store several records with one write (in one segment; a group larger than a segment fails). */
  readonly appendMany: (payloads: ReadonlyArray<Uint8Array>) => Either.Either<AppendedMany, AppendError>
  /**
   * Records in seq order from the first seq ≥ `fromSeq` still on disk: at most `maxRecords`, and at
   * most `maxBytes` of payload except that the first record is returned whatever its size.
   */
  readonly read: (fromSeq: number, maxRecords: number, maxBytes?: number) => Either.Either<Array<LogRecord>, ReadError>
  /**
   * The next seq the named consumer has not acknowledged. A name seen for the first time starts at
   * `firstSeq()` ("oldest", the default: nothing on disk is skipped) or at `nextSeq()` ("next"); either
   * way it holds back the deletion of segments from then on.
   */
  readonly cursor: (name: string, start?: "oldest" | "next") => number
  /** every cursor, by name */
  readonly cursors: () => ReadonlyMap<string, number>
  /**
   * Everything below `seq` is acknowledged by `name` (seq ≤ nextSeq(); a seq below firstSeq() counts as
   * firstSeq()). Segments every cursor is past are deleted now; the cursor is written within `cursorInterval`.
   */
  readonly setCursor: (name: string, seq: number) => void
  /** forget a consumer (an output that was removed): it no longer holds segments back */
  readonly removeCursor: (name: string) => void
  /** the oldest seq still on disk (= nextSeq() when the log is empty) */
  readonly firstSeq: () => number
  /** the seq the next append gets */
  readonly nextSeq: () => number
  /** bytes on disk: segments and the preallocated spare */
  readonly sizeBytes: () => number
  /**
   * Delete the oldest segment whatever the cursors say (the layer above makes room when `append` fails
   * with SpoolFullError); cursors inside it move past it. None when only the segment being written is left.
   */
  readonly dropOldestSegment: () => Either.Either<Option.Option<Dropped>, SpoolIOError>
  /** everything appended so far is fdatasynced (either mode) */
  readonly sync: Effect.Effect<void, SpoolIOError>
}

/**
 * Open (or create) the log in `options.dir`, recovering the valid prefix of its last segment. Closing
 * the scope commits what is pending, fdatasyncs, writes the cursors and closes the files.
 */
export const open = (options: Options): Effect.Effect<SegmentLog, OpenError, Scope.Scope> => openWith(options, nodeFileOps)
