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
import { topologyNames } from "../../shared/broker/topology";
import { compileConfig, loadConfig, type SluiceConfig } from "../../shared/config/config";
import { parseDuration } from "../../shared/config/durations";
import { registry } from "../../shared/observability/metrics";

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
  // A matcher's value may hold `${backend:regex}`, whose braces are not the selector's.
  const selectors = expr.matchAll(
    /\b((?:sluice|process|nodejs)_[a-z0-9_]+)(?:\{((?:[^{}]|\$\{[^}]*\})*)\})?/g,
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
              (m) => m === 'backend="$backend"' || /^queue=~".*\$\{backend:regex\}"$/.test(m),
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
      ]) {
        expect(
          queries.some((q) => q.includes(needed)),
          needed,
        ).to.equal(true);
      }
      // The backend-queue matcher picks exactly that backend's request queue.
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

  it("the Kubernetes manifests are complete and consistent", () => {
    const dir = join(DEPLOY, "k8s");
    const kustomization = yamlDoc("k8s/kustomization.yaml") as { resources: string[] };
    const docs = kustomization.resources.flatMap((file) => {
      expect(existsSync(join(dir, file)), file).to.equal(true);
      return yamlDocs(join(dir, file));
    });
    const byKind = (kind: string) => docs.filter((doc) => doc.kind === kind) as Doc[];
    for (const doc of docs) {
      expect(doc.apiVersion, JSON.stringify(doc).slice(0, 80)).to.be.a("string");
      expect((doc.metadata as { name?: string }).name).to.be.a("string");
    }
    type Deployment = {
      metadata: { name: string };
      spec: {
        selector: { matchLabels: Record<string, string> };
        template: {
          metadata: { labels: Record<string, string> };
          spec: {
            terminationGracePeriodSeconds: number;
            containers: {
              args: string[];
              ports: { name: string }[];
              readinessProbe: { httpGet: { path: string; port: string } };
              livenessProbe: { httpGet: { path: string; port: string } };
            }[];
          };
        };
      };
    };
    const deployments = byKind("Deployment") as unknown as Deployment[];
    expect(deployments.map((d) => d.metadata.name).sort()).to.deep.equal([
      "sluice-adapter",
      "sluice-response-worker",
      "sluice-worker",
    ]);
    for (const deployment of deployments) {
      const { selector, template } = deployment.spec;
      expect(template.metadata.labels).to.include(selector.matchLabels);
      const [container] = template.spec.containers;
      expect(`sluice-${container.args[0]}`).to.equal(deployment.metadata.name);
      const ports = container.ports.map((port) => port.name);
      expect(ports).to.include(container.readinessProbe.httpGet.port);
      expect(container.readinessProbe.httpGet.path).to.equal("/readyz");
      expect(container.livenessProbe.httpGet.path).to.equal("/healthz");
    }
    const [service] = byKind("Service") as unknown as {
      spec: { selector: Record<string, string> };
    }[];
    const adapter = deployments.find((d) => d.metadata.name === "sluice-adapter")!;
    expect(adapter.spec.template.metadata.labels).to.include(service.spec.selector);
    const [scaled] = byKind("ScaledObject") as unknown as {
      spec: {
        scaleTargetRef: { name: string };
        triggers: { type: string; metadata: { queueName: string } }[];
      };
    }[];
    expect(deployments.map((d) => d.metadata.name)).to.include(scaled.spec.scaleTargetRef.name);
    expect(scaled.spec.triggers[0].type).to.equal("rabbitmq");
    expect(scaled.spec.triggers[0].metadata.queueName).to.match(/^requests\./);
    const [configMap] = byKind("ConfigMap") as unknown as { data: Record<string, string> }[];
    const config = compileConfig(parse(configMap.data["sluice.yaml"]), "/etc/sluice", "ConfigMap");
    for (const deployment of deployments) {
      const graceSeconds = deployment.spec.template.spec.terminationGracePeriodSeconds;
      expect(graceSeconds * 1000, "the pod outlives the drain").to.be.greaterThan(
        config.shutdownGraceMs,
      );
    }
    const queues = Object.keys(config.backends).map((name) => `requests.${name}`);
    expect(queues).to.include(scaled.spec.triggers[0].metadata.queueName);
  });

  it("the Dockerfile builds in two stages on node:20-slim and runs as a non-root user", () => {
    const dockerfile = readFileSync(join(ROOT, "Dockerfile"), "utf8");
    const froms = dockerfile.match(/^FROM .*$/gm) ?? [];
    expect(froms).to.have.length(2);
    for (const from of froms) expect(from).to.match(/^FROM node:20-slim\b/);
    expect(dockerfile).to.match(/RUN npm ci\b/);
    expect(dockerfile).to.match(/npm prune --omit=dev/);
    const user = /^USER (\S+)$/m.exec(dockerfile);
    expect(user?.[1]).to.not.match(/^(root|0)(:|$)/);
    expect(dockerfile).to.include('ENTRYPOINT ["node", "bin/sluice.js"]');
    expect(existsSync(join(ROOT, "bin/sluice.js"))).to.equal(true);
    const ignored = readFileSync(join(ROOT, ".dockerignore"), "utf8").split("\n");
    expect(ignored).to.include.members(["node_modules", "dist", ".git"]);
  });
});
