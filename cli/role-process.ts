// A role's process (`sluice adapter|worker|response-worker|all|legacy-sim`): checks the
// configuration, connects, says "sluice ready", reloads certificates on SIGHUP and drains on
// SIGTERM/SIGINT. Loaded only once a role starts, so other commands do not pay for it.

import type { Logger } from "pino";
import type { SluiceConfig } from "../shared/config/config";
import { createLogger, logProcessWarnings } from "../shared/observability/logger";
import { startRuntime, type Role, type Runtime } from "../shared/runtime/runtime";
import { drainRoles } from "../shared/runtime/shutdown-deadline";
import { StartupError } from "../shared/runtime/startup-error";
import { stopWithStdin } from "../shared/runtime/stop-with-stdin";
import { allTlsWarnings, reloadAllTls } from "../shared/config/tls-files";
import { exposedKeyWarnings } from "../shared/config/secret-file-modes";
import { AdminTokenReloads } from "../shared/observability/admin-token-reload";
import { startTracing } from "../shared/observability/tracing";
import { checkConfigFile } from "./config-check";
import { exitCodeOf } from "./exit-codes";
import { fail } from "./output";
import { SERVICE_ROLES, startRoles, type ServiceRole } from "./roles";
import { startSummary } from "./start-summary";
import { version } from "./version";

/** What the command line asks of a role's process, checked by cli/main.ts. */
export interface RoleStart {
  role: string;
  config: string;
  /** `--backends a,b`: the backends a worker consumes. */
  backends: string[] | null;
  withLegacySim: boolean;
  /** Configuration file of an xroad-sim run in the same process, or null. */
  withXroadSim: string | null;
}

async function startLegacySimRole(
  config: SluiceConfig,
  log: Logger,
): Promise<{ url: string; close: () => Promise<void> }> {
  // Loaded only when the simulator runs: it brings the soap server with it.
  const { runLegacySim } = require("../legacy-sim/main") as typeof import("../legacy-sim/main");
  const sim = await runLegacySim({
    host: config.legacySim.host,
    port: config.legacySim.port,
    latencyMs: config.legacySim.latencyMs,
    jitterMs: config.legacySim.jitterMs,
    maxConcurrency: config.legacySim.maxConcurrency,
    errorRate: config.legacySim.errorRate,
    soapServices: Object.values(config.services)
      .filter((s) => s.protocols.includes("soap"))
      .map((s) => s.code),
    // The callback receiver on /hooks checks signatures with the secrets Sluice signs with.
    hookSecrets: config.callbacks.secrets,
    logger: log,
    handleSignals: false,
  });
  return { url: sim.url, close: () => sim.close() };
}

