/**
 * Everything the service needs from configuration, read and checked before anything starts: a bad
 * value stops start-up with one line naming the key, the env var, the value and what was expected.
 */
import {
  type AnySection,
  type ConfigError,
  type ConfigSource,
  DeliveryConfig,
  GlobalConfig,
  globalSections,
  mutualTlsClientFiles,
  readSection,
  unknownKeys
} from "@sidekick/config"
import type { DeliveryOptions, OverflowPolicy, TlsFiles } from "@sidekick/delivery"
import { type RegisteredOutput, outputs as registry } from "@sidekick/outputs"
import { Effect } from "effect"

export interface EnabledOutput {
  readonly registered: RegisteredOutput
  readonly config: unknown
}

export interface AppConfig {
  readonly global: typeof GlobalConfig.Type
  readonly delivery: DeliveryOptions
  readonly outputs: ReadonlyArray<EnabledOutput>
  /** YAML keys no section declares: typos, or outputs Sidekick does not have yet */
  readonly unknownKeys: ReadonlyArray<string>
}

export const allSections: ReadonlyArray<AnySection> = [
  ...globalSections,
  ...registry.map((r) => r.section as AnySection)
]

export const readAppConfig = (source: ConfigSource): Effect.Effect<AppConfig, ConfigError> =>
  Effect.gen(function*() {
    const global = yield* readSection(source, GlobalConfig)
    const d = yield* readSection(source, DeliveryConfig)
    const enabled: Array<EnabledOutput> = []
    for (const registered of registry) {
      const config = yield* readSection(source, registered.section as AnySection)
      if (registered.definition.enabled(config)) enabled.push({ registered, config })
    }
    return {
      global,
      delivery: {
        queueCapacity: d.queuecapacity,
        overflow: d.overflow as OverflowPolicy,
        timeout: d.timeout,
        retry: { maxAttempts: d.retry.maxattempts, initialDelay: d.retry.initialdelay, maxDelay: d.retry.maxdelay },
        circuitBreaker: { failures: d.circuitbreaker.failures, resetAfter: d.circuitbreaker.resetafter },
        shutdownTimeout: d.shutdowntimeout,
        maxConcurrency: d.maxconcurrency
      },
      outputs: enabled,
      unknownKeys: unknownKeys(source, allSections)
    }
  })

/** the HTTP outputs' TLS files: tlsclient.cacertfile, and mutualtlsclient.* over <mutualtlsfilespath>/... */
export const tlsFiles = (global: AppConfig["global"]): TlsFiles => ({
  caCertFile: global.tlsclient.cacertfile,
  mutualTls: mutualTlsClientFiles(global)
})
