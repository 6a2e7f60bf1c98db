import { Data } from "effect"

/** `maxBytes` would be exceeded by the next segment: nothing was written. The layer above decides whom to drop. */
export class SpoolFullError extends Data.TaggedError("SpoolFullError")<{
  /** the oldest seq still on disk */
  readonly firstSeq: number
  /** bytes the log holds on disk now */
  readonly sizeBytes: number
  readonly maxBytes: number
}> {
  override get message(): string {
    return `spool full: ${this.sizeBytes} of ${this.maxBytes} bytes used, oldest seq ${this.firstSeq}`
  }
}

/** The filesystem is full (ENOSPC) or the quota is used up (EDQUOT). Nothing was kept of the failed write; the log stays usable once space is freed. */
export class SpoolDiskFullError extends Data.TaggedError("SpoolDiskFullError")<{
  readonly code: "ENOSPC" | "EDQUOT"
  readonly file: string
  /** what was being done: "append", "preallocate", … */
  readonly operation: string
}> {
  override get message(): string {
    return `spool: no space left (${this.code}) to ${this.operation} ${this.file}`
  }
}

/** Any other failure of a filesystem call. After a failed fdatasync the log refuses further appends (the page cache can no longer be trusted). */
export class SpoolIOError extends Data.TaggedError("SpoolIOError")<{
  readonly file: string
  readonly operation: string
  readonly cause: unknown
}> {
  override get message(): string {
    const detail = this.cause instanceof Error ? this.cause.message : String(this.cause)
    return `spool: ${this.operation} ${this.file} failed: ${detail}`
  }
}

/** A file in the spool was written by a newer format version than this build reads: the spool was reopened by an older Sidekick. Nothing was changed on disk. */
export class SpoolVersionError extends Data.TaggedError("SpoolVersionError")<{
  readonly file: string
  readonly version: number
  readonly supported: number
}> {
  override get message(): string {
    return `spool: ${this.file} has format version ${this.version}, this build reads up to version ${this.supported}; ` +
      `it was written by a newer Sidekick (nothing was changed on disk)`
  }
}

/** A file in the spool is not what it should be (bad magic, header checksum, a name that disagrees with its header). Nothing was changed on disk. */
export class SpoolCorruptError extends Data.TaggedError("SpoolCorruptError")<{
  readonly file: string
  readonly reason: string
}> {
  override get message(): string {
    return `spool: ${this.file} is corrupt: ${this.reason} (nothing was changed on disk; move the file away to start)`
  }
}

/** One record, or one `appendMany` group, is larger than a segment can hold. */
export class SpoolRecordTooLargeError extends Data.TaggedError("SpoolRecordTooLargeError")<{
  readonly bytes: number
  readonly maxBytes: number
}> {
  override get message(): string {
    return `spool: a write of ${this.bytes} bytes does not fit in a segment (at most ${this.maxBytes})`
  }
}

/** The log's scope was closed. */
export class SpoolClosedError extends Data.TaggedError("SpoolClosedError")<{ readonly dir: string }> {
  override get message(): string {
    return `spool ${this.dir} is closed`
  }
}

/** An option that cannot work. */
export class SpoolOptionsError extends Data.TaggedError("SpoolOptionsError")<{ readonly message: string }> {}

export type OpenError = SpoolIOError | SpoolDiskFullError | SpoolVersionError | SpoolCorruptError | SpoolOptionsError
export type AppendError = SpoolFullError | SpoolDiskFullError | SpoolIOError | SpoolRecordTooLargeError | SpoolClosedError
export type ReadError = SpoolIOError | SpoolClosedError
export type SpoolError = OpenError | AppendError | ReadError

const codeOf = (e: unknown): string | undefined =>
  typeof e === "object" && e !== null && "code" in e && typeof e.code === "string" ? e.code : undefined

export const isDiskFull = (e: unknown): boolean => {
  const code = codeOf(e)
  return code === "ENOSPC" || code === "EDQUOT"
}

/** a failed fs call as the typed error: full disk, or any other I/O failure */
export const ioError = (e: unknown, file: string, operation: string): SpoolDiskFullError | SpoolIOError =>
  isDiskFull(e)
    ? new SpoolDiskFullError({ code: codeOf(e) as "ENOSPC" | "EDQUOT", file, operation })
    : new SpoolIOError({ file, operation, cause: e })
