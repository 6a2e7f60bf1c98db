/**
 * The contract every output implements. An output says only what is its own: how it encodes events,
 * where it sends them, and (optionally) which of its failures are worth another attempt. Queueing,
 * batching, retries, timeouts, circuit breaking, rate limits, priority filtering, metrics and tracing
 * come from the Dispatcher.
 *
 * An output is either a `SingleOutput` (one event per request: webhooks, chat) or a `BatchOutput` (one
 * request carries many events: Loki pushes, Elasticsearch `_bulk`). The kind is in the type so that a
 * batch can never reach an output that would read only its first event: one batch is one request is one
 * attempt.
 */
import type { FalcoEvent } from "@sidekick/event"
import { Context, Data, Duration, type Effect, FiberRef } from "effect"
import type { NonEmptyReadonlyArray } from "effect/Array"

/** Why one delivery attempt failed. */
export type OutputErrorReason =
  /** connection refused, reset, DNS, TLS... : retried */
  | "Transport"
  /** the peer answered with a non-success status: retried for 408, 429 and 5xx, permanent otherwise */
  | "Status"
  /** the attempt took longer than the configured timeout: retried */
  | "Timeout"
  /** the event could not be encoded for this output: permanent */
  | "Encode"
  /** the peer accepted the request but refused the content (e.g. an Elasticsearch bulk item error): permanent */
  | "Rejected"

/** Typed failure of one delivery attempt to one output. Carries what an operator needs to act. */
export class OutputError extends Data.TaggedError("OutputError")<{
  readonly output: string
  readonly reason: OutputErrorReason
  readonly message: string
  /** HTTP status (or protocol status code) when the peer answered */
  readonly status?: number
  /** the peer asked us to wait this long before retrying (HTTP Retry-After) */
  readonly retryAfter?: Duration.Duration
  readonly cause?: unknown
}> {
  /** The default classification: 408, 429 and 5xx, transport errors and timeouts are worth retrying. */
  get retryable(): boolean {
    switch (this.reason) {
      case "Transport":
      case "Timeout":
        return true
      case "Status":
        return this.status !== undefined && (this.status >= 500 || this.status === 408 || this.status === 429)
      default:
        return false
    }
  }
}

/** An output that could not start (bad template, unreachable index template endpoint...): the service refuses to start. */
export class OutputInitError extends Data.TaggedError("OutputInitError")<{
  readonly output: string
  readonly key?: string
  readonly message: string
  readonly cause?: unknown
}> {}

/** What the Dispatcher does with a failed attempt (Vector's `RetryAction`). */
export type Verdict =
  /** try again after the retry schedule's delay, or after `after` when that is longer (Retry-After) */
  | { readonly _tag: "Retry"; readonly after?: Duration.Duration }
  /** never deliverable: drop it, counted as `rejected` */
  | { readonly _tag: "Drop" }

export const Verdict = {
  retry: { _tag: "Retry" } as Verdict,
  retryAfter: (after: Duration.DurationInput): Verdict => ({ _tag: "Retry", after: Duration.decode(after) }),
  drop: { _tag: "Drop" } as Verdict
} as const

/** The classification every output gets unless it brings its own: `OutputError.retryable`, and its Retry-After. */
export const defaultClassify = (error: OutputError): Verdict =>
  !error.retryable ? Verdict.drop : error.retryAfter === undefined ? Verdict.retry : { _tag: "Retry", after: error.retryAfter }

/**
 * A batch request that the peer answered but in which some events were refused (an Elasticsearch
 * `_bulk` answer with per-item errors). The events not listed were delivered; each listed one is
 * classified on its own, so only the retryable ones are sent again.
 */
export interface PartialFailure {
  readonly _tag: "PartialFailure"
  /** `index` points into the batch that was sent */
  readonly failures: ReadonlyArray<{ readonly index: number; readonly error: OutputError }>
}

/** whether a batch output's answer is a partial failure (anything else a send succeeds with means: all delivered) */
export const isPartialFailure = (u: unknown): u is PartialFailure =>
  typeof u === "object" && u !== null && (u as { _tag?: unknown })._tag === "PartialFailure"

/** How a batch output wants its events grouped: a batch is sent when any bound is reached. */
export interface BatchOptions {
  /** at most this many events per request */
  readonly maxEvents: number
  /** at most this many bytes per request, as measured by `sizeOf` (an event larger than this goes alone) */
  readonly maxBytes: number
  /** send a partial batch this long after its first event was taken */
  readonly interval: Duration.Duration
  /** the bytes one event adds to a request */
  readonly sizeOf: (event: FalcoEvent) => number
}

/** Events an output may send per interval, with a burst (chat webhooks allow about one message a second). */
export interface RateLimit {
  /** sends (requests) per `interval`; a batch output's batch is one send */
  readonly limit: number
  readonly interval: Duration.Duration
  /** sends allowed at once after a quiet period; at least 1 */
  readonly burst: number
}

export type OverflowPolicy = "dropnewest" | "dropoldest" | "reject"

