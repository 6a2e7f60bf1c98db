export {
  canonicalizeKeys,
  decodeRawFalcoEvent,
  eventJson,
  eventPayload,
  type FalcoEvent,
  GoTimeValue,
  goTimeString,
  OutputFields,
  RawFalcoEvent,
  Rfc3339Time,
  stringOutputFields,
  templateData
} from "./FalcoEvent.js"
export { type GoTime, goTimeStringOf, parseRfc3339, rfc3339NanoAt, rfc3339Seconds, rfc3339SecondsOf, zeroPad } from "./GoTime.js"
export { type EnrichmentOptions, type Ingest, makeIngest, testEventBody } from "./Ingest.js"
export {
  compareBytewise,
  goJson,
  goJsonMap,
  goJsonString,
  isLosslessNumber,
  LosslessNumber,
  omitEmpty,
  parseJson,
  sortedKeys,
  sortKeys
} from "./Json.js"
export { minimumPriorityRank, parsePriority, type Priority, priorities, rank } from "./Priority.js"
