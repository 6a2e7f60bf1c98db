// Generates deploy/charts/sidekick/dashboards/sidekick-dashboard.json (our own Grafana dashboard).
// Usage: node deploy/scripts/dashboard.mjs [out.json]. deploy/test checks the committed file is up to date.
import { writeFileSync } from "node:fs";
const ds = { type: "prometheus", uid: "${datasource}" };
const NS = 'namespace=~"$namespace"';
const DEST = `${NS}, destination=~"$destination"`;
let id = 1;
let y = 0;
const panels = [];
const row = (title) => { panels.push({ type: "row", title, id: id++, collapsed: false, gridPos: { h: 1, w: 24, x: 0, y }, panels: [] }); y += 1; };
let x = 0, rowH = 0;
const place = (w, h) => { if (x + w > 24) { x = 0; y += rowH; rowH = 0; } const g = { h, w, x, y }; x += w; rowH = Math.max(rowH, h); return g; };
const flush = () => { if (x > 0) { y += rowH; x = 0; rowH = 0; } };
const target = (expr, legendFormat, refId = "A") => ({ datasource: ds, expr, legendFormat, refId, range: true });
const ts = (title, description, targets, { w = 12, h = 8, unit = "short", stack = false, min = 0 } = {}) => panels.push({
  type: "timeseries", id: id++, title, description, datasource: ds, gridPos: place(w, h),
  fieldConfig: { defaults: { unit, min, custom: { drawStyle: "line", lineWidth: 1, fillOpacity: stack ? 30 : 10, showPoints: "never", stacking: { mode: stack ? "normal" : "none", group: "A" } } }, overrides: [] },
  options: { legend: { displayMode: "table", placement: "right", calcs: ["mean", "max"], showLegend: true }, tooltip: { mode: "multi", sort: "desc" } },
  targets: targets.map((t, i) => target(t[0], t[1], String.fromCharCode(65 + i))),
});
const stat = (title, description, expr, { unit = "short", thresholds = [["green", null]], w = 4, h = 4 } = {}) => panels.push({
  type: "stat", id: id++, title, description, datasource: ds, gridPos: place(w, h),
  fieldConfig: { defaults: { unit, thresholds: { mode: "absolute", steps: thresholds.map(([color, value]) => ({ color, value })) } }, overrides: [] },
  options: { reduceOptions: { calcs: ["lastNotNull"], fields: "", values: false }, colorMode: "value", graphMode: "area", textMode: "auto" },
  targets: [target(expr, "")],
});
const pie = (title, description, expr, legend, { w = 8, h = 8 } = {}) => panels.push({
  type: "piechart", id: id++, title, description, datasource: ds, gridPos: place(w, h),
  fieldConfig: { defaults: { unit: "short" }, overrides: [] },
  options: { reduceOptions: { calcs: ["lastNotNull"], fields: "", values: false }, pieType: "donut", legend: { displayMode: "table", placement: "right", values: ["value", "percent"], showLegend: true } },
  targets: [{ ...target(expr, legend), instant: true, range: false }],
});

row("Overview");
stat("Events received", "Falco events accepted per second", `sum(rate(falcosecurity_falcosidekick_inputs_total{${NS}, status="accepted"}[$__rate_interval]))`, { unit: "reqps" });
stat("Requests rejected", "Rejected requests per second (bad payloads, non-JSON Falco output)", `sum(rate(falcosecurity_falcosidekick_inputs_total{${NS}, status="rejected"}[$__rate_interval])) or vector(0)`, { unit: "reqps", thresholds: [["green", null], ["orange", 0.001]] });
stat("Deliveries", "Events delivered per second, all destinations", `sum(rate(sidekick_output_delivered_total{${DEST}}[$__rate_interval])) or vector(0)`, { unit: "ops" });
stat("Delivery errors", "Share of failed delivery attempts", `sum(rate(falcosecurity_falcosidekick_outputs_total{${DEST}, status="error"}[$__rate_interval])) / sum(rate(falcosecurity_falcosidekick_outputs_total{${DEST}}[$__rate_interval]))`, { unit: "percentunit", thresholds: [["green", null], ["orange", 0.01], ["red", 0.1]] });
stat("Dropped (range)", "Events dropped over the selected time range", `sum(increase(sidekick_output_dropped_total{${DEST}}[$__range])) or vector(0)`, { thresholds: [["green", null], ["red", 1]] });
stat("Open circuits", "Destinations whose circuit breaker is open", `count(max by (destination) (sidekick_output_circuit_state{${DEST}}) == 2) or vector(0)`, { thresholds: [["green", null], ["red", 1]] });
flush();

row("Falco events");
ts("Events by priority", "Falco events per second by priority", [[`sum by (priority_raw) (rate(falcosecurity_falcosidekick_falco_events_total{${NS}, source=~"$source"}[$__rate_interval]))`, "{{priority_raw}}"]], { stack: true, unit: "ops" });
ts("Events by source", "Falco events per second by source", [[`sum by (source) (rate(falcosecurity_falcosidekick_falco_events_total{${NS}, source=~"$source"}[$__rate_interval]))`, "{{source}}"]], { stack: true, unit: "ops" });
ts("Top 10 rules", "The ten busiest rules", [[`topk(10, sum by (rule) (rate(falcosecurity_falcosidekick_falco_events_total{${NS}, source=~"$source"}[$__rate_interval])))`, "{{rule}}"]], { w: 16, unit: "ops" });
pie("Priorities (range)", "Events per priority over the selected range", `sum by (priority_raw) (increase(falcosecurity_falcosidekick_falco_events_total{${NS}, source=~"$source"}[$__range]))`, "{{priority_raw}}");
ts("Events by namespace and pod", "Events per Kubernetes namespace/pod reported by Falco", [[`topk(10, sum by (k8s_ns_name, k8s_pod_name) (rate(falcosecurity_falcosidekick_falco_events_total{${NS}, source=~"$source", k8s_ns_name!=""}[$__rate_interval])))`, "{{k8s_ns_name}}/{{k8s_pod_name}}"]], { w: 24, unit: "ops" });
flush();

