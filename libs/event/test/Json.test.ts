import { describe, expect, it } from "@effect/vitest"
import {
  compareBytewise,
  goJson,
  goJsonMap,
  isLosslessNumber,
  LosslessNumber,
  parseJson,
  sortedKeys,
  sortKeys
} from "../src/index.js"

describe("parseJson", () => {
  it("keeps numbers that do not round-trip as LosslessNumber, plain numbers otherwise", () => {
    const v = parseJson(`{"a":1700000000408091526,"b":34816,"c":1.10,"d":1e3,"e":-0,"f":1.5,"g":-12,"h":[123456789012345678,2]}`) as Record<
      string,
      unknown
    >
    expect(isLosslessNumber(v.a) && (v.a as LosslessNumber).value).toBe("1700000000408091526")
    expect(v.b).toBe(34816)
    expect((v.c as LosslessNumber).value).toBe("1.10")
    expect((v.d as LosslessNumber).value).toBe("1e3")
    expect((v.e as LosslessNumber).value).toBe("-0")
    expect(v.f).toBe(1.5)
    expect(v.g).toBe(-12)
    expect((v.h as Array<unknown>)[0]).toEqual(new LosslessNumber("123456789012345678"))
    expect((v.h as Array<unknown>)[1]).toBe(2)
  })

  it("round-trips evt.time verbatim", () => {
    const text = `{"evt.time":1700000000408091526,"proc.tty":34816}`
    expect(goJson(parseJson(text))).toBe(text)
  })

  it("reads only the first JSON value, like Go's json.Decoder", () => {
    expect(parseJson(`  {"a":"}"} trailing garbage {`)).toEqual({ a: "}" })
    expect(parseJson(`{"a":"x\\"}"}{"b":2}`)).toEqual({ a: "x\"}" })
    expect(parseJson(`12345678901234567890 xyz`)).toEqual(new LosslessNumber("12345678901234567890"))
    expect(parseJson(`"s" 1`)).toBe("s")
  })

  it("keeps data that looks like our internal marker intact (falls back to lossless-json)", () => {
    const v = parseJson(`{"a":"\\u0000x","n":1700000000408091526}`) as Record<string, unknown>
    expect(v.a).toBe("\u0000x")
    expect((v.n as LosslessNumber).value).toBe("1700000000408091526")
  })

  it("decodes escaped lone surrogates to U+FFFD like Go, keeps escaped pairs", () => {
    const v = parseJson(`{"a":"x\\ud800y","\\udc00":[1700000000408091526,"\\ud83d\\ude00"]}`)
    expect(v).toEqual({ a: "x\ufffdy", "\ufffd": [new LosslessNumber("1700000000408091526"), "\ud83d\ude00"] })
    expect(goJson(v)).toBe(`{"a":"x\ufffdy","\ufffd":[1700000000408091526,"\ud83d\ude00"]}`)
  })

  it("keeps the last duplicate key, like Go", () => {
    expect(parseJson(`{"a":1,"a":2}`)).toEqual({ a: 2 })
    expect(parseJson(`{"a":"\\u0000","a":1700000000408091526}`)).toEqual({ a: new LosslessNumber("1700000000408091526") })
  })

  it.each(["", "   ", "{", "{\"a\":}", "[1,]", "nul", "{\"a\":01}", "{\"a\":1.}", "}"])("throws SyntaxError on %j", (text) => {
    expect(() => parseJson(text)).toThrow(SyntaxError)
  })
})

describe("goJson (Go encoding/json.Marshal)", () => {
  it("escapes like Go's HTML-safe encoder", () => {
    expect(goJson("<NA> & > \u2028\u2029")).toBe(`"\\u003cNA\\u003e \\u0026 \\u003e \\u2028\\u2029"`)
    expect(goJson("\"\\\n\r\t\b\f\u0001\u001f\u007f")).toBe(`"\\"\\\\\\n\\r\\t\\b\\f\\u0001\\u001f\u007f"`)
    expect(goJson("é😀")).toBe(`"é😀"`)
  })

  it("writes lone surrogates as \\ufffd, valid pairs untouched", () => {
    expect(goJson("a\ud800b\udc00c")).toBe(`"a\\ufffdb\\ufffdc"`)
    expect(goJson("\ud83d\ude00")).toBe(`"\ud83d\ude00"`)
    expect(goJson("x\ud83d")).toBe(`"x\\ufffd"`)
  })

  it("keeps insertion order, drops undefined members, writes nested values compactly", () => {
    expect(goJson({ z: 1, a: [1, "x", null, undefined, { b: true }], u: undefined, n: null, m: {} })).toBe(
      `{"z":1,"a":[1,"x",null,null,{"b":true}],"n":null,"m":{}}`
    )
  })

  it("writes LosslessNumber and bigint verbatim, numbers like Go float64", () => {
    expect(goJson([new LosslessNumber("1.10"), 10n ** 20n, 1e21, 1e-7, 0.5, -0, 100])).toBe(
      `[1.10,100000000000000000000,1e+21,1e-7,0.5,-0,100]`
    )
  })

  it("sortKeys gives Go map order, integer-like keys included", () => {
    const sorted = sortKeys({ b: 1, "10": 2, a: 3, "2": 4, "é": 5, Z: 6 })
    expect(goJson(sorted)).toBe(`{"10":2,"2":4,"Z":6,"a":3,"b":1,"é":5}`)
    expect(sortedKeys({ b: 1, a: 2 })).toEqual(["a", "b"])
  })

  it("goJsonMap sorts nested maps too", () => {
    expect(goJsonMap({ b: { d: 1, c: [{ f: 1, e: 2 }] }, a: null })).toBe(`{"a":null,"b":{"c":[{"e":2,"f":1}],"d":1}}`)
  })

  it("compares strings bytewise (UTF-8), not by UTF-16 code units", () => {
    const astral = "\ud83d\ude00" // U+1F600, F0 9F 98 80
    const bmpHigh = "\uff01" // U+FF01, EF BC 81
    expect(compareBytewise(bmpHigh, astral)).toBeLessThan(0)
    expect(["b", astral, bmpHigh, "a", "B"].sort(compareBytewise)).toEqual(["B", "a", "b", bmpHigh, astral])
  })
})
