// The metrics the docs name against what /metrics exposes: docs/operations.md's table lists
// every registered metric with its type, labels and label values, and no page names a metric
// that does not exist.

import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { expect } from "chai";
import { registry } from "../../shared/observability/metrics";

const ROOT = path.resolve(__dirname, "..", "..", "..");

interface Row {
  name: string;
  labels: string[];
  type: string;
  meaning: string;
}

/** The rows of docs/operations.md's metric table: `` | `name{a,b}` | type | meaning | ``. */
function metricRows(markdown: string): Row[] {
  const rows: Row[] = [];
  for (const line of markdown.split("\n")) {
    const m = /^\| `(sluice_[a-z_]+)(?:\{([a-z_,]*)\})?` +\| (\w+) +\| (.*)\|$/.exec(line);
    if (m) {
      const labels = m[2] ? m[2].split(",") : [];
      rows.push({ name: m[1], labels, type: m[3], meaning: m[4] });
    }
  }
  return rows;
}

/** The values a metric's help lists at its end: `... by outcome (a, b, c).` */
function helpValues(help: string): string[] {
  const list = /\(([a-z_]+(?:, [a-z_]+)+)\)\.?$/.exec(help);
  return list ? list[1].split(", ") : [];
}

async function registered() {
  const names = registry
    .getMetricsAsArray()
    .map((metric) => metric.name)
    .filter((name) => name.startsWith("sluice_"));
  return Promise.all(
    names.map(async (name) => {
      const metric = registry.getSingleMetric(name)!;
      const { help, type } = await metric.get();
      const labels = [...(metric as unknown as { labelNames: string[] }).labelNames];
      return { name, help, labels, type: String(type) };
    }),
  );
}

describe("metrics in the docs", () => {
  const operations = readFileSync(path.join(ROOT, "docs", "operations.md"), "utf8");

  it("docs/operations.md lists every registered metric with its type and labels", async () => {
    const rows = metricRows(operations);
    const documented = rows.map((row) => ({ name: row.name, labels: row.labels, type: row.type }));
    const actual = (await registered()).map(({ name, labels, type }) => ({ name, labels, type }));
    expect(documented).to.have.deep.members(actual);
  });

  it("and every value of a label that the metric's help lists", async () => {
    const rows = new Map(metricRows(operations).map((row) => [row.name, row]));
    const missing: string[] = [];
    let lists = 0;
    for (const metric of await registered()) {
      const values = helpValues(metric.help);
      if (values.length > 0) lists++;
      const meaning = rows.get(metric.name)?.meaning ?? "";
      for (const value of values) {
        if (!meaning.includes(`\`${value}\``)) missing.push(`${metric.name}: ${value}`);
      }
    }
    expect(lists).to.be.greaterThan(3);
    expect(missing).to.deep.equal([]);
  });

  it("no page names a metric that is not registered", async () => {
    const names = new Set((await registered()).map((metric) => metric.name));
    const pages = [
      "README.md",
      ...readdirSync(path.join(ROOT, "docs"))
        .filter((file) => file.endsWith(".md"))
        .map((file) => `docs/${file}`),
    ];
    const unknown: string[] = [];
    for (const page of pages) {
      const text = readFileSync(path.join(ROOT, page), "utf8");
      for (const m of text.matchAll(/\bsluice_[a-z_]+\b/g)) {
        const name = m[0].replace(/_(bucket|sum|count)$/, "");
        if (!names.has(name)) unknown.push(`${page}: ${m[0]}`);
      }
    }
    expect(unknown).to.deep.equal([]);
  });

  it("reads a table row and a help's list of values", () => {
    expect(metricRows("| `sluice_x_total{backend,reason}` | counter | by `a` |")).to.deep.equal([
      {
        name: "sluice_x_total",
        labels: ["backend", "reason"],
        type: "counter",
        meaning: "by `a` ",
      },
    ]);
    expect(helpValues("Calls by outcome (completed, rejected, timeout).")).to.deep.equal([
      "completed",
      "rejected",
      "timeout",
    ]);
    expect(helpValues("Time spent (in seconds).")).to.deep.equal([]);
  });
});
