// Every error that crosses a boundary carries a stable code, the HTTP status and SOAP
// faultcode it maps to, whether the worker may call again (`retryCall`) and, separately, when
// the caller should try again (`retryAfter`). Callers and the worker read these, never the text.

import { clipText } from "./clip-text";

export type FaultSide = "Client" | "Server";

/**
 * Every code an error or a failed outcome may carry: docs/semantics.md's SOAP fault codes, the REST
 * error types, and the outcome codes of status documents. A closed list: a new code is a
 * change of the interface (docs/semantics.md).
 */
export const ERROR_CODES = [
  // docs/semantics.md, SOAP faults (Client.<Code>)
  "InvalidXml",
  "InvalidSoap",
  "InvalidContentType",
  "MissingHeader",
  "MissingHeaderField",
  "DuplicateHeaderField",
  "InvalidProtocolVersion",
  "MissingBody",
  "InvalidBody",
  "InconsistentHeaders",
  "UnknownService",
  "ValidationFailed",
  "AccessDenied",
  "PayloadTooLarge",
  // docs/semantics.md, the gateway's conditions (Server.<Code>)
  "Busy",
  "Unavailable",
  "Timeout",
  "BackendRejected",
  "BackendFailed",
  // REST and operator answers where the contract leaves the code to Sluice
  "InvalidJson",
  "InvalidRequest",
  "InvalidHeader",
  "InvalidPath",
  "InvalidCallback",
  "NotFound",
  "MethodNotAllowed",
  "Conflict",
  // The admin port's look-up by X-Road id when several services hold it (docs/operator.md)
  "Ambiguous",
  "Internal",
  // Outcomes without a backend failure (status documents)
  "Expired",
  "Cancelled",
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

/** The `{code, message}` of a failed outcome, as responses, records and status documents carry it. */
export interface ErrorInfo {
  code: ErrorCode;
  message: string;
}

export function isErrorCode(value: unknown): value is ErrorCode {
  return (ERROR_CODES as readonly unknown[]).includes(value);
}

/**
 * Conditions in which calling again later may succeed: by default only these say `retryCall`.
 * `Internal` is not among them: a bug does not go away by calling again.
 */
const CALL_AGAIN: readonly ErrorCode[] = ["Busy", "Unavailable", "Timeout"];

export interface SluiceErrorOptions {
  status?: number;
  side?: FaultSide;
  /** Whether the worker may call the backend again for this (a transient failure). */
  retryCall?: boolean;
  /**
   * @deprecated the name in Sluice 0.1.0, kept for translator modules written against it:
   * the same as `retryCall`.
   */
  retryable?: boolean;
  /** Seconds the caller should wait before trying again (HTTP `Retry-After` of 503 answers). */
  retryAfter?: number;
  /** The gateway message id the error concerns, when there is one. */
  messageId?: string | null;
  /** Machine-readable details, e.g. ajv error paths. Never a stack trace. */
  details?: unknown;
  cause?: unknown;
}

const DEFAULT_STATUS: Partial<Record<ErrorCode, number>> = {
  InvalidJson: 400,
  InvalidXml: 400,
  InvalidSoap: 400,
  InvalidBody: 400,
  InvalidRequest: 400,
  InvalidHeader: 400,
  MissingHeader: 400,
  MissingHeaderField: 400,
  DuplicateHeaderField: 400,
  InvalidProtocolVersion: 400,
  MissingBody: 400,
  InconsistentHeaders: 400,
  ValidationFailed: 400,
  InvalidCallback: 400,
  AccessDenied: 403,
  UnknownService: 404,
  NotFound: 404,
  MethodNotAllowed: 405,
  Conflict: 409,
  PayloadTooLarge: 413,
  InvalidContentType: 415,
  Busy: 503,
  Unavailable: 503,
  BackendRejected: 502,
  BackendFailed: 502,
  Timeout: 504,
  Internal: 500,
  InvalidPath: 400,
};

/**
 * The longest message an error carries: enough for any sentence of Sluice's, while a message
 * that quotes what a caller sent (an element's name, a JSON pointer, a header) never hands a
 * caller's megabyte back to it in a fault or a JSON error.
 */
export const MAX_ERROR_MESSAGE = 2048;

export class SluiceError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly side: FaultSide;
  /** The worker may call the backend again (the ack / retry / dead-letter decision reads it). */
  readonly retryCall: boolean;
  /** Seconds after which the caller should try again; set on the answers that say so. */
  readonly retryAfter?: number;
  readonly messageId: string | null;
  readonly details?: unknown;

  constructor(code: ErrorCode, message: string, options: SluiceErrorOptions = {}) {
    super(
      clipText(message, MAX_ERROR_MESSAGE),
      options.cause === undefined ? undefined : { cause: options.cause },
    );
    this.name = "SluiceError";
    this.code = code;
    this.status = options.status ?? DEFAULT_STATUS[code] ?? 500;
    this.side = options.side ?? (this.status < 500 ? "Client" : "Server");
    this.retryCall = options.retryCall ?? options.retryable ?? CALL_AGAIN.includes(code);
    this.retryAfter = options.retryAfter;
    this.messageId = options.messageId ?? null;
    this.details = options.details;
  }

  /** @deprecated the name in Sluice 0.1.0 (translator modules may read it): `retryCall`. */
  get retryable(): boolean {
    return this.retryCall;
  }

  /** SOAP faultcode, e.g. `Client.MissingHeaderField` or `Server.Busy`. */
  get faultCode(): string {
    return `${this.side}.${this.code}`;
  }
}

