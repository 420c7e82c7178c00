// SIGHUP reads the admin token's file (SLUICE_ADMIN_TOKEN_FILE) again, as it reads certificates:
// a token rotated in its Secret reaches the running roles without a restart. A token given in
// the environment (SLUICE_ADMIN_TOKEN) cannot change while the process runs, so nothing is read
// for it.

import type { Logger } from "pino";
import { envAdminToken } from "../config/config";
import { guessableTokenWarning } from "../config/config-warnings";
import { envSecretSource, secretFileOf } from "../config/secret-env";
import type { AdminServer } from "./admin-server";

/**
 * Reads SLUICE_ADMIN_TOKEN_FILE again and gives `admin` its token: a new one is taken at once,
 * the old one refused from the next request and the status page's sign-ins ended
 * (AdminSignIn.replaceToken). A file refused (missing, empty, two lines, a token too short, the
 * published example) keeps the token in use and is warned of, naming the file, never a value.
 * A token taken that is long enough but guessable (few different characters) is warned of with
 * the line the start gives for it (guessableTokenWarning): taken all the same, as at start.
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
    const where = envSecretSource("SLUICE_ADMIN_TOKEN", env) ?? "SLUICE_ADMIN_TOKEN_FILE";
    for (const warning of guessableTokenWarning(token, where)) log.warn(warning);
  }
}

/**
 * SIGHUP's reading of the admin token for one process. A SIGHUP that comes before the role's
 * admin port is up (the start waiting for RabbitMQ or Redis) is answered once it is: the admin
 * server was made with the token read at start, before the file was rotated, and dropping that
 * SIGHUP left the old token admitting with nothing to say so.
 */
export class AdminTokenReloads {
  private admin: AdminServer | null = null;
  private pending = false;

  constructor(
    private readonly log: Logger,
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {}

  /** A SIGHUP: the file is read now, or once the admin server is given (`attach`). */
  signal(): void {
    if (this.admin === null) this.pending = true;
    else reloadAdminToken(this.admin, this.log, this.env);
  }

  /** The role's admin server, once started: a SIGHUP that came before it is answered now. */
  attach(admin: AdminServer): void {
    this.admin = admin;
    if (!this.pending) return;
    this.pending = false;
    reloadAdminToken(admin, this.log, this.env);
  }
}
