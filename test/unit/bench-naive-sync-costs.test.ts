// The cost-per-message table sets the naive durable sync round trip beside Sluice's: its CPU per
// round trip counts the same kind of processes (the two halves of the design, RabbitMQ and Redis;
// never the backend or the load generator), and its p50 overhead is over the same direct call.

import { expect } from "chai";
import { comparisonsFor, costsFor } from "../../bench/report-writer";
import type { RunResult } from "../../bench/bench-result";

function run(
  name: string,
  connections: number,
  p50: number,
  cpu: Record<string, number>,
  role: RunResult["role"] = "baseline",
): RunResult {
  return {
    name,
    title: name,
    group: "sync",
    role,
    stats: {
      rps: 100,
      okRps: 100,
      requests: 1000,
      ok: 1000,
      durationS: 10,
      connections,
      latencyMs: { p50, p90: p50, p99: p50, max: p50, mean: p50 },
      statusCodes: { 200: 1000 },
      errors: 0,
      timeouts: 0,
      cpu: Object.entries(cpu).map(([n, msPerRequest]) => ({ name: n, cores: 0.5, msPerRequest })),
    },
  };
}

const RUNS: RunResult[] = [
  run("baseline.direct.latency", 1, 0.1, { "legacy-sim": 0.05, machine: 0.1 }),
  run("baseline.direct.throughput", 50, 1.5, { "legacy-sim": 0.04, machine: 0.08 }),
  run("baseline.naive-sync.latency", 1, 1.6, { "naive server": 0.5, machine: 2 }),
  run("baseline.naive-sync.throughput", 50, 20, {
    "naive server": 0.1,
    "naive worker": 0.15,
    rabbitmq: 0.2,
    redis: 0.05,
    "legacy-sim": 0.07,
    "load generator": 0.06,
    machine: 0.7,
  }),
  run("sync.sluice.latency", 1, 3.6, { adapter: 1, machine: 5 }, "sluice"),
  run(
    "sync.sluice.throughput",
    50,
    28,
    {
      adapter: 0.25,
      worker: 0.3,
      "response-worker": 0.01,
      rabbitmq: 0.2,
      redis: 0.14,
      "legacy-sim": 0.07,
      machine: 1.0,
    },
    "sluice",
  ),
];

const rowStartingWith = (prefix: string) => {
  const rows = costsFor(RUNS, comparisonsFor(RUNS)).filter((r) => r.figure.startsWith(prefix));
  expect(rows, prefix).to.have.length(1);
  return rows[0];
};

describe("bench report: the naive durable sync round trip", () => {
  it("its CPU per round trip sums its two halves, RabbitMQ and Redis, and sets Sluice's beside it", () => {
    const row = rowStartingWith("naive durable sync round trip (reference, not a target): CPU");
    // 0.1 + 0.15 + 0.2 + 0.05: neither the backend nor the load generator counts.
    expect(row.measured).to.match(/^0\.500 ms \(/);
    expect(row.figure).to.include("50 connections");
    // Sluice's 0.25 + 0.3 + 0.01 + 0.2 + 0.14 = 0.9 against the naive 0.5.
    expect(row.measured).to.include("Sluice ÷ naive 1.80 ×");
    expect(row.met).to.equal(null);
  });

  it("its p50 overhead is over the same direct call as Sluice's, with the difference", () => {
    const row = rowStartingWith("naive durable sync round trip (reference, not a target): p50");
    expect(row.measured).to.equal("+1.50 ms; Sluice − naive +2.00 ms");
    expect(row.baseline).to.equal("direct call p50 0.10 ms");
    expect(row.met).to.equal(null);
  });

  it("says not measured when the naive runs are missing, and Sluice's rows stay as they were", () => {
    const withoutNaive = RUNS.filter((r) => !r.name.startsWith("baseline.naive-sync"));
    const rows = costsFor(withoutNaive, comparisonsFor(withoutNaive));
    const naive = rows.filter((r) => r.figure.startsWith("naive durable sync round trip"));
    expect(naive.map((r) => r.measured)).to.deep.equal(["not measured", "not measured"]);
    const sluice = rows.find((r) => r.figure.startsWith("CPU per sync round trip"));
    expect(sluice?.measured).to.match(/^0\.900 ms \(adapter 0\.250/);
  });

  it("compares Sluice's sync runs with the naive ones of the same shape", () => {
    const found = comparisonsFor(RUNS).find(
      (c) =>
        c.subject === "sync.sluice.latency" &&
        c.baseline === "baseline.naive-sync.latency" &&
        c.metric === "p50",
    );
    expect(found?.value).to.equal(2);
  });
});
