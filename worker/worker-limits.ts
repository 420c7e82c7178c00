// Everything a worker process needs to keep each backend within its agreed limits: the gates
// (service windows, operator pause) and one guard per backend.

import type { Logger } from "pino";
import type { BackendConfig } from "../shared/config/config";
import type { Runtime } from "../shared/runtime/runtime";
import { StartupError } from "../shared/runtime/startup-error";
import { BackendGates } from "./backend-gates";
import { createBackendLimits, type BackendLimits } from "./backend-guard";
import { warmUpHttpClient } from "./http-warm-up";
import { compileServiceWindows, type ServiceWindows } from "../shared/config/service-windows";

export interface WorkerLimits {
  gates: BackendGates;
  /** The guard and translator wrapper enforcing one backend's limits. */
  forBackend(backend: BackendConfig): BackendLimits;
  close(): Promise<void>;
}

export async function startWorkerLimits(runtime: Runtime, log: Logger): Promise<WorkerLimits> {
  const { config, redis } = runtime;
  const windows = new Map<string, ServiceWindows>();
  const problems: string[] = [];
  for (const backend of Object.values(config.backends)) {
    const compiled = compileServiceWindows(backend.windows, `backends.${backend.name}.windows`);
    problems.push(...compiled.problems);
    windows.set(backend.name, compiled.windows);
  }
  if (problems.length > 0) throw new StartupError(`invalid configuration: ${problems.join("; ")}`);

  await warmUpHttpClient();
  const gates = new BackendGates(windows, runtime.pauses, log, runtime.clock);
  await gates.start();
  // This process obeys a pause asked on its own admin port at once; the others within their poll.
  runtime.onPauseChange(() => gates.refresh());

  const handles: BackendLimits[] = [];
  return {
    gates,
    forBackend(backend) {
      const handle = createBackendLimits({
        redis,
        prefix: config.prefix,
        backend,
        gates,
        holder: config.instanceId,
        log,
      });
      handles.push(handle);
      return handle;
    },
    async close() {
      gates.stop();
      await Promise.all(handles.map((h) => h.close()));
    },
  };
}
