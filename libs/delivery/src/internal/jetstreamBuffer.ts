/**
 * The shared buffer: the same `Buffer` service as the spool, on a NATS JetStream stream, so that several
 * Sidekick replicas share the work. Every accepted event is published once (with the names of the lanes
 * that want it) and each output has one durable pull consumer, which every replica binds to: JetStream
 * hands each message to one replica per output, and redelivers what a dead replica had not acknowledged
 * after `ack_wait`.
 *
 * Why events are packed: measured on nats-server 2.9.10 (R1, file storage), one message per event costs
 * more CPU than the whole relay (6k events/s with each publish awaited, 24k/s async), while packing ~32
 * events or 5 ms per message reaches ~250k events/s; a durable pull consumer acks ~47k messages/s, so one
 * ack per pack keeps acknowledging far from the bottleneck. A pack is `<lanes, comma-separated>\n<envelope
 * record>` lines, two per event (the envelope record is one line of JSON), published with `Nats-Msg-Id` =
 * `<process id>-<pack number>`, so a retried publish is deduplicated by the stream.
 *
 * The stream uses `limits` retention (bounded by bytes and optionally age), not `workqueue`: with a
 * consumer per output, several consumers read each message, which a work queue forbids. An output's
 * consumer that falls behind past the stream's bound loses the oldest messages. The server does not tell
 * anyone, so each replica remembers, for every pack it published (by its stream sequence), how many of its
 * events each lane wanted, and checks every few seconds whether the stream's first message has passed a
 * consumer's last delivered one: the packs in between were discarded unread, and the replica that
 * published each reports its events for that lane through `onOverflow` (so nothing is counted twice across
 * replicas). A consumer that is pulling but too far behind skips the discarded messages instead: a replica
 * sees the jump in stream sequence between two consecutive deliveries and reports its own packs in it.
 * With several replicas, a jump where the consumer also delivered to another replica, or packs another
 * replica published, are not seen by this one: the count is then a lower bound. A replica that restarted
 * no longer knows its older packs.
 *
 * Delivery is at-least-once. A pack is acknowledged once every event of it for the lane was acknowledged
 * by the Dispatcher; events of a pack that are not for the lane are skipped. What a worker gives back
 * (shutdown in the middle of an attempt) stays in this process, at the head of the lane, since other
 * events of the same pack may be taken or acked already and a `nak` would deliver them twice. When the lane
 * closes, every pack not fully acknowledged is `nak`ed so another replica takes it within about a second
 * (not at once: the lane's last pull may still be open on the server, see `release`); those of which
 * some events were already delivered are then delivered again (duplicates only at shutdown, and at most a
 * pack's events). While a pack is held, the lane tells the server it is still working on it (`working()`
 * every third of `ack_wait`), so an output that retries for long does not have its events redelivered to
 * another replica; a replica that dies stops doing so and its packs go to another one after `ack_wait`.
 *
 * Memory stays bounded: each lane holds at most `maxPacks` (8) packs pulled from its consumer, however long
 * the backlog in the stream. `size()` is the events held in memory, not the consumer's backlog on the
 * server (that would be a request per call).
 */
import { Data, Duration, Effect, Either, Schedule, type Scope } from "effect"
import type { NonEmptyReadonlyArray } from "effect/Array"
import type { JetStreamClient, JetStreamManager, JsMsg, NatsConnection } from "nats"
import { randomUUID } from "node:crypto"
import { type BufferService, decodeEnvelope, encodeEnvelope, type Envelope, type LaneBuffer, type OfferOutcome } from "../Buffer.js"
import { makeWaiters } from "./waiters.js"

export interface JetStreamBufferOptions {
  /** e.g. nats://127.0.0.1:4222 (several, comma-separated, for a cluster) */
  readonly url: string
  /** stream name (default `sidekick`) */
  readonly stream?: string
  /** subject the events are published on (default `sidekick.events`) */
  readonly subject?: string
  /** stream replicas (default 1) */
  readonly replicas?: number
  /** bytes the stream keeps at most; the oldest messages are discarded past it (default: no bound) */
  readonly maxBytes?: number
  /** age the stream keeps messages at most (default: no bound) */
  readonly maxAge?: Duration.DurationInput
  /** how events are packed into messages: at most `maxEvents` (32), published `maxDelay` (5 ms) after the first */
  readonly pack?: { readonly maxEvents?: number; readonly maxDelay?: Duration.DurationInput }
  /** how long a replica may hold a pack without a sign of life before it goes to another (default 30 s) */
  readonly ackWait?: Duration.DurationInput
  /** packs each output's consumer may have unacknowledged over all replicas (default 1000) */
  readonly maxAckPending?: number
  readonly user?: string
  readonly password?: string
  readonly token?: string
  /** CA file to verify the server's TLS certificate with */
  readonly caFile?: string
  /** how often each lane checks for packs the stream discarded before it read them (default 5 s) */
  readonly lossCheckInterval?: Duration.DurationInput
}

