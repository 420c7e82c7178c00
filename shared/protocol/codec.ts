// The codec of every message one Sluice process writes and another reads: each kind is encoded
// with its version and decoded with a check of its shape. What a reader cannot read is refused
// with a reason (never thrown), and the consumer dead-letters it; docs/architecture.md has the rule.

import type { CallbackJob } from "./callback-job";
import { isSendableHeaderValue } from "./header-value";
import type {
  RequestMessage,
  ResponseMessage,
  StateNotice,
  TransactionMetaFields,
} from "./envelope";
import type { WakeMessage } from "./wake-message";

/**
 * Why a message was refused (the `x-sluice-reason` of its dead letter): not JSON or not the
 * shape of its kind, or written by a newer release in a version this one cannot read.
 */
export type RefusalReason = "unreadable" | "unsupported_version";

export interface Refusal {
  ok: false;
  reason: RefusalReason;
  /** What is wrong, in words (logged, and the `x-sluice-error` of the dead letter). */
  error: string;
}

export type Decoded<T> = { ok: true; message: T; version: number } | Refusal;

export interface Codec<T> {
  readonly kind: string;
  /** The version this release writes. */
  readonly version: number;
  /** The oldest version this release still reads; a message without a version is version 1. */
  readonly oldestRead: number;
  encode(message: T): Buffer;
  decode(content: Buffer): Decoded<T>;
}

/** Returns what is wrong with `value` at `at`, or null when it fits. */
type Check = (value: unknown, at: string) => string | null;

const str: Check = (v, at) => (typeof v === "string" ? null : `${at} is not a string`);
const num: Check = (v, at) =>
  typeof v === "number" && Number.isFinite(v) ? null : `${at} is not a number`;
const int: Check = (v, at) => (Number.isInteger(v) ? null : `${at} is not a whole number`);
const bool: Check = (v, at) => (typeof v === "boolean" ? null : `${at} is not true or false`);
const nullable =
  (check: Check): Check =>
  (v, at) =>
    v === null ? null : check(v, at);
const optional =
  (check: Check): Check =>
  (v, at) =>
    v === undefined ? null : check(v, at);
const oneOf =
  (...values: readonly string[]): Check =>
  (v, at) =>
    typeof v === "string" && values.includes(v) ? null : `${at} is not one of ${values.join(", ")}`;
const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);
/** An object with at least these fields; fields it does not name are let through (additions). */
const obj =
  (fields: Record<string, Check>): Check =>
  (v, at) => {
    if (!isObject(v)) return `${at} is not an object`;
    for (const [name, check] of Object.entries(fields)) {
      const problem = check(v[name], `${at}.${name}`);
      if (problem) return problem;
    }
    return null;
  };
const arrayOf =
  (check: Check): Check =>
  (v, at) => {
    if (!Array.isArray(v)) return `${at} is not an array`;
    for (let i = 0; i < v.length; i++) {
      const problem = check(v[i], `${at}[${i}]`);
      if (problem) return problem;
    }
    return null;
  };
const recordOf =
  (check: Check): Check =>
  (v, at) => {
    if (!isObject(v)) return `${at} is not an object`;
    for (const [name, value] of Object.entries(v)) {
      const problem = check(value, `${at}.${name}`);
      if (problem) return problem;
    }
    return null;
  };
const either =
  (...checks: Check[]): Check =>
  (v, at) => {
    const problems = checks.map((check) => check(v, at));
    return problems.includes(null) ? null : problems[0];
  };

const PROTOCOLS = ["rest", "soap"];
const REPLY_MODES = ["sync", "ack", "callback"];
const OUTCOMES = ["completed", "rejected", "failed", "expired", "cancelled"];
const STATES = ["accepted", "processing", ...OUTCOMES];
const ENCODINGS = ["utf8", "base64"];

const headerMap = recordOf(either(str, arrayOf(str)));
const errorInfo = nullable(obj({ code: str, message: str }));

