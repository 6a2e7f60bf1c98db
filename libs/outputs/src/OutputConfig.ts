/**
 * The config groups outputs share, declared once: the keys every output has (`minimumpriority`, its
 * `delivery.*` overrides), falcosidekick's common HTTP keys, and one batching group with per-output
 * defaults (Vector's `BatchConfig`), so forty outputs do not invent forty spellings.
 */
import { type Decoded, deliveryPolicyFields, Field, type Fields, section } from "@sidekick/config"
import type { BatchOptions, PolicyOverrides } from "@sidekick/delivery"
import type { FalcoEvent } from "@sidekick/event"
import type { Duration } from "effect"

/**
 * `<output>.delivery.*`: each global `delivery.*` policy key, unset by default (then the global value
 * holds), plus a rate limit of the output's own (`ratelimit.limit` 0 = none).
 */
export const deliveryOverrideFields = () => ({
  ...Field.optionalGroup(deliveryPolicyFields()),
  ratelimit: {
    limit: Field.int(0, { min: 0 }),
    interval: Field.duration("1s"),
    burst: Field.int(1, { min: 1 })
  }
})

/** the keys every output has, whatever its transport */
export const outputFields = () => ({
  minimumpriority: Field.minimumPriority(),
  delivery: deliveryOverrideFields()
})

/** A section of an output: its own keys, then the keys every output has. */
export const outputSection = <F extends Fields>(path: string, fields: F) => section(path, { ...fields, ...outputFields() })

/** what `define` reads from every output's section */
export type CommonConfig = Decoded<ReturnType<typeof outputFields>>

/** falcosidekick's common keys of HTTP outputs: checkcert, mutualtls, maxconcurrentrequests */
export const httpFields = () => ({
  checkcert: Field.bool(true),
  mutualtls: Field.bool(false),
  maxconcurrentrequests: Field.int(1, { min: 0, max: 65535 })
})

export interface BatchingDefaults {
  readonly enabled: boolean
  readonly maxevents: number
  readonly maxbytes: number
  readonly flushinterval: string
}

/** `<output>.batching.*`: one batch is one request, sent at `maxevents`, `maxbytes` or `flushinterval`, whichever comes first */
export const batchingFields = (defaults: BatchingDefaults) => ({
  enabled: Field.bool(defaults.enabled),
  maxevents: Field.int(defaults.maxevents, { min: 1 }),
  maxbytes: Field.int(defaults.maxbytes, { min: 1 }),
  flushinterval: Field.duration(defaults.flushinterval)
})

export interface BatchingConfig {
  readonly enabled: boolean
  readonly maxevents: number
  readonly maxbytes: number
  readonly flushinterval: Duration.Duration
}

/** the Dispatcher's batch options from a batching group, or undefined when batching is off */
export const batchOptions = (c: BatchingConfig, sizeOf: (event: FalcoEvent) => number): BatchOptions | undefined =>
  c.enabled ? { maxEvents: c.maxevents, maxBytes: c.maxbytes, interval: c.flushinterval, sizeOf } : undefined

type DeliveryOverrideConfig = CommonConfig["delivery"]

/**
 * The decoded policy keys as the Dispatcher's overrides. Serves the global `delivery.*` section too: its
 * values are all set, so the result overrides every default.
 */
export const policyOverrides = (
  d: Omit<DeliveryOverrideConfig, "ratelimit"> & { readonly ratelimit?: DeliveryOverrideConfig["ratelimit"] }
): PolicyOverrides => ({
  queueCapacity: d.queuecapacity,
  queueMaxBytes: d.queue.maxbytes,
  overflow: d.overflow,
  timeout: d.timeout,
  retry: {
    maxAge: d.retry.maxage,
    maxAttempts: d.retry.maxattempts,
    initialDelay: d.retry.initialdelay,
    maxDelay: d.retry.maxdelay
  },
  circuitBreaker: { failures: d.circuitbreaker.failures, resetAfter: d.circuitbreaker.resetafter },
  rateLimit: d.ratelimit === undefined || d.ratelimit.limit === 0
    ? undefined
    : { limit: d.ratelimit.limit, interval: d.ratelimit.interval, burst: d.ratelimit.burst }
})

