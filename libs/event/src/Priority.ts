/**
 * Falco priorities with falcosidekick's parsing rules (types.PriorityType: case-insensitive exact names plus "info"; anything else is no priority).
 */

/** The eight Falco priorities, least severe first. `rank(p)` is the index + 1 (Debug 1 ... Emergency 8). */
export const priorities = [
  "Debug",
  "Informational",
  "Notice",
  "Warning",
  "Error",
  "Critical",
  "Alert",
  "Emergency"
] as const

export type Priority = (typeof priorities)[number]

const ranks: Readonly<Record<Priority, number>> = {
  Debug: 1,
  Informational: 2,
  Notice: 3,
  Warning: 4,
  Error: 5,
  Critical: 6,
  Alert: 7,
  Emergency: 8
}

/** Numeric rank used for `minimumpriority` comparisons: Debug 1 ... Emergency 8 (0 means "unknown / everything"). */
export const rank = (p: Priority): number => ranks[p]

const byLowerName: ReadonlyMap<string, Priority> = new Map<string, Priority>([
  ...priorities.map((p) => [p.toLowerCase(), p] as const),
  ["info", "Informational"]
])
/** lower-case names plus the canonical spellings, so the common inputs need no `toLowerCase` */
const direct: ReadonlyMap<string, Priority> = new Map<string, Priority>([
  ...byLowerName,
  ...priorities.map((p) => [p, p] as const)
])

/**
 * Go `strings.ToLower` maps U+0130 (LATIN CAPITAL LETTER I WITH DOT ABOVE) to a plain "i", whereas JavaScript
 * produces "i\u0307". Every other character whose Go lower case is ASCII (only U+212A KELVIN SIGN) agrees.
 */
const goToLower = (s: string): string => s.replaceAll("\u0130", "i").toLowerCase()

/**
 * falcosidekick `types.Priority(s)`: case-insensitive exact names plus `info`; no trimming.
 * `"warn"`, `"err"`, `""`, `" Error"` -> undefined (Go: Default / 0).
 */
export const parsePriority = (s: string): Priority | undefined => {
  // fast path: already canonical ("Notice") or lower case ("notice")
  const exact = direct.get(s)
  if (exact !== undefined) return exact
  return byLowerName.get(goToLower(s))
}

/** falcosidekick `checkPriority`: unanchored, case-insensitive. */
const minimumPriorityPattern = /(emergency|alert|critical|error|warning|notice|informational|debug)/i

/**
 * Rank of a configured `minimumpriority`, as falcosidekick computes it: the raw string must match the unanchored,
 * case-insensitive regex above (else it is replaced by ""), then `Priority()` parses it. `""`, typos, `info`, `warn`,
 * `xcriticalx` -> 0, meaning every event passes.
 */
export const minimumPriorityRank = (configured: string): number => {
  if (!minimumPriorityPattern.test(configured)) return 0
  const p = parsePriority(configured)
  return p === undefined ? 0 : ranks[p]
}
