import { describe, expect, it } from "@effect/vitest"
import { minimumPriorityRank, parsePriority, priorities, rank } from "../src/index.js"

describe("Priority (falcosidekick's parsing rules and types/priority_test.go cases)", () => {
  it("ranks Debug 1 ... Emergency 8", () => {
    expect(priorities.map(rank)).toEqual([1, 2, 3, 4, 5, 6, 7, 8])
    expect(rank("Notice")).toBe(3)
  })

  it.each([
    ["Debug", "Debug"],
    ["Informational", "Informational"],
    ["Notice", "Notice"],
    ["Warning", "Warning"],
    ["Error", "Error"],
    ["Critical", "Critical"],
    ["Alert", "Alert"],
    ["Emergency", "Emergency"],
    ["emergency", "Emergency"],
    ["ERROR", "Error"],
    ["info", "Informational"],
    ["INFO", "Informational"],
    ["İnfo", "Informational"] // Go's ToLower maps U+0130 to "i"
  ])("parsePriority(%j) = %s", (input, expected) => {
    expect(parsePriority(input)).toBe(expected)
  })

  it.each(["", "idk", "warn", "err", " Error", "Error ", "Call me, maybe?"])("parsePriority(%j) is unknown", (input) => {
    expect(parsePriority(input)).toBeUndefined()
  })

  it.each([
    ["", 0],
    ["debug", 1],
    ["CRITICAL", 6],
    ["warning", 4],
    ["info", 0], // does not match the checkPriority regex
    ["warn", 0],
    ["xcriticalx", 0], // matches the regex, then Priority() fails
    ["typo", 0],
    ["Emergency", 8]
  ])("minimumPriorityRank(%j) = %i", (input, expected) => {
    expect(minimumPriorityRank(input)).toBe(expected)
  })
})
