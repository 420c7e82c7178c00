// `Expect: 100-continue` answered when the body is about to be read, not when the request
// arrives: a request refused before its body (too large, unknown service, no token) is never
// invited to send it. Used by the service port and the admin port alike.

import type { IncomingMessage, Server, ServerResponse } from "node:http";
import { declaredLength } from "./content-length";

const CONTINUE = Symbol("sluice.expect-continue");
const UNMET = Symbol("sluice.expect-unmet");
type ExpectingRequest = IncomingMessage & { [CONTINUE]?: ServerResponse; [UNMET]?: true };

/**
 * Takes over Node's `checkContinue`: Node would send `100 Continue` before any route saw the
 * request, inviting a caller to send a body far over its limit only to be answered 413. The
 * request goes to the routes as any other; `continueIfExpected` sends the 100 once a route
 * reads the body within its limit. A route that answers first gives its final answer alone
 * (RFC 9110 §10.1.1), and Node closes the connection after it, since the body may still come.
 * Any other expectation gets 417 with the connection closed (Node kept it open, so a body sent
 * at once would have been read as the next request): written here, with no body, or with
 * `routeUnmet` handed to the routes like any request, `unmetExpectation` telling them what was
 * expected, so the service port answers it in the contract's error shape.
 */
export function deferContinue(server: Server, { routeUnmet = false } = {}): void {
  server.on("checkContinue", (req: ExpectingRequest, res: ServerResponse) => {
    // No body to wait for: nothing to refuse by size, and the connection stays usable.
    if (declaredLength(req) === 0) res.writeContinue();
    else req[CONTINUE] = res;
    server.emit("request", req, res);
  });
  server.on("checkExpectation", (req: ExpectingRequest, res: ServerResponse) => {
    if (routeUnmet) {
      req[UNMET] = true;
      server.emit("request", req, res);
      return;
    }
    res.writeHead(417, { Connection: "close", "Content-Length": "0" });
    res.end();
  });
}

/**
 * What to tell a request whose expectation is not met (only 100-continue is), or undefined
 * when it expects nothing else. Its own words are quoted, cut at 100 characters.
 */
export function unmetExpectation(req: IncomingMessage): string | undefined {
  if ((req as ExpectingRequest)[UNMET] !== true) return undefined;
  const expected = JSON.stringify(String(req.headers.expect ?? "").slice(0, 100));
  return `the request expects ${expected}; only 100-continue is met`;
}

/** Sends the `100 Continue` a request still waits for, if it asked for one; once. */
export function continueIfExpected(req: IncomingMessage): void {
  const res = (req as ExpectingRequest)[CONTINUE];
  if (res === undefined) return;
  (req as ExpectingRequest)[CONTINUE] = undefined;
  if (!res.headersSent && !res.writableEnded) res.writeContinue();
}
