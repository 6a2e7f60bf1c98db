import { describe, expect, it } from "@effect/vitest"
import { formatGoDuration, parseGoBool, parseGoDuration, parseGoInt } from "../src/index.js"

describe("strconv.ParseBool", () => {
  it("accepts exactly Go's spellings", () => {
    for (const t of ["1", "t", "T", "TRUE", "true", "True"]) expect(parseGoBool(t)).toBe(true)
    for (const f of ["0", "f", "F", "FALSE", "false", "False"]) expect(parseGoBool(f)).toBe(false)
    for (const bad of ["", "yes", "on", "tRUE", " true", "2"]) expect(parseGoBool(bad)).toBeUndefined()
  })
})

describe("strconv.ParseInt(s, 0, 64)", () => {
  it("parses every base prefix, signs and underscores", () => {
    expect(parseGoInt("2801")).toBe(2801n)
    expect(parseGoInt("0x10")).toBe(16n)
    expect(parseGoInt("0X1f")).toBe(31n)
    expect(parseGoInt("0o17")).toBe(15n)
    expect(parseGoInt("017")).toBe(15n)
    expect(parseGoInt("0b101")).toBe(5n)
    expect(parseGoInt("-42")).toBe(-42n)
    expect(parseGoInt("+42")).toBe(42n)
    expect(parseGoInt("1_000")).toBe(1000n)
    expect(parseGoInt("0x_1F")).toBe(31n)
    expect(parseGoInt("0")).toBe(0n)
    expect(parseGoInt("9223372036854775807")).toBe(9223372036854775807n)
  })
  it("rejects what Go rejects", () => {
    for (const bad of ["", "08", "1__0", "_1", "1_", "0x", "1.5", " 1", "1e3", "abc", "9223372036854775808", "--1"]) {
      expect(parseGoInt(bad), bad).toBeUndefined()
    }
  })
})

describe("time.ParseDuration", () => {
  it("parses Go syntax", () => {
    expect(parseGoDuration("1s")).toBe(1_000_000_000n)
    expect(parseGoDuration("500ms")).toBe(500_000_000n)
    expect(parseGoDuration("1m30s")).toBe(90_000_000_000n)
    expect(parseGoDuration("1.5h")).toBe(5_400_000_000_000n)
    expect(parseGoDuration(".5s")).toBe(500_000_000n)
    expect(parseGoDuration("1.s")).toBe(1_000_000_000n)
    expect(parseGoDuration("10us")).toBe(10_000n)
    expect(parseGoDuration("10µs")).toBe(10_000n)
    expect(parseGoDuration("10μs")).toBe(10_000n)
    expect(parseGoDuration("3ns")).toBe(3n)
    expect(parseGoDuration("0")).toBe(0n)
    expect(parseGoDuration("-1s")).toBe(-1_000_000_000n)
    expect(parseGoDuration("1h1h")).toBe(7_200_000_000_000n)
  })
  it("rejects what Go rejects", () => {
    for (const bad of ["", "1", "10", ".s", "1d", "1 s", "s", "1s ", "-", "1.2.3s", "3000000h"]) {
      expect(parseGoDuration(bad), bad).toBeUndefined()
    }
  })
  it("formats like time.Duration.String()", () => {
    expect(formatGoDuration(0n)).toBe("0s")
    expect(formatGoDuration(500_000_000n)).toBe("500ms")
    expect(formatGoDuration(1_500_000_000n)).toBe("1.5s")
    expect(formatGoDuration(90_000_000_000n)).toBe("1m30s")
    expect(formatGoDuration(3_600_000_000_000n)).toBe("1h0m0s")
    expect(formatGoDuration(1_500n)).toBe("1.5µs")
    expect(formatGoDuration(7n)).toBe("7ns")
  })
})
