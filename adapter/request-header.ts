// Reading one request header on the hot path, by its lower-case name from Node's header table:
// Koa's `ctx.get` lower-cases the name on every call, a new string each time.

import type { IncomingMessage } from "node:http";

/** A request header by its lower-case name, "" when absent (repeated lines joined by ", "). */
export function headerOf(req: IncomingMessage, name: string): string {
  const value = req.headers[name];
  return typeof value === "string" ? value : value === undefined ? "" : value.join(", ");
}
