// `sluice <role> [--config FILE]`: loads and checks the configuration, connects, runs the
// role(s) and shuts down gracefully on SIGTERM/SIGINT. Start-up problems are one clear line
// (or the list of configuration problems) and a non-zero exit, never a stack trace.

import path from "node:path";
import { exitAfterOutput, fail, printOut } from "./output";
import {
  isOperatorCommand,
  OPERATOR_COMMANDS,
  operatorSummary,
  operatorUsage,
  parseOperatorArgs,
  type OperatorCommand,
} from "./operator-args";
import { SERVICE_ROLES } from "./roles";
import { version } from "./version";

// Every other module is loaded where its command starts (runCheck, runOperator, the roles'
// runRole): `--help`, `--version` and a usage mistake read no configuration and start nothing,
// and a test run or an orchestrator starts these processes by the hundred.

/** What an operator command's summary adds to its usage, where the words do not say it. */
const OPERATOR_NOTES: Partial<Record<OperatorCommand, string>> = {
  journal: "operator actions, newest first, and who took them",
};

/**
 * The operator commands' lines of `sluice --help`, options and all, from the usage each
 * command's own --help prints (one definition: the two cannot drift apart).
 */
const OPERATOR_SUMMARIES = OPERATOR_COMMANDS.map((command) => {
  const note = OPERATOR_NOTES[command];
  return `  ${command.padEnd(18)}${operatorSummary(command)}${note ? ` (${note})` : ""}`;
}).join("\n");

const USAGE = `usage: sluice <role> --config FILE [--with-legacy-sim] [--with-xroad-sim FILE]
       sluice check --config FILE
       sluice demo
       sluice <role> --help | sluice --version

roles:
  adapter           HTTP ingress (X-Road SOAP and REST), status and hub endpoints
  worker            consumes requests.<backend>, calls the legacy system within its limits
  response-worker   correlates responses, wakes sync callers, delivers callbacks and events
  all               the three roles above in one process
  legacy-sim        the simulated legacy system (demo, tests, benchmarks)
  xroad-sim         a simulated X-Road security server (--config names its own file)

commands:
  check             validate a configuration without connecting to anything (exit 0 or 2)
  demo              all roles, legacy-sim and xroad-sim on the bundled demo configuration (npm start)
${OPERATOR_SUMMARIES}

options:
  --config FILE       YAML or JSON configuration (required; $SLUICE_CONFIG names one too)
  --backends A,B      worker: consume only these backends' queues (a pool per backend)
  --with-legacy-sim   also run legacy-sim in this process (used by \`npm start\`)
  --with-xroad-sim FILE  also run xroad-sim in this process with its configuration FILE

environment: AMQP_URL, REDIS_URL, PORT, ADMIN_PORT, ADMIN_HOST, SLUICE_ADMIN_TOKEN, SLUICE_CONFIG,
             AMQP_URL_FILE, REDIS_URL_FILE, SLUICE_ADMIN_TOKEN_FILE (the value read from a file),
             SLUICE_INSTANCE, SLUICE_LEASE_TIME, LOG_LEVEL, LOG_FORMAT, LOG_REDACT,
             OTEL_EXPORTER_OTLP_ENDPOINT (traces over OTLP/HTTP; the other OTEL_* variables too)
             (docs/configuration.md)`;

/** The demo's configurations, kept in the repo; only `sluice demo` uses them. */
const DEMO_CONFIG = path.join(__dirname, "..", "..", "config", "demo.yaml");
const DEMO_XROAD_SIM_CONFIG = path.join(__dirname, "..", "..", "config", "xroad-sim.yaml");

const COMMON_HELP = `options:
  --config FILE   YAML or JSON configuration (required; $SLUICE_CONFIG names one too)

Logs go to stdout: one readable line per event on a terminal, JSON lines otherwise
(LOG_FORMAT=json|pretty chooses). The admin port (ADMIN_PORT, config admin.port) serves
/healthz, /readyz and /metrics.`;