/** Runs the role `args` names until a signal stops it; a start that fails exits with its line. */
export async function runRole(args: RoleStart): Promise<void> {
  const isServiceRole = (SERVICE_ROLES as readonly string[]).includes(args.role);
  // A role refuses to start on what `sluice check` reports, but for the translators it does not
  // call (TranslatorCreation): those only a worker creates, a module's factory only as it starts.
  const calls = args.role === "worker" || args.role === "all";
  const checked = await checkConfigFile(args.config, {
    createTranslators: calls ? "built-in" : "none",
  });
  if (!checked.ok) fail(checked.message, 2);
  const config: SluiceConfig = checked.config;
  if (args.backends) {
    const unknown = args.backends.filter((name) => !Object.hasOwn(config.backends, name));
    if (unknown.length > 0) fail(`--backends: no backend named ${unknown.join(", ")}`, 2);
    if (args.role !== "worker" && args.role !== "all") fail("--backends is for workers", 2);
    config.workerBackends = args.backends;
  }
  const log = createLogger(args.role, { instance: config.instance });
  logProcessWarnings(log);
  for (const warning of checked.warnings) log.warn(warning);
  const tracing = startTracing({
    role: args.role,
    instanceId: config.instanceId,
    version: version(),
    log,
  });
  const closers: Array<() => Promise<void>> = [];
  let runtime: Runtime | null = null;
  let roles: Role[] = [];

  let stopping = false;
  // Ends the serving before the drain (shutdown.delay) early: a second signal.
  let endDelay: (() => void) | null = null;
  const stop = async (signal: string) => {
    if (stopping) {
      if (endDelay) {
        log.info({ signal }, "signal again: draining now");
        endDelay();
      } else {
        log.info({ signal }, "signal again: already draining");
      }
      return;
    }
    stopping = true;
    runtime?.admin.setDraining();
    // An adapter keeps answering while load balancers, polling /readyz (503 from now on), take
    // it out of rotation; without the delay it stopped accepting before any of them noticed.
    const serving = args.role === "adapter" || args.role === "all";
    const delayMs = serving ? config.shutdownDelayMs : 0;
    const force = setTimeout(
      () => {
        log.error("grace time exceeded; exiting");
        process.exit(1);
      },
      delayMs + config.shutdownGraceMs + 5_000,
    );
    force.unref();
    if (delayMs > 0) {
      log.info({ signal, delayMs }, "not ready; serving until the delay ends, then draining");
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delayMs);
        endDelay = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      endDelay = null;
    }
    log.info({ signal, graceMs: config.shutdownGraceMs }, "draining");
    // Intake stops first (the adapter was started last), then workers finish what they hold,
    // all roles within one grace time.
    await drainRoles(roles, config.shutdownGraceMs, log);
    await runtime?.close().catch(() => undefined);
    for (const close of closers) await close().catch(() => undefined);
    await tracing.shutdown();
    log.info("stopped");
    process.exit(0);
  };
  process.on("SIGTERM", () => void stop("SIGTERM"));
  process.on("SIGINT", () => void stop("SIGINT"));
  // A parent that dies without a word (a test run killed with SIGKILL): the role stops as on
  // SIGTERM rather than consume from the broker on its own.
  stopWithStdin(() => void stop("stdin closed"));
  // Certificates are read again; new connections use them, open ones are kept
  // (docs/xroad-deployment.md). So is the admin token's file.
  const tokenReloads = new AdminTokenReloads(log);
  process.on("SIGHUP", () => {
    const problems = reloadAllTls();
    if (problems.length > 0) {
      log.error({ problems }, "certificate reload failed; the previous certificates stay in use");
    } else log.info("certificates reloaded");
    // A revocation list past its nextUpdate or before its thisUpdate, or one another CA of its
    // name did not sign, is kept (docs/configuration.md): said each time.
    for (const warning of allTlsWarnings()) log.warn(warning);
    // A key rotated in place has the mode it was written with, 0644 at the default umask: the
    // start's warning about it would not come again before the next restart.
    for (const warning of exposedKeyWarnings(config)) log.warn(warning);
    // The admin token's file too, where the token comes from one (docs/operations.md): every
    // role with an admin port takes a rotated token without a restart; one that comes before
    // the admin port is up is answered once it is.
    tokenReloads.signal();
  });

  try {
    let legacySimUrl: string | null = null;
    if (args.role === "legacy-sim" || args.withLegacySim) {
      const sim = await startLegacySimRole(config, log);
      legacySimUrl = sim.url;
      closers.push(sim.close);
    }
    if (args.withXroadSim) {
      const { runXroadSim } = require("../xroad-sim/main") as typeof import("../xroad-sim/main");
      const sim = await runXroadSim({ configFile: args.withXroadSim, handleSignals: false });
      closers.push(() => sim.close());
    }
    if (isServiceRole) {
      runtime = await startRuntime(config, log);
      tokenReloads.attach(runtime.admin);
      const monitor = runtime.monitor;
      // Ready means the queues exist on the broker too (docs/architecture.md), checked by passive
      // declare.
      runtime.admin.addCheck("topology", () => monitor.topologyProblem());
      roles = await startRoles(args.role as ServiceRole, runtime, checked.bodySchemas);
      for (const warning of allTlsWarnings()) log.warn(warning);
      await monitor.refresh();
      const adapter = roles.find((role) => role.name === "adapter") as
        (Role & { port: number }) | undefined;
      const { try: urls, ...summary } = startSummary({
        configFile: args.config,
        config,
        adapterPort: adapter?.port ?? null,
        adminPort: runtime.adminPort,
        legacySimUrl,
      });
      // `role` and `instance` are on every line already.
      log.info(
        {
          ...summary,
          instanceId: config.instanceId,
          version: version(),
          tracing: tracing.exporting ? "otlp" : "off",
          try: urls,
        },
        "sluice ready",
      );
    }
  } catch (error) {
    // RabbitMQ or Redis out of reach is exit 3, as for the operator commands (cli/exit-codes.ts).
    if (error instanceof StartupError) fail(error.message, exitCodeOf(error));
    if (error instanceof Error && error.name === "TranslatorLoadError") fail(error.message, 2);
    if (error instanceof Error && error.name === "SimConfigError") fail(error.message, 2);
    if ((error as NodeJS.ErrnoException)?.code === "EADDRINUSE") {
      fail(`port already in use: ${(error as Error).message.replace(/^listen /, "")}`);
    }
    log.error({ err: (error as Error)?.stack ?? String(error) }, "start failed");
    fail(`start failed: ${(error as Error)?.message ?? error}`, exitCodeOf(error));
  }
}
