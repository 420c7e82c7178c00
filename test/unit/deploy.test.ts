import { expect } from "chai";
import { spawnSync } from "node:child_process";
import {
  existsSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";
import { parse, parseAllDocuments, stringify } from "yaml";
import { topologyNames } from "../../shared/protocol/names";
import {
  compileConfig,
  ConfigError,
  loadConfig,
  substituteEnv,
  type SluiceConfig,
} from "../../shared/config/config";
import { loadSimConfig } from "../../xroad-sim/sim-config-file";
import { parseDuration } from "../../shared/config/durations";
import { configWarnings } from "../../shared/config/config-warnings";
import { registry } from "../../shared/observability/metrics";
import { manifestProblems } from "../support/kubernetes-schemas";
import { restoringEnv } from "../support/environment";
import {
  admitsAddress,
  egressProblems,
  egressRules,
  reaches,
  selects,
  type NetworkPolicy,
  type Peer,
} from "../support/network-policies";

// Runs from dist/test/unit or test/unit alike: the repository root holds package.json.
function findRoot(start: string): string {
  let dir = start;
  while (!existsSync(join(dir, "package.json"))) dir = resolve(dir, "..");
  return dir;
}
const ROOT = findRoot(__dirname);
const DEPLOY = join(ROOT, "deploy");

type Doc = Record<string, unknown>;

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? walk(path) : [path];
  });
}

/** Every document of a YAML file; a syntax error fails the test that reads it. */
function yamlDocs(path: string): Doc[] {
  // Compose files share settings through YAML merge keys (`<<: *anchor`).
  const docs = parseAllDocuments(readFileSync(path, "utf8"), { merge: true });
  const list = Array.isArray(docs) ? docs : [docs];
  for (const doc of list) {
    expect(doc.errors, `${relative(ROOT, path)}: ${doc.errors.join("; ")}`).to.have.length(0);
  }
  return list.map((doc) => doc.toJS() as Doc).filter((doc) => doc !== null);
}

function yamlDoc(path: string): Doc {
  return yamlDocs(join(DEPLOY, path))[0];
}

function run(command: string, args: string[]): { status: number | null; output: string } {
  const result = spawnSync(command, args, { cwd: ROOT, encoding: "utf8", timeout: 30_000 });
  const output = `${result.stdout ?? ""}${result.stderr ?? ""}${result.error?.message ?? ""}`;
  return { status: result.status, output };
}

/** docker compose (plugin) where present, else the standalone docker-compose. */
function composeCommand(): string[] {
  if (run("docker", ["compose", "version"]).status === 0) return ["docker", "compose"];
  if (run("docker-compose", ["version"]).status === 0) return ["docker-compose"];
  throw new Error(
    "neither `docker compose` nor `docker-compose` found: run deploy/install-tools.sh",
  );
}

function requireTool(name: string): void {
  if (run(name, ["--version"]).status !== 0) {
    throw new Error(`${name} not found: run deploy/install-tools.sh`);
  }
}

/** Label names of each metric in the registry, with histogram series names mapped to their metric. */
function registeredMetrics(): Map<string, string[]> {
  const known = new Map<string, string[]>();
  for (const metric of registry.getMetricsAsArray()) {
    const labels = (metric as unknown as { labelNames?: string[] }).labelNames ?? [];
    known.set(metric.name, labels);
    for (const suffix of ["_bucket", "_sum", "_count"]) {
      known.set(metric.name + suffix, suffix === "_bucket" ? [...labels, "le"] : labels);
    }
  }
  return known;
}

/** Label names Prometheus attaches to every scraped series. */
const TARGET_LABELS = ["job", "instance"];