const requestShape = obj({
  id: str,
  xroadId: optional(nullable(str)),
  service: str,
  backend: str,
  protocol: oneOf(...PROTOCOLS),
  client: str,
  replyMode: oneOf(...REPLY_MODES),
  method: str,
  path: str,
  query: str,
  xroadHeaders: recordOf(str),
  headers: optional(headerMap),
  contentType: nullable(str),
  body: str,
  bodyEncoding: oneOf(...ENCODINGS),
  soap: optional(
    obj({
      headers: arrayOf(obj({ name: str, namespace: str, xml: str })),
      bodyNamespace: nullable(str),
      bodyXml: str,
      envelopePrefix: str,
    }),
  ),
  attachments: optional(
    arrayOf(obj({ contentType: str, size: num, data: optional(str), ref: optional(str) })),
  ),
  createdAt: num,
  expiresAt: nullable(num),
  owner: optional(nullable(str)),
  callback: optional(nullable(str)),
  idempotencyKey: optional(str),
});

const transactionMeta = obj({
  id: str,
  service: str,
  backend: str,
  client: str,
  protocol: oneOf(...PROTOCOLS),
  replyMode: oneOf(...REPLY_MODES),
  createdAt: num,
});

const answerFields = {
  status: int,
  contentType: str,
  body: str,
  bodyEncoding: optional(oneOf(...ENCODINGS)),
  headers: optional(headerMap),
};

/**
 * What is wrong with a backend answer as a translator hands it over, or null: the fields every
 * response carries, with a status an HTTP answer can have. A translator module is plain
 * JavaScript as often as not; the worker checks what it returns before anyone relies on it.
 */
export function answerProblem(value: unknown, at: string): string | null {
  const problem = obj(answerFields)(value, at);
  if (problem) return problem;
  const { status, contentType } = value as { status: number; contentType: string };
  // A 1xx is no answer: passed to a waiting caller, `101 Switching Protocols` with a body broke
  // its connection, on every resubmission too.
  if (status < 200 || status > 599) {
    return `${at}.status ${status} is not the status of a final HTTP answer`;
  }
  // It becomes a header of the sync answer and of the status document's readers.
  return isSendableHeaderValue(contentType) ? null : `${at}.contentType is not a header value`;
}

const responseShape = obj({
  ...answerFields,
  id: str,
  seq: int,
  final: bool,
  outcome: oneOf(...OUTCOMES),
  error: optional(errorInfo),
  producedAt: num,
  meta: optional(transactionMeta),
});

const stateNoticeShape = obj({
  kind: oneOf("state"),
  id: str,
  state: oneOf("processing", "cancelled"),
  at: num,
});

const wakeShape = obj({
  id: str,
  state: oneOf(...STATES),
  response: nullable(
    obj({ ...answerFields, seq: int, final: bool, outcome: oneOf(...OUTCOMES), producedAt: num }),
  ),
  error: errorInfo,
});

const callbackJobShape = obj({
  webhookId: str,
  messageId: str,
  client: optional(str),
  xroadId: optional(str),
  target: str,
  attempt: (v, at) => (Number.isInteger(v) && (v as number) >= 1 ? null : `${at} is not >= 1`),
  payload: optional(str),
  sharedPayload: optional(str),
  listenerId: optional(str),
  settlesDelivery: optional(bool),
  enqueuedAt: optional(num),
  trace: optional(recordOf(str)),
  notBefore: optional(num),
  parkedCopy: optional(str),
});

/** The field every message carries its version in (absent in version 1). */
const VERSION_FIELD = "version";

