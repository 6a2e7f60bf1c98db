import { it, layer } from "@effect/vitest"
import { OutputError, Verdict } from "@sidekick/delivery"
import {
  eventWith,
  makeReceiver,
  makeTlsMaterial,
  opensslAvailable,
  type Receiver,
  referenceEvent,
  status
} from "@sidekick/testing"
import { Duration, Effect } from "effect"
import { gunzipSync } from "node:zlib"
import { describe, expect } from "vitest"
import {
  Wavefront,
  wavefrontClassify,
  WavefrontConfig,
  wavefrontLine,
  wavefrontReportUrl,
  wavefrontSanitize,
  wavefrontValue
} from "../src/Wavefront.js"
import { chosenHeaders, config, Peer, peer, start, startBatch, startSingle } from "./helpers.js"

const token = "wf-token-0123456789abcdef"

/** catalog §2.6's line for the reference event, tags in key order */
const catalogLine = `"falco.alert" 1 1714990830123456789 source="falco-exporter" "container.id"="abc123" "hostname"="node-1" ` +
  `"k8s.ns.name"="default" "k8s.pod.name"="nginx-1" "proc.name"="bash" "rule"="Terminal shell in container" "severity"="Critical" ` +
  `"source"="syscall" "tags"="T1059, container, mitre_execution, shell" "user.name"="root"\n`

const sdkHeaders = {
  "content-type": "application/octet-stream",
  "user-agent": "Falcosidekick",
  "content-encoding": "gzip",
  "accept-encoding": "gzip"
}

/** proxy mode pointed at a receiver */
const proxyAt = (rx: Receiver, more: Record<string, unknown> = {}) =>
  config(WavefrontConfig, { endpointtype: "proxy", endpointhost: "http://127.0.0.1", endpointmetricport: rx.port, ...more })

