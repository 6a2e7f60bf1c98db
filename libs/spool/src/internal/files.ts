/**
 * The filesystem calls the log makes, as one injectable object: the log itself only ever calls these,
 * so a test can make any of them fail (ENOSPC on the nth write, a short write, EIO on fdatasync).
 * Positional reads and writes only (pread/pwrite): no call depends on a file position.
 */
import * as fs from "node:fs"

export interface FileOps {
  readonly openSync: (path: string, flags: string) => number
  readonly closeSync: (fd: number) => void
  /** bytes read; fewer than `length` only at the end of the file */
  readonly readSync: (fd: number, buffer: Uint8Array, offset: number, length: number, position: number) => number
  /** bytes written; may be fewer than `length` (the caller writes the rest) */
  readonly writeSync: (fd: number, buffer: Uint8Array, offset: number, length: number, position: number) => number
  /** the asynchronous write of background preallocation */
  readonly write: (fd: number, buffer: Uint8Array, offset: number, length: number, position: number) => Promise<number>
  readonly fdatasyncSync: (fd: number) => void
  /** on the libuv thread pool: the event loop keeps running while the disk flushes */
  readonly fdatasync: (fd: number) => Promise<void>
  /** fsync of a directory (its entries: a created, renamed or deleted file) */
  readonly fsyncSync: (fd: number) => void
  readonly fsync: (fd: number) => Promise<void>
  readonly sizeSync: (fd: number) => number
  readonly existsSync: (path: string) => boolean
  readonly readdirSync: (dir: string) => Array<string>
  readonly mkdirSync: (dir: string) => void
  readonly renameSync: (from: string, to: string) => void
  readonly unlinkSync: (path: string) => void
}

const promised = <A>(f: (cb: (err: NodeJS.ErrnoException | null, a: A) => void) => void): Promise<A> =>
  new Promise<A>((resolve, reject) => f((err, a) => (err ? reject(err) : resolve(a))))

export const nodeFileOps: FileOps = {
  openSync: (path, flags) => fs.openSync(path, flags),
  closeSync: (fd) => fs.closeSync(fd),
  readSync: (fd, buffer, offset, length, position) => fs.readSync(fd, buffer, offset, length, position),
  writeSync: (fd, buffer, offset, length, position) => fs.writeSync(fd, buffer, offset, length, position),
  write: (fd, buffer, offset, length, position) =>
    promised<number>((cb) => fs.write(fd, buffer, offset, length, position, (err, n) => cb(err, n))),
  fdatasyncSync: (fd) => fs.fdatasyncSync(fd),
  fdatasync: (fd) => promised<void>((cb) => fs.fdatasync(fd, (err) => cb(err, undefined))),
  fsyncSync: (fd) => fs.fsyncSync(fd),
  fsync: (fd) => promised<void>((cb) => fs.fsync(fd, (err) => cb(err, undefined))),
  sizeSync: (fd) => fs.fstatSync(fd).size,
  existsSync: (path) => fs.existsSync(path),
  readdirSync: (dir) => fs.readdirSync(dir),
  mkdirSync: (dir) => void fs.mkdirSync(dir, { recursive: true }),
  renameSync: (from, to) => fs.renameSync(from, to),
  unlinkSync: (path) => fs.unlinkSync(path)
}
