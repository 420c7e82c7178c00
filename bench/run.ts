// `npm run bench`: runs the selected benchmark groups, each next to its baselines, then writes
// the results as JSON to bench/results/ and, for a full run, docs/benchmarks.md and its plots.

import { join, relative } from "node:path";
import { parseBenchOptions, selected, UsageError, USAGE, type BenchOptions } from "./bench-options";
import type { BenchReport } from "./bench-result";
import { LoadGenerator } from "./load-generator";
import { backgroundLoad } from "./cpu-usage";
import { machineInfo, sluiceRevision } from "./machine-info";
import {
  comparisonsFor,
  costsFor,
  costTable,
  targetsFor,
  writeDocs,
  writeResults,
} from "./report-writer";
import { GROUPS, type BenchContext } from "./scenarios";

const REPO_ROOT = join(__dirname, "..", "..");

function log(line: string): void {
  process.stdout.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`);
}

function commandsOf(options: BenchOptions, argv: string[]): string[] {
  return [
    `npm run bench${argv.length > 0 ? ` -- ${argv.join(" ")}` : ""}`,
    "# started by the harness, one process each:",
    "node bin/sluice.js adapter --config <tmp>/adapter.yaml          # + worker, response-worker for sync",
    "node dist/bench/legacy-backend.js --child 0                     # legacy-sim, 0 ms latency",
    "node dist/bench/bare-koa-server.js                              # bare Koa baseline",
    "node dist/bench/naive-sync-server.js                            # + naive-sync-worker.js: naive sync baseline",
    `node dist/bench/load-generator.js --child                       # autocannon, ${options.connections} connections`,
  ];
}

export async function main(argv: string[]): Promise<number> {
  let options: BenchOptions | "help";
  try {
    options = parseBenchOptions(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`bench: ${error.message}\n\n${USAGE}\n`);
    return 2;
  }
  if (options === "help") {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const startedAt = new Date().toISOString();
  const machine = await machineInfo(options.amqpUrl, options.redisUrl);
  machine.backgroundCores = await backgroundLoad(3);
  machine.revision = sluiceRevision(REPO_ROOT);
  for (const [service, version] of [
    ["RabbitMQ", machine.rabbitmq],
    ["Redis", machine.redis],
  ]) {
    if (version.startsWith("unreachable")) {
      process.stderr.write(
        `bench: ${service} is ${version}; start it (scripts/ensure-services.sh)\n`,
      );
      return 1;
    }
  }
  log(
    `bench: ${machine.cpuModel} × ${machine.cores}, node ${machine.node}, RabbitMQ ${machine.rabbitmq}, ` +
      `Redis ${machine.redis}; ${options.durationS} s per run, ${options.connections} connections, ` +
      `${machine.backgroundCores} cores busy with other work` +
      (options.quick ? ", quick" : ""),
  );

  const resultsDir = join(REPO_ROOT, "bench", "results");
  const load = await LoadGenerator.start();
  const ctx: BenchContext = { options, load, runs: [], profiles: [], resultsDir, log };
  try {
    for (const group of GROUPS) {
      try {
        if (selected(options, group.name)) {
          if (!group.both) await group.baselines?.(ctx);
          await group.sluice(ctx);
        } else if (selected(options, "baselines") && group.baselines) {
          await group.baselines(ctx);
        }
      } catch (error) {
        // A group that cannot start (e.g. a role that fails to come up) is reported, and the
        // other groups still run.
        const message = (error as Error).message.split("\n").slice(0, 6).join(" | ");
        log(`group ${group.name} failed: ${message}`);
        ctx.runs.push({
          name: `${group.name}.setup`,
          title: `${group.name}: setting up the run`,
          group: group.name === "profile" ? "profile" : group.name,
          role: "sluice",
          error: message,
        });
      }
    }
  } finally {
    await load.stop();
  }

  const comparisons = comparisonsFor(ctx.runs);
  const report: BenchReport = {
    startedAt,
    finishedAt: new Date().toISOString(),
    machine,
    options: {
      quick: options.quick,
      durationS: options.durationS,
      warmupS: options.warmupS,
      connections: options.connections,
      only: options.only,
      backlogs: options.backlogs,
      waiters: options.waiters,
      rounds: options.rounds,
      preload: options.preload.map((file) => relative(REPO_ROOT, file)),
      adapterNodeOptions: options.adapterNodeOptions,
    },
    commands: commandsOf(options, argv),
    runs: ctx.runs,
    comparisons,
    targets: targetsFor(ctx.runs, comparisons),
    costs: costsFor(ctx.runs, comparisons),
    profiles: ctx.profiles,
  };
  log(`results: ${writeResults(report, resultsDir)}`);
  if (options.writeDocs) {
    for (const file of await writeDocs(report, join(REPO_ROOT, "docs"))) log(`wrote ${file}`);
  }
  for (const target of report.targets) {
    const verdict = target.met === null ? "–" : target.met ? "met" : "MISSED";
    log(`target ${target.name}: ${target.actual} (goal ${target.goal}) ${verdict}`);
  }
  log("cost per message (issue 17):");
  for (const line of costTable(report.costs ?? [])) process.stdout.write(`${line}\n`);
  const failed = ctx.runs.filter((run) => run.error !== undefined);
  for (const run of failed) log(`FAILED ${run.name}: ${run.error}`);
  return failed.length > 0 ? 1 : 0;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      process.stderr.write(`bench: ${(error as Error).stack ?? String(error)}\n`);
      process.exitCode = 1;
    },
  );
}
