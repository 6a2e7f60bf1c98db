import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Effect, Option } from "effect"
import { traceExporterFromEnv } from "../src/index.js"

const withEnv = (env: Record<string, string>) =>
  traceExporterFromEnv.pipe(Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env)))))

describe("tracing configuration from OTEL_*", () => {
  it.effect("off unless an endpoint or an exporter is set", () =>
    Effect.gen(function*() {
      expect(yield* withEnv({})).toEqual(Option.none())
      expect(yield* withEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: "" })).toEqual(Option.none())
      expect(yield* withEnv({ OTEL_SERVICE_NAME: "x" })).toEqual(Option.none())
    }))

  it.effect("OTLP over HTTP: protobuf by default, JSON on request", () =>
    Effect.gen(function*() {
      expect(yield* withEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318" })).toEqual(Option.some("otlp-proto"))
      expect(yield* withEnv({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "http://c:4318/v1/traces" })).toEqual(Option.some("otlp-proto"))
      expect(yield* withEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318", OTEL_EXPORTER_OTLP_PROTOCOL: "http/json" }))
        .toEqual(Option.some("otlp-json"))
      expect(
        yield* withEnv({
          OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318",
          OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
          OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: "http/protobuf"
        })
      ).toEqual(Option.some("otlp-proto"))
    }))

  it.effect("OTEL_SDK_DISABLED and OTEL_TRACES_EXPORTER=none turn it off; console is offered", () =>
    Effect.gen(function*() {
      expect(yield* withEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318", OTEL_SDK_DISABLED: "true" })).toEqual(Option.none())
      expect(yield* withEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318", OTEL_TRACES_EXPORTER: "none" })).toEqual(Option.none())
      expect(yield* withEnv({ OTEL_TRACES_EXPORTER: "console" })).toEqual(Option.some("console"))
    }))

  it.effect("an unsupported protocol or exporter is an error naming the variable", () =>
    Effect.gen(function*() {
      const grpc = yield* Effect.flip(withEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4317", OTEL_EXPORTER_OTLP_PROTOCOL: "grpc" }))
      expect(String(grpc)).toContain("OTEL_EXPORTER_OTLP_PROTOCOL")
      expect(String(grpc)).toContain("grpc")
      const zipkin = yield* Effect.flip(withEnv({ OTEL_TRACES_EXPORTER: "zipkin" }))
      expect(String(zipkin)).toContain("OTEL_TRACES_EXPORTER")
    }))
})
