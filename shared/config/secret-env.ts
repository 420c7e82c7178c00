// The secrets Sluice takes from the environment (AMQP_URL, REDIS_URL, SLUICE_ADMIN_TOKEN, and the
// variables a configuration's `${NAME}` names), each also from a file named by NAME_FILE, as
// container platforms mount secrets: a value in the environment shows in /proc/<pid>/environ,
// `kubectl describe`, crash dumps and child processes.

import { clipText } from "../protocol/clip-text";
import { readBoundedFile, UnreadableFile } from "./bounded-file";

/** The environment variables holding a secret, each of which NAME_FILE may give instead. */
export const SECRET_ENV_NAMES = ["AMQP_URL", "REDIS_URL", "SLUICE_ADMIN_TOKEN"] as const;
export type SecretEnvName = (typeof SECRET_ENV_NAMES)[number];

/** The most a secret's file may hold: a URL list or a token is far shorter. */
export const MAX_SECRET_FILE_BYTES = 64 * 1024;

/** A secret taken from the environment: its value (null when its file was refused), and where. */
export interface EnvSecret {
  value: string | null;
  where: string;
}

function set(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const value = env[name];
  return value === undefined || value === "" ? undefined : value;
}

/** The file NAME_FILE names, when it is set and NAME is not. */
export function secretFileOf(name: string, env: NodeJS.ProcessEnv = process.env) {
  return set(env, name) === undefined ? (set(env, `${name}_FILE`) ?? null) : null;
}

/**
 * Where `name`'s secret comes from, as problems name it ("environment AMQP_URL", "environment
 * AMQP_URL_FILE (/run/secrets/amqp-url)"), without reading the file; null when neither is set.
 */
export function envSecretSource(
  name: SecretEnvName,
  env: NodeJS.ProcessEnv = process.env,
): string | null {
  if (set(env, name) !== undefined) return `environment ${name}`;
  const file = set(env, `${name}_FILE`);
  return file === undefined ? null : fileSource(name, file);
}

/** How problems and warnings name a secret's file: the variable, and the path it gives. */
function fileSource(name: string, file: string): string {
  return `environment ${name}_FILE (${clipText(file, 200)})`;
}

/**
 * `name`'s secret from the environment or from the file NAME_FILE names; undefined when neither
 * is set. The file holds one value: its trailing line breaks (`echo`, `kubectl create secret
 * --from-file`) and a leading byte-order mark are dropped. Both set, or a file that cannot be
 * read, is empty, holds more than one line or a control character, is a problem naming the
 * variable and the file, never the value.
 */
export function readEnvSecret(
  name: string,
  problems: string[],
  env: NodeJS.ProcessEnv = process.env,
): EnvSecret | undefined {
  const direct = set(env, name);
  const file = set(env, `${name}_FILE`);
  if (direct !== undefined) {
    if (file !== undefined) {
      problems.push(
        `environment ${name} and ${name}_FILE: both are set, and only one may say what ${name} is; unset one`,
      );
    }
    return { value: direct, where: `environment ${name}` };
  }
  if (file === undefined) return undefined;
  const where = fileSource(name, file);
  let text: string;
  try {
    // A byte-order mark (Notepad writes one) is no part of the value: unseen in the problem that
    // quoted the URL after it, it had a REDIS_URL refused that looked right.
    text = readBoundedFile(file, MAX_SECRET_FILE_BYTES)
      .toString("utf8")
      .replace(/^\uFEFF/, "");
  } catch (error) {
    const why =
      error instanceof UnreadableFile ? error.message : (error as NodeJS.ErrnoException).code;
    problems.push(`${where}: cannot read the file: ${why ?? String(error)}`);
    return { value: null, where };
  }
  let end = text.length;
  while (end > 0 && "\r\n".includes(text[end - 1])) end--;
  const value = text.slice(0, end);
  if (value.trim() === "") {
    problems.push(`${where}: the file is empty; write the ${name} value into it`);
    return { value: null, where };
  }
  if (/[\r\n]/.test(value)) {
    problems.push(`${where}: the file holds more than one line; write only the ${name} value`);
    return { value: null, where };
  }
  // No URL, token or secret holds one: a file of NUL-separated variables (`/proc/self/environ`)
  // or of binary data named by mistake is not a value, and passed on it would be cut at the NUL.
  // eslint-disable-next-line no-control-regex -- control characters are what is looked for
  if (/[\u0000-\u0008\u000B-\u001F\u007F]/.test(value)) {
    problems.push(
      `${where}: the file holds a control character (a NUL or another); write only the ${name} value`,
    );
    return { value: null, where };
  }
  return { value, where };
}
