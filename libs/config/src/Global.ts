/**
 * falcosidekick's global (top-level) keys, and Sidekick's own `delivery.*` keys.
 * See README.md for the table of keys, env vars and defaults.
 */
import { Field, section } from "./Field.js"

const port = (defaultValue: number) => Field.int(defaultValue, { min: 1, max: 65535 })

/** falcosidekick's top-level keys: listen address and port, enrichment, TLS client and server files, Prometheus labels. */
export const GlobalConfig = section("", {
  listenaddress: Field.string(""),
  listenport: port(2801),
  /** Sidekick: how many processes share the port (node:cluster); 1 = falcosidekick's single process */
  processes: Field.int(1, { min: 1, max: 64 }),
  debug: Field.bool(false),
  customfields: Field.map({ env: "pairs", expandEnvRefs: true }),
  templatedfields: Field.map({ env: "pairs" }),
  customtags: Field.list([], { removeSpaces: "env" }),
  bracketreplacer: Field.string(""),
  outputfieldformat: Field.string(""),
  mutualtlsfilespath: Field.string("/etc/certs"),
  mutualtlsclient: {
    certfile: Field.string(""),
    keyfile: Field.string(""),
    cacertfile: Field.string("")
  },
  tlsclient: {
    cacertfile: Field.string("")
  },
  tlsserver: {
    deploy: Field.bool(false),
    certfile: Field.string("/etc/certs/server/server.crt"),
    keyfile: Field.string("/etc/certs/server/server.key"),
    mutualtls: Field.bool(false),
    cacertfile: Field.string("/etc/certs/server/ca.crt"),
    notlsport: port(2810),
    notlspaths: Field.list([])
  },
  prometheus: {
    extralabels: Field.list([], { removeSpaces: "always" })
  }
})
export type GlobalConfig = typeof GlobalConfig.Type

/**
 * The delivery policy keys (no falcosidekick equivalent): under `delivery.*` for every output, and again,
 * each optional, under `<output>.delivery.*` for one output (see `Field.optionalGroup`).
 */
export const deliveryPolicyFields = () => ({
  queuecapacity: Field.int(10000, { min: 1 }),
  queue: {
    /** bytes of event JSON an output may hold waiting: memory is bounded by bytes, not only by events */
    maxbytes: Field.int(32 * 1024 * 1024, { min: 1024 })
  },
  overflow: Field.literal(["dropnewest", "dropoldest", "reject"], "dropnewest", { caseInsensitive: true }),
  timeout: Field.duration("10s"),
  retry: {
    /** an event is retried until it is this old (then dropped as max_age) */
    maxage: Field.duration("1h"),
    /** 0 = no cap: only maxage ends the retries */
    maxattempts: Field.int(0, { min: 0 }),
    initialdelay: Field.duration("500ms"),
    maxdelay: Field.duration("30s")
  },
  circuitbreaker: {
    failures: Field.int(5, { min: 1 }),
    resetafter: Field.duration("30s")
  }
})

/** Sidekick's delivery engine: queues, retries, timeouts, circuit breaker, shutdown. */
export const DeliveryConfig = section("delivery", {
  ...deliveryPolicyFields(),
  /** bytes of event JSON all outputs together may hold waiting (each event counted once per output) */
  maxbytes: Field.int(128 * 1024 * 1024, { min: 1024 }),
  backpressure: {
    /** a full buffer holds the request this long before answering 503 (Falco's own output_timeout is 2 s) */
    maxwait: Field.duration("1s")
  },
  spool: {
    /** a directory: events are stored there before the 200, and survive a restart; "" = in memory */
    dir: Field.string(""),
    /** write: survives a crash of the process (kill -9, OOM); fsync: of the machine too (a PVC) */
    durability: Field.literal(["write", "fsync"] as const, "write", { caseInsensitive: true }),
    /** bytes on disk at most; when full, the oldest events go first (counted) */
    maxbytes: Field.int(768 * 1024 * 1024, { min: 0 }),
    /** the spool on NATS JetStream, shared by several replicas (instead of `dir`) */
    nats: {
      /** nats://host:4222 (several comma-separated); "" = not used */
      url: Field.string(""),
      stream: Field.string("sidekick"),
      subject: Field.string("sidekick.events"),
      replicas: Field.int(1, { min: 1, max: 5 }),
      /** bytes the stream keeps at most (0 = the server's limit) */
      maxbytes: Field.int(0, { min: 0 }),
      /** how long a replica may hold events without a sign of life before another replica gets them */
      ackwait: Field.duration("30s"),
      user: Field.string(""),
      password: Field.secret(),
      token: Field.secret(),
      /** CA file to verify the server's TLS certificate with */
      cafile: Field.string("")
    }
  },
  shutdowntimeout: Field.duration("10s"),
  maxconcurrency: Field.int(64, { min: 1 })
})
export type DeliveryConfig = typeof DeliveryConfig.Type

/** Dead letters: the events an output will never deliver, kept to be listed and replayed. */
export const DeadLetterConfig = section("deadletter", {
  /** how many are kept in memory (the newest) */
  maxentries: Field.int(1000, { min: 1 }),
  /** an enabled output that also gets every other output's dead letters; "" = none */
  output: Field.string("")
})
export type DeadLetterConfig = typeof DeadLetterConfig.Type

/** The sections this lib declares; the app adds the outputs' sections for `unknownKeys`/`describeConfig`. */
export const globalSections = [GlobalConfig, DeliveryConfig, DeadLetterConfig] as const

/**
 * The enrichment settings of the global config, shaped like `@sidekick/event`'s `EnrichmentOptions`
 * (structurally; config does not depend on event). Map entries keep their declaration/merge order.
 */
export const enrichmentOptions = (g: GlobalConfig): {
  readonly customFields: ReadonlyArray<readonly [string, string]>
  readonly templatedFields: ReadonlyArray<readonly [string, string]>
  readonly customTags: ReadonlyArray<string>
  readonly bracketReplacer: string
  readonly outputFieldFormat: string
} => ({
  customFields: Object.entries(g.customfields),
  templatedFields: Object.entries(g.templatedfields),
  customTags: g.customtags,
  bracketReplacer: g.bracketreplacer,
  outputFieldFormat: g.outputfieldformat
})

/**
 * The client certificate files outputs with `mutualtls: true` present, as falcosidekick picks them:
 * `<mutualtlsfilespath>/client.crt|client.key|ca.crt` (plain concatenation), each overridden
 * independently by a non-empty `mutualtlsclient.certfile|keyfile|cacertfile`.
 */
export const mutualTlsClientFiles = (g: GlobalConfig): { readonly certFile: string; readonly keyFile: string; readonly caCertFile: string } => ({
  certFile: g.mutualtlsclient.certfile !== "" ? g.mutualtlsclient.certfile : `${g.mutualtlsfilespath}/client.crt`,
  keyFile: g.mutualtlsclient.keyfile !== "" ? g.mutualtlsclient.keyfile : `${g.mutualtlsfilespath}/client.key`,
  caCertFile: g.mutualtlsclient.cacertfile !== "" ? g.mutualtlsclient.cacertfile : `${g.mutualtlsfilespath}/ca.crt`
})
