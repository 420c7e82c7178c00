// Reading one request header on the hot path, by its lower-case name from Node's header table:
// Koa's `ctx.get` lower-cases the name on every call, a new string each time.

import type { IncomingMessage } from "node:http";
import { SluiceError } from "../shared/protocol/errors";
import { headerCount } from "./xroad-client";

/** A request header by its lower-case name, "" when absent (repeated lines joined by ", "). */
export function headerOf(req: IncomingMessage, name: string): string {
  const value = req.headers[name];
  return typeof value === "string" ? value : value === undefined ? "" : value.join(", ");
}

/**
 * The callback target the caller named (`X-Callback-Url`), trimmed, or "" for none. Given twice
 * it is refused (400 InvalidCallback): Node joins the lines with ", ", and `…/hooks/a` and `b`
 * became the one target `…/hooks/a,%20b`, which neither line named, and passed the allowlist.
 */
export function callbackHeaderOf(req: IncomingMessage): string {
  const value = req.headers["x-callback-url"];
  if (value === undefined) return "";
  if (headerCount(req, "x-callback-url") > 1) {
    throw new SluiceError("InvalidCallback", "the X-Callback-Url header must appear once");
  }
  return (typeof value === "string" ? value : value.join(", ")).trim();
}
