// The headers that keep another organisation's content, served from Sluice's origin, from
// acting as Sluice's in a browser: the REST and SOAP answers of the consumer direction share them.

import type { Context } from "koa";

/**
 * Sandboxes an answer that carries a remote provider's content: a page, SVG or XHTML of its
 * making, opened in a browser, would otherwise run its scripts as Sluice's and call Sluice's
 * services as the local system. Sandboxed it is an opaque origin's; unsniffed, its type is the
 * one it named. Called after the provider's own headers, so its policy cannot loosen them.
 */
export function sandboxRemoteContent(ctx: Context): void {
  ctx.set("Content-Security-Policy", "sandbox");
  ctx.set("X-Content-Type-Options", "nosniff");
}
