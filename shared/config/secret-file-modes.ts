// Files holding secrets that every user of the machine may read: a TLS private key, or a
// configuration with the admin token or a webhook secret written into it. Either works at the
// default umask (0644), so nothing else would tell the operator that it is exposed.

import { statSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import { isBundledDemo, tlsBlocks, type SluiceConfig } from "./config";
import { MAX_CONFIG_FILE_BYTES, readBoundedFile } from "./bounded-file";
import { SECRET_ENV_NAMES, secretFileOf } from "./secret-env";

/** The permission bits of a file, or null when it cannot be looked at (it may not exist here). */
export type ModeOf = (file: string) => number | null;

const systemModeOf: ModeOf = (file) => {
  try {
    return statSync(file).mode & 0o777;
  } catch {
    // Unreadable or absent: the role that reads it says so (docs/configuration.md).
    return null;
  }
};

/**
 * One warning per TLS private key (`adapter.tls.key`, a backend's, `securityServer.tls.key`)
 * and per secret file the environment names (AMQP_URL_FILE, REDIS_URL_FILE,
 * SLUICE_ADMIN_TOKEN_FILE, and NAME_FILE for a `${NAME}` of the configuration it filled) that
 * users other than its owner and group may read or write. The
 * group is left alone: a Kubernetes Secret mounted with `fsGroup` is group-readable by design
 * (deploy/k8s, mode 0440).
 */
export function exposedKeyWarnings(
  config: SluiceConfig,
  modeOf: ModeOf = systemModeOf,
  env: NodeJS.ProcessEnv = process.env,
): string[] {
  // POSIX permission bits mean nothing on Windows, where every file reports 0666 or 0444.
  if (process.platform === "win32") return [];
  const keys = tlsBlocks(config).map(([where, files]) => [`${where}.key`, files?.key] as const);
  const keyWarnings = keys.flatMap(([where, file]) => {
    if (!file) return [];
    const mode = modeOf(file);
    if (!readableByAll(mode)) return [];
    return [
      `${where}: ${file} is a private key that every user of this machine may read (mode 0${mode.toString(8)}); let only Sluice's user (and group) read it: chmod 600 ${file} (or 640)`,
    ];
  });
  // The files a `${NAME}` of the configuration was filled from (a webhook secret's) too.
  const names = new Set<string>([...SECRET_ENV_NAMES, ...(config.referenceFiles ?? [])]);
  const secretWarnings = [...names].flatMap((name) => {
    const file = secretFileOf(name, env);
    // The admin token's file is not read where no admin port is served (token null).
    if (file === null || (name === "SLUICE_ADMIN_TOKEN" && config.admin.token === null)) return [];
    const mode = modeOf(file);
    if (!readableByAll(mode)) return [];
    return [
      `environment ${name}_FILE: ${file} holds ${name} and every user of this machine may read it (mode 0${mode.toString(8)}); let only Sluice's user (and group) read it: chmod 400 ${file} (or 440)`,
    ];
  });
  return [...keyWarnings, ...secretWarnings];
}

/**
 * A warning when the configuration file itself holds a secret as written (`admin.token`, a
 * webhook secret, a password in `amqpUrl` or `redisUrl`, a backend's credential header; a
 * `${VAR}` taken from the environment is not one) and every user of the machine may read it
 * (the bundled demo's secrets are published anyway); and one when every user may change it.
 */
export function exposedConfigWarnings(file: string, modeOf: ModeOf = systemModeOf): string[] {
  if (process.platform === "win32") return [];
  const mode = modeOf(file);
  // Whoever may change it decides what Sluice runs (a translator module) and whom it calls.
  const writable =
    mode !== null && (mode & 0o002) !== 0
      ? [
          `${file}: every user of this machine may change it (mode 0${mode.toString(8)}), and with it the code Sluice runs (a translator module) and where it sends; let only its owner write it: chmod o-w ${file}`,
        ]
      : [];
  if (!readableByAll(mode)) return writable;
  let text: string;
  let raw: unknown;
  try {
    text = readBoundedFile(file, MAX_CONFIG_FILE_BYTES).toString("utf8");
    raw = parseYaml(text);
  } catch {
    return writable;
  }
  if (isBundledDemo(text)) return writable;
  const held = inlineSecrets(raw);
  if (held.length === 0) return writable;
  return [
    ...writable,
    `${file}: holds ${held.join(", ")} and every user of this machine may read it (mode 0${mode.toString(8)}); let only Sluice's user (and group) read it: chmod 600 ${file} (or 640), or take the secrets from the environment or files it names (SLUICE_ADMIN_TOKEN, SLUICE_ADMIN_TOKEN_FILE, \${VAR} from VAR or VAR_FILE)`,
  ];
}

/** Headers that carry a credential when a backend's `options.headers` sets them. */
const CREDENTIAL_HEADERS = new Set([
  "authorization",
  "proxy-authorization",
  "cookie",
  "x-api-key",
  "api-key",
  "apikey",
]);

/** A connection URL with a password in it: its userinfo, or ioredis's `password` query. */
// eslint-disable-next-line regexp/no-super-linear-backtracking -- read from the operator's configuration only
const URL_PASSWORD = /^[^?#]*:\/\/[^?#]*:[^?#]*@|[?&](?:password|sentinelPassword)=[^&#]/i;

/** Which secrets a parsed configuration holds as written, by path. */
export function inlineSecrets(raw: unknown): string[] {
  const at = (value: unknown, key: string): unknown =>
    typeof value === "object" && value !== null
      ? (value as Record<string, unknown>)[key]
      : undefined;
  const written = (value: unknown) => typeof value === "string" && !value.includes("${");
  const withPassword = (value: unknown) =>
    (Array.isArray(value) ? value : [value]).some(
      (url) => written(url) && URL_PASSWORD.test(url as string),
    );
  const callbacks = at(raw, "callbacks");
  const secrets = at(callbacks, "secrets");
  const backends = at(raw, "backends");
  const headerSecrets =
    typeof backends === "object" && backends !== null
      ? Object.entries(backends as Record<string, unknown>).flatMap(([name, backend]) => {
          const headers = at(at(backend, "options"), "headers");
          if (typeof headers !== "object" || headers === null) return [];
          return Object.entries(headers as Record<string, unknown>)
            .filter(
              ([header, value]) => CREDENTIAL_HEADERS.has(header.toLowerCase()) && written(value),
            )
            .map(([header]) => `backends.${name}.options.headers.${header}`);
        })
      : [];
  return [
    written(at(at(raw, "admin"), "token")) ? "admin.token" : null,
    written(at(callbacks, "secret")) ? "callbacks.secret" : null,
    Array.isArray(secrets) && secrets.some(written) ? "callbacks.secrets" : null,
    withPassword(at(raw, "amqpUrl")) ? "amqpUrl (its password)" : null,
    withPassword(at(raw, "redisUrl")) ? "redisUrl (its password)" : null,
    ...headerSecrets,
  ].filter((path): path is string => path !== null);
}

/** Whether users other than the owner and the group may read or write a file of this mode. */
function readableByAll(mode: number | null): mode is number {
  return mode !== null && (mode & 0o006) !== 0;
}
