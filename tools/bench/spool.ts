// The spool's segment log against bare node:fs doing the same I/O, in the same run:
//   npx tsx --conditions=@sidekick/source tools/bench/spool.ts [records] [directory]
// Payload: tools/bench/sample-event.json (one Falco event). Each figure is printed with the bare
// baseline's and their ratio (log / bare; for CPU, bare / log, so 1.00 is "as cheap as bare" everywhere):
// - append, b records per group: the log's append (b=1) or appendMany (b=64), in write mode (returned =
//   stored) and fsync mode (awaited `durable`), against a plain writeSync append loop of the same record
//   bytes, with an fdatasync per group for fsync mode;
// - read: every record again through `read(seq, 256)` after a reopen (each segment is scanned, CRCs
//   checked, when first read) and a second time, against readSync of the same bytes cut into records;
// - CPU per event at 5,000 events/s for 5 s, fsync mode with the default group commit (≤ 5 ms or ≤ 256
//   records per fdatasync), against writeSync per event plus the same group commit done by hand.
import { SegmentLog } from "@sidekick/spool"
import { Effect, Either } from "effect"
import * as fs from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

const n = Number(process.argv[2] ?? 200_000)
const base = fs.mkdtempSync(join(process.argv[3] ?? tmpdir(), "spool-bench-"))
const payload = fs.readFileSync(new URL("./sample-event.json", import.meta.url))
const recordBytes = 16 + payload.length
/** 64 records as the log frames them (the bare loops write these bytes) */
const group = Buffer.alloc(64 * recordBytes)
for (let i = 0; i < 64; i++) {
  group.writeUInt32LE(payload.length, i * recordBytes)
  payload.copy(group, i * recordBytes + 16)
}
let runs = 0
const freshDir = () => join(base, `run-${runs++}`)

const rate = (records: number, ms: number) => (records / ms) * 1000
const fmt = (r: number) => `${Math.round(r).toLocaleString("en-US")}/s`.padStart(12)
const row = (name: string, log: number, bare: number, unit = fmt) =>
  console.log(`${name.padEnd(34)} log ${unit(log)}   bare ${unit(bare)}   ratio ${(log / bare).toFixed(2)}`)

// fdatasync per record costs 0.2–0.4 ms (or more): fewer records for those runs
const recordsFor = (b: number, durability: SegmentLog.Durability) => (durability === "fsync" && b === 1 ? Math.min(n, 5_000) : n)

const bareAppend = (b: number, durability: SegmentLog.Durability): number => {
  const records = recordsFor(b, durability)
  fs.mkdirSync(base, { recursive: true })
  const path = join(base, `bare-${runs++}`)
  const fd = fs.openSync(path, "w")
  const bytes = b * recordBytes
  const start = performance.now()
  for (let i = 0, pos = 0; i < records; i += b, pos += bytes) {
    fs.writeSync(fd, group, 0, bytes, pos)
    if (durability === "fsync") fs.fdatasyncSync(fd)
  }
  const ms = performance.now() - start
  fs.closeSync(fd)
  fs.rmSync(path)
  return rate(records, ms)
}

const logAppend = (b: number, durability: SegmentLog.Durability, dir = freshDir()) =>
  Effect.scoped(Effect.gen(function*() {
    const records = recordsFor(b, durability)
    const log = yield* SegmentLog.open({ dir, durability, groupCommit: { maxRecords: b } })
    const payloads = Array.from({ length: b }, () => payload)
    const start = performance.now()
    yield* Effect.promise(async () => {
      for (let i = 0; i < records; i += b) {
        const durable = b === 1 ? Either.getOrThrow(log.append(payload)).durable : Either.getOrThrow(log.appendMany(payloads)).durable
        if (durable !== undefined) await durable
      }
    })
    return rate(records, performance.now() - start)
  }))

/** every record, 256 per read: the first pass after open (segments indexed as they are first read), then a second */
const logRead = (dir: string) =>
  Effect.scoped(Effect.gen(function*() {
    const log = yield* SegmentLog.open({ dir, durability: "write" })
    const pass = () => {
      const start = performance.now()
      let read = 0
      for (let seq = log.firstSeq(); seq < log.nextSeq();) {
        const records = Either.getOrThrow(log.read(seq, 256))
        read += records.length
        seq = records[records.length - 1]!.seq + 1
      }
      return rate(read, performance.now() - start)
    }
    return { first: pass(), indexed: pass() }
  }))

const bareRead = (dir: string): number => {
  const files = fs.readdirSync(dir).filter((f) => f.endsWith(".seg")).sort()
  const start = performance.now()
  let read = 0
  const sink: Array<Uint8Array> = []
  for (const file of files) {
    const fd = fs.openSync(join(dir, file), "r")
    for (let pos = 32;;) {
      const buf = Buffer.allocUnsafe(256 * recordBytes)
      const got = fs.readSync(fd, buf, 0, buf.length, pos)
      let at = 0
      while (at + 16 <= got && buf.readUInt32LE(at + 8) !== 0) {
        const len = buf.readUInt32LE(at)
        if (at + 16 + len > got) break
        sink.push(buf.subarray(at + 16, at + 16 + len))
        at += 16 + len
      }
      read += sink.length
      sink.length = 0
      if (at === 0) break
      pos += at
    }
    fs.closeSync(fd)
  }
  return rate(read, performance.now() - start)
}

