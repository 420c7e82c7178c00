// Runs the security-server simulator as a process: `sluice xroad-sim --config FILE` reads the
// simulator's own configuration, listens, reloads it on SIGHUP, stops on SIGTERM.

import type pino from "pino";
import { createLogger } from "../shared/observability/logger";
import { stopWithStdin } from "../shared/runtime/stop-with-stdin";
import { loadSimConfig } from "./sim-config-file";
import { startXroadSim, type XroadSim, type XroadSimOptions } from "./xroad-sim";

export interface RunXroadSimOptions {
  /**
   * A configuration file; read again on SIGHUP (certificates, clients, services, members,
   * securityServer), taken whole or not at all (XroadSim.reload).
   */
  configFile?: string;
  /** Used instead of a file (tests). */
  options?: XroadSimOptions;
  logger?: pino.Logger;
  /**
   * Install SIGTERM/SIGINT/SIGHUP handlers, and stop when stdin ends under
   * `SLUICE_STOP_WITH_STDIN=1` (default true).
   */
  handleSignals?: boolean;
}

export async function runXroadSim(run: RunXroadSimOptions): Promise<XroadSim> {
  const log = run.logger ?? createLogger("xroad-sim");
  const options = run.options ?? loadSimConfig(run.configFile as string);
  const sim = await startXroadSim(options);
  log.info(
    { url: sim.url, services: Object.keys(options.services ?? {}) },
    `xroad-sim listening on ${sim.url}`,
  );
  if (run.handleSignals === false) return sim;

  const onStop = (signal: NodeJS.Signals | "stdin closed"): void => {
    log.info({ signal }, "xroad-sim stopping");
    process.off("SIGTERM", onStop);
    process.off("SIGINT", onStop);
    process.off("SIGHUP", onReload);
    unwatchStdin();
    void sim.close().then(() => process.exit(0));
  };
  const onReload = (): void => {
    if (!run.configFile) return;
    try {
      // All or nothing: the file is read and every part of it checked before any is taken, and
      // its services replace the registered ones, so a service deleted from it is gone.
      sim.reload(loadSimConfig(run.configFile));
      log.info("xroad-sim reloaded its configuration");
    } catch (error) {
      // The running configuration stays; the operator fixes the file and signals again.
      log.error({ err: (error as Error).message }, "xroad-sim reload failed; keeping the old one");
    }
  };
  process.on("SIGTERM", onStop);
  process.on("SIGINT", onStop);
  process.on("SIGHUP", onReload);
  const unwatchStdin = stopWithStdin(() => onStop("stdin closed"));
  return sim;
}
