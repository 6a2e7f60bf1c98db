import { describe, expect, it } from "@effect/vitest"
import { goTimeStringOf, parseRfc3339, rfc3339Seconds, rfc3339SecondsOf } from "../src/index.js"

describe("parseRfc3339 (Go time.Time.UnmarshalJSON)", () => {
  it.each([
    ["2023-11-14T22:13:20.408091526Z", "2023-11-14T22:13:20.408091526Z"],
    ["2024-05-06T10:20:30.700Z", "2024-05-06T10:20:30.7Z"],
    ["2024-05-06T10:20:30.000000000Z", "2024-05-06T10:20:30Z"],
    ["2024-05-06T10:20:30Z", "2024-05-06T10:20:30Z"],
    ["2024-05-06T10:20:30+00:00", "2024-05-06T10:20:30Z"],
    ["2024-05-06T10:20:30-00:00", "2024-05-06T10:20:30Z"],
    ["2024-05-06T12:20:30.5+02:00", "2024-05-06T12:20:30.5+02:00"],
    ["2024-05-06T10:20:30.1234567891Z", "2024-05-06T10:20:30.123456789Z"], // Go truncates extra digits
    ["2024-02-29T00:00:00Z", "2024-02-29T00:00:00Z"]
  ])("%s -> %s", (input, expected) => {
    expect(parseRfc3339(input)?.rfc3339Nano).toBe(expected)
  })

  it("computes unix nanoseconds exactly", () => {
    expect(parseRfc3339("2023-11-14T22:13:20.408091526Z")?.unixNanos).toBe(1700000000408091526n)
    expect(parseRfc3339("2023-11-15T00:13:20.408091526+02:00")?.unixNanos).toBe(1700000000408091526n)
    expect(parseRfc3339("1970-01-01T00:00:00Z")?.unixNanos).toBe(0n)
    expect(parseRfc3339("1969-12-31T23:59:59.5Z")?.unixNanos).toBe(-500000000n)
  })

  it("knows the zero time", () => {
    expect(parseRfc3339("0001-01-01T00:00:00Z")?.isZero).toBe(true)
    expect(parseRfc3339("0001-01-01T01:00:00+01:00")?.isZero).toBe(true)
    expect(parseRfc3339("0001-01-01T00:00:00.000000001Z")?.isZero).toBe(false)
  })

  it.each([
    "",
    "nope",
    "2024-05-06",
    "2024-05-06 10:20:30Z",
    "2024-05-06t10:20:30Z",
    "2024-05-06T10:20:30z",
    "2024-05-06T10:20:30",
    "2024-05-06T10:20:30.Z",
    "2024-05-06T10:20:30,5Z",
    "2024-13-06T10:20:30Z",
    "2023-02-29T10:20:30Z",
    "2024-05-06T24:00:00Z",
    "2024-05-06T10:60:00Z",
    "2024-05-06T10:20:60Z",
    "2024-05-06T1:20:30Z",
    "2024-05-06T10:20:30+24:00",
    "2024-05-06T10:20:30+02:60",
    "2024-05-06T10:20:30+0200",
    "+2024-05-06T10:20:30Z"
  ])("rejects %j", (input) => {
    expect(parseRfc3339(input)).toBeUndefined()
  })
})

describe("Go time.Time.String()", () => {
  it("prints UTC and fixed offsets like Go", () => {
    expect(goTimeStringOf("2024-05-06T10:20:30.123456789Z")).toBe("2024-05-06 10:20:30.123456789 +0000 UTC")
    expect(goTimeStringOf("2024-05-06T10:20:30Z")).toBe("2024-05-06 10:20:30 +0000 UTC")
    expect(goTimeStringOf("2024-05-06T12:20:30.5+02:00")).toBe("2024-05-06 12:20:30.5 +0200 +0200")
    expect(goTimeStringOf("2024-05-06T05:50:30-04:30")).toBe("2024-05-06 05:50:30 -0430 -0430")
  })

  it("formats RFC 3339 seconds in UTC", () => {
    expect(rfc3339Seconds(new Date("2024-05-01T12:00:00.999Z"))).toBe("2024-05-01T12:00:00Z")
  })

  it("formats an event time as Go's time.RFC3339: whole seconds, in the event's own offset", () => {
    expect(rfc3339SecondsOf("2024-05-06T12:20:30.5+02:00")).toBe("2024-05-06T12:20:30+02:00")
    expect(rfc3339SecondsOf("2024-05-06T10:20:30Z")).toBe("2024-05-06T10:20:30Z")
    expect(rfc3339SecondsOf("2024-05-06T10:20:30.999999999-05:30")).toBe("2024-05-06T10:20:30-05:30")
  })
})
