// Which roles a `sluice <role>` process runs, on one shared runtime, and the wiring of the
// optional parts (translators' limits, delivery listeners, extra routes) into them.

import { startAdapter } from "../adapter/adapter-role";
import { startCallbackDelivery } from "../response-worker/callback-delivery";
import { startResponseWorker } from "../response-worker/response-worker-role";
import type { Role, Runtime } from "../shared/runtime";
import { startWorker } from "../worker/worker-role";

export const SERVICE_ROLES = ["adapter", "worker", "response-worker", "all"] as const;
export type ServiceRole = (typeof SERVICE_ROLES)[number];

/** Starts the roles of `role` in dependency order; the adapter last, so intake opens when all is ready. */
export async function startRoles(role: ServiceRole, runtime: Runtime): Promise<Role[]> {
  const roles: Role[] = [];
  if (role === "response-worker" || role === "all") {
    // Delivery starts first so that it drains after the response worker that feeds it.
    const callbacks = await startCallbackDelivery(runtime);
    roles.push(callbacks);
    roles.push(
      await startResponseWorker(
        runtime,
        [(tx, response) => callbacks.onResponse(tx, response)],
        [(tx, eventKey) => callbacks.onStateChange(tx, eventKey)],
      ),
    );
  }
  if (role === "worker" || role === "all") roles.push(await startWorker(runtime));
  if (role === "adapter" || role === "all") roles.push(await startAdapter(runtime));
  return roles;
}