function codec<T extends object>(kind: string, version: number, shape: Check): Codec<T> {
  const oldestRead = 1;
  /** What follows the serialised message's fields: its version and the closing brace. */
  const versionTail = `,"${VERSION_FIELD}":${version}}`;
  return {
    kind,
    version,
    oldestRead,
    encode(message) {
      // The version is appended to the serialised message rather than copied in with a
      // spread: a request is encoded per accepted message, and the copy cost more than this.
      const text = JSON.stringify(message);
      if (VERSION_FIELD in message || text.length < 3) {
        return Buffer.from(JSON.stringify({ ...message, [VERSION_FIELD]: version }));
      }
      // Encoded straight into one buffer, the tail over the text's closing brace: no joined
      // string for Buffer.from to flatten (a copy of the whole message) first.
      const length = Buffer.byteLength(text);
      const encoded = Buffer.allocUnsafe(length - 1 + versionTail.length);
      encoded.write(text, 0, length, "utf8");
      encoded.write(versionTail, length - 1, versionTail.length, "latin1");
      return encoded;
    },
    decode(content) {
      let value: unknown;
      try {
        value = JSON.parse(content.toString("utf8"));
      } catch {
        return { ok: false, reason: "unreadable", error: `the ${kind} is not JSON` };
      }
      if (!isObject(value)) {
        return { ok: false, reason: "unreadable", error: `the ${kind} is not a JSON object` };
      }
      const written = value[VERSION_FIELD] ?? 1;
      if (!Number.isInteger(written) || (written as number) < 1) {
        return { ok: false, reason: "unreadable", error: `the ${kind}'s version is not valid` };
      }
      if ((written as number) > version || (written as number) < oldestRead) {
        return {
          ok: false,
          reason: "unsupported_version",
          error: `${kind} version ${String(written)} (this release reads ${oldestRead} to ${version})`,
        };
      }
      const problem = shape(value, kind);
      if (problem) return { ok: false, reason: "unreadable", error: problem };
      const { [VERSION_FIELD]: _version, ...message } = value;
      return { ok: true, message: message as T, version: written as number };
    },
  };
}

/**
 * Version 1: the messages of Sluice 0.1.0, without a version field (test/fixtures/protocol/).
 * Version 2: the same shapes with `version` set; every version-1 message reads as version 2.
 */
export const requestCodec = codec<RequestMessage>("request", 2, requestShape);
export const responseCodec = codec<ResponseMessage>("response", 2, responseShape);
export const stateNoticeCodec = codec<StateNotice>("state notice", 2, stateNoticeShape);
export const wakeCodec = codec<WakeMessage>("wake", 2, wakeShape);
export const callbackJobCodec = codec<CallbackJob>("callback job", 2, callbackJobShape);

/** What follows a request's fields when encoded: its version and the closing brace. */
const REQUEST_VERSION_TAIL = `,"${VERSION_FIELD}":${requestCodec.version}}`;

/**
 * A request message encoded from its two halves: the JSON of its record's fields (`metaJson`,
 * as serialised for the transaction record) and the fields the route read (`request`, none of
 * them a record field). The record's fields are serialised once per message, for Redis and the
 * broker alike; the result decodes to what `requestCodec.encode` of the joined message gives.
 */
export function encodeRequest(
  metaJson: string,
  request: Omit<RequestMessage, keyof TransactionMetaFields>,
): Buffer {
  const fields = JSON.stringify(request);
  if (VERSION_FIELD in request || metaJson.length < 3 || fields.length < 3) {
    return requestCodec.encode({ ...request, ...(JSON.parse(metaJson) as TransactionMetaFields) });
  }
  // `{meta…` + `,` + `…fields` + tail, straight into one buffer: the fields' opening brace
  // over the record's closing one and a comma over it, the tail over the fields' closing brace.
  const metaLength = Buffer.byteLength(metaJson);
  const fieldsLength = Buffer.byteLength(fields);
  const encoded = Buffer.allocUnsafe(metaLength + fieldsLength - 2 + REQUEST_VERSION_TAIL.length);
  encoded.write(metaJson, 0, metaLength, "utf8");
  encoded.write(fields, metaLength - 1, fieldsLength, "utf8");
  encoded[metaLength - 1] = 0x2c; // ","
  encoded.write(
    REQUEST_VERSION_TAIL,
    metaLength + fieldsLength - 2,
    REQUEST_VERSION_TAIL.length,
    "latin1",
  );
  return encoded;
}

/** The wake of a terminal change that stores no response (a cancel), as the store sends it. */
export function terminalWake(wake: Omit<WakeMessage, "response">): string {
  return wakeCodec.encode({ ...wake, response: null }).toString();
}

/**
 * The encoded wake message up to its response: the store appends the response's JSON and "}"
 * in the script that stores it, so a response body travels to Redis once, not twice.
 * `wakeHead(w) + JSON.stringify(w.response) + "}"` decodes as `wakeCodec.encode(w)` does.
 */
export function wakeHead(wake: Omit<WakeMessage, "response">): string {
  const head = JSON.stringify({
    id: wake.id,
    state: wake.state,
    error: wake.error,
    [VERSION_FIELD]: wakeCodec.version,
  });
  return `${head.slice(0, -1)},"response":`;
}
