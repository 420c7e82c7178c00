// SIGHUP reads the admin token's file (SLUICE_ADMIN_TOKEN_FILE) again, as it reads certificates:
// a token rotated in its Secret reaches the running roles without a restart. A token given in
// the environment (SLUICE_ADMIN_TOKEN) cannot change while the process runs, so nothing is read
// for it.

import type { Logger } from "pino";
import { envAdminToken } from "../config/config";
import { secretFileOf } from "../config/secret-env";
import type { AdminServer } from "./admin-server";

/**
 * Reads SLUICE_ADMIN_TOKEN_FILE again and gives `admin` its token: a new one is taken at once,
 * the old one refused from the next request and the status page's sign-ins ended
 * (AdminSignIn.replaceToken). A file refused (missing, empty, two lines, a token too short, the
 * published example) keeps the token in use and is warned of, naming the file, never a value.
 * Nothing is read where the token is not from a file, or no admin token was configured at start.
 */
export function reloadAdminToken(
  admin: AdminServer,
  log: Logger,
  env: NodeJS.ProcessEnv = process.env,
): void {
  const file = secretFileOf("SLUICE_ADMIN_TOKEN", env);
  if (file === null || !admin.operatorEnabled) return;
  const problems: string[] = [];
  const token = envAdminToken(problems, env);
  if (problems.length > 0 || !token) {
    log.warn({ file, problems }, "admin token reload failed; the previous token stays in use");
    return;
  }
  if (admin.replaceToken(token)) {
    log.info({ file }, "admin token reloaded; the previous one and its sign-ins no longer admit");
  }
}
