/**
 * The contract every output implements. An output says only what is its own: its config, how it
 * encodes events, where it sends them. Queueing, retries, timeouts, circuit breaking, priority
 * filtering, metrics and tracing come from the Dispatcher.
 */
import type { FalcoEvent } from "@sidekick/event"
import { Context, Data, Duration, type Effect, FiberRef, Layer, type Scope } from "effect"
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
  /** 408, 429 and 5xx, transport errors and timeouts are worth retrying; other statuses are not. */
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

/** How an output wants its events grouped. Outputs without it get batches of exactly one event. */
export interface BatchOptions {
  /** at most this many events per send */
  readonly maxEvents: number
  /** flush a partial batch this long after its first event arrived */
  readonly interval: Duration.DurationInput
}

/** A running output: what the Dispatcher needs to deliver to it. */
export interface Output {
  /** destination label, lower-case falcosidekick id: "webhook", "slack", "alertmanager"... */
  readonly name: string
  /** falcosidekick's minimumpriority as a rank (see `minimumPriorityRank`); 0 lets everything through */
  readonly minimumPriority: number
  /** whether an event whose rule is exactly "Test rule" bypasses minimumPriority (falcosidekick: true for most outputs) */
  readonly testRuleBypass: boolean
  /** maxconcurrentrequests: in-flight sends at once (falcosidekick default 1; 0 = unlimited, capped by the dispatcher) */
  readonly maxConcurrentRequests: number
  readonly batch?: BatchOptions
  /**
   * true when `send` itself ends an attempt after `currentAttemptTimeout` (the shared HttpTransport does,
   * through undici's timers); otherwise the Dispatcher races the attempt against a timer, which costs
   * two fibers per attempt.
   */
  readonly enforcesTimeout?: boolean
  /** deliver these events; one attempt. Retries and timeouts are the Dispatcher's. */
  readonly send: (events: NonEmptyReadonlyArray<FalcoEvent>) => Effect.Effect<void, OutputError>
}

/**
 * The per-attempt timeout the Dispatcher sets around `send`, for outputs that enforce it themselves
 * (`enforcesTimeout`). Default: none.
 */
export const currentAttemptTimeout: FiberRef.FiberRef<Duration.Duration> = FiberRef.unsafeMake(Duration.infinity)

/** The running outputs, in registry order. Built by the app from config; by tests with fakes. */
export class Outputs extends Context.Tag("@sidekick/delivery/Outputs")<Outputs, ReadonlyArray<Output>>() {}

/**
 * The static description of an output kind: its config section, when it is enabled, how to build it.
 * `C` is the decoded config section; `R` the services `make` needs (HttpTransport for HTTP outputs).
 */
export interface OutputDefinition<C, R = never> {
  /** config section path and destination label: "webhook", "alertmanager", "aws.sqs"... */
  readonly key: string
  /** falcosidekick's display name, for "Enabled Outputs: [...]": "Webhook", "AlertManager"... */
  readonly displayName: string
  /** whether the decoded section turns the output on (falcosidekick: its enabling key is non-empty) */
  readonly enabled: (config: C) => boolean
  readonly make: (config: C) => Effect.Effect<Output, OutputInitError, R | Scope.Scope>
  /** the service this output provides */
  readonly tag: Context.Tag<Output, Output>
  /** the output as a Layer: one service, built from its config */
  readonly layer: (config: C) => Layer.Layer<Output, OutputInitError, Exclude<R, Scope.Scope>>
}

/** Declare an output kind. */
export const define = <C, R = never>(options: {
  readonly key: string
  readonly displayName: string
  readonly enabled: (config: C) => boolean
  readonly make: (config: C) => Effect.Effect<Output, OutputInitError, R | Scope.Scope>
}): OutputDefinition<C, R> => {
  const tag = Context.GenericTag<Output>(`@sidekick/outputs/${options.key}`)
  return {
    ...options,
    tag,
    layer: (config) => Layer.scoped(tag, options.make(config)) as Layer.Layer<Output, OutputInitError, Exclude<R, Scope.Scope>>
  }
}