/** Checks that each metric named in a PromQL expression exists and is selected by real labels. */
function checkExpression(expr: string, where: string, known: Map<string, string[]>): string[] {
  const problems: string[] = [];
  const names = expr.match(/\b(?:sluice|process|nodejs)_[a-z0-9_]+\b/g) ?? [];
  const allowed = new Set([...TARGET_LABELS, "le"]);
  // label_replace(v, "dst", …) gives the expression a label of its own.
  for (const made of expr.matchAll(/label_replace\([^"]*"(\w+)"/g)) allowed.add(made[1]);
  for (const name of names) {
    const labels = known.get(name);
    if (!labels) {
      problems.push(`${where}: unknown metric ${name}`);
      continue;
    }
    labels.forEach((label) => allowed.add(label));
  }
  for (const selector of expr.matchAll(/\b((?:sluice|process|nodejs)_[a-z0-9_]+)\{([^}]*)\}/g)) {
    const labels = known.get(selector[1]) ?? [];
    for (const matcher of selector[2].matchAll(/([a-zA-Z_]\w*)\s*(?:=~|!~|!=|=)/g)) {
      if (![...labels, ...TARGET_LABELS].includes(matcher[1])) {
        problems.push(`${where}: ${selector[1]} has no label ${matcher[1]}`);
      }
    }
  }
  for (const grouping of expr.matchAll(/\b(?:by|on)\s*\(([^)]*)\)/g)) {
    for (const label of grouping[1].split(",").map((s) => s.trim())) {
      if (label && !allowed.has(label))
        problems.push(`${where}: grouping by unknown label ${label}`);
    }
  }
  return problems;
}

interface Panel {
  id: number;
  title?: string;
  type?: string;
  repeat?: string;
  datasource?: { uid?: string };
  targets?: { expr?: string; datasource?: { uid?: string } }[];
  fieldConfig?: { defaults?: { thresholds?: { steps?: { value: number | null }[] } } };
}

interface Variable {
  name: string;
  type: string;
  query: string | { query: string };
  datasource?: { uid?: string };
  regex?: string;
  multi?: boolean;
  includeAll?: boolean;
}

interface Dashboard {
  uid: string;
  panels: Panel[];
  templating: { list: Variable[] };
}

/** Each metric selector of a PromQL expression with its label matchers as written. */
function metricSelectors(expr: string): { name: string; matchers: string[] }[] {
  // A matcher's value may hold `${backend:regex}`, whose braces are not the selector's. `up` is
  // the series Prometheus itself records for each target (SluiceInstanceDown reads it).
  const selectors = expr.matchAll(
    /\b((?:sluice|process|nodejs)_[a-z0-9_]+|up\b(?!\s*\())(?:\{((?:[^{}]|\$\{[^}]*\})*)\})?/g,
  );
  return [...selectors].map((m) => ({
    name: m[1],
    matchers: (m[2] ?? "").split(/,\s*/).filter(Boolean),
  }));
}

/** The metric, selector and label of a `label_values(selector, label)` variable query. */
function variableQuery(variable: Variable): { metric: string; selector: string; label: string } {
  const query = typeof variable.query === "string" ? variable.query : variable.query.query;
  const match = /^label_values\(\s*(([a-z_:][a-z0-9_:]*)[^,]*),\s*([a-zA-Z_]\w*)\s*\)$/.exec(query);
  expect(match, `${variable.name}: ${query}`).to.not.equal(null);
  return { selector: match![1], metric: match![2], label: match![3] };
}

interface AlertRule {
  alert: string;
  expr: string;
}

/** A selector as text, its matchers sorted, without the dashboard's instance filter. */
function selectorKey(selector: { name: string; matchers: string[] }): string {
  const matchers = selector.matchers.filter((m) => m !== 'instance=~"$instance"').sort();
  return `${selector.name}{${matchers.join(", ")}}`;
}

/** The alert's threshold when it compares with a positive number (`> 0.05`), else undefined. */
function alertThreshold(expr: string): number | undefined {
  const match = /[<>]=?\s*([0-9.]+)\s*$/.exec(expr.trim());
  const value = match ? Number(match[1]) : 0;
  return value > 0 ? value : undefined;
}

/**
 * What an operator paged by each alert cannot see on the dashboard: an alert needs one panel
 * whose queries select every metric the alert reads with the alert's own label filters (the
 * dashboard's instance filter aside), and where the alert compares with a number, that number
 * drawn as one of the panel's thresholds.
 */
function alertsWithoutPanel(rules: AlertRule[], panels: Panel[]): string[] {
  const shown = panels.map((panel) => ({
    panel,
    keys: new Set(
      (panel.targets ?? []).flatMap((target) =>
        metricSelectors(target.expr ?? "").map(selectorKey),
      ),
    ),
  }));
  return rules.flatMap((rule) => {
    const wanted = [...new Set(metricSelectors(rule.expr).map(selectorKey))];
    const covering = shown.filter(({ keys }) => wanted.every((key) => keys.has(key)));
    if (covering.length === 0) {
      return [`${rule.alert}: no panel selects ${wanted.join(" and ")}`];
    }
    const threshold = alertThreshold(rule.expr);
    if (threshold === undefined) return [];
    const drawn = covering.some(({ panel }) =>
      (panel.fieldConfig?.defaults?.thresholds?.steps ?? []).some((s) => s.value === threshold),
    );
    return drawn ? [] : [`${rule.alert}: no panel of its series draws its threshold ${threshold}`];
  });
}

/** A dashboard query with Grafana's variables replaced by values Prometheus would see. */
function fill(expr: string): string {
  return expr
    .replaceAll("$__rate_interval", "1m")
    .replaceAll("${backend:regex}", "legacy")
    .replaceAll("$backend", "legacy")
    .replaceAll("$instance", ".*");
}

/** The configuration the Kubernetes manifests mount, compiled as a role would. */
function k8sConfig(): SluiceConfig {
  const [configMap] = yamlDocs(join(DEPLOY, "k8s/configmap.yaml")) as {
    data: Record<string, string>;
  }[];
  return compileConfig(parse(configMap.data["sluice.yaml"]), "/etc/sluice", "ConfigMap");
}

interface Container {
  name: string;
  args: string[];
  env: {
    name: string;
    value?: string;
    valueFrom?: {
      secretKeyRef?: { name: string; key: string };
      fieldRef?: { fieldPath: string };
    };
  }[];
  ports: { name: string; containerPort: number }[];
  startupProbe: { httpGet: { path: string; port: string } };
  readinessProbe: { httpGet: { path: string; port: string } };
  livenessProbe: { httpGet: { path: string; port: string }; timeoutSeconds?: number };
  resources: {
    requests: { cpu?: string; memory?: string; "ephemeral-storage"?: string };
    limits?: { cpu?: string; memory?: string; "ephemeral-storage"?: string };
  };
  securityContext: {
    allowPrivilegeEscalation?: boolean;
    readOnlyRootFilesystem?: boolean;
    capabilities: { drop: string[] };
  };
  volumeMounts: { name: string; mountPath: string }[];
}

interface Deployment {
  metadata: { name: string };
  spec: {
    replicas?: number;
    selector: { matchLabels: Record<string, string> };
    template: {
      metadata: { labels: Record<string, string>; annotations: Record<string, string> };
      spec: {
        terminationGracePeriodSeconds: number;
        enableServiceLinks?: boolean;
        topologySpreadConstraints?: {
          maxSkew: number;
          topologyKey: string;
          whenUnsatisfiable: string;
          matchLabelKeys?: string[];
          labelSelector: { matchLabels: Record<string, string> };
        }[];
        securityContext: { runAsNonRoot?: boolean; seccompProfile?: { type: string } };
        containers: Container[];
        initContainers?: Container[];
        volumes: {
          name: string;
          projected?: {
            defaultMode?: number;
            sources: {
              configMap?: { name: string };
              secret?: { name: string; items?: { key: string; path: string }[] };
            }[];
          };
          emptyDir?: { sizeLimit?: string; medium?: string };
        }[];
      };
    };
  };
}

interface ScaledObject {
  metadata: { name: string };
  spec: {
    scaleTargetRef: { name: string };
    minReplicaCount: number;
    triggers: {
      type: string;
      metadata: { queueName: string };
      authenticationRef: { name: string };
    }[];
  };
}

interface Hpa {
  metadata: { name: string };
  spec: {
    scaleTargetRef: { apiVersion: string; kind: string; name: string };
    minReplicas: number;
    metrics: { resource: { name: string } }[];
  };
}

interface Pdb {
  spec: {
    minAvailable?: number;
    maxUnavailable?: number;
    selector: { matchLabels: Record<string, string> };
  };
}

interface Service {
  metadata: { name: string };
  spec: { selector: Record<string, string>; ports: { targetPort: string }[] };
}

describe("deployment files", () => {
  const known = registeredMetrics();

  it("parses every YAML and JSON file in deploy/", () => {
    const files = walk(DEPLOY).filter((path) => /\.(ya?ml|json)$/.test(path));
    expect(files.length).to.be.greaterThan(10);
    for (const path of files) {
      if (path.endsWith(".json")) {
        expect(() => JSON.parse(readFileSync(path, "utf8")), relative(ROOT, path)).not.to.throw();
      } else {
        expect(yamlDocs(path).length, relative(ROOT, path)).to.be.greaterThan(0);
      }
    }
  });

  it("alerts use only metrics and labels that shared/observability/metrics.ts registers", () => {
    const alerts = yamlDoc("prometheus/alerts.yml") as {
      groups: { rules: { alert: string; expr: string }[] }[];
    };
    const rules = alerts.groups.flatMap((group) => group.rules);
    expect(rules.map((rule) => rule.alert)).to.include.members([
      "SluiceQueueAboveHighWater",
      "SluiceDeadLetters",
      "SluiceRejectingRequests",
      "SluiceBackendErrors",
      "SluiceNoConsumers",
      "SluiceCallbacksBacklog",
    ]);
    const problems = rules.flatMap((rule) => checkExpression(rule.expr, rule.alert, known));
    expect(problems).to.deep.equal([]);
  });

  it("the metric check catches an unknown metric or label", () => {
    expect(checkExpression("rate(sluice_nope_total[5m])", "x", known)).to.have.length(1);
    expect(checkExpression('sluice_requests_total{backend="a"}', "x", known)).to.have.length(1);
    expect(checkExpression("sum by (url) (sluice_sync_waiters)", "x", known)).to.have.length(1);
    const histogram = "sum by (le) (rate(sluice_end_to_end_seconds_bucket[1m]))";
    expect(checkExpression(histogram, "x", known)).to.deep.equal([]);
  });

  describe("the Grafana dashboard", () => {
    const dashboard = JSON.parse(
      readFileSync(join(DEPLOY, "grafana/dashboards/sluice.json"), "utf8"),
    ) as Dashboard;
    const graphs = dashboard.panels.filter((panel) => panel.type !== "row");
    const exprs = graphs.flatMap((panel) =>
      (panel.targets ?? []).map((target) => ({ panel, expr: target.expr ?? "" })),
    );
    const variable = (name: string) => {
      const found = dashboard.templating.list.find((v) => v.name === name);
      expect(found, `template variable ${name}`).to.not.equal(undefined);
      return found!;
    };

    it("queries only registered metrics and labels", () => {
      const used = new Set(exprs.flatMap(({ expr }) => expr.match(/\bsluice_[a-z_]+\b/g) ?? []));
      for (const needed of [
        "sluice_queue_depth_messages",
        "sluice_requests_total",
        "sluice_end_to_end_seconds_bucket",
        "sluice_backend_calls_total",
        "sluice_backend_rate_limit",
        "sluice_callback_deliveries_total",
        "sluice_dead_letters_total",
        // What tells a flood of malformed requests or refused handshakes, a slow receiver and
        // an evicting Redis (SluiceRedisEvicts) at a glance.
        "sluice_http_parser_refusals_total",
        "sluice_tls_handshake_refusals_total",
        "sluice_callback_attempts_set_apart",
        "sluice_callback_jobs_in_hand",
        "sluice_redis_evicting",
      ]) {
        expect([...used], needed).to.include(needed);
      }
      expect(exprs.some(({ expr }) => expr.startsWith("histogram_quantile("))).to.equal(true);
      const problems = exprs.flatMap(({ panel, expr }) =>
        checkExpression(expr, panel.title ?? "", known),
      );
      expect(problems).to.deep.equal([]);
      const ids = dashboard.panels.map((panel) => panel.id);
      expect(new Set(ids).size, "panel ids are unique").to.equal(ids.length);
    });

    it("draws every metric Sluice registers on some panel", () => {
      // A metric with no panel is one the operator learns of only from docs/operations.md.
      const used = new Set(exprs.flatMap(({ expr }) => expr.match(/\bsluice_[a-z_]+\b/g) ?? []));
      const drawn = (name: string) =>
        ["", "_bucket", "_sum", "_count"].some((suffix) => used.has(name + suffix));
      const registered = registry
        .getMetricsAsArray()
        .map((metric) => metric.name)
        .filter((name) => name.startsWith("sluice_"));
      expect(registered).to.include("sluice_callback_jobs_in_hand");
      expect(registered.filter((name) => !drawn(name))).to.deep.equal([]);
    });

    it("shows the queues each queue-depth alert watches, with the alert's selection", () => {
      // An alert on the depth of some queues (SluiceCallbacksBacklog: the callbacks queue) has
      // a threshold of its own, which the panel of every queue's depth drowns among the rest:
      // the operator it pages needs a panel that selects the same queues the alert selects.
      const alerts = yamlDoc("prometheus/alerts.yml") as {
        groups: { rules: { alert: string; expr: string }[] }[];
      };
      const watched = alerts.groups
        .flatMap((group) => group.rules)
        .flatMap((rule) =>
          metricSelectors(rule.expr)
            .filter((selector) => selector.name === "sluice_queue_depth_messages")
            .map((selector) => ({ alert: rule.alert, matchers: selector.matchers })),
        );
      expect(watched.map((w) => w.alert)).to.include.members([
        "SluiceQueueAboveHighWater",
        "SluiceCallbacksBacklog",
      ]);
      const shown = exprs.flatMap(({ panel, expr }) =>
        metricSelectors(expr)
          .filter((selector) => selector.name === "sluice_queue_depth_messages")
          .map((selector) => ({
            panel: panel.title,
            matchers: selector.matchers.filter((m) => m !== 'instance=~"$instance"'),
          })),
      );
      for (const { alert, matchers } of watched) {
        const panels = shown.filter((s) => JSON.stringify(s.matchers) === JSON.stringify(matchers));
        expect(panels, `a panel of ${alert}'s queues (${matchers.join(", ")})`).to.not.deep.equal(
          [],
        );
      }
    });

    it("shows what each alert evaluates: its metrics with its label filters, and its threshold", () => {
      // An operator paged at night opens the dashboard to see what the alert saw: a panel of
      // every queue's consumers, or of requests by outcome, drowns the series the alert reads
      // (SluiceNoConsumers' queues, SluiceRejectingRequests' 503 outcomes) among the rest.
      const alerts = yamlDoc("prometheus/alerts.yml") as { groups: { rules: AlertRule[] }[] };
      const rules = alerts.groups.flatMap((group) => group.rules);
      expect(rules.length).to.be.greaterThan(10);
      expect(alertsWithoutPanel(rules, graphs)).to.deep.equal([]);
      // The check sees a filter no panel has, a panel without the alert's line, and `up`.
      const narrower = { alert: "X", expr: 'sum(rate(sluice_requests_total{outcome="ok"}[5m]))' };
      expect(alertsWithoutPanel([narrower], graphs)).to.deep.equal([
        'X: no panel selects sluice_requests_total{outcome="ok"}',
      ]);
      const unlined = { alert: "Y", expr: "max by (queue) (sluice_queue_consumers) > 7" };
      expect(alertsWithoutPanel([unlined], graphs)).to.deep.equal([
        "Y: no panel of its series draws its threshold 7",
      ]);
      const target = { alert: "Z", expr: 'up{job="other"} == 0' };
      expect(alertsWithoutPanel([target], graphs)).to.deep.equal([
        'Z: no panel selects up{job="other"}',
      ]);
    });

    it("is valid PromQL to promtool, with its variables filled in", function () {
      this.timeout(30_000);
      requireTool("promtool");
      const dir = mkdtempSync(join(tmpdir(), "sluice-dashboard-"));
      try {
        const rules = exprs.map(({ expr }, i) => ({ record: `dashboard:${i}`, expr: fill(expr) }));
        const file = join(dir, "dashboard-rules.yml");
        writeFileSync(file, stringify({ groups: [{ name: "dashboard", rules }] }));
        const result = run("promtool", ["check", "rules", file]);
        expect(result.status, result.output).to.equal(0);
        // promtool does see a broken query: the check cannot pass vacuously.
        writeFileSync(
          file,
          stringify({ groups: [{ name: "x", rules: [{ record: "x", expr: "sum(" }] }] }),
        );
        expect(run("promtool", ["check", "rules", file]).status).to.not.equal(0);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it("has a datasource variable that every panel and query uses", () => {
      const datasource = variable("datasource");
      expect(datasource).to.include({ type: "datasource", query: "prometheus" });
      for (const panel of graphs) {
        expect(panel.datasource?.uid, panel.title).to.equal("${datasource}");
        for (const target of panel.targets ?? []) {
          expect(target.datasource?.uid, panel.title).to.equal("${datasource}");
        }
      }
      for (const name of ["instance", "backend"]) {
        expect(variable(name).datasource?.uid, name).to.equal("${datasource}");
      }
      // The provisioned datasource is a Prometheus one, so the variable offers it.
      const provisioned = yamlDoc("grafana/provisioning/datasources/prometheus.yml") as {
        datasources: { type: string }[];
      };
      expect(provisioned.datasources.map((d) => d.type)).to.include("prometheus");
    });

    it("filters every query by the instance variable, which lists Sluice processes", () => {
      const instance = variable("instance");
      expect(instance).to.include({ type: "query", multi: true, includeAll: true });
      const query = variableQuery(instance);
      expect(query.label).to.equal("instance");
      expect(checkExpression(query.selector, "instance variable", known)).to.deep.equal([]);
      for (const { panel, expr } of exprs) {
        for (const selector of metricSelectors(expr)) {
          expect(selector.matchers, `${panel.title}: ${selector.name}`).to.include(
            'instance=~"$instance"',
          );
        }
      }
    });

    it("names each configured backend in the backend variable, from the queues Sluice reports", () => {
      const backend = variable("backend");
      expect(backend).to.include({ type: "query", multi: true, includeAll: true });
      const query = variableQuery(backend);
      expect(checkExpression(query.selector, "backend variable", known)).to.deep.equal([]);
      expect(known.get(query.metric), query.metric).to.include(query.label);
      // Grafana keeps the first capture group of the variable's regex, as the backend's name.
      const regex = new RegExp(/^\/(.*)\/$/.exec(backend.regex ?? "")![1]);
      const configMap = k8sConfig();
      for (const config of [loadConfig(join(ROOT, "config/demo.yaml")), configMap]) {
        // Every role reports each request queue's high water, named by the topology.
        const names = topologyNames(config.prefix);
        const queues = [
          ...Object.keys(config.backends).map((name) => names.requestsQueue(name)),
          names.responsesQueue,
          names.deadLetterQueue,
          names.retryQueue("legacy", 1000),
        ];
        expect(queues.map((queue) => regex.exec(queue)?.[1]).filter(Boolean)).to.deep.equal(
          Object.keys(config.backends),
        );
      }
    });

    it("repeats a row per backend, whose panels all select that backend", () => {
      const rows = dashboard.panels.filter((panel) => panel.type === "row");
      const repeated = rows.filter((panel) => panel.repeat === "backend");
      expect(repeated, "one repeated backend row").to.have.length(1);
      expect(repeated[0].title).to.include("$backend");
      // An open row owns the panels below it up to the next row.
      const start = dashboard.panels.indexOf(repeated[0]);
      const next = dashboard.panels.findIndex((p, i) => i > start && p.type === "row");
      const inRow = dashboard.panels.slice(start + 1, next < 0 ? undefined : next);
      expect(inRow.length).to.be.greaterThan(3);
      for (const panel of inRow) {
        for (const target of panel.targets ?? []) {
          for (const selector of metricSelectors(target.expr ?? "")) {
            const byBackend = selector.matchers.some(
              (m) => m === 'backend="$backend"' || /^queue=~".*\$\{backend:regex\}[^"]*"$/.test(m),
            );
            expect(byBackend, `${panel.title}: ${selector.name}`).to.equal(true);
          }
        }
      }
      const queries = inRow.flatMap((panel) => (panel.targets ?? []).map((t) => t.expr ?? ""));
      for (const needed of [
        "sluice_backend_calls_total",
        "sluice_backend_rate_limit",
        "sluice_queue_depth_messages",
        "sluice_dead_letters_total",
        // What SluiceMessagesExpired reads, and what tells a paused backend's 0 consumers from
        // workers gone (SluiceNoConsumers reads it too).
        "sluice_messages_expired_total",
        "sluice_queue_gate_open",
      ]) {
        expect(
          queries.some((q) => q.includes(needed)),
          needed,
        ).to.equal(true);
      }
      // The backend-queue matcher picks exactly that backend's request queue, and the partitions
      // of an ordered one (requests.<backend>.p<k>), which hold its messages.
      const [queueMatcher] = queries
        .flatMap((q) => metricSelectors(q))
        .flatMap((s) => s.matchers)
        .filter((m) => m.startsWith("queue=~"));
      const pattern = new RegExp(
        `^${JSON.parse(queueMatcher.slice("queue=~".length)).replace("${backend:regex}", "legacy")}$`,
      );
      expect(pattern.test("requests.legacy")).to.equal(true);
      expect(pattern.test("demo.requests.legacy")).to.equal(true);
      expect(pattern.test("requests.legacy2")).to.equal(false);
      expect(pattern.test("retry.legacy.1000ms")).to.equal(false);
      expect(pattern.test("demo.requests.legacy.p3")).to.equal(true);
      expect(pattern.test("requests.legacy2.p0")).to.equal(false);
    });
  });

  it("docker compose accepts the Compose file", function () {
    this.timeout(30_000);
    const [command, ...args] = composeCommand();
    const result = run(command, [...args, "-f", "deploy/docker-compose.yml", "config", "-q"]);
    expect(result.status, result.output).to.equal(0);
  });

  it("Compose runs every role from the repository image and Prometheus scrapes each", () => {
    const compose = yamlDoc("docker-compose.yml") as {
      services: Record<
        string,
        {
          command?: string[];
          environment?: Record<string, string>;
          volumes?: string[];
          stop_grace_period?: string;
        }
      >;
    };
    const roles = {
      "sluice-adapter": "adapter",
      "sluice-worker": "worker",
      "sluice-response-worker": "response-worker",
      "legacy-sim": "legacy-sim",
    };
    for (const [service, role] of Object.entries(roles)) {
      const spec = compose.services[service];
      expect(spec, service).to.not.equal(undefined);
      expect(spec.command).to.deep.equal([role, "--config", "/etc/sluice/demo.yaml"]);
      expect(spec.volumes).to.include("../config:/etc/sluice:ro");
    }
    const demo = loadConfig(join(ROOT, "config/demo.yaml"));
    for (const service of ["sluice-adapter", "sluice-worker", "sluice-response-worker"]) {
      const spec = compose.services[service];
      expect(spec.environment).to.include.keys("AMQP_URL", "REDIS_URL");
      const stopGraceMs = parseDuration(spec.stop_grace_period) ?? 10_000;
      expect(stopGraceMs, `${service} outlives the drain`).to.be.greaterThan(demo.shutdownGraceMs);
    }
    for (const needed of ["rabbitmq", "redis", "prometheus", "grafana"]) {
      expect(compose.services).to.have.property(needed);
    }
    const prometheus = yamlDoc("prometheus/prometheus.yml") as {
      scrape_configs: { job_name: string; dns_sd_configs?: { names: string[]; port: number }[] }[];
    };
    const scraped = prometheus.scrape_configs.flatMap((job) =>
      (job.dns_sd_configs ?? []).flatMap((sd) => sd.names.map((name) => `${name}:${sd.port}`)),
    );
    expect(scraped).to.include.members([
      "sluice-adapter:9090",
      "sluice-worker:9090",
      "sluice-response-worker:9090",
    ]);
  });

  it("the demo's adapter listens on loopback, except in its Compose container", () => {
    // npm start runs the demo with published secrets, private callback targets allowed and a
    // consumer-direction service: on every interface, anyone on the network could use them.
    restoringEnv(["DEMO_ADAPTER_HOST"], () => {
      delete process.env.DEMO_ADAPTER_HOST;
      expect(loadConfig(join(ROOT, "config/demo.yaml")).adapter.host).to.equal("127.0.0.1");
    });
    const compose = yamlDoc("docker-compose.yml") as {
      services: Record<string, { environment?: Record<string, string> }>;
    };
    // Compose publishes the port on the host's loopback; inside, xroad-sim reaches it by name.
    expect(compose.services["sluice-adapter"].environment?.DEMO_ADAPTER_HOST).to.equal("0.0.0.0");
  });

  it("the docs' docker run lines of the demo open its adapter to the port they publish, on loopback", () => {
    // In a container the demo's loopback-only adapter is out of reach of a published port, so
    // each such line must set DEMO_ADAPTER_HOST; and it publishes on the host's loopback, as
    // Compose does, since the demo takes any caller.
    const runs = ["README.md", ...readdirSync(join(ROOT, "docs")).map((page) => `docs/${page}`)]
      .filter((page) => page.endsWith(".md"))
      .flatMap((page) =>
        readFileSync(join(ROOT, page), "utf8")
          .replace(/\\\n\s*/g, " ")
          .split("\n")
          .flatMap((line) => line.match(/docker run [^`\n]*/g) ?? [])
          .filter((run) => / sluice demo\b|demo\.yaml/.test(run) && / -p /.test(run))
          .map((run) => ({ page, run })),
      );
    expect(runs.length).to.be.greaterThan(0);
    for (const { page, run } of runs) {
      expect(run, page).to.include("-e DEMO_ADAPTER_HOST=0.0.0.0");
      for (const m of run.matchAll(/ -p (\S+)/g))
        expect(m[1], `${page}: ${run}`).to.match(/^127\.0\.0\.1:/);
    }
  });

  it("Compose publishes every port on the host's loopback only", () => {
    // The demo's RabbitMQ (sluice / sluice) and Grafana (admin / admin) have known passwords, and
    // its adapter and simulators take any caller: on every host interface they were open to
    // anyone on the same network (a laptop on a shared Wi-Fi, a build server).
    const compose = yamlDoc("docker-compose.yml") as {
      services: Record<string, { ports?: Array<string | Record<string, unknown>> }>;
    };
    const published = Object.entries(compose.services).flatMap(([name, spec]) =>
      (spec.ports ?? []).map((port) => ({ name, port })),
    );
    expect(published.length).to.be.greaterThan(0);
    for (const { name, port } of published) {
      expect(typeof port, `${name}: ${JSON.stringify(port)}`).to.equal("string");
      expect(port as string, name).to.match(/^127\.0\.0\.1:\d+:\d+$/);
    }
  });

  it("Compose runs every container of the Sluice image unprivileged, read-only and bounded", () => {
    // A container taken over (a parser bug) can change nothing in its image, gain no privilege
    // through a setuid binary, use no capability, and starve no other container.
    interface Hardened {
      image?: string;
      command?: string[];
      user?: string;
      read_only?: boolean;
      tmpfs?: string | string[];
      cap_drop?: string[];
      security_opt?: string[];
      mem_limit?: string;
      cpus?: number | string;
      pids_limit?: number;
      healthcheck?: { test?: string[]; disable?: boolean };
      environment?: Record<string, string>;
      ports?: string[];
    }
    const compose = yamlDoc("docker-compose.yml") as { services: Record<string, Hardened> };
    const ours = Object.entries(compose.services).filter(
      ([, spec]) => spec.image === "sluice:local",
    );
    expect(ours.map(([name]) => name).sort()).to.deep.equal([
      "legacy-sim",
      "sluice-adapter",
      "sluice-response-worker",
      "sluice-worker",
      "xroad-sim",
    ]);
    const imageUser = /^USER (\S+)$/m.exec(readFileSync(join(ROOT, "Dockerfile"), "utf8"))![1];
    for (const [name, spec] of ours) {
      expect(spec.user, name).to.equal(imageUser);
      expect(spec.user, name).to.not.match(/^(root|0)(:|$)/);
      expect(spec.read_only, name).to.equal(true);
      const tmpfs = [spec.tmpfs ?? []].flat();
      expect(
        tmpfs.some((mount) => /^\/tmp(:|$)/.test(mount)),
        `${name} has a tmpfs on /tmp`,
      ).to.equal(true);
      for (const mount of tmpfs) expect(mount, name).to.match(/:(.*,)?size=\d+[kmg]?\b/);
      expect(spec.cap_drop, name).to.deep.equal(["ALL"]);
      expect(spec.security_opt, name).to.include("no-new-privileges:true");
      expect(spec.mem_limit, name).to.match(/^\d+[kmg]$/);
      expect(Number(spec.cpus), name).to.be.within(0.1, 2);
      expect(spec.pids_limit, name).to.be.within(16, 1024);
      expect(spec.healthcheck?.test?.[0], `${name} healthcheck`).to.equal("CMD");
      expect(spec.healthcheck?.disable, name).to.not.equal(true);
      // The admin port, if a role publishes it at all, only on the host's loopback.
      const admin = spec.environment?.ADMIN_PORT ?? "9090";
      for (const port of spec.ports ?? []) {
        if (port.endsWith(`:${admin}`)) expect(port, name).to.match(/^127\.0\.0\.1:/);
      }
    }
  });

  it("the demo's passwords and webhook secret are used by the demo alone", () => {
    const compose = yamlDoc("docker-compose.yml") as {
      services: Record<string, { command?: string[]; environment?: Record<string, string> }>;
    };
    const rabbitmq = compose.services.rabbitmq.environment!;
    const demo = parse(readFileSync(join(ROOT, "config/demo.yaml"), "utf8")) as {
      callbacks: { secret?: string; secrets?: string[] };
    };
    const secrets = [
      `${rabbitmq.RABBITMQ_DEFAULT_USER}:${rabbitmq.RABBITMQ_DEFAULT_PASS}@`,
      ...[demo.callbacks.secret ?? demo.callbacks.secrets ?? []].flat(),
    ];
    expect(secrets).to.have.length.above(1);
    // Where a real installation takes its settings from: none holds a demo secret.
    const elsewhere = [
      join(ROOT, "Dockerfile"),
      ...walk(join(DEPLOY, "k8s")),
      ...walk(join(ROOT, "examples")),
      ...walk(join(ROOT, "config")).filter((f) => !/(demo|xroad-sim)\.yaml$/.test(f)),
    ];
    for (const file of elsewhere) {
      const text = readFileSync(file, "utf8");
      for (const secret of secrets) {
        expect(text.includes(secret), `${relative(ROOT, file)} holds a demo secret`).to.equal(
          false,
        );
      }
    }
    // In Compose, only containers running the demo configuration get the broker's password.
    for (const [name, spec] of Object.entries(compose.services)) {
      const env = JSON.stringify(spec.environment ?? {});
      if (!secrets.some((secret) => env.includes(secret))) continue;
      expect(spec.command?.slice(-2), name).to.deep.equal(["--config", "/etc/sluice/demo.yaml"]);
    }
  });

  it("every URL the Compose demo's configuration points at names a Compose service", () => {
    interface ComposeService {
      command?: string[];
      environment?: Record<string, string>;
      ports?: string[];
    }
    const compose = yamlDoc("docker-compose.yml") as { services: Record<string, ComposeService> };
    /** The configuration file a service runs with, as seen from the repository. */
    const configOf = (spec: ComposeService): string | undefined => {
      const file = spec.command?.[spec.command.indexOf("--config") + 1];
      return file?.startsWith("/etc/sluice/") ? join(ROOT, "config", file.slice(12)) : undefined;
    };
    const pointsAt: { where: string; url: string }[] = [];
    for (const [name, spec] of Object.entries(compose.services)) {
      const file = configOf(spec);
      // legacy-sim reads the demo's file for its own section only; it calls none of these URLs.
      if (!file || !spec.command || spec.command[0] === "legacy-sim") continue;
      // Only the service's own environment fills `${NAME}`: the host's must not make it pass.
      const env = { ...spec.environment };
      if (spec.command[0] === "xroad-sim") {
        for (const [id, service] of Object.entries(loadSimConfig(file, env).services ?? {})) {
          pointsAt.push({ where: `${name}: services.${id}.url`, url: service.url });
          if (service.descriptionUrl) {
            pointsAt.push({
              where: `${name}: services.${id}.descriptionUrl`,
              url: service.descriptionUrl,
            });
          }
        }
        continue;
      }
      const demo = parse(substituteEnv(readFileSync(file, "utf8"), env)) as {
        backends: Record<string, { url?: string }>;
        securityServer?: { url: string };
        callbacks?: { allow?: string[] };
      };
      // The simulator's callback receiver, which the demo calls back (README).
      for (const prefix of demo.callbacks?.allow ?? []) {
        if (new URL(prefix).pathname === "/hooks/") {
          pointsAt.push({ where: `${name}: callbacks.allow ${prefix}`, url: prefix });
        }
      }
      for (const [backend, spec] of Object.entries(demo.backends)) {
        if (spec.url) pointsAt.push({ where: `${name}: backends.${backend}.url`, url: spec.url });
      }
      if (demo.securityServer) {
        pointsAt.push({ where: `${name}: securityServer.url`, url: demo.securityServer.url });
      }
    }
    expect(pointsAt.map((p) => p.where)).to.include.members([
      "sluice-worker: securityServer.url",
      "sluice-response-worker: callbacks.allow http://legacy-sim:8090/hooks/",
      "xroad-sim: services.EE/GOV/70000002/sluice/personLookup.url",
    ]);
    for (const { where, url } of pointsAt) {
      const { hostname } = new URL(url);
      expect(compose.services, `${where} = ${url}`).to.have.property(hostname);
    }
  });

  it("promtool accepts the Prometheus configuration and rules, and the alert unit tests pass", function () {
    this.timeout(30_000);
    requireTool("promtool");
    for (const args of [
      ["check", "config", "deploy/prometheus/prometheus.yml"],
      ["check", "rules", "deploy/prometheus/alerts.yml"],
      ["test", "rules", "deploy/prometheus/alerts.test.yml"],
    ]) {
      const result = run("promtool", args);
      expect(result.status, `promtool ${args.join(" ")}\n${result.output}`).to.equal(0);
    }
  });

  it("Grafana's dashboard provider reads the folder Compose mounts", () => {
    const provider = yamlDoc("grafana/provisioning/dashboards/sluice.yml") as {
      providers: { options: { path: string } }[];
    };
    const compose = readFileSync(join(DEPLOY, "docker-compose.yml"), "utf8");
    expect(compose).to.include(`./grafana/dashboards:${provider.providers[0].options.path}:ro`);
  });

  describe("the Kubernetes manifests", () => {
    const dir = join(DEPLOY, "k8s");
    const kustomization = yamlDoc("k8s/kustomization.yaml") as { resources: string[] };
    const applied = kustomization.resources.flatMap((file) => {
      expect(existsSync(join(dir, file)), file).to.equal(true);
      return yamlDocs(join(dir, file));
    });
    const byKind = <T>(kind: string) => applied.filter((doc) => doc.kind === kind) as T[];
    const deployments = byKind<Deployment>("Deployment");
    const config = k8sConfig();
    const named = <T extends { metadata: { name: string } }>(list: T[], name: string) => {
      const found = list.find((item) => item.metadata.name === name);
      expect(found, name).to.not.equal(undefined);
      return found!;
    };

    it("are accepted by the Kubernetes and KEDA schemas, strictly (unknown fields refused)", () => {
      const files = readdirSync(dir).filter(
        (f) => /\.ya?ml$/.test(f) && f !== "kustomization.yaml",
      );
      // Every manifest file is applied, except the example of the Secrets created by hand.
      expect([...kustomization.resources, "secrets.example.yaml"].sort()).to.deep.equal(
        files.sort(),
      );
      const docs = files.flatMap((file) => yamlDocs(join(dir, file)));
      expect(docs.length).to.be.greaterThan(15);
      expect(docs.flatMap((doc) => manifestProblems(doc))).to.deep.equal([]);
    });

    it("hold a configuration whose only warning is the admin port it opens to Prometheus", () => {
      // The admin port listens beyond loopback on purpose here, with a NetworkPolicy admitting
      // only probes and Prometheus: the warning says so at every start. Nothing else is warned
      // of (sluice check's warnings, and every role's at start).
      const warnings = configWarnings(config);
      expect(warnings.filter((w) => !w.startsWith('config.admin.host: "0.0.0.0"'))).to.deep.equal(
        [],
      );
      expect(warnings).to.have.length(1);
    });

    it("name the admin port's host names, so it refuses a rebound name (kubectl port-forward uses localhost)", () => {
      // Probes and Prometheus address the pod IP, which is always served.
      expect(config.admin.hosts).to.deep.equal(["localhost"]);
      expect(configWarnings(config).join("\n")).not.to.include("admin.hosts");
    });

    it("give the workers a shutdown grace longer than every backend's timeout", () => {
      // A call still running when the grace ends is given up and made again by the next worker
      // (docs/operations.md, Graceful shutdown): every rolling restart during a slow registry
      // call sent it twice. The warning checks only the X-Road backends; these are local ones.
      for (const backend of Object.values(config.backends)) {
        expect(config.shutdownGraceMs, backend.name).to.be.greaterThan(backend.timeoutMs);
      }
    });

    it("apply no Secret: every password, token and key is the operator's own", () => {
      // A Secret in the resources would deploy a password anyone can read in this repository.
      expect(
        applied.filter((doc) => doc.kind === "Secret").map((doc) => doc.metadata),
      ).to.deep.equal([]);
      const examples = yamlDocs(join(dir, "secrets.example.yaml"));
      expect(examples.map((doc) => (doc.metadata as { name: string }).name).sort()).to.deep.equal([
        "sluice-admin",
        "sluice-connections",
        "sluice-tls",
      ]);
      // The example's connection URLs, applied as written, are refused at start.
      const connections = named(
        examples as unknown as { metadata: { name: string }; stringData: Record<string, string> }[],
        "sluice-connections",
      );
      restoringEnv(["AMQP_URL", "REDIS_URL"], () => {
        process.env.AMQP_URL = connections.stringData["amqp-url"];
        process.env.REDIS_URL = connections.stringData["redis-url"];
        let problems: string[] = [];
        try {
          k8sConfig();
        } catch (error) {
          problems = (error as ConfigError).problems;
        }
        expect(problems.filter((p) => p.startsWith("environment AMQP_URL"))).to.have.length(1);
        expect(problems.filter((p) => p.startsWith("environment REDIS_URL"))).to.have.length(1);
      });
    });

    it("the schema check refuses a wrong type, an unknown field and an unknown kind", () => {
      const adapter = structuredClone(named(deployments, "sluice-adapter")) as Deployment;
      const container = adapter.spec.template.spec.containers[0] as unknown as Doc;
      container.ports = [{ name: "https", containerPort: "8443" }];
      expect(manifestProblems(adapter as unknown as Doc).join()).to.include("must be integer");
      const typo = structuredClone(named(deployments, "sluice-adapter")) as unknown as Doc;
      const spec = (typo.spec as { template: { spec: Doc } }).template.spec;
      spec.securityContext = { seccompProfil: { type: "RuntimeDefault" } };
      expect(manifestProblems(typo)).to.deep.equal([
        "Deployment sluice-adapter: unknown field /spec/template/spec/securityContext/seccompProfil",
      ]);
      const scaled = structuredClone(byKind<Doc>("ScaledObject")[0]);
      (scaled.spec as Doc).maxReplicas = 3;
      expect(manifestProblems(scaled).join()).to.include("unknown field /spec/maxReplicas");
      expect(manifestProblems({ apiVersion: "policy/v1beta9", kind: "Nope" }).join()).to.include(
        "no schema",
      );
    });

    it("run each role as a non-root user under the runtime's seccomp profile, with startup probes", () => {
      expect(deployments.length).to.be.greaterThan(3);
      const namespace = byKind<{ metadata: { labels: Record<string, string> } }>("Namespace")[0];
      expect(namespace.metadata.labels["pod-security.kubernetes.io/enforce"]).to.equal(
        "restricted",
      );
      for (const deployment of deployments) {
        const { selector, template } = deployment.spec;
        const name = deployment.metadata.name;
        expect(template.metadata.labels, name).to.include(selector.matchLabels);
        const pod = template.spec;
        expect(pod.securityContext, name).to.include({ runAsNonRoot: true });
        expect(pod.securityContext.seccompProfile, name).to.deep.equal({ type: "RuntimeDefault" });
        // Service links would give a Service named admin (or adapter, …) in the namespace a say
        // in ADMIN_PORT and the other variables a role reads.
        expect(pod.enableServiceLinks, name).to.equal(false);
        const [container] = pod.containers;
        expect(container.securityContext, name).to.include({
          allowPrivilegeEscalation: false,
          readOnlyRootFilesystem: true,
        });
        expect(container.securityContext.capabilities.drop, name).to.deep.equal(["ALL"]);
        // The one writable place is bounded, as Compose's tmpfs is: a role taken over or running
        // away cannot fill the node's disk (the kubelet evicts the pod instead).
        for (const volume of pod.volumes.filter((one) => one.emptyDir !== undefined)) {
          expect(volume.emptyDir?.sizeLimit, `${name} ${volume.name}`).to.equal("16Mi");
        }
        expect(container.args.slice(1, 3), name).to.deep.equal([
          "--config",
          "/etc/sluice/sluice.yaml",
        ]);
        expect(`sluice-${container.args[0]}`, name).to.equal(
          name.replace(/^(sluice-worker)-.*/, "$1"),
        );
        const ports = container.ports.map((port) => port.name);
        for (const probe of ["startupProbe", "livenessProbe", "readinessProbe"] as const) {
          expect(container[probe], `${name} ${probe}`).to.not.equal(undefined);
          expect(ports, `${name} ${probe}`).to.include(container[probe].httpGet.port);
        }
        expect(container.startupProbe.httpGet.path).to.equal("/healthz");
        expect(container.livenessProbe.httpGet.path).to.equal("/healthz");
        // Kubernetes' default 1 s is shorter than a loop stall the adapter lives through (2 s).
        expect(container.livenessProbe.timeoutSeconds, name).to.be.greaterThan(
          config.adapter.maxLoopStallMs / 1000,
        );
        expect(container.readinessProbe.httpGet.path).to.equal("/readyz");
        const admin = container.ports.find((port) => port.name === "admin");
        expect(admin?.containerPort, name).to.equal(config.admin.port);
        expect(template.metadata.annotations["prometheus.io/port"]).to.equal(
          String(config.admin.port),
        );
        // The pod outlives the delay before the drain and the drain.
        expect(pod.terminationGracePeriodSeconds * 1000, name).to.be.greaterThan(
          config.shutdownDelayMs + config.shutdownGraceMs,
        );
      }
    });

    it("give each backend a worker pool of its own, scaled by KEDA on that backend's queue", () => {
      const names = topologyNames(config.prefix);
      const workers = deployments.filter((d) => d.metadata.name.startsWith("sluice-worker"));
      const consumed = workers.flatMap((worker) => {
        const args = worker.spec.template.spec.containers[0].args;
        const at = args.indexOf("--backends");
        expect(at, `${worker.metadata.name} names its backends`).to.be.greaterThan(0);
        return args[at + 1].split(",").map((backend) => ({ backend, worker }));
      });
      // Every backend has exactly one pool; none is named that the configuration lacks.
      expect(consumed.map((c) => c.backend).sort()).to.deep.equal(
        Object.keys(config.backends).sort(),
      );
      const scaledObjects = byKind<ScaledObject>("ScaledObject");
      expect(scaledObjects).to.have.length(workers.length);
      for (const { backend, worker } of consumed) {
        // KEDA owns the replica count; a Deployment naming one would fight it on each apply.
        expect(worker.spec.replicas, worker.metadata.name).to.equal(undefined);
        const scaled = scaledObjects.filter(
          (s) => s.spec.scaleTargetRef.name === worker.metadata.name,
        );
        expect(scaled, worker.metadata.name).to.have.length(1);
        const [trigger] = scaled[0].spec.triggers;
        expect(trigger.type).to.equal("rabbitmq");
        expect(trigger.metadata.queueName).to.equal(names.requestsQueue(backend));
        expect(scaled[0].spec.minReplicaCount).to.be.at.least(1);
        const auth = named(
          byKind<{
            metadata: { name: string };
            spec: { secretTargetRef: { name: string; key: string }[] };
          }>("TriggerAuthentication"),
          trigger.authenticationRef.name,
        );
        const ref = auth.spec.secretTargetRef[0];
        const secret = named(
          yamlDocs(join(dir, "secrets.example.yaml")) as unknown as {
            metadata: { name: string };
            stringData: Record<string, string>;
          }[],
          ref.name,
        );
        expect(secret.stringData).to.have.property(ref.key);
      }
    });

    it("scale the adapter on CPU with an HPA, and keep every role available through node drains", () => {
      const adapter = named(deployments, "sluice-adapter");
      expect(adapter.spec.replicas, "the HPA owns the adapter's replicas").to.equal(undefined);
      const hpa = named(byKind<Hpa>("HorizontalPodAutoscaler"), "sluice-adapter");
      expect(hpa.spec.scaleTargetRef).to.deep.equal({
        apiVersion: "apps/v1",
        kind: "Deployment",
        name: "sluice-adapter",
      });
      expect(hpa.spec.minReplicas).to.be.at.least(2);
      expect(hpa.spec.metrics[0].resource.name).to.equal("cpu");
      expect(adapter.spec.template.spec.containers[0].resources.requests.cpu).to.be.a("string");
      const budgets = byKind<Pdb>("PodDisruptionBudget");
      const scaled = byKind<ScaledObject>("ScaledObject");
      for (const deployment of deployments) {
        const labels = deployment.spec.template.metadata.labels;
        const matching = budgets.filter((b) =>
          Object.entries(b.spec.selector.matchLabels).every(([k, v]) => labels[k] === v),
        );
        expect(matching, deployment.metadata.name).to.have.length(1);
        const [budget] = matching;
        // The fewest replicas the deployment runs with: a budget must still let one pod go.
        const least =
          deployment.metadata.name === "sluice-adapter"
            ? hpa.spec.minReplicas
            : (scaled.find((s) => s.spec.scaleTargetRef.name === deployment.metadata.name)?.spec
                .minReplicaCount ?? deployment.spec.replicas!);
        if (budget.spec.minAvailable !== undefined) {
          expect(budget.spec.minAvailable, deployment.metadata.name).to.be.within(1, least - 1);
        } else {
          expect(budget.spec.maxUnavailable, deployment.metadata.name).to.equal(1);
        }
      }
    });

    it("spread each role's replicas over nodes and zones, counting that role's pods alone", () => {
      for (const deployment of deployments) {
        const name = deployment.metadata.name;
        const spread = deployment.spec.template.spec.topologySpreadConstraints ?? [];
        const keys = spread.map((constraint) => constraint.topologyKey);
        expect(keys, name).to.include.members([
          "kubernetes.io/hostname",
          "topology.kubernetes.io/zone",
        ]);
        for (const constraint of spread) {
          expect(constraint.maxSkew, name).to.equal(1);
          // Its own pods, not another role's or another backend's pool (whose count says
          // nothing of where this one's replicas are).
          expect(constraint.labelSelector.matchLabels, name).to.deep.equal(
            deployment.spec.selector.matchLabels,
          );
          // And of its current ReplicaSet only: in a rolling update the old pods, about to go,
          // would otherwise count, and the new ones be placed where the old ones leave room.
          expect(constraint.matchLabelKeys, name).to.deep.equal(["pod-template-hash"]);
        }
      }
    });

    it("the schema check refuses a misspelt matchLabelKeys", () => {
      const adapter = structuredClone(named(deployments, "sluice-adapter")) as unknown as Doc;
      const spec = (adapter.spec as { template: { spec: { topologySpreadConstraints: Doc[] } } })
        .template.spec;
      const [first] = spec.topologySpreadConstraints;
      first.matchLabelKey = first.matchLabelKeys;
      delete first.matchLabelKeys;
      expect(manifestProblems(adapter)).to.deep.equal([
        "Deployment sluice-adapter: unknown field /spec/template/spec/topologySpreadConstraints/0/matchLabelKey",
      ]);
    });

    it("request and bound every container's ephemeral storage, above what the pod's /tmp may hold", () => {
      // Without a limit a container is bounded by nothing but the node's disk, and the kubelet
      // evicts pods at random when the node runs short; without a request the scheduler counts
      // none. The pod's limit is the sum of its containers', and its emptyDir volumes count
      // against it (docs/kubernetes.md, resources).
      const bytes = (quantity: string | undefined, what: string): number => {
        const m = /^(\d+)(Ki|Mi|Gi|k|M|G)?$/.exec(quantity ?? "");
        expect(m, `${what}: ${quantity}`).to.not.equal(null);
        const unit = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, k: 1e3, M: 1e6, G: 1e9 };
        return Number(m![1]) * (m![2] ? unit[m![2] as keyof typeof unit] : 1);
      };
      for (const deployment of deployments) {
        const pod = deployment.spec.template.spec;
        const containers = [...pod.containers, ...(pod.initContainers ?? [])];
        let podLimit = 0;
        for (const container of containers) {
          const what = `${deployment.metadata.name}/${container.name}`;
          const request = bytes(container.resources.requests["ephemeral-storage"], what);
          const limit = bytes(container.resources.limits?.["ephemeral-storage"], what);
          expect(request, what).to.be.greaterThan(0);
          expect(limit, what).to.be.at.least(request);
          podLimit += limit;
        }
        const emptyDirs = pod.volumes
          .filter((volume) => volume.emptyDir && volume.emptyDir.medium !== "Memory")
          .map((volume) =>
            bytes(volume.emptyDir!.sizeLimit, `${deployment.metadata.name} ${volume.name}`),
          );
        // Room for the kubelet's rotated logs (50 MiB by default) besides a full /tmp.
        const logs = 50 * 2 ** 20;
        expect(podLimit, deployment.metadata.name).to.be.greaterThan(
          emptyDirs.reduce((a, b) => a + b, 0) + logs,
        );
      }
    });

    it("admit the service port only from the security server and the admin port only from Prometheus", () => {
      const policies = byKind<NetworkPolicy>("NetworkPolicy");
      const securityServer = {
        namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "xroad" } },
        podSelector: { matchLabels: { "app.kubernetes.io/name": "xroad-security-server" } },
      };
      const prometheus = {
        namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "monitoring" } },
        podSelector: { matchLabels: { "app.kubernetes.io/name": "prometheus" } },
      };
      for (const deployment of deployments) {
        const labels = deployment.spec.template.metadata.labels;
        const mine = policies.filter((p) => selects(p.spec.podSelector, labels));
        // Selected by an Ingress policy, so whatever no rule admits is refused.
        expect(
          mine.some((p) => p.spec.policyTypes.includes("Ingress")),
          deployment.metadata.name,
        ).to.equal(true);
        const rules = mine.flatMap((p) => p.spec.ingress ?? []);
        for (const rule of rules) {
          // No rule open to every peer or every port.
          expect(rule.from, deployment.metadata.name).to.have.length.above(0);
          expect(rule.ports, deployment.metadata.name).to.have.length.above(0);
        }
        const admitted = (port: string) =>
          rules.filter((r) => r.ports!.some((p) => p.port === port)).flatMap((r) => r.from!);
        const container = deployment.spec.template.spec.containers[0];
        for (const port of container.ports) {
          const expected = port.name === "admin" ? [prometheus] : [securityServer];
          expect(admitted(port.name), `${deployment.metadata.name} ${port.name}`).to.deep.equal(
            expected,
          );
        }
        // Every admitted port is one the container has.
        for (const rule of rules) {
          for (const p of rule.ports!)
            expect(container.ports.map((c) => c.name)).to.include(p.port);
        }
      }
      const service = named(byKind<Service>("Service"), "sluice-adapter");
      expect(service.spec.ports.map((p) => p.targetPort)).to.deep.equal(["https"]);
      const adapter = named(deployments, "sluice-adapter");
      const https = adapter.spec.template.spec.containers[0].ports.find((p) => p.name === "https");
      expect(https?.containerPort).to.equal(config.adapter.port);
      expect(adapter.spec.template.metadata.labels).to.include(service.spec.selector);
      // Probes and Prometheus reach the admin port on the pod's address.
      expect(config.admin.host).to.equal("0.0.0.0");
    });

    describe("egress", () => {
      const policies = byKind<NetworkPolicy>("NetworkPolicy");
      const labelsOf = (name: string) => named(deployments, name).spec.template.metadata.labels;
      /** Host (its Service's name) and port of a connection URL in the Secrets' example. */
      const connection = (key: string) => {
        const examples = yamlDocs(join(dir, "secrets.example.yaml")) as unknown as {
          metadata: { name: string };
          stringData: Record<string, string>;
        }[];
        const url = new URL(named(examples, "sluice-connections").stringData[key]);
        return { service: url.hostname.split(".")[0], port: Number(url.port) };
      };
      const portOf = (url: string) => {
        const parsed = new URL(url);
        return Number(parsed.port || (parsed.protocol === "https:" ? 443 : 80));
      };
      const podsNamed = (name: string) => (peer: Peer) =>
        !peer.ipBlock && peer.podSelector?.matchLabels?.["app.kubernetes.io/name"] === name;
      const kubeDns = (peer: Peer) => peer.podSelector?.matchLabels?.["k8s-app"] === "kube-dns";
      const securityServer = (peer: Peer) =>
        peer.namespaceSelector?.matchLabels?.["kubernetes.io/metadata.name"] === "xroad" &&
        peer.podSelector?.matchLabels?.["app.kubernetes.io/name"] === "xroad-security-server";
      const address = (ip: string) => (peer: Peer) =>
        peer.ipBlock !== undefined && admitsAddress(peer.ipBlock, ip);
      // Public addresses (a callback receiver's), and the cluster's and the cloud's own.
      const PUBLIC = ["1.1.1.1", "2606:4700:4700::1111"];
      const INTERNAL = ["10.0.0.1", "172.20.0.1", "192.168.1.1", "169.254.169.254", "fd00::1"];
      /** Callback receivers are arbitrary HTTPS hosts: only the response worker goes there. */
      const internetFor = (labels: Record<string, string>) =>
        labels["app.kubernetes.io/component"] === "response-worker"
          ? [{ port: 443, protocol: "TCP" }]
          : [];

      it("let each role out only to DNS, RabbitMQ, Redis and what the role itself calls", () => {
        const amqp = connection("amqp-url");
        const redis = connection("redis-url");
        for (const deployment of deployments) {
          const name = deployment.metadata.name;
          const labels = deployment.spec.template.metadata.labels;
          const rules = egressRules(policies, labels);
          expect(egressProblems(name, rules, internetFor(labels)), name).to.deep.equal([]);
          expect(reaches(rules, kubeDns, 53, "UDP"), `${name} DNS`).to.equal(true);
          expect(reaches(rules, kubeDns, 53, "TCP"), `${name} DNS`).to.equal(true);
          expect(reaches(rules, podsNamed(amqp.service), amqp.port), `${name} AMQP`).to.equal(true);
          expect(reaches(rules, podsNamed(redis.service), redis.port), `${name} Redis`).to.equal(
            true,
          );
          for (const ip of INTERNAL) {
            for (const port of [80, 443, 8080, 8443]) {
              expect(reaches(rules, address(ip), port), `${name} to ${ip}:${port}`).to.equal(false);
            }
          }
          const role = labels["app.kubernetes.io/component"];
          for (const ip of PUBLIC) {
            expect(reaches(rules, address(ip), 443), `${name} to ${ip}:443`).to.equal(
              role === "response-worker",
            );
          }
          // The consumer direction and xroad: callbacks go through the security server.
          const ssPort = config.securityServer ? portOf(config.securityServer.url) : 8443;
          expect(reaches(rules, securityServer, ssPort), `${name} to the security server`).to.equal(
            role !== "adapter",
          );
        }
      });

      it("let each worker pool out to its own backends and no other", () => {
        const pools = deployments.filter((d) => d.metadata.name.startsWith("sluice-worker-"));
        expect(pools.length).to.be.greaterThan(1);
        for (const pool of pools) {
          const args = pool.spec.template.spec.containers[0].args;
          const mine = args[args.indexOf("--backends") + 1].split(",");
          const rules = egressRules(policies, pool.spec.template.metadata.labels)!;
          const toBackends = rules.filter((r) => r.to?.some((peer) => peer.ipBlock));
          const ports = toBackends.flatMap((r) => (r.ports ?? []).map((p) => p.port));
          expect(ports.sort(), pool.metadata.name).to.deep.equal(
            mine.map((backend) => portOf(config.backends[backend].url)).sort(),
          );
          // The other pools' backends are not among its peers.
          const others = pools.filter((p) => p !== pool);
          for (const other of others) {
            const theirs = egressRules(policies, other.spec.template.metadata.labels)!;
            const theirBlocks = theirs.flatMap((r) => (r.to ?? []).flatMap((p) => p.ipBlock ?? []));
            for (const block of theirBlocks) {
              const ip = block.cidr.split("/")[0];
              expect(
                reaches(rules, address(ip), portOf(config.backends[mine[0]].url)),
                `${pool.metadata.name} to ${other.metadata.name}'s backend`,
              ).to.equal(false);
            }
          }
        }
      });

      it("the egress check refuses a role let out to everything", () => {
        const worker = labelsOf("sluice-worker-legacy");
        const responder = labelsOf("sluice-response-worker");
        const adding = (
          egress: NonNullable<NetworkPolicy["spec"]["egress"]>,
          component: string,
        ) => [
          ...policies,
          {
            metadata: { name: "widening" },
            spec: {
              podSelector: {
                matchLabels: {
                  "app.kubernetes.io/name": "sluice",
                  "app.kubernetes.io/component": component,
                },
              },
              policyTypes: ["Egress"],
              egress,
            },
          },
        ];
        const problems = (list: NetworkPolicy[], labels: Record<string, string>) =>
          egressProblems("pod", egressRules(list, labels), internetFor(labels));
        const everywhere = { ipBlock: { cidr: "0.0.0.0/0" } };
        const https = [{ port: 443, protocol: "TCP" }];
        const wrong: [string, NetworkPolicy[], Record<string, string>][] = [
          [
            "no Egress policy",
            policies.filter((p) => !p.spec.policyTypes.includes("Egress")),
            worker,
          ],
          ["a rule without peers or ports", adding([{}], "worker"), worker],
          [
            "every port of a backend",
            adding([{ to: [{ ipBlock: { cidr: "192.0.2.10/32" } }] }], "worker"),
            worker,
          ],
          [
            "a worker to the internet",
            adding([{ to: [everywhere], ports: https }], "worker"),
            worker,
          ],
          [
            "callbacks into the cluster",
            adding([{ to: [everywhere], ports: https }], "response-worker"),
            responder,
          ],
          [
            "callbacks on every port",
            adding(
              [
                {
                  to: [
                    {
                      ipBlock: {
                        cidr: "0.0.0.0/0",
                        except: [
                          "10.0.0.0/8",
                          "172.16.0.0/12",
                          "192.168.0.0/16",
                          "169.254.0.0/16",
                          "100.64.0.0/10",
                          "127.0.0.0/8",
                          "0.0.0.0/8",
                        ],
                      },
                    },
                  ],
                },
              ],
              "response-worker",
            ),
            responder,
          ],
          [
            "IPv6 into the cluster",
            adding([{ to: [{ ipBlock: { cidr: "::/0" } }], ports: https }], "response-worker"),
            responder,
          ],
          [
            "every pod of every namespace",
            adding([{ to: [{ namespaceSelector: {} }], ports: https }], "worker"),
            worker,
          ],
          [
            "every pod of the namespace",
            adding([{ to: [{ podSelector: {} }], ports: https }], "worker"),
            worker,
          ],
        ];
        for (const [what, list, labels] of wrong) {
          expect(problems(list, labels), what).to.have.length.above(0);
        }
        // The manifests as they are pass, so each problem above is the change's.
        expect(problems(policies, worker)).to.deep.equal([]);
        expect(problems(policies, responder)).to.deep.equal([]);
      });
    });

    it("take the admin token and the adapter's certificate from Secrets, where the configuration reads them", () => {
      const examples = yamlDocs(join(dir, "secrets.example.yaml")) as unknown as {
        metadata: { name: string };
        type: string;
        stringData: Record<string, string>;
      }[];
      const admin = named(examples, "sluice-admin");
      expect(admin.stringData.token.length).to.be.at.least(16);
      const tls = named(examples, "sluice-tls");
      expect(tls.type).to.equal("kubernetes.io/tls");
      const connections = named(examples, "sluice-connections");
      for (const deployment of deployments) {
        const pod = deployment.spec.template.spec;
        const env = pod.containers[0].env;
        // The secrets come as files of a Secret volume, none as a value in the environment.
        for (const name of ["AMQP_URL", "REDIS_URL", "SLUICE_ADMIN_TOKEN"]) {
          expect(env.find((e) => e.name === name)).to.equal(undefined);
        }
        const fileOf = (name: string) => {
          const file = env.find((e) => e.name === `${name}_FILE`)?.value;
          expect(file, `${deployment.metadata.name} ${name}_FILE`).to.be.a("string");
          const mount = pod.containers[0].volumeMounts.find((m) =>
            file!.startsWith(`${m.mountPath}/`),
          )!;
          const volume = pod.volumes.find((v) => v.name === mount.name)!;
          // Read by Sluice's user through the fsGroup, by no one else.
          expect(volume.projected?.defaultMode).to.equal(0o440);
          for (const source of volume.projected!.sources) {
            for (const item of source.secret?.items ?? []) {
              if (`${mount.mountPath}/${item.path}` === file)
                return [source.secret!.name, item.key];
            }
          }
          return null;
        };
        expect(fileOf("SLUICE_ADMIN_TOKEN")).to.deep.equal(["sluice-admin", "token"]);
        expect(fileOf("AMQP_URL")).to.deep.equal(["sluice-connections", "amqp-url"]);
        expect(fileOf("REDIS_URL")).to.deep.equal(["sluice-connections", "redis-url"]);
        expect(connections.stringData).to.include.keys("amqp-url", "redis-url");
        expect(
          env.find((e) => e.name === "SLUICE_INSTANCE")?.valueFrom?.fieldRef?.fieldPath,
        ).to.equal("metadata.name");
      }
      // The adapter's tls files are where the projected Secret puts them.
      const adapter = named(deployments, "sluice-adapter");
      const pod = adapter.spec.template.spec;
      const mount = pod.containers[0].volumeMounts.find((m) => m.mountPath === "/etc/sluice")!;
      const volume = pod.volumes.find((v) => v.name === mount.name)!;
      const sources = volume.projected!.sources;
      const files = new Map<string, string>();
      for (const source of sources) {
        if (source.configMap) files.set("/etc/sluice/sluice.yaml", "config");
        for (const item of source.secret?.items ?? []) {
          expect(source.secret!.name).to.equal("sluice-tls");
          expect(Object.keys(tls.stringData)).to.include(item.key);
          files.set(`/etc/sluice/${item.path}`, item.key);
        }
      }
      const wanted = [
        config.adapter.tls!.cert!,
        config.adapter.tls!.key!,
        ...(config.adapter.tls!.clientCa ?? []),
        ...(config.adapter.tls!.clientCerts ?? []),
      ];
      for (const file of wanted) expect([...files.keys()], file).to.include(file);
      // Only the adapter serves TLS: the other roles do not get its key.
      for (const deployment of deployments.filter((d) => d !== adapter)) {
        const volumes = JSON.stringify(deployment.spec.template.spec.volumes);
        expect(volumes, deployment.metadata.name).to.not.include("sluice-tls");
      }
    });
  });

  it("the Dockerfile builds in two stages on Node 22 LTS and runs a role on a mounted configuration as a non-root user", () => {
    const dockerfile = readFileSync(join(ROOT, "Dockerfile"), "utf8");
    const froms = dockerfile.match(/^FROM .*$/gm) ?? [];
    expect(froms).to.have.length(2);
    for (const from of froms) expect(from).to.match(/^FROM node:22-slim\b/);
    expect(dockerfile).to.match(/RUN npm ci\b/);
    expect(dockerfile).to.match(/npm prune --omit=dev/);
    const user = /^USER (\S+)$/m.exec(dockerfile);
    expect(user?.[1]).to.not.match(/^(root|0)(:|$)/);
    expect(dockerfile).to.include('ENTRYPOINT ["node", "bin/sluice.js"]');
    expect(existsSync(join(ROOT, "bin/sluice.js"))).to.equal(true);
    // The default command is a role with a configuration path, never the demo.
    const cmd = /^CMD (.*)$/m.exec(dockerfile);
    const args = JSON.parse(cmd?.[1] ?? "null") as string[];
    expect(["adapter", "worker", "response-worker", "all"]).to.include(args[0]);
    expect(args.slice(1)).to.deep.equal(["--config", "/etc/sluice/sluice.yaml"]);
    expect(dockerfile).to.not.match(/^CMD .*demo/m);
    // The engines range admits the image's Node and this machine's.
    const engines = (
      JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as {
        engines: { node: string };
      }
    ).engines.node;
    expect(engines).to.match(/^>=20\.\d+$/);
    // The runtime stage keeps node and drops the base image's package managers.
    const runtime = dockerfile.slice(dockerfile.lastIndexOf("\nFROM ")).replace(/\\\n/g, " ");
    const removed = /\brm -rf ([^&\n]*)/.exec(runtime)?.[1].trim().split(/\s+/) ?? [];
    expect(removed).to.include.members([
      "/usr/local/lib/node_modules",
      ...["npm", "npx", "corepack", "yarn", "yarnpkg"].map((tool) => `/usr/local/bin/${tool}`),
    ]);
    // Nor does it run one (the build stage does all the installing).
    const commands = runtime.split("\n").filter((line) => line.startsWith("RUN "));
    for (const command of commands) {
      expect(command).to.not.match(/(^RUN|&&|;)\s*(npm|npx|corepack|yarn)\s/);
    }
    const ignored = readFileSync(join(ROOT, ".dockerignore"), "utf8").split("\n");
    expect(ignored).to.include.members(["node_modules", "dist", ".git"]);
  });

  it(".dockerignore keeps credentials, tests and local configurations out of the image, and what the build needs in", () => {
    const excluded = dockerIgnored(readFileSync(join(ROOT, ".dockerignore"), "utf8"));
    // What the build stage compiles and the runtime stage runs, the demo's configuration included.
    const tracked = run("git", ["ls-files"]).output.split("\n").filter(Boolean);
    const needed = tracked.filter((file) =>
      /^(adapter|worker|response-worker|shared|cli|legacy-sim|xroad-sim|bin|config)\//.test(file),
    );
    expect(needed).to.include.members(["bin/sluice.js", "config/demo.yaml"]);
    for (const file of [...needed, "package.json", "package-lock.json", "tsconfig.json"]) {
      expect(excluded(file), file).to.equal(false);
    }
    // Whatever a working copy may hold beside them, the build copies into /app, then into the image.
    for (const file of [
      ".git/config",
      ".npmrc",
      "shared/.npmrc",
      ".env",
      ".env.production",
      "config/.env",
      "sluice.key",
      "config/tls/sluice.key",
      "config/tls/sluice.crt",
      "config/ss-internal.pem",
      "config/keystore.p12",
      "config/my-sluice.yaml",
      "config/production.yaml",
      "test/fixtures/protocol/README.md",
      "test/tls/client.key",
      "bench/results/run.json",
      "node_modules/x/index.js",
    ]) {
      expect(excluded(file), file).to.equal(true);
    }
  });
});

/**
 * Whether the build context leaves a path out, read as Docker reads .dockerignore: each line a
 * pattern (`*` within a name, `**` any number of directories) matching the path or one of its
 * parent directories, `!` taking a match back, the last matching line deciding.
 */
function dockerIgnored(text: string): (path: string) => boolean {
  const rules = text
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith("#"))
    .map((line) => {
      const keep = line.startsWith("!");
      const pattern = (keep ? line.slice(1) : line).replace(/^\/+/, "");
      const source = pattern
        .split(/(\*\*\/|\*|\?)/)
        .map((part) =>
          part === "**/"
            ? "(?:.*/)?"
            : part === "*"
              ? "[^/]*"
              : part === "?"
                ? "[^/]"
                : part.replace(/[.+^${}()|[\]\\]/g, "\\$&"),
        )
        .join("");
      return { keep, regex: new RegExp(`^${source}$`) };
    });
  return (path) => {
    const parts = path.split("/");
    const prefixes = parts.map((_, i) => parts.slice(0, i + 1).join("/"));
    let excluded = false;
    for (const rule of rules) {
      if (prefixes.some((prefix) => rule.regex.test(prefix))) excluded = !rule.keep;
    }
    return excluded;
  };
}
