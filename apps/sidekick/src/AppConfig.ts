/**
 * Everything the service needs from configuration, read and checked before anything starts: a bad
 * value stops start-up with one line naming the key, the env var, the value and what was expected.
 */
import {
  type AnySection,
  ConfigError,
  type ConfigSource,
  DeadLetterConfig,
  DeliveryConfig,
  type DeliveryConfig as DeliveryConfigType,
  envVarOf,
  GlobalConfig,
  globalSections,
  mutualTlsClientFiles,
  readSection,
  unknownKeys
} from "@sidekick/config"
import {
  defaultDeliveryOptions,
  type DeliveryOptions,
  type JetStreamBufferOptions,
  resolvePolicy,
  type TlsFiles
} from "@sidekick/delivery"
import { type EnabledOutput, outputs as registry, policyOverrides } from "@sidekick/outputs"
import { type Duration, Effect, Option, Redacted } from "effect"

export interface AppConfig {
  readonly global: typeof GlobalConfig.Type
  readonly delivery: DeliveryOptions
  /** full buffers hold a request this long before it is answered 503 */
  readonly backpressureMaxWait: Duration.Duration
  /** the durable spool, when `delivery.spool.dir` is set */
  readonly spool: { readonly dir: string; readonly durability: "write" | "fsync"; readonly maxBytes: number } | undefined
  /** the spool on NATS JetStream, when `delivery.spool.nats.url` is set */
  readonly jetstream: JetStreamBufferOptions | undefined
  /** the outputs the configuration enables, in registry order */
  readonly outputs: ReadonlyArray<EnabledOutput>
  /** YAML keys no section declares: typos, or outputs Sidekick does not have yet */
  readonly unknownKeys: ReadonlyArray<string>
}

/** the global sections, then each output's (a section several outputs share, `aws` or `gcp`, once, before the first of them) */
export const allSections: ReadonlyArray<AnySection> = [
  ...globalSections,
  ...new Set(registry.flatMap((r) => (r.sharedSection === undefined ? [r.section] : [r.sharedSection, r.section])))
]

export const readAppConfig = (source: ConfigSource): Effect.Effect<AppConfig, ConfigError> =>
  Effect.gen(function*() {
    const global = yield* readSection(source, GlobalConfig)
    const d = yield* readSection(source, DeliveryConfig)
    const enabled = (yield* Effect.forEach(registry, (definition) => definition.read(source))).flatMap(Option.toArray)
    const deadLetter = yield* readSection(source, DeadLetterConfig)
    if (d.spool.dir !== "" && d.spool.nats.url !== "") {
      const key = "delivery.spool.nats.url"
      return yield* new ConfigError({
        key,
        envVar: envVarOf(key),
        origin: source.env[envVarOf(key)] ? "env" : "file",
        value: d.spool.nats.url,
        expected: `no NATS URL while delivery.spool.dir is set: one spool, on disk or on JetStream`
      })
    }
    const eventOutputs = enabled.filter((o) => o.kind === "events")
    if (deadLetter.output !== "" && !eventOutputs.some((o) => o.name === deadLetter.output)) {
      const key = "deadletter.output"
      const envVar = envVarOf(key)
      const fromEnv = source.env[envVar] !== undefined && source.env[envVar] !== ""
      return yield* new ConfigError({
        key,
        envVar,
        origin: fromEnv ? "env" : "file",
        value: deadLetter.output,
        expected: eventOutputs.length === 0
          ? "an enabled output; none is enabled"
          : `one of the enabled outputs: ${eventOutputs.map((o) => o.name).join(", ")}`,
        ...(!fromEnv && source.file !== undefined ? { file: source.file } : {})
      })
    }
    return {
      global,
      // the same conversion as an output's `delivery.*` overrides: every global key is set
      delivery: {
        ...resolvePolicy(defaultDeliveryOptions, policyOverrides(d)),
        maxBytes: d.maxbytes,
        // a spool keeps what is queued for the next start (or another replica): nothing to drain
        drainOnShutdown: d.spool.dir === "" && d.spool.nats.url === "",
        deadLetter: { maxEntries: deadLetter.maxentries, output: deadLetter.output },
        shutdownTimeout: d.shutdowntimeout,
        maxConcurrency: d.maxconcurrency
      },
      backpressureMaxWait: d.backpressure.maxwait,
      spool: d.spool.dir === "" ? undefined : { dir: d.spool.dir, durability: d.spool.durability, maxBytes: d.spool.maxbytes },
      jetstream: jetstreamOptions(d.spool.nats),
      outputs: enabled,
      unknownKeys: unknownKeys(source, allSections)
    }
  })

/** `delivery.spool.nats.*` as the JetStream buffer's options; secrets unwrapped here, for the client only */
const jetstreamOptions = (n: DeliveryConfigType["spool"]["nats"]): JetStreamBufferOptions | undefined => {
  if (n.url === "") return undefined
  const password = Redacted.value(n.password)
  const token = Redacted.value(n.token)
  return {
    url: n.url,
    stream: n.stream,
    subject: n.subject,
    replicas: n.replicas,
    ackWait: n.ackwait,
    ...(n.maxbytes > 0 ? { maxBytes: n.maxbytes } : {}),
    ...(n.user !== "" ? { user: n.user, password } : {}),
    ...(token !== "" ? { token } : {}),
    ...(n.cafile !== "" ? { caFile: n.cafile } : {})
  }
}

/** the HTTP outputs' TLS files: tlsclient.cacertfile, and mutualtlsclient.* over <mutualtlsfilespath>/... */
export const tlsFiles = (global: AppConfig["global"]): TlsFiles => ({
  caCertFile: global.tlsclient.cacertfile,
  mutualTls: mutualTlsClientFiles(global)
})
