// Refusals of a business request as such, answered before its service looks at it, and the
// answer when Sluice itself fails. The routes that refuse and the OpenAPI documents read this
// one table, so a served document lists every answer a caller can get.

import type { ErrorCode } from "../shared/protocol/errors";

export interface RequestRefusal {
  code: ErrorCode;
  status: number;
  /** What the answer means to a caller (the OpenAPI response's description). */
  meaning: string;
}

export const REQUEST_REFUSALS = {
  /**
   * A method X-Road REST does not carry, or TRACE, which would loop every header Sluice sends
   * back to the caller (rest/rest-route.ts).
   */
  method: {
    code: "MethodNotAllowed",
    status: 405,
    meaning:
      "The method is TRACE or one X-Road REST does not carry (Allow names those served); nothing was accepted.",
  },
  /** Checked before any route (server.ts): Node would drop the lines past the limit unseen. */
  headerLines: {
    code: "InvalidHeader",
    status: 431,
    meaning: "The request has more header lines than adapter.maxHeaders; nothing was accepted.",
  },
  /**
   * A request line naming another version than HTTP/1.0 or HTTP/1.1 (server.ts,
   * shared/protocol/http-version.ts); RFC 9110 §15.6.6. Node served `HTTP/2.0` as HTTP/1.x.
   */
  version: {
    code: "InvalidRequest",
    status: 505,
    meaning:
      "The request line names another HTTP version than 1.1 or 1.0; nothing was accepted and the connection is closed.",
  },
  /** RFC 9112 §3.2: an HTTP/1.1 request has exactly one Host, naming a host (server.ts). */
  host: {
    code: "InvalidHeader",
    status: 400,
    meaning:
      "The request has no Host header, more than one, or one that names no host; nothing was accepted.",
  },
  /** RFC 9110 §8.3: Content-Type is one value, so two lines make the request invalid (server.ts). */
  contentTypeLines: {
    code: "InvalidHeader",
    status: 400,
    meaning: "The request has more than one Content-Type header; nothing was accepted.",
  },
  /**
   * RFC 9110 §11.6.2: Authorization is one credential. Node kept the first line and dropped
   * the other unseen, so the backend got another credential than the one a proxy checked.
   */
  authorizationLines: {
    code: "InvalidHeader",
    status: 400,
    meaning: "The request has more than one Authorization header; nothing was accepted.",
  },
  /**
   * A Host the port does not answer to (service-host-check.ts): on loopback another name than
   * a loopback one, elsewhere one not in adapter.hosts. DNS rebinding; RFC 9110 §15.5.20.
   */
  misdirectedHost: {
    code: "InvalidHeader",
    status: 421,
    meaning:
      "The request's Host names a host the service port does not answer to (on loopback, any but a loopback name, adapter.publicUrl's host or one of adapter.hosts; elsewhere, with adapter.hosts set, any but those and IP addresses); nothing was accepted.",
  },
  /** `Expect` other than 100-continue (server.ts); RFC 9110 §10.1.1. */
  expectation: {
    code: "InvalidHeader",
    status: 417,
    meaning:
      "The request's Expect is not 100-continue, the only expectation met; nothing was accepted.",
  },
  /** A request line longer than Node's header limit (client-error.ts); RFC 9110 §15.5.15. */
  longTarget: {
    code: "InvalidRequest",
    status: 414,
    meaning: "The request's URL is longer than the adapter reads; nothing was accepted.",
  },
  /** A request not sent whole within adapter.requestTimeout (client-error.ts). */
  slowRequest: {
    code: "InvalidRequest",
    status: 408,
    meaning: "The request was not sent whole within adapter.requestTimeout; nothing was accepted.",
  },
  /** Anything thrown that is not a SluiceError (shared/protocol/errors.ts asSluiceError). */
  internal: {
    code: "Internal",
    status: 500,
    meaning: "A fault of Sluice itself; the answer names none of its details.",
  },
} as const satisfies Record<string, RequestRefusal>;

/**
 * The refusals every route of the service port makes (server.ts, client-error.ts), the status
 * service's too: all but the method's, which only the business route answers (the status
 * service's routes answer another method with 404, as any path they do not serve).
 */
export const ROUTE_REFUSALS: readonly RequestRefusal[] = Object.entries(REQUEST_REFUSALS)
  .filter(([name]) => name !== "method")
  .map(([, refusal]) => refusal);