/** appends at `perSecond` for `seconds`; returns µs of CPU per event */
const sustained = async (perSecond: number, seconds: number, append: () => void): Promise<number> => {
  const cpu = process.cpuUsage()
  const start = performance.now()
  let sent = 0
  await new Promise<void>((resolve) => {
    // a tick every 5 ms: the driver's own wake-ups stay small next to what is measured
    const tick = setInterval(() => {
      const elapsed = performance.now() - start
      const due = Math.min(perSecond * seconds, Math.floor((elapsed * perSecond) / 1000))
      for (; sent < due; sent++) append()
      if (elapsed >= seconds * 1000) {
        clearInterval(tick)
        resolve()
      }
    }, 5)
  })
  const used = process.cpuUsage(cpu)
  return (used.user + used.system) / sent
}

const bareGroupCommit = async (perSecond: number, seconds: number): Promise<number> => {
  const fd = fs.openSync(join(base, "bare-sustained"), "w")
  let pos = 0
  let pending = 0
  let syncing = false
  let timer: ReturnType<typeof setTimeout> | undefined
  const commit = () => {
    if (syncing || pending === 0) return
    clearTimeout(timer)
    timer = undefined
    pending = 0
    syncing = true
    fs.fdatasync(fd, () => {
      syncing = false
      if (pending >= 256) commit()
    })
  }
  const us = await sustained(perSecond, seconds, () => {
    fs.writeSync(fd, group, 0, recordBytes, pos)
    pos += recordBytes
    if (pending++ === 0) timer = setTimeout(commit, 5)
    if (pending >= 256) commit()
  })
  await new Promise((r) => setTimeout(r, 20))
  fs.closeSync(fd)
  return us
}

const logGroupCommit = (perSecond: number, seconds: number) =>
  Effect.scoped(Effect.gen(function*() {
    const log = yield* SegmentLog.open({ dir: freshDir(), durability: "fsync" })
    return yield* Effect.promise(() =>
      sustained(perSecond, seconds, () => {
        Either.getOrThrow(log.append(payload))
      })
    )
  }))

// Shared machines are noisy: each rate is the best of `tries` runs, log and bare alternating.
const tries = 3

const program = Effect.gen(function*() {
  console.log(`segment log vs bare node:fs: ${n.toLocaleString("en-US")} records of ${payload.length} bytes, best of ${tries}, in ${base}`)
  // warm-up: JIT, page cache, thread pool
  bareAppend(64, "write")
  yield* logAppend(64, "write")
  for (const durability of ["write", "fsync"] as const) {
    for (const b of [1, 64]) {
      let bare = 0
      let log = 0
      for (let i = 0; i < tries; i++) {
        bare = Math.max(bare, bareAppend(b, durability))
        log = Math.max(log, yield* logAppend(b, durability))
        fs.rmSync(base, { recursive: true, force: true })
      }
      row(`append ${durability}, b=${b}`, log, bare)
    }
  }
  const readDir = freshDir()
  yield* logAppend(64, "write", readDir)
  const reads = { bareFirst: 0, bareAgain: 0, logFirst: 0, logAgain: 0 }
  for (let i = 0; i < tries; i++) {
    reads.bareFirst = Math.max(reads.bareFirst, bareRead(readDir))
    reads.bareAgain = Math.max(reads.bareAgain, bareRead(readDir))
    const log = yield* logRead(readDir)
    reads.logFirst = Math.max(reads.logFirst, log.first)
    reads.logAgain = Math.max(reads.logAgain, log.indexed)
  }
  row("read after reopen, 256 per call", reads.logFirst, reads.bareFirst)
  row("read again, 256 per call", reads.logAgain, reads.bareAgain)
  fs.rmSync(base, { recursive: true, force: true })
  fs.mkdirSync(base)
  const bareCpu = yield* Effect.promise(() => bareGroupCommit(5_000, 5))
  const logCpu = yield* logGroupCommit(5_000, 5)
  const us = (v: number) => `${v.toFixed(1)} µs/event (${((v * 5_000) / 1e4).toFixed(1)} % core)`
  console.log(
    `${"CPU at 5k events/s, fsync, 5 s".padEnd(34)} log ${us(logCpu)}   bare ${us(bareCpu)}   ratio ${(bareCpu / logCpu).toFixed(2)}` +
      ` (the log adds ${(logCpu - bareCpu).toFixed(1)} µs/event)`
  )
})

try {
  await Effect.runPromise(program)
} finally {
  fs.rmSync(base, { recursive: true, force: true })
}
