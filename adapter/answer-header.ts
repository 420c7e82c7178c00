// Setting one header of an answer on the hot path. Koa 3's `ctx.set` builds arrays for every
// call (the entries, each normalised pair) before it sets the header; an acknowledgement sets
// five, so the adapter sets its own string headers on the Node response directly.

import type { Context } from "koa";

/** `ctx.set(name, value)` for one string value: nothing once the answer's headers are sent. */
export function setAnswerHeader(ctx: Context, name: string, value: string): void {
  if (!ctx.res.headersSent) ctx.res.setHeader(name, value);
}
