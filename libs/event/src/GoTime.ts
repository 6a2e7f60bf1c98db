/**
 * Go `time.Time` as falcosidekick sees an event time: parsed by `Time.UnmarshalJSON` (strict RFC 3339),
 * re-emitted by `MarshalJSON` (RFC3339Nano) and printed by `Time.String()`.
 *
 * Assumes the Go process runs with `Local = UTC` (the falcosidekick container image): an offset of `+00:00`
 * then becomes the Local zone and prints as `Z` / `+0000 UTC`, any other offset is a nameless fixed zone.
 */

export interface GoTime {
  /** RFC3339Nano as Go re-emits it: fraction truncated to 9 digits, trailing zeros trimmed, zero offset -> `Z` */
  readonly rfc3339Nano: string
  readonly unixNanos: bigint
  /** seconds east of UTC */
  readonly offsetSeconds: number
  /** Go `Time.IsZero()`: the instant 0001-01-01T00:00:00Z */
  readonly isZero: boolean
}

const rfc3339 = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:Z|([+-])(\d{2}):(\d{2}))$/

const isLeap = (y: number): boolean => y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0)
const daysInMonth = (y: number, m: number): number =>
  m === 2 ? (isLeap(y) ? 29 : 28) : m === 4 || m === 6 || m === 9 || m === 11 ? 30 : 31

/** Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil). */
const daysFromCivil = (y: number, m: number, d: number): number => {
  const yy = m <= 2 ? y - 1 : y
  const era = Math.floor(yy / 400)
  const yoe = yy - era * 400
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
}

/** Unix seconds of 0001-01-01T00:00:00Z, Go's zero Time. */
const zeroUnixSeconds = daysFromCivil(1, 1, 1) * 86400

const trimFraction = (digits: string): string => {
  let end = digits.length > 9 ? 9 : digits.length
  while (end > 0 && digits.charCodeAt(end - 1) === 48) end--
  return end === 0 ? "" : "." + digits.slice(0, end)
}

/**
 * Go `time.Time.UnmarshalJSON` (Go >= 1.20 `parseStrictRFC3339`): `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`,
 * upper-case `T` and `Z`, real calendar dates, seconds 0-59, offset hours 0-23 and minutes 0-59.
 * Go accepts any number of fraction digits and truncates (not rounds) to nanoseconds; so do we.
 * Returns undefined when Go would fail to decode. The zero time parses (it is rejected later by the event check).
 */
export const parseRfc3339 = (s: string): GoTime | undefined => {
  const m = rfc3339.exec(s)
  if (m === null) return undefined
  const year = +m[1]!
  const month = +m[2]!
  const day = +m[3]!
  const hour = +m[4]!
  const minute = +m[5]!
  const second = +m[6]!
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return undefined
  if (hour > 23 || minute > 59 || second > 59) return undefined
  let offsetSeconds = 0
  if (m[8] !== undefined) {
    const oh = +m[9]!
    const om = +m[10]!
    if (oh > 23 || om > 59) return undefined
    offsetSeconds = (oh * 60 + om) * 60 * (m[8] === "-" ? -1 : 1)
  }
  const fraction = m[7]
  let nanos = 0
  if (fraction !== undefined) {
    const nine = fraction.length >= 9 ? fraction.slice(0, 9) : fraction + "000000000".slice(fraction.length)
    nanos = +nine
  }
  const unixSeconds = daysFromCivil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second - offsetSeconds
  const zone = offsetSeconds === 0 ? "Z" : s.slice(s.length - 6)
  const canonical = s.slice(0, 19) + (fraction === undefined ? "" : trimFraction(fraction)) + zone
  return {
    rfc3339Nano: canonical === s ? s : canonical,
    unixNanos: BigInt(unixSeconds) * 1_000_000_000n + BigInt(nanos),
    offsetSeconds,
    isZero: unixSeconds === zeroUnixSeconds && nanos === 0
  }
}

/**
 * Go `time.Time.String()` (`2006-01-02 15:04:05.999999999 -0700 MST`) of a time given in the RFC3339Nano form Go
 * emits: `2024-05-06T10:20:30.123456789Z` -> `2024-05-06 10:20:30.123456789 +0000 UTC`; a non-zero offset has no
 * zone name, so Go prints it twice: `+02:00` -> `+0200 +0200`.
 */
export const goTimeStringOf = (rfc3339Nano: string): string => {
  const n = rfc3339Nano.length
  const datetime = rfc3339Nano.slice(0, 10) + " " + rfc3339Nano.slice(11, rfc3339Nano.charCodeAt(n - 1) === 90 ? n - 1 : n - 6)
  if (rfc3339Nano.charCodeAt(n - 1) === 90 /* Z */) return datetime + " +0000 UTC"
  const offset = rfc3339Nano.slice(n - 6, n - 3) + rfc3339Nano.slice(n - 2)
  return datetime + " " + offset + " " + offset
}

/**
 * Go `t.Format(time.RFC3339)` of a time given in RFC3339Nano form: the fraction dropped, the offset kept
 * (`2024-05-06T10:20:30.123456789+02:00` -> `2024-05-06T10:20:30+02:00`).
 */
export const rfc3339SecondsOf = (rfc3339Nano: string): string =>
  rfc3339Nano.slice(0, 19) + (rfc3339Nano.endsWith("Z") ? "Z" : rfc3339Nano.slice(-6))

/** RFC 3339 at second precision in UTC, like Go `time.Now().UTC().Format(time.RFC3339)`. */
export const rfc3339Seconds = (date: Date): string => date.toISOString().slice(0, 19) + "Z"

/** `n` in decimal, zero-padded to `width` digits, as Go's time layouts print 01, 2006 or .000000000 */
export const zeroPad = (n: number | bigint, width = 2): string => String(n).padStart(width, "0")

/** Go RFC3339Nano of `nanos` (Unix ns) rendered at the UTC offset of `reference` (an RFC3339 time string) */
export const rfc3339NanoAt = (nanos: bigint, reference: string): string => {
  const m = /(Z|[+-]\d{2}:\d{2})$/.exec(reference)
  const zone = m === null ? "Z" : m[1]!
  const offsetMinutes = zone === "Z" ? 0 : (zone.startsWith("-") ? -1 : 1) * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4, 6)))
  const shifted = nanos + BigInt(offsetMinutes) * 60_000_000_000n
  let seconds = shifted / 1_000_000_000n
  let frac = shifted % 1_000_000_000n
  if (frac < 0n) {
    frac += 1_000_000_000n
    seconds -= 1n
  }
  const d = new Date(Number(seconds) * 1000)
  const fracText = frac === 0n ? "" : "." + zeroPad(frac, 9).replace(/0+$/, "")
  return `${zeroPad(d.getUTCFullYear(), 4)}-${zeroPad(d.getUTCMonth() + 1)}-${zeroPad(d.getUTCDate())}T${zeroPad(d.getUTCHours())}:${
    zeroPad(d.getUTCMinutes())
  }:${zeroPad(d.getUTCSeconds())}${fracText}${zone}`
}
