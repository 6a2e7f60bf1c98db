import { describe, expect, it } from "@effect/vitest"
import { Either } from "effect"
import { canonicalizeKeys, decodeRawFalcoEvent, eventJson, eventPayload, type FalcoEvent, goJson, LosslessNumber, parseJson } from "../src/index.js"
import { decodeRawWithSchema } from "../src/FalcoEvent.js"

const sample: FalcoEvent = {
  uuid: "3f0c0b0e-5c1a-4d2e-9f3a-1b2c3d4e5f60",
  output: "out <NA>",
  priority: "Critical",
  rule: "Terminal shell in container",
  time: "2024-05-06T10:20:30.123456789Z",
  timeUnixNanos: 1714990830123456789n,
  output_fields: { "user.name": "root", "proc.pid": 4242, "evt.time": new LosslessNumber("1714990830123456789"), nested: { b: 1, a: [{ d: 1, c: 2 }] } },
  source: "syscall",
  tags: ["T1059", "container"],
  hostname: "node-1"
}

describe("eventPayload / eventJson", () => {
  it("writes FalcoPayload in Go struct order with sorted (nested) maps", () => {
    const json =
      `{"uuid":"3f0c0b0e-5c1a-4d2e-9f3a-1b2c3d4e5f60","output":"out \\u003cNA\\u003e","priority":"Critical","rule":"Terminal shell in container","time":"2024-05-06T10:20:30.123456789Z","output_fields":{"evt.time":1714990830123456789,"nested":{"a":[{"c":2,"d":1}],"b":1},"proc.pid":4242,"user.name":"root"},"source":"syscall","tags":["T1059","container"],"hostname":"node-1"}`
    expect(eventJson(sample)).toBe(json)
    expect(goJson(eventPayload(sample))).toBe(json)
    expect(Object.keys(eventPayload(sample))).toEqual(["uuid", "output", "priority", "rule", "time", "output_fields", "source", "tags", "hostname"])
  })

  it("omits empty uuid, tags and hostname", () => {
    const e = { ...sample, uuid: "", tags: [], hostname: "" }
    expect(Object.keys(eventPayload(e))).toEqual(["output", "priority", "rule", "time", "output_fields", "source"])
    expect(eventJson(e)).toBe(goJson(eventPayload(e)))
  })
})

describe("raw decoding: the hand-written guard agrees with the RawFalcoEvent schema", () => {
  const bodies = [
    `{}`,
    `{"priority":"Notice","rule":"r","time":"2024-05-06T10:20:30Z","output_fields":{"a":1},"tags":["x",null],"hostname":"h","uuid":"u","output":"o","source":"s"}`,
    `{"priority":null,"rule":null,"time":null,"output_fields":null,"tags":null,"hostname":null,"uuid":null,"output":null,"source":null}`,
    `{"tags":[]}`,
    `{"tags":[1]}`,
    `{"tags":{}}`,
    `{"tags":"a"}`,
    `{"output_fields":[]}`,
    `{"output_fields":1}`,
    `{"output_fields":1700000000408091526}`,
    `{"output_fields":"x"}`,
    `{"output_fields":true}`,
    `{"time":"2024-05-06T10:20:30.7+02:00"}`,
    `{"time":"2024-05-06"}`,
    `{"time":1}`,
    `{"time":{}}`,
    `{"rule":1}`,
    `{"rule":true}`,
    `{"rule":[]}`,
    `{"priority":{}}`,
    `{"hostname":1.5}`,
    `{"uuid":[]}`,
    `{"output":false}`,
    `{"source":{}}`,
    `{"unknown":[1,2,{}]}`,
    `{"RULE":"r","Tags":["b"],"OUTPUT_FIELDS":{"x":1}}`
  ]
  it.each(bodies)("%s", (body) => {
    const o = parseJson(body) as Record<string, unknown>
    const viaGuard = decodeRawFalcoEvent(o)
    const viaSchema = decodeRawWithSchema(canonicalizeKeys(o))
    expect(Either.isRight(viaGuard)).toBe(Either.isRight(viaSchema))
    if (Either.isRight(viaGuard) && Either.isRight(viaSchema)) expect(viaGuard.right).toEqual(viaSchema.right)
    if (Either.isLeft(viaGuard) && Either.isLeft(viaSchema)) expect(viaGuard.left).toBe(viaSchema.left)
  })
})