row("Outputs");
ts("Outputs ok by destination", "Successful delivery attempts per second", [[`sum by (destination) (rate(falcosecurity_falcosidekick_outputs_total{${DEST}, status="ok"}[$__rate_interval]))`, "{{destination}}"]], { unit: "ops" });
ts("Outputs error by destination", "Failed delivery attempts per second (each retry counts)", [[`sum by (destination) (rate(falcosecurity_falcosidekick_outputs_total{${DEST}, status="error"}[$__rate_interval]))`, "{{destination}}"]], { unit: "ops" });
ts("Delivery latency", "Delivery duration percentiles per destination (successful deliveries)", [
  [`histogram_quantile(0.5, sum by (le, destination) (rate(sidekick_output_delivery_duration_seconds_bucket{${DEST}, outcome="delivered"}[$__rate_interval])))`, "p50 {{destination}}"],
  [`histogram_quantile(0.95, sum by (le, destination) (rate(sidekick_output_delivery_duration_seconds_bucket{${DEST}, outcome="delivered"}[$__rate_interval])))`, "p95 {{destination}}"],
  [`histogram_quantile(0.99, sum by (le, destination) (rate(sidekick_output_delivery_duration_seconds_bucket{${DEST}, outcome="delivered"}[$__rate_interval])))`, "p99 {{destination}}"],
], { unit: "s" });
ts("Failed delivery latency", "Time spent on failed attempts (timeouts show up here)", [[`histogram_quantile(0.95, sum by (le, destination) (rate(sidekick_output_delivery_duration_seconds_bucket{${DEST}, outcome="failed"}[$__rate_interval])))`, "p95 {{destination}}"]], { unit: "s" });
flush();

row("Queues and reliability");
ts("Queue depth", "Events waiting per destination queue", [[`sum by (destination) (sidekick_output_queue_depth{${DEST}})`, "{{destination}}"]]);
ts("Queue fill", "Queue depth relative to its capacity", [[`max by (destination) (sidekick_output_queue_depth{${DEST}} / (sidekick_output_queue_capacity{${DEST}} > 0))`, "{{destination}}"]], { unit: "percentunit" });
ts("Retries", "Delivery retries per second", [[`sum by (destination) (rate(sidekick_output_retries_total{${DEST}}[$__rate_interval]))`, "{{destination}}"]], { w: 8, unit: "ops" });
ts("Drops", "Dropped events per second by reason", [[`sum by (destination, reason) (rate(sidekick_output_dropped_total{${DEST}}[$__rate_interval]))`, "{{destination}} {{reason}}"]], { w: 8, unit: "ops" });
ts("Circuit state", "0 closed, 1 half-open, 2 open", [[`max by (destination) (sidekick_output_circuit_state{${DEST}})`, "{{destination}}"]], { w: 8, unit: "none" });
ts("Ingest rejections", "Requests rejected by Sidekick, by reason", [[`sum by (reason) (rate(sidekick_ingest_rejected_total{${NS}}[$__rate_interval]))`, "{{reason}}"]], { w: 24, unit: "reqps" });
flush();

const variable = (name, label, query) => ({ name, label, type: "query", datasource: ds, query: { query, refId: "PrometheusVariableQueryEditor-VariableQuery" }, definition: query, refresh: 2, includeAll: true, multi: true, allValue: ".*", current: { selected: true, text: ["All"], value: ["$__all"] }, sort: 1 });
const dashboard = {
  title: "Sidekick",
  uid: "sidekick-overview",
  description: "Sidekick: Falco events received and their delivery to outputs (queues, latency, retries, drops).",
  tags: ["falco", "sidekick", "security"],
  editable: true,
  graphTooltip: 1,
  schemaVersion: 39,
  version: 1,
  refresh: "30s",
  time: { from: "now-6h", to: "now" },
  timepicker: {},
  annotations: { list: [] },
  links: [],
  templating: {
    list: [
      { name: "datasource", label: "Data source", type: "datasource", query: "prometheus", current: {}, hide: 0, refresh: 1 },
      variable("namespace", "Namespace", "label_values(falcosecurity_falcosidekick_inputs_total, namespace)"),
      variable("destination", "Destination", 'label_values(falcosecurity_falcosidekick_outputs_total{namespace=~"$namespace"}, destination)'),
      variable("source", "Falco source", 'label_values(falcosecurity_falcosidekick_falco_events_total{namespace=~"$namespace"}, source)'),
    ],
  },
  panels,
};
const out = process.argv[2] ?? new URL("../charts/sidekick/dashboards/sidekick-dashboard.json", import.meta.url);
writeFileSync(out, JSON.stringify(dashboard, null, 2) + "\n");
