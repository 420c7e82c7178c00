// Command-line options of `npm run bench`: which runs, how long, how many connections, and
// whether the report in docs/ is rewritten.

import { resolve } from "node:path";

export const RUN_NAMES = [
  "baselines",
  "ingest-json",
  "ingest-soap",
  "sync",
  "backlog",
  "memory",
  "profile",
] as const;
export type RunName = (typeof RUN_NAMES)[number];

export interface BenchOptions {
  quick: boolean;
  /** Measured seconds per load run. */
  durationS: number;
  /** Discarded seconds of load before each measured run. */
  warmupS: number;
  /** Concurrent connections of the throughput runs (the latency runs use 1). */
  connections: number;
  /**
   * Each comparison is measured in this many rounds, Sluice and its baselines taking turns,
   * so that load from elsewhere on the machine falls on both alike.
   */
  rounds: number;
  only: RunName[] | null;
  /** Messages already queued in the backlog runs. */
  backlogs: number[];
  /** Concurrent sync callers held in the memory run. */
  waiters: number;
  /** Rewrite docs/benchmarks.md and the plots (default: only for a full, non-quick run). */
  writeDocs: boolean;
  /** Modules the Sluice roles (not the baselines) load with `node --require`: what-ifs. */
  preload: string[];
  /** Node or V8 options of the adapter alone (`node <option>`): what-ifs, e.g. GC sizes. */
  adapterNodeOptions: string[];
  /**
   * The role the profile runs put under `--cpu-prof`: the adapter by default; a worker or
   * response worker in the runs that start one (the sync round trip).
   */
  profileRole: ProfiledRole;
  amqpUrl: string;
  redisUrl: string;
}

export const PROFILED_ROLES = ["adapter", "worker", "response-worker"] as const;
export type ProfiledRole = (typeof PROFILED_ROLES)[number];

export const USAGE = `usage: npm run bench -- [options]

  --quick              short runs and smaller backlogs; the whole run takes under 2 minutes
  --duration <s>       measured seconds per load run (default 20, quick 4)
  --connections <n>    concurrent connections of the throughput runs (default 50)
  --rounds <n>         Sluice and its baselines take turns in n rounds of duration/n seconds
                       (default 5, quick 2)
  --only <names>       comma-separated subset of: ${RUN_NAMES.join(", ")}
  --backlogs <list>    messages queued before the backlog runs (default 0,100000,1000000;
                       quick 0,20000,100000)
  --waiters <n>        concurrent sync callers in the memory run (default 10000)
  --preload <file>     the Sluice roles load this module first (node --require), e.g.
                       dist/bench/tcp-nodelay-preload.js; a what-if, never the default
  --adapter-node-option <option>
                       the adapter alone runs with this Node or V8 option (repeatable), e.g.
                       --adapter-node-option=--max-semi-space-size=4; a what-if
  --profile-role <role>
                       the role the profile runs profile: adapter (default), worker or
                       response-worker (these two in the sync round trip's profile only)
  --docs / --no-docs   rewrite docs/benchmarks.md and docs/benchmarks-*.svg (default: yes
                       for a full run, no with --quick or --only)
  --help

Environment: AMQP_URL, REDIS_URL (defaults: the local RabbitMQ and Redis).
Results are always written as JSON to bench/results/.`;

export class UsageError extends Error {}

function positiveInt(flag: string, value: string | undefined): number {
  const parsed = Number(value);
  if (value === undefined || !Number.isInteger(parsed) || parsed <= 0) {
    throw new UsageError(`${flag} needs a positive integer`);
  }
  return parsed;
}

export function parseBenchOptions(
  argv: string[],
  env: NodeJS.ProcessEnv = process.env,
): BenchOptions | "help" {
  const quick = argv.includes("--quick");
  const options: BenchOptions = {
    quick,
    durationS: quick ? 4 : 20,
    warmupS: quick ? 1 : 3,
    connections: 50,
    rounds: quick ? 2 : 5,
    only: null,
    backlogs: quick ? [0, 20_000, 100_000] : [0, 100_000, 1_000_000],
    waiters: 10_000,
    writeDocs: !quick,
    preload: [],
    adapterNodeOptions: [],
    profileRole: "adapter",
    amqpUrl: env.AMQP_URL || "amqp://guest:guest@127.0.0.1:5672",
    redisUrl: env.REDIS_URL || "redis://127.0.0.1:6379",
  };
  let docsFlag: boolean | null = null;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const [flag, inline] = arg.includes("=") ? arg.split(/=(.*)/s, 2) : [arg, undefined];
    const value = (): string | undefined => inline ?? argv[++i];
    switch (flag) {
      case "--quick":
        break;
      case "--help":
      case "-h":
        return "help";
      case "--duration":
        options.durationS = positiveInt(flag, value());
        options.warmupS = Math.min(options.warmupS, Math.max(1, Math.floor(options.durationS / 4)));
        break;
      case "--connections":
        options.connections = positiveInt(flag, value());
        break;
      case "--rounds":
        options.rounds = positiveInt(flag, value());
        break;
      case "--waiters":
        options.waiters = positiveInt(flag, value());
        break;
      case "--backlogs": {
        const list = (value() ?? "").split(",").map((item) => Number(item.trim()));
        if (list.length === 0 || list.some((n) => !Number.isInteger(n) || n < 0)) {
          throw new UsageError("--backlogs needs a comma-separated list of message counts");
        }
        options.backlogs = [...new Set(list)].sort((a, b) => a - b);
        break;
      }
      case "--only": {
        const names = (value() ?? "").split(",").map((item) => item.trim());
        const unknown = names.filter((name) => !(RUN_NAMES as readonly string[]).includes(name));
        if (names.length === 0 || unknown.length > 0) {
          throw new UsageError(
            `--only: unknown run ${unknown.join(", ") || "(none)"}; choose from ${RUN_NAMES.join(", ")}`,
          );
        }
        options.only = names as RunName[];
        break;
      }
      case "--adapter-node-option": {
        const option = value();
        if (!option?.startsWith("--")) {
          throw new UsageError(
            "--adapter-node-option needs a node option, e.g. --max-semi-space-size=4",
          );
        }
        options.adapterNodeOptions.push(option);
        break;
      }
      case "--profile-role": {
        const role = value();
        if (!(PROFILED_ROLES as readonly unknown[]).includes(role)) {
          throw new UsageError(`--profile-role takes one of ${PROFILED_ROLES.join(", ")}`);
        }
        options.profileRole = role as ProfiledRole;
        break;
      }
      case "--preload": {
        const file = value();
        if (!file) throw new UsageError("--preload needs a module path");
        options.preload.push(resolve(file));
        break;
      }
      case "--docs":
        docsFlag = true;
        break;
      case "--no-docs":
        docsFlag = false;
        break;
      default:
        throw new UsageError(`unknown option ${arg}`);
    }
  }
  options.writeDocs = docsFlag ?? (!quick && options.only === null && options.preload.length === 0);
  return options;
}

export function selected(options: BenchOptions, name: RunName): boolean {
  if (options.only !== null) return options.only.includes(name);
  // Profiling slows the adapter; quick runs leave it out unless asked for.
  return !(options.quick && name === "profile");
}