/** How the Dispatcher delivers to one output. The global `delivery.*` keys give it; each output may override. */
export interface DeliveryPolicy {
  /** events the output may hold waiting */
  readonly queueCapacity: number
  /** bytes (of event JSON) the output may hold waiting */
  readonly queueMaxBytes: number
  /** dropnewest: a full queue refuses the new event; dropoldest: it evicts its oldest; reject: 503 to the sender */
  readonly overflow: OverflowPolicy
  /** per attempt */
  readonly timeout: Duration.DurationInput
  readonly retry: {
    /** a failed event is retried until it is this old since it was accepted */
    readonly maxAge: Duration.DurationInput
    /** attempts in all, the first included; 0 = no cap (only maxAge ends the retries) */
    readonly maxAttempts: number
    readonly initialDelay: Duration.DurationInput
    readonly maxDelay: Duration.DurationInput
  }
  readonly circuitBreaker: { readonly failures: number; readonly resetAfter: Duration.DurationInput }
  /** none: as fast as the workers go */
  readonly rateLimit?: RateLimit | undefined
}

/** each key may be left unset */
type Unset<A> = { readonly [K in keyof A]?: A[K] | undefined }

/** An output's own `<output>.delivery.*` keys: what is set wins over the global policy. */
export interface PolicyOverrides {
  readonly queueCapacity?: number | undefined
  readonly queueMaxBytes?: number | undefined
  readonly overflow?: OverflowPolicy | undefined
  readonly timeout?: Duration.DurationInput | undefined
  readonly retry?: Unset<DeliveryPolicy["retry"]> | undefined
  readonly circuitBreaker?: Unset<DeliveryPolicy["circuitBreaker"]> | undefined
  readonly rateLimit?: RateLimit | undefined
}

type Defined<A> = { readonly [K in keyof A]?: Exclude<A[K], undefined> }

const definedOnly = <A extends object>(a: A | undefined): Defined<A> =>
  a === undefined ? {} : Object.fromEntries(Object.entries(a).filter(([, v]) => v !== undefined)) as Defined<A>

/** the global policy with an output's overrides on top */
export const resolvePolicy = (global: DeliveryPolicy, overrides: PolicyOverrides | undefined): DeliveryPolicy => {
  if (overrides === undefined) return global
  const { circuitBreaker, rateLimit, retry, ...top } = overrides
  return {
    ...global,
    ...definedOnly(top),
    retry: { ...global.retry, ...definedOnly(retry) },
    circuitBreaker: { ...global.circuitBreaker, ...definedOnly(circuitBreaker) },
    rateLimit: rateLimit ?? global.rateLimit
  }
}

/**
 * An output's label in metrics (`destination`) and /debug/vars (`outputs.<destination>`): its name
 * without dots, as falcosidekick spells them ("aws.cloudwatchlogs" -> "awscloudwatchlogs").
 */
export const destinationOf = (name: string): string => name.replaceAll(".", "")

/** What every running output tells the Dispatcher, whatever its kind. */
export interface OutputCommon {
  /** log prefix and section path, lower-case falcosidekick id: "webhook", "slack", "aws.sqs"... (metrics: `destinationOf`) */
  readonly name: string
  /** falcosidekick's minimumpriority as a rank (see `minimumPriorityRank`); 0 lets everything through */
  readonly minimumPriority: number
  /** whether an event whose rule is exactly "Test rule" bypasses minimumPriority (falcosidekick: true for most outputs) */
  readonly testRuleBypass: boolean
  /** maxconcurrentrequests: in-flight sends at once (falcosidekick default 1; 0 = unlimited, capped by the dispatcher) */
  readonly maxConcurrentRequests: number
  /** this output's `delivery.*` overrides */
  readonly policy?: PolicyOverrides | undefined
  /** which failures are retried (default `defaultClassify`): e.g. Loki's 501 is permanent, SQS throttling is not */
  readonly classify?: ((error: OutputError) => Verdict) | undefined
  /**
   * true when `send` itself ends an attempt after `currentAttemptTimeout` (the shared HttpTransport does,
   * through undici's timers); otherwise the Dispatcher races the attempt against a timer, which costs
   * two fibers per attempt.
   */
  readonly enforcesTimeout?: boolean | undefined
}

/** An output that sends one event per request. */
export interface SingleOutput extends OutputCommon {
  readonly kind: "single"
  /** deliver this event; one attempt. Retries and timeouts are the Dispatcher's. */
  readonly send: (event: FalcoEvent) => Effect.Effect<void, OutputError>
}

/** An output that sends a batch per request. */
export interface BatchOutput extends OutputCommon {
  readonly kind: "batch"
  readonly batch: BatchOptions
  /** deliver these events in one request; one attempt. A `PartialFailure` names the events that were not delivered. */
  readonly send: (events: NonEmptyReadonlyArray<FalcoEvent>) => Effect.Effect<void | PartialFailure, OutputError>
}

/** A running output: what the Dispatcher needs to deliver to it. */
export type Output = SingleOutput | BatchOutput

/**
 * The per-attempt timeout the Dispatcher sets around `send`, for outputs that enforce it themselves
 * (`enforcesTimeout`). Default: none.
 */
export const currentAttemptTimeout: FiberRef.FiberRef<Duration.Duration> = FiberRef.unsafeMake(Duration.infinity)

/** The running outputs, in registry order. Built by the app from config; by tests with fakes. */
export class Outputs extends Context.Tag("@sidekick/delivery/Outputs")<Outputs, ReadonlyArray<Output>>() {}
