/**
 * Go standard-library parsers that falcosidekick's configuration goes through (viper + mapstructure
 * call strconv.ParseBool, strconv.ParseInt(s, 0, 64) and time.ParseDuration). Written from the Go
 * documentation; each returns `undefined` when Go would return an error.
 */

/** strconv.ParseBool: exactly 1, t, T, TRUE, true, True, 0, f, F, FALSE, false, False. */
export const parseGoBool = (s: string): boolean | undefined => {
  switch (s) {
    case "1":
    case "t":
    case "T":
    case "TRUE":
    case "true":
    case "True":
      return true
    case "0":
    case "f":
    case "F":
    case "FALSE":
    case "false":
    case "False":
      return false
    default:
      return undefined
  }
}

const INT64_MIN = -(2n ** 63n)
const INT64_MAX = 2n ** 63n - 1n

/**
 * strconv.ParseInt(s, 0, 64): optional sign, then `0x`/`0X` hex, `0o`/`0O` or a leading `0` octal,
 * `0b`/`0B` binary, else decimal; `_` allowed only between digits (or after a base prefix).
 * Returns a bigint so callers can range-check without precision loss.
 */
export const parseGoInt = (s: string): bigint | undefined => {
  let body = s
  let negative = false
  if (body.startsWith("+") || body.startsWith("-")) {
    negative = body.startsWith("-")
    body = body.slice(1)
  }
  let literal: string | undefined
  if (/^0[xX](_?[0-9a-fA-F])+$/.test(body)) literal = "0x" + body.slice(2)
  else if (/^0[bB](_?[01])+$/.test(body)) literal = "0b" + body.slice(2)
  else if (/^0[oO](_?[0-7])+$/.test(body)) literal = "0o" + body.slice(2)
  else if (body === "0") literal = "0"
  else if (/^0(_?[0-7])+$/.test(body)) literal = "0o" + body.slice(1)
  else if (/^[1-9](_?[0-9])*$/.test(body)) literal = body
  if (literal === undefined) return undefined
  const magnitude = BigInt(literal.replace(/_/g, ""))
  const value = negative ? -magnitude : magnitude
  return value < INT64_MIN || value > INT64_MAX ? undefined : value
}

const NS_PER: Readonly<Record<string, bigint>> = {
  ns: 1n,
  us: 1_000n,
  "\u00b5s": 1_000n, // µ (micro sign)
  "\u03bcs": 1_000n, // μ (Greek mu)
  ms: 1_000_000n,
  s: 1_000_000_000n,
  m: 60_000_000_000n,
  h: 3_600_000_000_000n
}

/**
 * time.ParseDuration: a possibly signed sequence of decimal numbers, each with optional fraction and
 * a mandatory unit suffix (ns, us, µs, ms, s, m, h), e.g. "300ms", "-1.5h", "2h45m". "0" alone is
 * allowed. Returns nanoseconds.
 */
export const parseGoDuration = (s: string): bigint | undefined => {
  let rest = s
  let negative = false
  if (rest.startsWith("+") || rest.startsWith("-")) {
    negative = rest.startsWith("-")
    rest = rest.slice(1)
  }
  if (rest === "0") return 0n
  if (rest === "") return undefined
  let total = 0n
  const component = /^([0-9]*)(?:\.([0-9]*))?([^0-9.]+)/
  while (rest !== "") {
    const m = component.exec(rest)
    if (m === null) return undefined
    const [whole, intPart = "", fracPart, unitAndMore = ""] = m
    if (intPart === "" && (fracPart === undefined || fracPart === "")) return undefined
    // the unit runs until the next digit or dot
    const unit = NS_PER[unitAndMore]
    if (unit === undefined) return undefined
    let ns = BigInt(intPart === "" ? "0" : intPart) * unit
    if (fracPart !== undefined && fracPart !== "") {
      ns += (BigInt(fracPart) * unit) / 10n ** BigInt(fracPart.length)
    }
    total += ns
    if (total > INT64_MAX) return undefined
    rest = rest.slice(whole.length)
  }
  return negative ? -total : total
}

const fraction = (value: bigint, scale: bigint, digits: number): string => {
  const whole = value / scale
  const frac = (value % scale).toString().padStart(digits, "0").replace(/0+$/, "")
  return frac === "" ? whole.toString() : `${whole}.${frac}`
}

/** time.Duration.String(): "0s", "500ms", "1.5s", "1m30s", "1h0m0s". */
export const formatGoDuration = (nanos: bigint): string => {
  if (nanos === 0n) return "0s"
  const sign = nanos < 0n ? "-" : ""
  const n = nanos < 0n ? -nanos : nanos
  if (n < 1_000n) return `${sign}${n}ns`
  if (n < 1_000_000n) return `${sign}${fraction(n, 1_000n, 3)}\u00b5s`
  if (n < 1_000_000_000n) return `${sign}${fraction(n, 1_000_000n, 6)}ms`
  const hours = n / 3_600_000_000_000n
  const minutes = (n / 60_000_000_000n) % 60n
  const secondsNs = n % 60_000_000_000n
  const seconds = `${fraction(secondsNs, 1_000_000_000n, 9)}s`
  if (hours > 0n) return `${sign}${hours}h${minutes}m${seconds}`
  if (minutes > 0n) return `${sign}${minutes}m${seconds}`
  return `${sign}${seconds}`
}
