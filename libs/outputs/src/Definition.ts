/**
 * How an output kind is declared: its config section (from which its name, destination label, log
 * prefix, env vars and docs derive), when it is enabled, and how to build it. `make` gets the decoded
 * section and a context already bound to the output's name — its HTTP client, its error constructors,
 * the global field keys — and returns only what is its own: its kind, how it sends, and optionally how
 * it classifies failures. The keys every output shares (`minimumpriority`, `maxconcurrentrequests`,
 * `delivery.*`) are read here, once.
 *
 *   export const Webhook = define({
 *     config: WebhookConfig,
 *     displayName: "Webhook",
 *     enabled: (c) => c.address !== "",
 *     make: (c, ctx) => Effect.map(ctx.http(), (http) => sendEach(http, (event) => ({ url: c.address, body: ... })))
 *   })
 */
import { type AnySection, type ConfigError, type ConfigSource, readSection, type Section } from "@sidekick/config"
import {
  type BatchOutput,
  type HttpRequestSpec,
  HttpTransport,
  type Output,
  OutputError,
  type OutputErrorReason,
  type OutputHttpClient,
  OutputInitError,
  type SingleOutput,
  type TlsFiles
} from "@sidekick/delivery"
import { type FalcoEvent, minimumPriorityRank } from "@sidekick/event"
import { compileTemplate, type GoTemplate } from "@sidekick/gotemplate"
import { Metrics, type MetricsListener } from "@sidekick/telemetry"
import { Context, type Duration, Effect, Either, Layer, Option, Redacted, type Scope } from "effect"
import { type CommonConfig, policyOverrides } from "./OutputConfig.js"

/**
 * The keys of the global `customfields` and `templatedfields` (merged into every event's output_fields at
 * ingest). Outputs that label by them (Loki) need to know which output fields they are.
 */
export interface GlobalFieldKeysShape {
  readonly customFields: ReadonlyArray<string>
  readonly templatedFields: ReadonlyArray<string>
}

export class GlobalFieldKeys extends Context.Tag("@sidekick/outputs/GlobalFieldKeys")<GlobalFieldKeys, GlobalFieldKeysShape>() {
  static readonly layer = (keys: GlobalFieldKeysShape): Layer.Layer<GlobalFieldKeys> => Layer.succeed(GlobalFieldKeys, keys)
  static readonly empty: Layer.Layer<GlobalFieldKeys> = Layer.succeed(GlobalFieldKeys, { customFields: [], templatedFields: [] })
}

/** what building any output may require; the app provides all of it */
export type OutputServices = HttpTransport | GlobalFieldKeys

/** An HTTP client's own options; checkcert and mutualtls come from the section. Secrets stay Redacted until here. */
export interface HttpOptions {
  /** set on every request after the defaults and the request's own headers (falcosidekick `customheaders`) */
  readonly customHeaders?: Redacted.Redacted<Readonly<Record<string, string>>> | Readonly<Record<string, string>>
  readonly basicAuth?: { readonly user: string; readonly password: Redacted.Redacted<string> }
  /** default "application/json; charset=utf-8" */
  readonly contentType?: string
}

/** What `make` is handed, bound to the output's name. */
export interface OutputContext {
  /** the section path: "webhook", "aws.sqs" */
  readonly name: string
  /** an attempt's failure, naming this output */
  readonly error: (
    reason: OutputErrorReason,
    message: string,
    details?: { readonly status?: number; readonly retryAfter?: Duration.Duration; readonly cause?: unknown }
  ) => OutputError
  /** a start-up refusal, naming this output and (when given) the key `<name>.<key>` */
  readonly initError: (message: string, details?: { readonly key?: string; readonly cause?: unknown }) => OutputInitError
  /** the output's HTTP client (one connection pool, living as long as the output) */
  readonly http: (options?: HttpOptions) => Effect.Effect<OutputHttpClient, OutputInitError, Scope.Scope>
  /** compile the Go template of key `<name>.<key>` ("" means none); one that does not compile refuses start-up naming the key */
  readonly template: (key: string, source: string) => Effect.Effect<GoTemplate | undefined, OutputInitError>
  readonly globalFieldKeys: GlobalFieldKeysShape
  /** the global client TLS files (`tlsclient.cacertfile`, `mutualtlsclient.*` over `<mutualtlsfilespath>/...`) */
  readonly tlsFiles: TlsFiles
}