export class JetStreamConnectError extends Data.TaggedError("JetStreamConnectError")<{
  readonly url: string
  readonly cause: unknown
}> {
  override get message() {
    // a URL's user:password@ never reaches a log line
    return `cannot connect to NATS at ${this.url.replace(/\/\/[^@/]*@/g, "//")}: ${String((this.cause as Error)?.message ?? this.cause)}`
  }
}

export class JetStreamSetupError extends Data.TaggedError("JetStreamSetupError")<{
  readonly stream: string
  readonly cause: unknown
}> {
  override get message() {
    return `cannot create or open the JetStream stream ${this.stream}: ${String((this.cause as Error)?.message ?? this.cause)}`
  }
}

export class JetStreamConsumerError extends Data.TaggedError("JetStreamConsumerError")<{
  readonly stream: string
  readonly consumer: string
  readonly cause: unknown
}> {
  override get message() {
    return `cannot create or open the JetStream consumer ${this.consumer} on ${this.stream}: ${String((this.cause as Error)?.message ?? this.cause)}`
  }
}

export type JetStreamError = JetStreamConnectError | JetStreamSetupError

/** a durable name JetStream accepts (no `.`, `*`, `>`, whitespace): the output name, sanitised */
export const durableName = (output: string): string => output.replace(/[^A-Za-z0-9_-]/g, "_")

const encoder = new TextEncoder()
const decoder = new TextDecoder()
/** stays well under the server's default max_payload (1 MiB) */
const maxPackBytes = 512 * 1024
/** packs a lane holds pulled from its consumer */
const maxPacks = 8
/** a pull waits this long on the server for packs */
const pullExpires = 1000

/** the connection of a buffer, for tests that simulate a replica that dies */
const connections = new WeakMap<BufferService, NatsConnection>()
export const connectionOf = (buffer: BufferService): NatsConnection | undefined => connections.get(buffer)

interface Pack {
  lines: Array<string>
  bytes: number
  /** events of the pack per lane */
  readonly lanes: Map<string, number>
  readonly promise: Promise<void>
  readonly resolve: () => void
  readonly reject: (e: unknown) => void
}

/** one message pulled by a lane, with its events for the lane */
interface Held {
  readonly msg: JsMsg
  /** events of it for this lane not acknowledged yet */
  open: number
}

const deferred = () => {
  let resolve!: () => void
  let reject!: (e: unknown) => void
  const promise = new Promise<void>((res, rej) => {
    resolve = res
    reject = rej
  })
  // nobody may wait for this pack (only the last offer's is asked for): no unhandled rejection
  promise.catch(() => {})
  return { promise, resolve, reject }
}

const safely = (f: () => void) => {
  try {
    f()
  } catch {
    // the connection is closed: the server redelivers after ack_wait
  }
}

