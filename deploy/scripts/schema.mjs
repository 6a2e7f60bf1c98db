// Generates deploy/charts/sidekick/values.schema.json. Edit this file, then run
// `node deploy/scripts/schema.mjs`; deploy/test checks the committed schema is up to date.
import { writeFileSync } from "node:fs";
const ref = (n) => ({ $ref: `#/definitions/${n}` });
const str = { type: "string" };
const bool = { type: "boolean" };
const obj = { type: "object" };
const strMap = { type: "object", additionalProperties: { type: "string" } };
const labelMap = { type: "object", additionalProperties: { type: ["string", "number", "boolean"] } };
const duration = { type: "string", pattern: "^([0-9]+(\\.[0-9]+)?(ms|s|m|h|d|w|y))+$" };
const closed = (properties, extra = {}) => ({ type: "object", additionalProperties: false, properties, ...extra });
const alert = (props) => closed({ enabled: bool, for: duration, severity: str, ...props });

const definitions = {
  image: closed({ registry: str, repository: { type: "string", minLength: 1 }, tag: { type: ["string", "number"] }, digest: { type: "string", pattern: "^(|sha256:[a-f0-9]{64})$" }, pullPolicy: { enum: ["Always", "IfNotPresent", "Never"] } }, { required: ["repository"] }),
  quantity: { type: ["string", "number"], pattern: "^[0-9]+(\\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$" },
  resources: closed({ requests: { type: "object", additionalProperties: ref("quantity") }, limits: { type: "object", additionalProperties: ref("quantity") }, claims: { type: "array" } }),
  podSecurityContext: { type: "object", properties: { runAsNonRoot: bool, runAsUser: { type: "integer", minimum: 0 }, runAsGroup: { type: "integer", minimum: 0 }, fsGroup: { type: "integer", minimum: 0 }, seccompProfile: obj } },
  securityContext: { type: "object", properties: { runAsNonRoot: bool, runAsUser: { type: "integer", minimum: 0 }, runAsGroup: { type: "integer", minimum: 0 }, readOnlyRootFilesystem: bool, allowPrivilegeEscalation: bool, privileged: bool, capabilities: obj, seccompProfile: obj } },
  probe: closed({ initialDelaySeconds: { type: "integer", minimum: 0 }, periodSeconds: { type: "integer", minimum: 1 }, timeoutSeconds: { type: "integer", minimum: 1 }, failureThreshold: { type: "integer", minimum: 1 }, successThreshold: { type: "integer", minimum: 1 } }),
  envList: { type: "array", items: { type: "object", required: ["name"], properties: { name: { type: "string", minLength: 1 }, value: { type: ["string", "number", "boolean"] }, valueFrom: obj } } },
  service: closed({ type: { enum: ["ClusterIP", "NodePort", "LoadBalancer"] }, port: { type: "integer", minimum: 1, maximum: 65535 }, annotations: labelMap, nodePort: { type: "integer" } }),
  ingress: closed({
    enabled: bool, ingressClassName: str, annotations: labelMap,
    hosts: { type: "array", items: closed({ host: str, paths: { type: "array", items: closed({ path: str, pathType: { enum: ["Prefix", "Exact", "ImplementationSpecific"] } }, { required: ["path"] }) } }) },
    tls: { type: "array", items: closed({ secretName: str, hosts: { type: "array", items: str } }) },
  }),
  configScalar: { type: ["string", "number", "boolean", "null"] },
  configValue: {
    anyOf: [ref("configScalar"), { type: "array", items: ref("configScalar") }, { type: "object", additionalProperties: ref("configValue") }],
  },
  durationOrEmpty: { anyOf: [{ type: "integer", minimum: 0 }, { type: "string", pattern: "^([0-9]+(\\.[0-9]+)?(ns|us|µs|ms|s|m|h)?)*$" }] },
  intOrEmpty: { anyOf: [{ type: "integer", minimum: 0 }, { type: "string", pattern: "^[0-9]*$" }] },
};

