/**
 * Pieces several outputs share: falcosidekick's common HTTP keys and the global field keys some outputs
 * turn into labels.
 */
import { Field } from "@sidekick/config"
import { type HttpClientOptions, HttpTransport, type OutputHttpClient, type OutputInitError } from "@sidekick/delivery"
import { minimumPriorityRank } from "@sidekick/event"
import { Context, Effect, Layer, type Scope } from "effect"

/** the decoded "+H" keys */
export interface HttpCommonConfig {
  readonly checkcert: boolean
  readonly mutualtls: boolean
  readonly maxconcurrentrequests: number
  readonly minimumpriority: string
}

/** What every HTTP output's Output shares, from its "+H" keys. */
export const httpOutput = (name: string, c: HttpCommonConfig) => ({
  name,
  minimumPriority: minimumPriorityRank(c.minimumpriority),
  testRuleBypass: true,
  maxConcurrentRequests: c.maxconcurrentrequests,
  enforcesTimeout: true // the HttpTransport ends an attempt at the Dispatcher's timeout
})

/** The output's client from the shared HttpTransport, with its checkcert/mutualtls and its own options. */
export const httpClientFor = (
  name: string,
  c: HttpCommonConfig,
  options: Omit<HttpClientOptions, "output" | "checkCert" | "mutualTls"> = {}
): Effect.Effect<OutputHttpClient, OutputInitError, HttpTransport | Scope.Scope> =>
  Effect.flatMap(HttpTransport, (t) => t.client({ output: name, checkCert: c.checkcert, mutualTls: c.mutualtls, ...options }))

/** falcosidekick's "+H" keys: checkcert, mutualtls, maxconcurrentrequests, minimumpriority */
export const httpCommonFields = () => ({
  checkcert: Field.bool(true),
  mutualtls: Field.bool(false),
  maxconcurrentrequests: Field.int(1, { min: 0, max: 65535 }),
  minimumpriority: Field.minimumPriority()
})

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