export const makeJetStreamBuffer = (
  options: JetStreamBufferOptions
): Effect.Effect<BufferService, JetStreamError, Scope.Scope> =>
  Effect.gen(function*() {
    const streamName = options.stream ?? "sidekick"
    const subject = options.subject ?? "sidekick.events"
    const maxEvents = options.pack?.maxEvents ?? 32
    const maxDelay = Duration.toMillis(options.pack?.maxDelay ?? Duration.millis(5))
    const ackWait = Duration.toMillis(options.ackWait ?? Duration.seconds(30))
    // loaded here, not with the module: only a JetStream spool needs the client (~60 ms and 6 MB at start-up)
    const { AckPolicy, connect, DeliverPolicy, DiscardPolicy, nanos, RetentionPolicy, StorageType } = yield* Effect.promise(() =>
      import("nats")
    )

    const nc = yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: () =>
          connect({
            servers: options.url.split(","),
            name: "sidekick",
            timeout: 5000,
            maxReconnectAttempts: -1,
            ...(options.user === undefined ? {} : { user: options.user }),
            ...(options.password === undefined ? {} : { pass: options.password }),
            ...(options.token === undefined ? {} : { token: options.token }),
            ...(options.caFile === undefined ? {} : { tls: { caFile: options.caFile } })
          }),
        catch: (cause) => new JetStreamConnectError({ url: options.url, cause })
      }),
      (nc) => Effect.promise(() => (nc.isClosed() ? Promise.resolve() : nc.drain().catch(() => nc.close())))
    )
    const jsm: JetStreamManager = yield* Effect.tryPromise({
      try: () => nc.jetstreamManager(),
      catch: (cause) => new JetStreamSetupError({ stream: streamName, cause })
    })
    const js: JetStreamClient = nc.jetstream()

    yield* Effect.tryPromise({
      try: async () => {
        const config = {
          name: streamName,
          subjects: [subject],
          storage: StorageType.File,
          retention: RetentionPolicy.Limits,
          discard: DiscardPolicy.Old,
          num_replicas: options.replicas ?? 1,
          max_bytes: options.maxBytes ?? -1,
          max_age: options.maxAge === undefined ? 0 : nanos(Duration.toMillis(options.maxAge)),
          duplicate_window: nanos(2 * 60_000)
        }
        try {
          await jsm.streams.add(config)
        } catch (e) {
          // created by another replica, or with other settings: use it as it is
          await jsm.streams.info(streamName).catch(() => Promise.reject(e))
        }
      },
      catch: (cause) => new JetStreamSetupError({ stream: streamName, cause })
    })

    // --- offering: events packed into messages ---------------------------------------------------------

    const processId = randomUUID()
    // only a bounded stream discards: then the packs this replica published, by stream sequence, with their
    // events per lane, until the stream's first message has passed them (see the module comment)
    const bounded = options.maxBytes !== undefined || options.maxAge !== undefined
    const published = new Map<number, Map<string, number>>()
    const overflowListeners: Array<(lane: string, events: number) => void> = []
    const laneNames = new Set<string>()
    let packs = 0
    let id = 0
    let current: Pack | undefined
    let timer: ReturnType<typeof setTimeout> | undefined
    const publishing = new Set<Promise<void>>()

    const publish = async (payload: Uint8Array, msgID: string) => {
      // the same Nats-Msg-Id on each attempt: a pack that was stored but whose PubAck was lost is not stored twice
      for (let attempt = 1;; attempt++) {
        try {
          return (await js.publish(subject, payload, { msgID, timeout: 5000 })).seq
        } catch (e) {
          if (attempt >= 3 || nc.isClosed()) throw e
          await new Promise((r) => setTimeout(r, 100 * attempt))
        }
      }
    }

    const flush = () => {
      if (timer !== undefined) clearTimeout(timer)
      timer = undefined
      const pack = current
      if (pack === undefined) return
      current = undefined
      const msgID = `${processId}-${++packs}`
      const done = publish(encoder.encode(pack.lines.join("\n")), msgID).then((seq) => {
        if (bounded) published.set(seq, pack.lanes)
        pack.resolve()
      }, pack.reject)
      publishing.add(done)
      void done.finally(() => publishing.delete(done))
    }

    // on close: publish the pack being filled and wait for every PubAck (before the connection drains)
    yield* Effect.addFinalizer(() =>
      Effect.promise(() => {
        flush()
        return Promise.allSettled([...publishing])
      })
    )

    // --- lanes: one durable pull consumer per output ---------------------------------------------------

    const ensureConsumer = async (durable: string) => {
      const config = {
        durable_name: durable,
        ack_policy: AckPolicy.Explicit,
        ack_wait: nanos(ackWait),
        max_ack_pending: options.maxAckPending ?? 1000,
        // a new output gets what comes after it, as with the spool; a restarted one resumes where it was
        deliver_policy: DeliverPolicy.New,
        filter_subject: subject
      }
      try {
        await jsm.consumers.info(streamName, durable)
        await jsm.consumers.update(streamName, durable, {
          ack_wait: config.ack_wait,
          max_ack_pending: config.max_ack_pending
        }).catch(() => undefined)
      } catch {
        await jsm.consumers.add(streamName, config).catch(async (e) => {
          // created by another replica at the same time
          await jsm.consumers.info(streamName, durable).catch(() => Promise.reject(e))
        })
      }
      return js.consumers.get(streamName, durable)
    }

    const makeLane = (name: string, capacity: number) =>
      Effect.gen(function*() {
        const durable = durableName(name)
        const consumer = yield* Effect.tryPromise({
          try: () => ensureConsumer(durable),
          catch: (cause) => new JetStreamConsumerError({ stream: streamName, consumer: durable, cause })
        }).pipe(
          Effect.retry({ times: 3, schedule: Schedule.spaced("500 millis") }),
          // the lane's type has no error channel: a consumer that cannot be had stops the start, with this error
          Effect.orDie
        )

        // events pulled and not taken, in order, with their pack
        let waiting: Array<{ readonly envelope: Envelope; readonly held: Held; readonly bytes: number }> = []
        let bytes = 0
        const taken = new Map<Envelope, Held>()
        const heldPacks = new Set<Held>()
        let room: (() => void) | undefined
        // `size` is defined below, and read only when a worker waits: by then it is
        const { wait: awaitEvents, wake } = makeWaiters(() => size() > 0)
        let closed = false

        const settle = (held: Held) => {
          if (--held.open > 0) return
          heldPacks.delete(held)
          safely(() => held.msg.ack())
          room?.()
        }

        const receive = (msg: JsMsg) => {
          if (closed) return release(msg) // brought by the last pull of a closed lane
          noteDelivery(msg)
          const lines = decoder.decode(msg.data).split("\n")
          const held: Held = { msg, open: 0 }
          for (let i = 0; i + 1 < lines.length; i += 2) {
            if (!lines[i]!.split(",").includes(name)) continue
            const decoded = decodeEnvelope(lines[i + 1]!)
            if (Either.isLeft(decoded)) continue // unreadable: nothing to deliver
            // a fresh id: envelopes from other replicas have ids of their own counters
            const envelope = { ...decoded.right.envelope, id: ++id }
            const size = lines[i + 1]!.length
            held.open++
            waiting.push({ envelope, held, bytes: size })
            bytes += size
          }
          if (held.open === 0) return safely(() => msg.ack()) // nothing of it is for this lane
          heldPacks.add(held)
          wake()
        }

        // the pull loop: a `fetch` of what the lane has room for (at most `maxPacks` held), expiring after 1 s
        // (`pullEndsAt`: when the open pull ends on the server, see `release`)
        let pullEndsAt = 0
        let pause: (() => void) | undefined
        const sleep = (ms: number) =>
          new Promise<void>((r) => {
            const t = setTimeout(r, ms)
            pause = () => {
              clearTimeout(t)
              r()
            }
          })
        void (async () => {
          while (!closed) {
            while (!closed && heldPacks.size >= maxPacks) await new Promise<void>((r) => (room = r))
            room = undefined
            if (closed) break
            try {
              pullEndsAt = Date.now() + pullExpires
              const messages = await consumer.fetch({ max_messages: maxPacks - heldPacks.size, expires: pullExpires })
              for await (const msg of messages) receive(msg)
            } catch {
              if (!closed) await sleep(1000)
            } finally {
              pullEndsAt = 0
            }
          }
        })()

        /**
         * A pack this closing lane will not deliver goes to another replica: `nak`. While a pull of this lane
         * is still open on the server, the server would hand the pack straight back to it (and then only
         * ack_wait would free it), so the nak asks for redelivery after that pull has ended.
         */
        const releaseDelay = () => (pullEndsAt === 0 ? 0 : Math.max(0, pullEndsAt - Date.now()) + 200)
        // one delay for all the packs released together: due at the same moment, the server redelivers them
        // in stream order
        const release = (msg: JsMsg, delay = releaseDelay()) => safely(() => (delay === 0 ? msg.nak() : msg.nak(delay)))

        // packs of this replica's that the stream discarded before this lane's consumer read them
        laneNames.add(name)
        /** settle this lane's share of the packs with a sequence under `below`: those `lost(seq)` are reported */
        const settlePacks = (below: number, lost: (seq: number) => boolean) => {
          let events = 0
          for (const [seq, lanes] of published) {
            if (seq >= below) continue
            const n = lanes.get(name)
            if (n === undefined) continue
            if (lost(seq)) events += n
            lanes.delete(name)
            // lanes this replica does not run are nobody's to report here
            for (const other of lanes.keys()) if (!laneNames.has(other)) lanes.delete(other)
            if (lanes.size === 0) published.delete(seq)
          }
          if (events > 0) for (const listener of overflowListeners) listener(name, events)
        }
        // a consumer stuck behind (its output down): the stream's first message passed its last delivered one
        const checkLosses = async () => {
          if (published.size === 0) return
          const [stream, info] = await Promise.all([jsm.streams.info(streamName), jsm.consumers.info(streamName, durable)])
          const delivered = info.delivered.stream_seq
          settlePacks(stream.state.first_seq, (seq) => seq > delivered)
        }
        // a consumer pulling but too far behind: two deliveries in a row (consumer sequences n and n+1) whose
        // stream sequences are not consecutive skipped the messages in between, discarded before it got to them
        let last: { readonly stream: number; readonly consumer: number } | undefined
        const noteDelivery = (msg: JsMsg) => {
          const { streamSequence, deliverySequence } = msg.info
          if (bounded && last !== undefined && deliverySequence === last.consumer + 1 && streamSequence > last.stream + 1) {
            const from = last.stream
            settlePacks(streamSequence, (seq) => seq > from)
          }
          if (last === undefined || deliverySequence > last.consumer) last = { stream: streamSequence, consumer: deliverySequence }
        }
        let checking = false
        const lossCheck = bounded
          ? setInterval(() => {
            if (checking || closed) return
            checking = true
            void checkLosses().catch(() => undefined).finally(() => (checking = false))
          }, Duration.toMillis(options.lossCheckInterval ?? Duration.seconds(5)))
          : undefined
        lossCheck?.unref()

        // a sign of life for the packs held, so that a long delivery is not given to another replica
        const beat = setInterval(() => {
          for (const held of heldPacks) safely(() => held.msg.working())
        }, Math.max(100, ackWait / 3))

        yield* Effect.addFinalizer(() =>
          Effect.promise(async () => {
            closed = true
            clearInterval(beat)
            if (lossCheck !== undefined) clearInterval(lossCheck)
            room?.()
            pause?.()
            // what this replica will not deliver goes to another at once (see the module comment)
            const delay = releaseDelay()
            for (const held of heldPacks) release(held.msg, delay)
            heldPacks.clear()
            waiting = []
            bytes = 0
          })
        )

        const size = () => waiting.length
        const lane: LaneBuffer = {
          name,
          capacity,
          size,
          bytes: () => bytes,
          inFlight: () => taken.size,
          // the stream is bounded by bytes and discards its oldest: never refuses
          hasRoom: () => true,
          poll: (max, fits) => {
            const out: Array<Envelope> = []
            let n = 0
            while (out.length < max && n < waiting.length && (fits === undefined || fits(waiting[n]!.envelope))) {
              const w = waiting[n++]!
              out.push(w.envelope)
              taken.set(w.envelope, w.held)
              bytes -= w.bytes
            }
            if (n > 0) waiting = waiting.slice(n)
            if (waiting.length > 0) wake()
            return out
          },
          awaitEvents,
          ack: (envelopes) => {
            for (const e of envelopes) {
              const held = taken.get(e)
              if (held === undefined) continue
              taken.delete(e)
              settle(held)
            }
          },
          giveBack: (envelopes: NonEmptyReadonlyArray<Envelope>) => {
            const back: typeof waiting = []
            for (const e of envelopes) {
              const held = taken.get(e)
              if (held === undefined) continue
              taken.delete(e)
              const size = eventSize(e)
              back.push({ envelope: e, held, bytes: size })
              bytes += size
            }
            waiting = [...back, ...waiting]
            wake()
          }
        }
        return lane
      })

    const service: BufferService = {
      // The stream outlives the process, but the Dispatcher's push-back on a live output that is behind reads
      // the lane's `size()`, which here is only what the lane pulled (at most `maxPacks` packs), not the
      // backlog on the server: with `true` it would refuse events whenever a pack or two is in memory. Not
      // pushing back is what the stream's byte bound (oldest discarded) is for.
      persistent: false,
      lane: (name, laneOptions) => makeLane(name, laneOptions.capacity),
      offer: (envelope, targets) => {
        const line = targets.map((t) => t.name).join(",") + "\n" + encodeEnvelope(envelope)
        if (current !== undefined && current.bytes + line.length > maxPackBytes) flush()
        if (current === undefined) {
          current = { lines: [], bytes: 0, lanes: new Map(), ...deferred() }
          timer = setTimeout(flush, maxDelay)
        }
        const pack = current
        pack.lines.push(line)
        pack.bytes += line.length + 1
        // counted only where the stream can discard (see `published`): off the publish path otherwise
        if (bounded) for (const t of targets) pack.lanes.set(t.name, (pack.lanes.get(t.name) ?? 0) + 1)
        if (pack.lines.length >= maxEvents) flush()
        lastDurable = pack.promise
        return targets.map((): OfferOutcome => "queued")
      },
      nextId: () => ++id,
      durable: () => lastDurable,
      onOverflow: (listener) => {
        overflowListeners.push(listener)
      }
    }
    let lastDurable: Promise<void> | undefined
    connections.set(service, nc)
    return service
  })

const eventSize = (e: Envelope): number => encodeEnvelope(e).length
