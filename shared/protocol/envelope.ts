// The messages Sluice keeps on RabbitMQ: a request on `requests.<backend>`, each answer and
// state notice on `responses`. All are JSON (shared/protocol/codec.ts); bodies are UTF-8 or base64.

import type { BackendResponse, ErrorInfo } from "./errors";
import type { HeaderMap } from "./forwarded-headers";

export type Protocol = "rest" | "soap";
export type ReplyMode = "sync" | "ack" | "callback";

/** One X-Road SOAP header field as received, kept verbatim so the answer can echo it. */
export interface SoapHeaderField {
  /** Local name, e.g. "client", "service", "userId", "representedParty". */
  name: string;
  /** Namespace URI of the element. */
  namespace: string;
  /** The exact XML of the element as received (prefixes as the caller wrote them). */
  xml: string;
}

export interface AttachmentRef {
  contentId?: string;
  contentType: string;
  /** base64 content when small enough to travel inline. */
  data?: string;
  /** Redis key holding the content when it was stored by reference. */
  ref?: string;
  size: number;
  headers?: Record<string, string>;
}

export interface RequestMessage {
  /** Gateway message id (UUID). */
  id: string;
  /** The caller's X-Road message id, if it sent one. */
  xroadId: string | null;
  /** X-Road serviceCode as configured. */
  service: string;
  backend: string;
  protocol: Protocol;
  /** X-Road client id `INSTANCE/CLASS/MEMBER[/SUBSYSTEM]`. */
  client: string;
  replyMode: ReplyMode;
  /** HTTP method of a REST request; "POST" for SOAP. */
  method: string;
  /** Path below `/rest/<serviceCode>`, starting with "/" or empty. */
  path: string;
  /** Raw query string without "?" (may be empty). */
  query: string;
  /** X-Road-* headers as received (lower-case names). */
  xroadHeaders: Record<string, string>;
  /** REST: the caller's own headers for the backend, Accept included (shared/protocol/forwarded-headers.ts). */
  headers?: HeaderMap;
  contentType: string | null;
  body: string;
  bodyEncoding: "utf8" | "base64";
  /** SOAP only: the header fields in order, and the Body element's namespace and XML. */
  soap?: {
    headers: SoapHeaderField[];
    bodyNamespace: string | null;
    bodyXml: string;
    envelopePrefix: string;
    /**
     * The request's Header element, verbatim: written by releases before the request message
     * was slimmed (issue 17), never read (the adapter holding the request builds the echo).
     */
    headerXml?: string;
    /** Namespace declarations of the request's Envelope, so cut-out elements stay well-formed. */
    envelopeDeclarations?: ReadonlyArray<readonly [prefix: string, uri: string]>;
    /** The prefix the caller used on the Body element: as `headerXml`, no longer written. */
    bodyPrefix?: string;
    /** The request came as MTOM (application/xop+xml root): its attachments go on that way. */
    mtom?: boolean;
  };
  attachments?: AttachmentRef[];
  /** Epoch milliseconds. */
  createdAt: number;
  /** Epoch milliseconds after which the request must not reach the backend. */
  expiresAt: number | null;
  /**
   * The adapter instance holding a sync caller, and the callback target: kept in the record,
   * and carried here so that a record Redis lost can be written again from the request.
   * Absent in requests of earlier versions.
   */
  owner?: string | null;
  callback?: string | null;
  /**
   * The backend's `Idempotency-Key` when it is not `id`: a replay carries its original's, so
   * an idempotent backend that did process the original absorbs the replay.
   */
  idempotencyKey?: string;
}

export type Outcome = "completed" | "rejected" | "failed" | "expired" | "cancelled";

/** A message's state in its transaction record. */
export type State = "accepted" | "processing" | Outcome;

export interface StoredResponse {
  seq: number;
  final: boolean;
  status: number;
  contentType: string;
  body: string;
  bodyEncoding: "utf8" | "base64";
  /** The backend's own headers, when the translator passed any. */
  headers?: HeaderMap;
  outcome: Outcome;
  producedAt: number;
}

export interface ResponseMessage extends BackendResponse {
  id: string;
  seq: number;
  final: boolean;
  outcome: Outcome;
  /** For rejected/failed/expired: a short code and text the caller can read. */
  error?: ErrorInfo | null;
  /** Epoch milliseconds when the worker produced it. */
  producedAt: number;
  /**
   * The transaction's fixed part, so that the response worker can write the record again
   * should Redis lose it before the response is stored. Absent in earlier versions.
   */
  meta?: TransactionMetaFields;
}

/** The fixed part of a transaction record (see `TransactionMeta` in the store). */
export interface TransactionMetaFields {
  id: string;
  xroadId: string | null;
  service: string;
  backend: string;
  client: string;
  protocol: Protocol;
  replyMode: ReplyMode;
  owner: string | null;
  callback: string | null;
  createdAt: number;
  expiresAt: number | null;
}

/** A state change told without a response (a worker claiming a message, a client cancelling one). */
export type NoticeState = "processing" | "cancelled";