describe("Wavefront", () => {
  it("line: catalog §2.6 byte for byte (value 1, exact UnixNano, tags in key order)", () => {
    expect(wavefrontLine(referenceEvent, "falco.alert")).toBe(catalogLine)
  })

  it("line: string output fields replace the built-in tags as in Go's map; empty values and non-strings are left out; time 0 has no timestamp", () => {
    const e = eventWith({
      output_fields: { rule: "from a field", "fd.name": "", "proc.pid": 1, "evt.arg.flags": null },
      hostname: "",
      tags: [],
      timeUnixNanos: 0n
    })
    expect(wavefrontLine(e, "falco alert")).toBe(
      `"falco-alert" 1 source="falco-exporter" "rule"="from a field" "severity"="Critical" "source"="syscall"\n`
    )
  })

  it("names and tag keys: the SDK's Sanitize, byte by byte", () => {
    expect(wavefrontSanitize("falco.alert")).toBe("falco.alert")
    expect(wavefrontSanitize("proc.aname[2]")).toBe("proc.aname-2-")
    expect(wavefrontSanitize("évènement")).toBe("--v--nement")
    expect(wavefrontSanitize("~sdk.go")).toBe("~sdk.go")
    expect(wavefrontSanitize("\u2206~a b")).toBe("\u2206~a-b")
    expect(wavefrontSanitize("\u0394x")).toBe("\u0394x")
    expect(wavefrontSanitize("a~b\"c")).toBe("a-b-c")
    expect(wavefrontSanitize("")).toBe("")
  })

  it("tag values: the SDK's SanitizeValue (Go TrimSpace, quotes escaped, newlines as \\n)", () => {
    expect(wavefrontValue("  sh -c \"id\" 'x'\nnext \t")).toBe(`"sh -c \\"id\\" 'x'\\nnext"`)
    expect(wavefrontValue("\u0085a\u00a0")).toBe(`"a"`)
    // Go's TrimSpace keeps U+FEFF, which JS trim() would strip
    expect(wavefrontValue("\ufeffa")).toBe(`"\ufeffa"`)
    expect(wavefrontValue("C:\\dir")).toBe(`"C:\\dir"`)
  })

  it("report URL: direct is https on 443 unless endpointhost says otherwise; proxy uses endpointmetricport", () => {
    expect(wavefrontReportUrl("direct", "acme.wavefront.com", 2878)).toBe("https://acme.wavefront.com:443/report?f=wavefront")
    expect(wavefrontReportUrl("direct", "https://acme.wavefront.com/", 2878)).toBe("https://acme.wavefront.com:443/report?f=wavefront")
    expect(wavefrontReportUrl("direct", "acme.wavefront.com:8443", 2878)).toBe("https://acme.wavefront.com:8443/report?f=wavefront")
    expect(wavefrontReportUrl("proxy", "http://wavefront-proxy", 2878)).toBe("http://wavefront-proxy:2878/report?f=wavefront")
    expect(wavefrontReportUrl("proxy", "wavefront-proxy", 4242)).toBe("http://wavefront-proxy:4242/report?f=wavefront")
    expect(wavefrontReportUrl("proxy", "http://wavefront-proxy:3000/wf/", 2878)).toBe("http://wavefront-proxy:3000/wf/report?f=wavefront")
    expect(wavefrontReportUrl("proxy", "ftp://wavefront-proxy", 2878)).toBeUndefined()
    expect(wavefrontReportUrl("direct", "https://secret@acme.wavefront.com", 2878)).toBeUndefined()
  })

  it("a 406 (Wavefront is throttling) is retried; other statuses as usual", () => {
    const status = (code: number) => new OutputError({ output: "wavefront", reason: "Status", status: code, message: "x" })
    expect(wavefrontClassify(status(406))).toEqual(Verdict.retry)
    expect(wavefrontClassify(status(400))).toEqual(Verdict.drop)
    expect(wavefrontClassify(status(503))).toEqual(Verdict.retry)
  })

  it("config: enabled by endpointtype and endpointhost; falcosidekick's defaults; its batch keys win when set", () => {
    expect(WavefrontConfig.keys.slice(0, 2).map((k) => k.key)).toEqual(["wavefront.endpointtype", "wavefront.endpointhost"])
    const c = config(WavefrontConfig, {})
    expect(c).toMatchObject({ endpointtype: "", endpointhost: "", endpointmetricport: 2878, metricname: "falco.alert", batchsize: undefined })
    expect(c.batching).toMatchObject({ enabled: true, maxevents: 10000, maxbytes: 4194304 })
    expect(Wavefront.enabled(c)).toBe(false)
    expect(Wavefront.enabled(config(WavefrontConfig, { endpointhost: "wf" }))).toBe(false)
    expect(Wavefront.enabled(config(WavefrontConfig, { endpointtype: "proxy" }))).toBe(false)
    expect(Wavefront.enabled(config(WavefrontConfig, {}, { WAVEFRONT_ENDPOINTTYPE: "proxy", WAVEFRONT_ENDPOINTHOST: "wf" }))).toBe(true)
    expect(config(WavefrontConfig, {}, { WAVEFRONT_FLUSHINTERVALSECONDS: "5" }).flushintervalseconds).toBe(5)
  })

  it.scoped("bad settings refuse start-up naming the key, never showing the token", () =>
    Effect.gen(function*() {
      const refusal = (tree: Record<string, unknown>) =>
        Effect.map(Effect.flip(start(Wavefront, config(WavefrontConfig, { endpointhost: "acme.wavefront.com", ...tree }))), (e) => {
          expect(e.message).not.toContain(token)
          return e.key
        })
      expect(yield* refusal({ endpointtype: "udp", endpointtoken: token })).toBe("wavefront.endpointtype")
      expect(yield* refusal({ endpointtype: "direct" })).toBe("wavefront.endpointtoken")
      expect(yield* refusal({ endpointtype: "direct", endpointtoken: token, metricname: "" })).toBe("wavefront.metricname")
      expect(yield* refusal({ endpointtype: "proxy", endpointhost: "ftp://proxy" })).toBe("wavefront.endpointhost")
    }))

  layer(Peer.layer)((it) => {
    it.scoped("proxy: one gzipped POST /report?f=wavefront per batch, one line per event, no Authorization", () =>
      Effect.gen(function*() {
        const rx = yield* peer(status(202))
        const output = yield* startBatch(Wavefront, proxyAt(rx, { minimumpriority: "warning" }))
        expect(output.name).toBe("wavefront")
        expect(output.minimumPriority).toBe(4)
        expect(output.batch.maxEvents).toBe(10000)
        expect(Duration.toMillis(output.batch.interval)).toBe(1000)
        expect(output.batch.sizeOf(referenceEvent)).toBe(Buffer.byteLength(catalogLine))
        const second = eventWith({ rule: "Write below etc", timeUnixNanos: 1714990831000000001n })
        expect(yield* output.send([referenceEvent, second])).toBeUndefined()
        const [r] = yield* rx.waitFor(1)
        expect(r!.method).toBe("POST")
        expect(r!.path).toBe("/report?f=wavefront")
        expect(chosenHeaders(r!.headers)).toEqual(sdkHeaders)
        expect(gunzipSync(r!.rawBody).toString("utf8")).toBe(catalogLine + wavefrontLine(second, "falco.alert"))
        expect(wavefrontLine(second, "falco.alert")).toContain(` 1 1714990831000000001 source=`)
      }))

    it.scoped("batchsize and flushintervalseconds set the batch (< 1 means falcosidekick's defaults); batching off sends each point", () =>
      Effect.gen(function*() {
        const rx = yield* Peer
        const set = yield* startBatch(Wavefront, proxyAt(rx, { batchsize: 500, flushintervalseconds: 5, batching: { maxevents: 7 } }))
        expect([set.batch.maxEvents, Duration.toMillis(set.batch.interval)]).toEqual([500, 5000])
        const zero = yield* startBatch(Wavefront, proxyAt(rx, { batchsize: 0, flushintervalseconds: 0 }))
        expect([zero.batch.maxEvents, Duration.toMillis(zero.batch.interval)]).toEqual([10000, 1000])
        const ours = yield* startBatch(Wavefront, proxyAt(rx, { batching: { maxevents: 50, flushinterval: "250ms" } }))
        expect([ours.batch.maxEvents, Duration.toMillis(ours.batch.interval)]).toEqual([50, 250])
        yield* peer(status(200))
        const single = yield* startSingle(Wavefront, proxyAt(rx, { metricname: "sec.falco", batching: { enabled: false } }))
        yield* single.send(referenceEvent)
        const [r] = yield* rx.waitFor(1)
        expect(r!.body).toBe(catalogLine.replace(`"falco.alert"`, `"sec.falco"`))
      }))

    it.scoped("a 4xx is permanent, a 5xx retryable", () =>
      Effect.gen(function*() {
        const rx = yield* peer(status(400, "invalid point"), status(500))
        const output = yield* startBatch(Wavefront, proxyAt(rx))
        const refused = yield* Effect.flip(output.send([referenceEvent]))
        expect([refused.reason, refused.status, refused.retryable]).toEqual(["Status", 400, false])
        const failed = yield* Effect.flip(output.send([referenceEvent]))
        expect([failed.reason, failed.status, failed.retryable]).toEqual(["Status", 500, true])
      }))
  })

  it.scoped.skipIf(!opensslAvailable())("direct: https to endpointhost with the Bearer token", () =>
    Effect.gen(function*() {
      const tls = yield* makeTlsMaterial
      const rx = yield* makeReceiver({ tls, responses: [status(202)] })
      const c = config(WavefrontConfig, { endpointtype: "direct", endpointhost: `127.0.0.1:${rx.port}`, endpointtoken: token })
      const files = { caCertFile: tls.caCertPath, mutualTls: { certFile: "", keyFile: "", caCertFile: "" } }
      const output = yield* startBatch(Wavefront, c, { tls: files })
      yield* output.send([referenceEvent])
      const [r] = yield* rx.waitFor(1)
      expect(r!.path).toBe("/report?f=wavefront")
      expect(chosenHeaders(r!.headers)).toEqual({ ...sdkHeaders, authorization: `Bearer ${token}` })
      expect(gunzipSync(r!.rawBody).toString("utf8")).toBe(catalogLine)
    }))
})