/** Wraps anything thrown into a SluiceError without leaking internals to the wire. */
export function asSluiceError(error: unknown): SluiceError {
  if (error instanceof SluiceError) return error;
  return new SluiceError("Internal", "internal error", { cause: error });
}

/**
 * The backend said "no" on business grounds (4xx other than 408/429, a SOAP Client fault).
 * Never retried; the transaction becomes `rejected` and carries the backend's answer.
 */
export class BackendRejectedError extends SluiceError {
  readonly response: BackendResponse;
  constructor(message: string, response: BackendResponse) {
    super("BackendRejected", message, { retryCall: false, side: "Server", status: 502 });
    this.response = response;
  }
}

/**
 * A transient failure (5xx, 408, 429, timeout, refused connection). Retried per the
 * backend's schedule, honouring `retryAfterMs` when the backend sent one.
 */
export class BackendUnavailableError extends SluiceError {
  readonly retryAfterMs?: number;
  readonly response?: BackendResponse;
  constructor(
    message: string,
    options: { retryAfterMs?: number; response?: BackendResponse; cause?: unknown } = {},
  ) {
    super("BackendFailed", message, {
      retryCall: true,
      side: "Server",
      status: 502,
      cause: options.cause,
    });
    this.retryAfterMs = options.retryAfterMs;
    this.response = options.response;
  }
}

/**
 * The backend did not answer within the backend's timeout. Transient like any unavailability
 * (retried per the schedule), but counted and reported as a timeout.
 */
export class BackendTimeoutError extends BackendUnavailableError {}

/**
 * The backend answered with a redirect (3xx). Sluice never follows one (the backend url is the
 * operator's, and following could leave it), and calling again meets the same answer, so the
 * message fails at once: a configuration problem to fix, not a message that could not be
 * translated.
 */
export class BackendRedirectError extends SluiceError {
  /** The backend's status, e.g. 302. */
  readonly backendStatus: number;
  /** Where the backend pointed, as it said it (for the operator's log). */
  readonly location: string | null;
  constructor(message: string, backendStatus: number, location: string | null) {
    super("BackendFailed", message, { retryCall: false, side: "Server", status: 502 });
    this.backendStatus = backendStatus;
    this.location = location;
  }
}

/**
 * The backend answered, but not with an answer to this message: an X-Road answer whose header
 * does not echo the request's, or a security server reporting the provider's answer unusable.
 * Calling again would repeat a call the provider already served, so the message fails at once,
 * and its caller reads why (unlike a message the translator could not handle).
 */
export class BackendAnswerError extends SluiceError {
  constructor(message: string) {
    super("BackendFailed", message, { retryCall: false, side: "Server", status: 502 });
  }
}

/** One answer of the legacy system as the translator maps it. */
export interface BackendResponse {
  status: number;
  contentType: string;
  /** UTF-8 text, or base64 when `bodyEncoding` is "base64". */
  body: string;
  bodyEncoding?: "utf8" | "base64";
  /** The backend's own headers a sync caller gets (names lower-case; shared/protocol/forwarded-headers.ts). */
  headers?: Record<string, string | string[]>;
}
