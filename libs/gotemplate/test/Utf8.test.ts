import { describe, expect, it } from "@effect/vitest"
import { compareBytewise, utf8Length } from "../src/index.js"

describe("Utf8", () => {
  it("utf8Length is the length of the UTF-8 encoding", () => {
    for (const s of ["", "abc", "héllo", "€", "\uffff", "😀", "a😀é€"]) {
      expect(utf8Length(s)).toBe(new TextEncoder().encode(s).length)
    }
  })

  it("compareBytewise orders strings as their UTF-8 bytes (code points), not UTF-16 units", () => {
    const bmpHigh = "\uffff"
    const astral = "😀"
    expect(compareBytewise(bmpHigh, astral)).toBeLessThan(0)
    expect(["b", astral, bmpHigh, "a", "B", "ab", ""].sort(compareBytewise)).toEqual(
      ["", "B", "a", "ab", "b", bmpHigh, astral]
    )
  })
})
