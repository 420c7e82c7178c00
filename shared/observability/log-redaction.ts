// Keeps credentials (and, with LOG_REDACT on, bodies and user ids) out of a log line at any depth:
// a library's error or a configuration block carries them several levels down, where pino's
// path-based `redact` (no recursive wildcard) cannot reach.

import { CREDENTIAL_HEADERS, REDACTED } from "../protocol/credential-headers";

/** Objects nested deeper than this many levels are written as `[Object]` or `[Array]`. */
export const MAX_LOG_DEPTH = 8;
/** An object's keys or an array's items past this many are left out of a line. */
export const MAX_LOG_WIDTH = 100;
/** Keys and items read for one line in all; past this no further object is opened. */
export const MAX_LOG_ENTRIES = 2000;

export const CIRCULAR = "[Circular]";
export const UNREADABLE = "[unreadable]";
/** The key that stands for an object's keys left out. */
export const MORE_KEYS = "...";

/**
 * A field's name as the lists below hold it: lower-case, without `-` and `_`, so that
 * `clientSecret`, `client_secret` and `Client-Secret` are one name. Only whole names match: a
 * field whose name merely contains one (`tokenAt`, `secretsFile`) is logged as it is.
 */
function fieldName(key: string): string {
  return key.toLowerCase().replace(/[-_]/g, "");
}

/**
 * Names whose values are credentials, redacted whatever LOG_REDACT says: the credential headers;
 * the configuration's `callbacks.secret(s)` and `admin.token`; and the names libraries and
 * backends give passwords, keys and tokens in their options and error bodies (ioredis'
 * `password` and `sentinelPassword`, OAuth's `client_secret`, `access_token`, `refresh_token`
 * and `id_token`, an API's `apiKey`, a TLS `privateKey` or `passphrase`). Not `key`, `auth` or
 * `credential`: Sluice's own configuration and records use them for a TLS key file's path, a
 * partition key and how an operator signed in, which operators read (docs/operations.md, "Logs").
 */
const CREDENTIAL_NAMES: ReadonlySet<string> = new Set(
  [
    ...CREDENTIAL_HEADERS,
    "secret",
    "secrets",
    "token",
    "password",
    "passwd",
    "passphrase",
    "sentinelPassword",
    "clientSecret",
    "apiKey",
    "privateKey",
    "accessToken",
    "refreshToken",
    "idToken",
    "authToken",
  ].map(fieldName),
);

/** Names of a caller's payload or personal data (the X-Road userId). */
const PERSONAL_NAMES: ReadonlySet<string> = new Set([
  ...CREDENTIAL_NAMES,
  ...["body", "bodyXml", "headerXml", "userId", "x-road-userid"].map(fieldName),
]);

/** A field whose parent names it personal: SOAP headers carry the userId, attachments a payload. */
function personalUnder(name: string, parent: string | undefined): boolean {
  return (name === "headers" && parent === "soap") || (name === "data" && parent === "attachments");
}

interface Walk {
  names: ReadonlySet<string>;
  personal: boolean;
  left: number;
  /** The objects being walked, outermost first: a cycle is a reference back to one of them. */
  open: object[];
}

const hasOwn = (value: object, key: string): boolean =>
  Object.prototype.hasOwnProperty.call(value, key);

/** A getter may throw; a log line must not. */
function read(value: object, key: string | number): unknown {
  try {
    return (value as Record<string | number, unknown>)[key];
  } catch {
    return UNREADABLE;
  }
}

function censored(walk: Walk, key: string, parent: string | undefined): boolean {
  const name = fieldName(key);
  return walk.names.has(name) || (walk.personal && personalUnder(name, parent));
}

/**
 * `fromToJSON`: `value` is what a toJSON returned, whose fields JSON writes as they are: it calls
 * toJSON once per value, never on what toJSON returned.
 */
function redactValue(
  value: unknown,
  level: number,
  key: string | undefined,
  walk: Walk,
  fromToJSON = false,
): unknown {
  if (typeof value !== "object" || value === null) return value;
  // Their JSON names no field: a Date is its time, a Buffer its bytes.
  if (value instanceof Date || ArrayBuffer.isView(value)) return value;
  if (walk.open.includes(value)) return CIRCULAR;
  if (level > MAX_LOG_DEPTH || walk.left <= 0) return Array.isArray(value) ? "[Array]" : "[Object]";
  const toJSON = fromToJSON ? undefined : (value as { toJSON?: unknown }).toJSON;
  if (typeof toJSON === "function") {
    // JSON writes what toJSON returns, so that is what is checked.
    let shown: unknown;
    try {
      shown = toJSON.call(value);
    } catch {
      return UNREADABLE;
    }
    if (shown === value) return value;
    const walked = redactValue(shown, level, key, walk, true);
    if (walked === shown) return value;
    // The copy is written in place of what toJSON returned: a toJSON it kept would be called.
    if (typeof walked === "object" && walked !== null && hasOwn(walked, "toJSON")) {
      delete (walked as Record<string, unknown>).toJSON;
    }
    return walked;
  }
  walk.open.push(value);
  try {
    return Array.isArray(value)
      ? redactArray(value, level, key, walk)
      : redactObject(value, level, key, walk);
  } finally {
    walk.open.pop();
  }
}

