// Which roles a `sluice <role>` process runs, on one shared runtime, and the wiring of the
// optional parts (delivery listeners) into them. Each role's code is loaded only when the
// process runs it, so a worker does not carry the adapter's modules and the other way round.

import type { SchemaChecks } from "../adapter/json-body";
import type { Role, Runtime } from "../shared/runtime/runtime";

export const SERVICE_ROLES = ["adapter", "worker", "response-worker", "all"] as const;
export type ServiceRole = (typeof SERVICE_ROLES)[number];

/**
 * Starts the roles of `role` in dependency order; the adapter last, so intake opens when all is
 * ready. `bodySchemas`: the configuration check's compilation of the services' body schemas.
 */
export async function startRoles(
  role: ServiceRole,
  runtime: Runtime,
  bodySchemas?: SchemaChecks,
): Promise<Role[]> {
  const roles: Role[] = [];
  if (role === "response-worker" || role === "all") {
    const { startCallbackDelivery } =
      require("../response-worker/callback-delivery") as typeof import("../response-worker/callback-delivery");
    const { startResponseWorker } =
      require("../response-worker/response-worker-role") as typeof import("../response-worker/response-worker-role");
    // Delivery starts first so that it drains after the response worker that feeds it.
    const callbacks = await startCallbackDelivery(runtime);
    roles.push(callbacks);
    roles.push(
      await startResponseWorker(
        runtime,
        [(tx, response, _previous, trace) => callbacks.onResponse(tx, response, trace)],
        [(tx, eventKey) => callbacks.onStateChange(tx, eventKey)],
      ),
    );
  }
  if (role === "worker" || role === "all") {
    const { startWorker } =
      require("../worker/worker-role") as typeof import("../worker/worker-role");
    roles.push(await startWorker(runtime));
  }
  if (role === "adapter" || role === "all") {
    const { startAdapter } =
      require("../adapter/adapter-role") as typeof import("../adapter/adapter-role");
    roles.push(await startAdapter(runtime, { bodySchemas }));
  }
  return roles;
}