/** the parts of an Output the definition derives from the section */
type Derived = "name" | "minimumPriority" | "maxConcurrentRequests" | "policy" | "testRuleBypass" | "enforcesTimeout"
type Own<O> = Omit<O, Derived> & {
  /** default true: the "Test rule" event bypasses minimumpriority */
  readonly testRuleBypass?: boolean
  /** default: true when every send goes through `ctx.http` (the transport ends an attempt at the timeout) */
  readonly enforcesTimeout?: boolean
}

/** what an output's `make` returns: its kind, its send, optionally its classification and batch options */
export type OutputImpl = Own<SingleOutput> | Own<BatchOutput>

/** An output kind, with its config type erased: what the registry lists and the app reads. */
export interface AnyOutputDefinition {
  /** section path, destination label and log prefix */
  readonly name: string
  /** falcosidekick's display name, for "Enabled Outputs: [...]" */
  readonly displayName: string
  readonly section: AnySection
  /** an output of events, or a sink of Sidekick's own metrics (StatsD...) */
  readonly kind: "events" | "metrics"
  /** the section this output shares with others (`aws`, `gcp`), when it has one: the config reader knows its keys through it */
  readonly sharedSection?: AnySection
  /** read the section: the output ready to build when the section enables it */
  readonly read: (source: ConfigSource) => Effect.Effect<Option.Option<EnabledOutput>, ConfigError>
}

/** An output the configuration enables: one that sends events, or one that sends Sidekick's own metrics. */
export type EnabledOutput = EnabledEventOutput | EnabledMetricsSink

/** An output of events: the Dispatcher queues every event for it. */
export interface EnabledEventOutput {
  readonly kind: "events"
  readonly name: string
  readonly displayName: string
  /** the service its layer provides */
  readonly tag: Context.Tag<Output, Output>
  readonly layer: Layer.Layer<Output, OutputInitError, OutputServices>
}

/**
 * An output of Sidekick's own counts (StatsD, DogStatsD, OTLP metrics): it gets no event from the
 * Dispatcher but listens to the Metrics service while its layer lives.
 */
export interface EnabledMetricsSink {
  readonly kind: "metrics"
  readonly name: string
  readonly displayName: string
  readonly layer: Layer.Layer<never, OutputInitError, Metrics | GlobalFieldKeys>
}

/** `I`: the service of the section the output shares (see `defineShared`); `never` for an output without one */
export interface OutputDefinition<C extends CommonConfig, I = never> extends AnyOutputDefinition {
  readonly section: Section<C>
  readonly enabled: (config: C) => boolean
  /** the running output (tests build it directly, providing the shared section's layer when it has one) */
  readonly make: (config: C) => Effect.Effect<Output, OutputInitError, OutputServices | Scope.Scope | I>
  /** the output as a Layer: one service, built from its config */
  readonly layer: (config: C) => Layer.Layer<Output, OutputInitError, OutputServices | I>
}

/** What a shared section's `make` is handed, bound to its path. */
export interface SharedContext {
  /** the section path: "aws", "gcp" */
  readonly name: string
  /** a start-up refusal, naming the section and (when given) the key `<name>.<key>` */
  readonly initError: OutputContext["initError"]
}

/**
 * A config section several outputs share (`aws.*`, `gcp.*`): its keys are declared once, read next to
 * the own section of each output that uses it, and what it builds (SDK settings, credentials, an identity
 * check) is built once per configuration however many of those outputs are enabled: `read` hands out
 * the same Layer for the same source, and Effect builds a Layer used twice in one application once.
 */