/** What \`sluice <role> --help\` says about each role. */
const ROLE_HELP: Record<string, string> = {
  adapter: `sluice adapter: HTTP ingress for X-Road callers.
Serves POST /soap, /rest/<service>, GET|DELETE /messages/<id> and /hub on the service port
(PORT, config adapter.port), records each message in Redis, publishes it to requests.<backend>
and answers in the service's reply mode. Needs RabbitMQ and Redis.`,
  worker: `sluice worker: calls the legacy systems.
Consumes requests.<backend> for every configured backend, within the backend's rate,
in-flight limit and service windows, and publishes the answers. Needs RabbitMQ and Redis.
With --backends A,B it consumes only those backends' queues, so each backend can have a pool
of workers of its own, scaled on its own queue's depth.`,
  "response-worker": `sluice response-worker: finishes messages.
Correlates answers with their records, wakes waiting sync callers, and delivers callbacks and
hub events (signed, retried). Needs RabbitMQ and Redis.`,
  all: `sluice all: the adapter, worker and response worker in one process.`,
  check: `sluice check: validates a configuration without connecting to anything: its shape
(config/sluice.schema.json, unknown keys refused), the rules between fields, each backend's
translator and each service's body schema. Every problem is listed; exit 0 (valid) or 2.`,
  demo: `sluice demo: all roles plus legacy-sim and xroad-sim on the bundled demo configuration
(config/demo.yaml, whose secret is public): what npm start runs. Never a deployment.`,
  "legacy-sim": `sluice legacy-sim: the simulated legacy system (REST and SOAP) for the demo, tests and
benchmarks; settings from the configuration's legacySim block.`,
  "xroad-sim": `sluice xroad-sim: a simulated X-Road security server (REST /r1 and SOAP) for the demo
and tests; --config names its own file (see docs/xroad-sim.md).`,
};

interface Args {
  role: string;
  config: string | null;
  /** `--config` as given on the command line (not from SLUICE_CONFIG), or null. */
  configOption: string | null;
  withLegacySim: boolean;
  /** Configuration file of an xroad-sim run in the same process, or null. */
  withXroadSim: string | null;
  help: boolean;
  /** `--backends a,b`: the backends a worker consumes. */
  backends: string[] | null;
}

function parseArgs(argv: string[]): Args | string {
  const args: Args = {
    role: "",
    config: null,
    configOption: null,
    withLegacySim: false,
    withXroadSim: null,
    help: false,
    backends: null,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const isConfig = arg === "--config" || arg === "-c" || arg.startsWith("--config=");
    // Kept last-wins, a second --config (a wrapper's and the user's) ran with one of them unsaid.
    if (isConfig && args.configOption !== null) return "--config is given twice; give it once";
    if (arg === "--config" || arg === "-c") {
      if (!argv[i + 1]) return "--config needs a file";
      args.configOption = argv[++i];
    } else if (arg.startsWith("--config=")) args.configOption = arg.slice("--config=".length);
    else if (arg === "--with-legacy-sim") args.withLegacySim = true;
    else if (arg === "--with-xroad-sim") {
      if (!argv[i + 1]) return "--with-xroad-sim needs its configuration file";
      args.withXroadSim = argv[++i];
    } else if (arg === "--backends" || arg.startsWith("--backends=")) {
      const list = arg === "--backends" ? argv[++i] : arg.slice("--backends=".length);
      if (!list) return "--backends needs a comma-separated list of backend names";
      args.backends = list
        .split(",")
        .map((name) => name.trim())
        .filter(Boolean);
    } else if (arg === "--help" || arg === "-h") args.help = true;
    else if (arg.startsWith("-")) return `unknown option ${arg}`;
    else if (!args.role) args.role = arg;
    else return `unexpected argument ${arg}`;
  }
  // SLUICE_CONFIG names a Sluice configuration: never xroad-sim's own file, which it would
  // misread as one.
  args.config =
    args.configOption ?? (args.role === "xroad-sim" ? null : process.env.SLUICE_CONFIG || null);
  return args.role || args.help ? args : "";
}

/** The security-server simulator has its own configuration file, not Sluice's. */
async function startXroadSimRole(configFile: string): Promise<void> {
  const { runXroadSim } = require("../xroad-sim/main") as typeof import("../xroad-sim/main");
  const { SimConfigError } =
    require("../xroad-sim/sim-config-file") as typeof import("../xroad-sim/sim-config-file");
  try {
    await runXroadSim({ configFile });
  } catch (error) {
    if (error instanceof SimConfigError || error instanceof RangeError) fail(error.message, 2);
    if ((error as NodeJS.ErrnoException)?.code === "EADDRINUSE") {
      fail(`port already in use: ${(error as Error).message.replace(/^listen /, "")}`);
    }
    fail(`xroad-sim: start failed: ${(error as Error)?.message ?? error}`);
  }
}