/**
 * `value` itself when nothing in it is redacted, cut or unreadable (the common flat line is not
 * copied), else a copy with those values replaced; `value` is never changed.
 */
function redactObject(
  value: object,
  level: number,
  parent: string | undefined,
  walk: Walk,
  skip?: string,
): object {
  let copy: Record<string, unknown> | undefined;
  let seen = 0;
  for (const key in value) {
    if (!hasOwn(value, key)) continue;
    if (seen === MAX_LOG_WIDTH) {
      copy ??= copyBefore(value, key);
      copy[MORE_KEYS] = `[keys after the first ${MAX_LOG_WIDTH} not logged]`;
      break;
    }
    seen += 1;
    walk.left -= 1;
    const field = read(value, key);
    let shown = field;
    if (key !== skip) {
      shown =
        field !== undefined && censored(walk, key, parent)
          ? REDACTED
          : redactValue(field, level + 1, key, walk);
    }
    if (copy) copy[key] = shown;
    else if (shown !== field || field === UNREADABLE) {
      copy = copyBefore(value, key);
      copy[key] = shown;
    }
  }
  return copy ?? value;
}

/** The fields of `value` before `stop`, as they are (each was walked and found unchanged). */
function copyBefore(value: object, stop: string): Record<string, unknown> {
  const copy: Record<string, unknown> = {};
  for (const key in value) {
    if (key === stop) break;
    if (hasOwn(value, key)) copy[key] = read(value, key);
  }
  return copy;
}

function redactArray(
  value: unknown[],
  level: number,
  key: string | undefined,
  walk: Walk,
): unknown[] {
  let copy: unknown[] | undefined;
  const length = Math.min(value.length, MAX_LOG_WIDTH);
  for (let index = 0; index < length; index += 1) {
    walk.left -= 1;
    const item = read(value, index);
    // An item is named by its array: `attachments[*].data`, `responses[*].body`.
    const shown = redactValue(item, level + 1, key, walk);
    if (copy) copy.push(shown);
    else if (shown !== item || item === UNREADABLE) {
      copy = value.slice(0, index);
      copy.push(shown);
    }
  }
  if (value.length > length) {
    copy ??= value.slice(0, length);
    copy.push(`[${value.length - length} more items not logged]`);
  }
  return copy ?? value;
}

/**
 * A redactor for log objects (pino's `formatters.log`; a child's bindings and `setBindings`' on
 * the way in; what a child's own `formatters` return, logger.ts): credential
 * names always, body and user id names too when `personal` (LOG_REDACT on), at any depth up to
 * MAX_LOG_DEPTH. `skip` names a top-level field left as it is, for a serializer to redact.
 */
export function logRedactor(
  personal: boolean,
  skip?: string,
): (object: Record<string, unknown>) => Record<string, unknown> {
  const names = personal ? PERSONAL_NAMES : CREDENTIAL_NAMES;
  return (object) =>
    redactObject(
      object,
      0,
      undefined,
      { names, personal, left: MAX_LOG_ENTRIES, open: [object] },
      skip,
    ) as Record<string, unknown>;
}

/** Redacts one value as a field of a log line named `key` (an error its serializer made). */
export function redactLogValue(value: unknown, key: string, personal: boolean): unknown {
  const names = personal ? PERSONAL_NAMES : CREDENTIAL_NAMES;
  if (names.has(fieldName(key))) return value === undefined ? value : REDACTED;
  return redactValue(value, 1, key, { names, personal, left: MAX_LOG_ENTRIES, open: [] });
}

/**
 * Redacts what a log call interpolates (`log.info("x %o", value)`, `%j`, `%s`) or writes as its
 * message when that is an object: names at any depth, as for a logged field. `value` itself when
 * nothing in it is redacted.
 */
export function redactLogArgument(value: unknown, personal: boolean): unknown {
  const names = personal ? PERSONAL_NAMES : CREDENTIAL_NAMES;
  return redactValue(value, 1, undefined, { names, personal, left: MAX_LOG_ENTRIES, open: [] });
}