export interface StateNotice {
  kind: "state";
  id: string;
  state: NoticeState;
  /** Epoch milliseconds, taken after the store recorded the change (same clock as its entry). */
  at: number;
}

/**
 * The most responses one message may have (docs/semantics.md: `seq`, the last `final`). Each is
 * stored, published and delivered: an answer of 100 000 responses could not be recorded at all
 * (its arguments overflowed the stack), and the worker retried recording it for ever, the
 * message `processing` for good and the worker's memory growing with each try.
 */
export const MAX_RESPONSES = 1000;

/**
 * The most bytes of response bodies a message's later responses may carry again. Each response
 * is told with every one before it (the stored record read back, each callback's and hub
 * event's status document), so n responses of S bytes in all are carried about n × S / 2
 * bytes: an answer of 200 responses of 9 KB (1.8 MB) moved 180 MB through Redis, and as much
 * through RabbitMQ to each callback and listener; 1 000 of 10 KB would have moved 5 GB.
 */
export const MAX_RETOLD_RESPONSE_BYTES = 64 * 1024 * 1024;

/** What `bodies`, a message's responses in order, would carry again (see above), in bytes. */
export function retoldResponseBytes(bodies: ReadonlyArray<{ body: string }>): number {
  let total = 0;
  for (let i = 0; i < bodies.length - 1; i++) {
    total += Buffer.byteLength(bodies[i].body) * (bodies.length - 1 - i);
  }
  return total;
}

/** Why `bodies` are too many or too large to be a message's responses, or "". */
export function responsesProblem(bodies: ReadonlyArray<{ body: string }>): string {
  if (bodies.length > MAX_RESPONSES) {
    return `it has ${bodies.length} responses, more than the ${MAX_RESPONSES} a message may have`;
  }
  const retold = retoldResponseBytes(bodies);
  if (retold > MAX_RETOLD_RESPONSE_BYTES) {
    return (
      `its ${bodies.length} responses would carry ${retold} bytes again (each is told with ` +
      `those before it), more than the ${MAX_RETOLD_RESPONSE_BYTES} a message may`
    );
  }
  return "";
}

/**
 * Room kept in a response message for what surrounds the backend's answer (id, seq, outcome,
 * error, the message's meta): a few hundred bytes, and at most Node's 16 KiB of request headers
 * for the strings the meta takes from them (a callback URL).
 */
export const RESPONSE_ENVELOPE_ALLOWANCE = 32 * 1024;

/** Fields of an answer counted by `answerBytesAtMost`; another (a translator module's) is measured. */
const COUNTED_FIELDS = new Set(["status", "contentType", "body", "bodyEncoding", "headers"]);

/**
 * An upper bound of the bytes `answer` takes JSON-encoded, counted without encoding it: a
 * UTF-16 unit of a string is at most 6 bytes (`\u001f`, a lone surrogate), a base64 body is
 * not escaped. Infinity when it has fields this does not count.
 */
function answerBytesAtMost(answer: {
  body: string;
  bodyEncoding?: string;
  contentType?: string;
  headers?: Record<string, string | string[]>;
}): number {
  let bytes =
    64 +
    (answer.bodyEncoding === "base64" ? answer.body.length : 6 * answer.body.length) +
    6 * (answer.contentType?.length ?? 0);
  const headers = answer.headers;
  if (headers) {
    for (const name in headers) {
      const value = headers[name];
      bytes += 6 * name.length + 8;
      if (typeof value === "string") bytes += 6 * value.length;
      else if (Array.isArray(value)) for (const v of value) bytes += 6 * String(v).length + 3;
      else return Infinity;
    }
  }
  for (const name in answer) if (!COUNTED_FIELDS.has(name)) return Infinity;
  return bytes;
}

/**
 * Why `answer` would make a response message larger than `maxBytes` (the broker's
 * `max_message_size`), or "". A JSON-escaped body can grow 6-fold (control characters), so a
 * 10 MiB answer can make a 60 MB message: the broker would close the publishing channel over
 * it on every try, and the message never end. Most answers are measured by their length only;
 * the exact size is counted when that bound does not settle it.
 */
export function responseSizeProblem(
  answer: {
    body: string;
    bodyEncoding?: string;
    contentType?: string;
    headers?: Record<string, string | string[]>;
  },
  maxBytes: number,
  /** `maxBytes` named for the operator: the broker's own limit when that is the smaller one. */
  limitName = `amqpMaxMessageSize of ${maxBytes} bytes (the broker's max_message_size)`,
): string {
  const room = maxBytes - RESPONSE_ENVELOPE_ALLOWANCE;
  if (answerBytesAtMost(answer) <= room) return "";
  let bytes: number;
  try {
    bytes = Buffer.byteLength(JSON.stringify(answer));
  } catch (error) {
    return `the backend's answer cannot be encoded as JSON: ${(error as Error).message}`;
  }
  if (bytes <= room) return "";
  return (
    `the backend's answer is ${bytes} bytes JSON-escaped (${Buffer.byteLength(answer.body)} ` +
    `body bytes), more than a response message carries under ${limitName}`
  );
}