export interface SharedDefinition<S, I, A> {
  readonly section: Section<S>
  /** the service the outputs' `make` gets */
  readonly tag: Context.Tag<I, A>
  /** the shared value; a failure refuses start-up */
  readonly make: (config: S) => Effect.Effect<A, OutputInitError, Scope.Scope>
  /** the shared value as a Layer (tests provide it to an output's `make`) */
  readonly layer: (config: S) => Layer.Layer<I, OutputInitError>
  /** the section read from a source, as a Layer: the same object for the same source */
  readonly read: (source: ConfigSource) => Effect.Effect<Layer.Layer<I, OutputInitError>, ConfigError>
}

/** Declare a section several outputs share; each of them names it in `define({ shared })`. */
export const defineShared = <S, I, A>(options: {
  readonly config: Section<S>
  readonly tag: Context.Tag<I, A>
  readonly make: (config: S, ctx: SharedContext) => Effect.Effect<A, OutputInitError, Scope.Scope>
}): SharedDefinition<S, I, A> => {
  const name = options.config.path
  const make = (c: S) => options.make(c, { name, initError: initErrorOf(name) })
  const layer = (c: S) => Layer.scoped(options.tag, make(c))
  const bySource = new WeakMap<ConfigSource, Layer.Layer<I, OutputInitError>>()
  return {
    section: options.config,
    tag: options.tag,
    make,
    layer,
    read: (source) =>
      Effect.suspend(() => {
        const known = bySource.get(source)
        if (known !== undefined) return Effect.succeed(known)
        return Effect.map(readSection(source, options.config), (c) => {
          const shared = layer(c)
          bySource.set(source, shared)
          return shared
        })
      })
  }
}

const initErrorOf = (name: string): OutputContext["initError"] => (message, details) =>
  new OutputInitError({
    output: name,
    message,
    ...(details?.key === undefined ? {} : { key: `${name}.${details.key}` }),
    ...(details?.cause === undefined ? {} : { cause: details.cause })
  })

/** the common "+H" keys when the section has them */
interface HttpCommonConfig {
  readonly checkcert?: boolean
  readonly mutualtls?: boolean
  readonly maxconcurrentrequests?: number
}

const headersOf = (h: HttpOptions["customHeaders"]) => (h === undefined ? undefined : Redacted.isRedacted(h) ? Redacted.value(h) : h)

/**
 * Declare an output kind. An output that shares a section with others (the AWS outputs share `aws.*`)
 * names it in `shared`: its `make` then gets the shared value as third argument.
 */
export const define = <C extends CommonConfig, S = never, I = never, A = never>(options: {
  readonly config: Section<C>
  readonly displayName: string
  readonly enabled: (config: C) => boolean
  readonly shared?: SharedDefinition<S, I, A>
  readonly make: (config: C, ctx: OutputContext, shared: A) => Effect.Effect<OutputImpl, OutputInitError, Scope.Scope>
}): OutputDefinition<C, I> => {
  const name = options.config.path
  const tag = Context.GenericTag<Output>(`@sidekick/outputs/${name}`)
  const sharedDefinition = options.shared
  const make = (c: C) =>
    Effect.gen(function*() {
      // without a shared section, `A` is never and nothing is read
      const shared = (sharedDefinition === undefined ? undefined : yield* sharedDefinition.tag) as A
      const transport = yield* HttpTransport
      const globalFieldKeys = yield* GlobalFieldKeys
      const http = c as C & HttpCommonConfig
      let usesHttp = false
      const ctx: OutputContext = {
        name,
        error: (reason, message, details) => new OutputError({ output: name, reason, message, ...details }),
        initError: initErrorOf(name),
        http: (o = {}) => {
          usesHttp = true
          const headers = headersOf(o.customHeaders)
          return transport.client({
            output: name,
            checkCert: http.checkcert ?? true,
            mutualTls: http.mutualtls ?? false,
            ...(headers === undefined ? {} : { customHeaders: headers }),
            ...(o.basicAuth === undefined ? {} : { basicAuth: { user: o.basicAuth.user, password: Redacted.value(o.basicAuth.password) } }),
            ...(o.contentType === undefined ? {} : { contentType: o.contentType })
          })
        },
        template: (key, source) => {
          if (source === "") return Effect.succeed(undefined)
          const compiled = compileTemplate(source)
          return Either.isRight(compiled)
            ? Effect.succeed(compiled.right)
            : Effect.fail(ctx.initError(`invalid ${name}.${key}: ${compiled.left}`, { key }))
        },
        globalFieldKeys,
        tlsFiles: transport.tls
      }
      const own = yield* options.make(c, ctx, shared)
      return {
        testRuleBypass: true,
        enforcesTimeout: usesHttp,
        ...own,
        name,
        minimumPriority: minimumPriorityRank(c.minimumpriority),
        maxConcurrentRequests: http.maxconcurrentrequests ?? 1,
        policy: policyOverrides(c.delivery)
      } satisfies Output
    })
  const layer = (c: C) => Layer.scoped(tag, make(c))
  return {
    name,
    displayName: options.displayName,
    section: options.config,
    ...(sharedDefinition === undefined ? {} : { sharedSection: sharedDefinition.section }),
    kind: "events",
    enabled: options.enabled,
    make,
    layer,
    read: (source) =>
      Effect.gen(function*() {
        const c = yield* readSection(source, options.config)
        // read even when the output is off, so that a bad shared value is reported like any other
        const shared = sharedDefinition === undefined ? undefined : yield* sharedDefinition.read(source)
        if (!options.enabled(c)) return Option.none()
        const own = layer(c)
        const built = (shared === undefined ? own : Layer.provide(own, shared)) as Layer.Layer<Output, OutputInitError, OutputServices>
        return Option.some<EnabledOutput>({ kind: "events", name, displayName: options.displayName, tag, layer: built })
      })
  }
}

