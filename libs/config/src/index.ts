export { ConfigError, ConfigLoadError, REDACTED } from "./ConfigError.js"
export {
  type AnyField,
  type AnySection,
  type Decoded,
  type Env,
  envVarOf,
  Field,
  type FieldKind,
  type FieldSpec,
  type Fields,
  isField,
  type KeyInfo,
  type ListOptions,
  type MapEnvFormat,
  type MapOptions,
  type OptionalFields,
  section,
  type Section
} from "./Field.js"
export { DeadLetterConfig, DeliveryConfig, deliveryPolicyFields, enrichmentOptions, GlobalConfig, globalSections, mutualTlsClientFiles } from "./Global.js"
export { formatGoDuration, parseGoBool, parseGoDuration, parseGoInt } from "./goParse.js"
export {
  checkSections,
  type ConfigEntry,
  describeConfig,
  type Origin,
  readSection,
  readSectionEither,
  unknownKeys
} from "./read.js"
export {
  type Action,
  type ConfigSource,
  loadSource,
  makeSource,
  parseArgs,
  type ParsedArgs,
  sourceFromYaml,
  usage
} from "./Source.js"