const schema = {
  $schema: "http://json-schema.org/draft-07/schema#",
  title: "Sidekick chart values",
  type: "object",
  additionalProperties: false,
  definitions,
  properties: {
    global: obj,
    replicaCount: { type: "integer", minimum: 0 },
    revisionHistoryLimit: { type: "integer", minimum: 0 },
    image: ref("image"),
    imagePullSecrets: { type: "array", items: { anyOf: [str, closed({ name: str }, { required: ["name"] })] } },
    nameOverride: str,
    fullnameOverride: str,
    serviceAccount: closed({ create: bool, name: str, annotations: labelMap, automountServiceAccountToken: bool }),
    podSecurityContext: ref("podSecurityContext"),
    securityContext: ref("securityContext"),
    resources: ref("resources"),
    nodeOptions: str,
    livenessProbe: ref("probe"),
    readinessProbe: ref("probe"),
    terminationGracePeriodSeconds: { type: "integer", minimum: 0 },
    updateStrategy: { type: "object", properties: { type: { enum: ["RollingUpdate", "Recreate"] }, rollingUpdate: obj } },
    service: ref("service"),
    ingress: ref("ingress"),
    serviceMonitor: closed({ enabled: bool, additionalLabels: labelMap, interval: { anyOf: [{ const: "" }, duration] }, scrapeTimeout: { anyOf: [{ const: "" }, duration] }, additionalProperties: obj }),
    prometheusRules: closed({
      enabled: bool, additionalLabels: labelMap, namespace: str,
      alerts: closed({
        absent: alert({}),
        outputErrors: alert({ rateInterval: duration, threshold: { type: "number", minimum: 0, maximum: 1 } }),
        eventsDropped: alert({ rateInterval: duration, threshold: { type: "number", minimum: 0 } }),
        circuitOpen: alert({}),
        queueNearFull: alert({ threshold: { type: "number", minimum: 0, maximum: 1 } }),
        inputsRejected: alert({ rateInterval: duration, threshold: { type: "number", minimum: 0 } }),
        falcoEvents: alert({ priorities: { type: "string", minLength: 1 }, rateInterval: duration, threshold: { type: "number", minimum: 0 } }),
      }),
      additionalRules: { type: "array", items: obj },
    }),
    grafana: closed({
      dashboards: closed({
        enabled: bool,
        configMaps: closed({ sidekick: closed({ name: { type: "string", minLength: 1 }, namespace: str, folder: str, folderAnnotation: str }) }),
      }),
    }),
    config: {
      type: "object",
      description: "Sidekick configuration; every key becomes an environment variable (slack.webhookurl -> SLACK_WEBHOOKURL).",
      properties: {
        debug: bool,
        existingSecret: str,
        extraEnv: ref("envList"),
        extraArgs: { type: "array", items: str },
        customfields: { type: ["string", "object"] },
        templatedfields: { type: ["string", "object"] },
        customtags: { type: ["string", "array"] },
        // falcosidekick chart: extra env for the OTLP outputs (a list of env entries, or a map)
        otlp: {
          type: "object",
          properties: {
            traces: { type: "object", properties: { extraenvvars: { anyOf: [ref("envList"), strMap] } }, additionalProperties: ref("configValue") },
            metrics: { type: "object", properties: { extraenvvars: { anyOf: [ref("envList"), strMap] } }, additionalProperties: ref("configValue") },
          },
          additionalProperties: ref("configValue"),
        },
        delivery: closed({
          queuecapacity: ref("intOrEmpty"),
          overflow: { enum: ["", "dropnewest", "dropoldest", "reject"] },
          timeout: ref("durationOrEmpty"),
          maxconcurrency: ref("intOrEmpty"),
          retry: closed({ maxattempts: ref("intOrEmpty"), initialdelay: ref("durationOrEmpty"), maxdelay: ref("durationOrEmpty") }, { additionalProperties: ref("configValue") }),
          circuitbreaker: closed({ failures: ref("intOrEmpty"), resetafter: ref("durationOrEmpty") }, { additionalProperties: ref("configValue") }),
          shutdowntimeout: ref("durationOrEmpty"),
        }, { additionalProperties: ref("configValue") }),
      },
      additionalProperties: ref("configValue"),
    },
    existingSecret: str,
    extraEnv: ref("envList"),
    otel: closed({ enabled: bool, endpoint: str, protocol: { enum: ["", "http/protobuf", "http/json", "grpc"] }, serviceName: str, resourceAttributes: str, sampler: str, samplerArg: { type: ["string", "number"] } }),
    persistence: closed({ enabled: bool, existingClaim: str, storageClass: str, accessModes: { type: "array", items: { enum: ["ReadWriteOnce", "ReadWriteOncePod", "ReadWriteMany", "ReadOnlyMany"] } }, size: ref("quantity"), emptyDirSizeLimit: { anyOf: [{ const: "" }, ref("quantity")] } }),
    extraVolumes: { type: "array", items: { type: "object", required: ["name"] } },
    extraVolumeMounts: { type: "array", items: { type: "object", required: ["name", "mountPath"] } },
    nodeSelector: strMap,
    tolerations: { type: "array", items: obj },
    affinity: obj,
    topologySpreadConstraints: { type: "array", items: obj },
    priorityClassName: str,
    podDisruptionBudget: closed({ enabled: bool, minAvailable: { type: ["integer", "string"] }, maxUnavailable: { type: ["integer", "string"] } }),
    podAnnotations: labelMap,
    podLabels: labelMap,
    customLabels: labelMap,
    customAnnotations: labelMap,
    testConnection: closed({ enabled: bool }),
    webui: closed({
      enabled: bool,
      replicaCount: { type: "integer", minimum: 0 },
      image: ref("image"),
      loglevel: { enum: ["debug", "info", "warning", "error"] },
      ttl: { type: ["string", "integer"], pattern: "^([0-9]+([a-zA-Z]+)?)?$" },
      user: { type: "string", pattern: "^(|[^:]+:.+)$" },
      disableauth: bool,
      existingSecret: str,
      redis: closed({ url: str, username: str, password: str, existingSecret: str, existingSecretKey: str }),
      service: ref("service"),
      ingress: ref("ingress"),
      podSecurityContext: ref("podSecurityContext"),
      securityContext: ref("securityContext"),
      resources: ref("resources"),
      extraEnv: ref("envList"),
      podAnnotations: labelMap,
      podLabels: labelMap,
      nodeSelector: strMap,
      tolerations: { type: "array", items: obj },
      affinity: obj,
      priorityClassName: str,
    }),
  },
};
const out = process.argv[2] ?? new URL("../charts/sidekick/values.schema.json", import.meta.url);
writeFileSync(out, JSON.stringify(schema, null, 2) + "\n");
