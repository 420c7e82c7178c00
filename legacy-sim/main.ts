// Runs the legacy simulator as a process role: starts it, logs where it listens and closes it
// on SIGTERM or SIGINT. `sluice legacy-sim --config FILE` calls this with parsed numbers.

import type pino from "pino";
import { createLogger } from "../shared/observability/logger";
import { stopWithStdin } from "../shared/runtime/stop-with-stdin";
import { startLegacySim, type LegacySim, type LegacySimOptions } from "./legacy-sim";

export interface RunLegacySimOptions extends LegacySimOptions {
  /** Defaults to the `legacy-sim` process logger. */
  logger?: pino.Logger;
  /**
   * Install SIGTERM/SIGINT handlers that close the simulator, and close it when stdin ends under
   * `SLUICE_STOP_WITH_STDIN=1` (default true).
   */
  handleSignals?: boolean;
}

export async function runLegacySim(options: RunLegacySimOptions = {}): Promise<LegacySim> {
  const { logger, handleSignals = true, ...simOptions } = options;
  const log = logger ?? createLogger("legacy-sim");
  const sim = await startLegacySim({
    ...simOptions,
    onHook:
      simOptions.onHook ??
      ((hook) => {
        const line = { path: hook.path, id: hook.id, state: hook.state, signature: hook.signature };
        if (hook.signature.startsWith("invalid")) log.warn(line, "legacy-sim refused a callback");
        else log.info(line, "legacy-sim received a callback");
      }),
  });
  log.info(
    { url: sim.url, hooks: `${sim.url}/hooks/`, settings: sim.settings },
    `legacy-sim listening on ${sim.url}`,
  );
  if (!handleSignals) return sim;

  const onSignal = (signal: NodeJS.Signals | "stdin closed"): void => {
    log.info({ signal }, "legacy-sim stopping");
    void close();
  };
  const close = async (): Promise<void> => {
    process.off("SIGTERM", onSignal);
    process.off("SIGINT", onSignal);
    unwatchStdin();
    await sim.close();
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
  const unwatchStdin = stopWithStdin(() => onSignal("stdin closed"));
  // Closing by hand also removes the signal handlers, so nothing keeps a stale listener.
  return {
    url: sim.url,
    port: sim.port,
    get settings() {
      return sim.settings;
    },
    update: sim.update,
    calls: sim.calls,
    stats: sim.stats,
    hooks: sim.hooks,
    reset: sim.reset,
    close,
  };
}