/** What a metrics sink's `make` is handed, bound to its name. */
export interface MetricsSinkContext {
  readonly name: string
  readonly initError: OutputContext["initError"]
  /** the global customfields / templatedfields keys (OTLP metrics labels its counter by them) */
  readonly globalFieldKeys: GlobalFieldKeysShape
}

export interface MetricsSinkDefinition<C> extends AnyOutputDefinition {
  readonly section: Section<C>
  readonly enabled: (config: C) => boolean
  /** the listener (tests build it directly); its scope closes the sink's connection */
  readonly make: (config: C) => Effect.Effect<MetricsListener, OutputInitError, GlobalFieldKeys | Scope.Scope>
  /** the sink as a Layer: it listens to the Metrics service while the layer lives */
  readonly layer: (config: C) => Layer.Layer<never, OutputInitError, Metrics | GlobalFieldKeys>
}

/**
 * Declare an output of Sidekick's own counts: its section, when it is enabled, and the listener it
 * becomes (what it sends for each input, accepted event and output attempt).
 */
export const defineMetricsSink = <C>(options: {
  readonly config: Section<C>
  readonly displayName: string
  readonly enabled: (config: C) => boolean
  readonly make: (config: C, ctx: MetricsSinkContext) => Effect.Effect<MetricsListener, OutputInitError, Scope.Scope>
}): MetricsSinkDefinition<C> => {
  const name = options.config.path
  const make = (c: C) =>
    Effect.flatMap(GlobalFieldKeys, (globalFieldKeys) => options.make(c, { name, initError: initErrorOf(name), globalFieldKeys }))
  const layer = (c: C) =>
    Layer.scopedDiscard(
      Effect.gen(function*() {
        const metrics = yield* Metrics
        const listener = yield* make(c)
        yield* Effect.acquireRelease(Effect.sync(() => metrics.listen(listener)), (stop) => Effect.sync(stop))
      })
    )
  return {
    name,
    displayName: options.displayName,
    section: options.config,
    kind: "metrics",
    enabled: options.enabled,
    make,
    layer,
    read: (source) =>
      Effect.map(readSection(source, options.config), (c) =>
        options.enabled(c) ? Option.some({ kind: "metrics", name, displayName: options.displayName, layer: layer(c) }) : Option.none())
  }
}

/**
 * The send of an output that makes one request per event (most chat and on-call outputs): the request
 * the event becomes, sent with the output's client; the transport's answer decides success.
 */
export const sendEach = (http: OutputHttpClient, request: (event: FalcoEvent) => HttpRequestSpec): OutputImpl => ({
  kind: "single",
  send: (event) => Effect.asVoid(http.send(request(event)))
})
