/**
 * Where an output's events wait between acceptance and delivery. The Dispatcher offers each accepted
 * event to the lanes that want it, a lane's workers take batches, and an event leaves the buffer only
 * when it is acknowledged (delivered, or dropped with a counted reason) — a batch that was taken but not
 * finished (shutdown in the middle of an attempt) is given back, in order.
 *
 * The shape follows Effect's `PersistedQueueStore` (one Tag, interchangeable stores) and Vector's
 * per-sink `buffer: memory | disk`: `layerMemory` is today's in-process queue; the durable spool is a
 * second implementation of the same service. The envelope is serializable for that reason: the event
 * as its JSON, the trace context as W3C `traceparent` text, an epoch acceptance time.
 *
 * Offering is synchronous: the HTTP fast path queues an event without running an Effect, and the
 * spool appends to its log with a synchronous write (group-committed), so `offer` can stay a plain call.
 */
import { eventJson, type FalcoEvent, makeIngest } from "@sidekick/event"
import type { SegmentLog } from "@sidekick/spool"
import { Context, type Effect, Either, Layer, type Scope } from "effect"
import type { NonEmptyReadonlyArray } from "effect/Array"
import { type JetStreamBufferOptions, type JetStreamError, makeJetStreamBuffer } from "./internal/jetstreamBuffer.js"
import { makeMemoryBuffer } from "./internal/memoryBuffer.js"
import { makeSpoolBuffer, type SpoolBufferOptions } from "./internal/spoolBuffer.js"
import type { OverflowPolicy } from "./Output.js"

/** One accepted event on its way to the outputs that want it. */
export interface Envelope {
  /** unique within the buffer that holds it, increasing in acceptance order */
  readonly id: number
  readonly event: FalcoEvent
  /** W3C `traceparent` of the span the event was accepted under (only when tracing is on) */
  readonly traceparent: string | undefined
  /** epoch milliseconds */
  readonly acceptedAt: number
}

/** One failed attempt, as a lane records it for an event it gives back or drops. */
export interface AttemptRecord {
  /** epoch milliseconds */
  readonly at: number
  readonly error: string
}

/** queued: taken in; full: refused; `evicted`: taken in, and the lane's oldest events were dropped to make room */
export type OfferOutcome = "queued" | "full" | { readonly evicted: ReadonlyArray<Envelope> }

/** One output's view of the buffer. */
export interface LaneBuffer {
  readonly name: string
  /** most events that may wait */
  readonly capacity: number
  /** events waiting to be taken */
  readonly size: () => number
  /** bytes of event JSON waiting (UTF-16 code units: bytes for the ASCII that Falco events are made of) */
  readonly bytes: () => number
  /** events taken and neither acknowledged nor given back */
  readonly inFlight: () => number
  readonly hasRoom: () => boolean
  /** Take what is waiting without blocking: up to `max` events, in order, while `fits(envelope)` holds. May be empty. */
  readonly poll: (max: number, fits?: (envelope: Envelope) => boolean) => Array<Envelope>
  /** wait until an event is waiting (it may be taken by another worker before this one polls) */
  readonly awaitEvents: Effect.Effect<void>
  /** delivered or dropped: gone for good */
  readonly ack: (envelopes: ReadonlyArray<Envelope>) => void
  /** not finished (an attempt interrupted by shutdown): back at the head, in their order */
  readonly giveBack: (envelopes: NonEmptyReadonlyArray<Envelope>) => void
}

export interface LaneOptions {
  /** most events waiting */
  readonly capacity: number
  /** most bytes of event JSON waiting */
  readonly maxBytes: number
  readonly overflow: OverflowPolicy
}

