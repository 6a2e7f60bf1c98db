/**
 * Pieces several outputs share: falcosidekick's common HTTP keys and the global field keys some outputs
 * turn into labels.
 */
import { Field } from "@sidekick/config"
import { Context, Layer } from "effect"

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