/** `sluice dead-letters …` / `sluice messages …`: --config, then the command's own words. */
async function runOperator(command: OperatorCommand, argv: string[]): Promise<never> {
  let config = process.env.SLUICE_CONFIG || null;
  let configGiven = 0;
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--config" || argv[i] === "-c") config = argv[++i] ?? null;
    else if (argv[i].startsWith("--config=")) config = argv[i].slice("--config=".length);
    else {
      rest.push(argv[i]);
      continue;
    }
    configGiven += 1;
  }
  const usage = operatorUsage(command);
  if (configGiven > 1) fail(`--config is given twice; give it once\n${usage}`, 2);
  if (rest.includes("--help") || rest.includes("-h")) {
    printOut(`${usage}\n`);
    return exitAfterOutput(0);
  }
  const parsed = parseOperatorArgs(command, rest);
  if (typeof parsed === "string") fail(`${parsed}\n${usage}`, 2);
  if (!config) fail(`${command} needs --config FILE\n${usage}`, 2);
  // Loaded only once the command runs: its --help and usage mistakes need none of it.
  const { checkConfigFile } = require("./config-check") as typeof import("./config-check");
  const { StartupError } =
    require("../shared/runtime/startup-error") as typeof import("../shared/runtime/startup-error");
  const { exitCodeOf } = require("./exit-codes") as typeof import("./exit-codes");
  // An operator command calls no translator: none is created (TranslatorCreation). Nor does it
  // use the admin token (it goes to Redis and the broker), so no token can refuse it.
  const checked = await checkConfigFile(config, {
    createTranslators: "none",
    readAdminToken: false,
  });
  if (!checked.ok) fail(checked.message, 2);
  try {
    const { runOperatorCommand } =
      require("./operator-commands") as typeof import("./operator-commands");
    const code = await runOperatorCommand(command, parsed, checked.config, (text) =>
      printOut(`${text}\n`),
    );
    // A --json answer can be megabytes: all of it reaches the reader before the exit.
    return await exitAfterOutput(code);
  } catch (error) {
    // Redis or the broker out of reach is exit 3 (ask again later), not 1 (the answer is no).
    if (error instanceof StartupError) fail(error.message, exitCodeOf(error));
    fail(`${command} failed: ${(error as Error).message}`, exitCodeOf(error));
  }
}

export async function main(argv: string[]): Promise<void> {
  if (isOperatorCommand(argv[0])) await runOperator(argv[0], argv.slice(1));
  if (argv[0] === "--version" || argv[0] === "-V" || argv[0] === "version") {
    printOut(`sluice ${version()}\n`);
    await exitAfterOutput(0);
  }
  const args = parseArgs(argv);
  if (typeof args !== "string" && args.help) {
    const help = ROLE_HELP[args.role];
    if (args.role && !help) fail(`unknown role "${args.role}"\n${USAGE}`, 2);
    printOut(help ? `${help}\n\n${COMMON_HELP}\n` : `${USAGE}\n`);
    await exitAfterOutput(0);
  }
  if (typeof args === "string") {
    // No role is a usage mistake like any other: exit 0 would tell a script or an orchestrator
    // (a container given `--config FILE` alone) that a role ran and finished.
    fail(`${args || "no role given"}\n${USAGE}`, 2);
  }
  if (args.role === "demo") {
    // Its own configuration is the demo's point; one given would be silently replaced.
    if (args.configOption !== null || args.withLegacySim || args.withXroadSim !== null) {
      fail(
        "sluice demo runs the bundled config/demo.yaml and takes no options; to run a configuration of your own: sluice all --config FILE [--with-legacy-sim] [--with-xroad-sim FILE]",
        2,
      );
    }
    // The demo is the one start without --config; it names its file like every other.
    args.role = "all";
    args.config = DEMO_CONFIG;
    args.withLegacySim = true;
    args.withXroadSim = DEMO_XROAD_SIM_CONFIG;
  }
  const isServiceRole = (SERVICE_ROLES as readonly string[]).includes(args.role);
  if (
    !isServiceRole &&
    args.role !== "legacy-sim" &&
    args.role !== "xroad-sim" &&
    args.role !== "check"
  )
    fail(`unknown role "${args.role}"\n${USAGE}`, 2);
  if (!args.config) {
    fail(
      args.role === "xroad-sim"
        ? "xroad-sim needs --config FILE, its own configuration (docs/xroad-sim.md); SLUICE_CONFIG names Sluice's, not xroad-sim's"
        : `${args.role} needs --config FILE (\`sluice demo\` runs the bundled demo configuration)`,
      2,
    );
  }
  if (args.role === "xroad-sim") return startXroadSimRole(args.config);
  if (args.role === "check") {
    const { runCheck } = require("./check-command") as typeof import("./check-command");
    await runCheck(args.config);
  }

  // Loaded only here: --help, check and the operator commands do not need the roles' modules.
  const { runRole } = require("./role-process") as typeof import("./role-process");
  await runRole({ ...args, config: args.config });
}