export interface BufferService {
  /**
   * true for a store that outlives the process (the spool): it takes every event while it has disk, so
   * the Dispatcher itself pushes back when a live output falls behind (see `Dispatcher.unsafePublish`)
   */
  readonly persistent: boolean
  /** the buffer of one output's lane, for as long as the scope lives */
  readonly lane: (name: string, options: LaneOptions) => Effect.Effect<LaneBuffer, never, Scope.Scope>
  /** store one event for these lanes; one outcome per lane, in their order */
  readonly offer: (envelope: Envelope, lanes: ReadonlyArray<LaneBuffer>) => ReadonlyArray<OfferOutcome>
  /** the next envelope id */
  readonly nextId: () => number
  /**
   * When the last `offer` is durable, for a store that syncs in groups (the spool with `fsync`
   * durability: the 200 waits for it); undefined when it already is.
   */
  readonly durable: () => Promise<void> | undefined
  /** be told when the store pushed out events that a lane had not taken (a full spool drops its oldest) */
  readonly onOverflow: (listener: (lane: string, events: number) => void) => void
}

export type SpoolOpenError = SegmentLog.OpenError
export type { SpoolBufferOptions }

export class Buffer extends Context.Tag("@sidekick/delivery/Buffer")<Buffer, BufferService>() {
  /** in-process queues: fast, bounded by events and bytes (per lane, and `maxBytes` over all lanes), lost on restart */
  static readonly layerMemory = (options: { readonly maxBytes: number }): Layer.Layer<Buffer> =>
    Layer.sync(Buffer, () => makeMemoryBuffer(options))
  /** the durable spool: one copy of each event on disk, a cursor per output, resumed after a restart */
  static readonly layerSpool = (options: SpoolBufferOptions): Layer.Layer<Buffer, SpoolOpenError> =>
    Layer.scoped(Buffer, makeSpoolBuffer(options))
  /**
   * NATS JetStream, shared by several replicas: events packed into messages on one stream, a durable pull
   * consumer per output that every replica binds to (each pack goes to one replica per output)
   */
  static readonly layerJetStream = (options: JetStreamBufferOptions): Layer.Layer<Buffer, JetStreamError> =>
    Layer.scoped(Buffer, makeJetStreamBuffer(options))
}

// ---------------------------------------------------------------------------------------------------------------------
// The serialized form, for stores that keep envelopes outside the process.

/** An envelope as a store writes it: JSON text, the event as falcosidekick's canonical event JSON. */
export interface EnvelopeRecord {
  readonly id: number
  /** the event JSON (int64 fields such as the event time keep their digits) */
  readonly event: string
  readonly traceparent?: string
  readonly acceptedAt: number
  readonly attempts?: ReadonlyArray<AttemptRecord>
}

// The event JSON is already enriched: decoding it again must not add customfields, tags or a rewritten
// output a second time.
const reader = Either.getOrThrow(makeIngest({
  customFields: [],
  templatedFields: [],
  customTags: [],
  bracketReplacer: "",
  outputFieldFormat: ""
}))

export const encodeEnvelope = (envelope: Envelope, attempts: ReadonlyArray<AttemptRecord> = []): string =>
  JSON.stringify({
    id: envelope.id,
    event: eventJson(envelope.event),
    ...(envelope.traceparent === undefined ? {} : { traceparent: envelope.traceparent }),
    acceptedAt: envelope.acceptedAt,
    ...(attempts.length === 0 ? {} : { attempts })
  } satisfies EnvelopeRecord)

/** the envelope and its attempt history back from `encodeEnvelope`'s text; Left with a reason when it is not one */
export const decodeEnvelope = (
  text: string
): Either.Either<{ readonly envelope: Envelope; readonly attempts: ReadonlyArray<AttemptRecord> }, string> => {
  let record: Partial<EnvelopeRecord>
  try {
    record = JSON.parse(text)
  } catch (e) {
    return Either.left(`not an envelope: ${(e as Error).message}`)
  }
  if (typeof record.id !== "number" || typeof record.event !== "string" || typeof record.acceptedAt !== "number") {
    return Either.left("not an envelope: id, event and acceptedAt are required")
  }
  const { acceptedAt, id } = record
  // ingestion gives every event a new uuid: the stored one is put back
  const { uuid } = JSON.parse(record.event) as { uuid?: unknown }
  return Either.map(reader.decode(record.event), (decoded) => ({
    envelope: { id, event: typeof uuid === "string" ? { ...decoded, uuid } : decoded, traceparent: record.traceparent, acceptedAt },
    attempts: record.attempts ?? []
  }))
}
