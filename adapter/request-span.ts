// The span of each request on the service port: a child of the caller's `traceparent` (or a
// new trace), named for what the request was and carrying what the access line carries.

import type { Context as KoaContext, Middleware } from "koa";
import { redactionEnabled } from "../shared/observability/logger";
import {
  contextWith,
  contextFrom,
  endSpan,
  messageAttributes,
  SpanKind,
  startSpan,
  tracingRecords,
  type Context,
} from "../shared/observability/tracing";
import { accessFields, keepNotes, loggedPath } from "./access-log";

const TRACE = Symbol("trace-context");

/** The trace context of a request: what its intake, publish and answer descend from. */
export function requestContext(ctx: KoaContext): Context | undefined {
  return (ctx.state as { [TRACE]?: Context })[TRACE];
}

export function requestSpan(): Middleware {
  const redact = redactionEnabled();
  const recorded = recordedSpan(redact);
  return (ctx, next) => {
    if (tracingRecords()) return recorded(ctx, next);
    // No spans are recorded: only a caller's trace context is passed on, and a request without
    // one costs nothing here (no span, context or attributes made per request).
    if (ctx.req.headers.traceparent !== undefined) {
      (ctx.state as { [TRACE]?: Context })[TRACE] = contextFrom(ctx.req.headers);
    }
    return next();
  };
}

function recordedSpan(redact: boolean): Middleware {
  return async (ctx, next) => {
    const intake = ctx.path.startsWith("/rest/") || ctx.path === "/soap";
    const parent = contextFrom(ctx.req.headers);
    const span = startSpan(intake ? "sluice.intake" : "sluice.request", SpanKind.SERVER, parent, {
      "http.request.method": ctx.method,
      "url.path": loggedPath(ctx.path, redact),
    });
    (ctx.state as { [TRACE]?: Context })[TRACE] = contextWith(parent, span);
    // The span's attributes are the access line's fields.
    keepNotes(ctx);
    let failed: unknown;
    try {
      await next();
    } catch (error) {
      failed = error;
      throw error;
    } finally {
      if (span.isRecording()) {
        const note = accessFields(ctx);
        const status = failed ? 500 : ctx.status;
        const attributes = {
          ...messageAttributes(note),
          "http.response.status_code": status,
          ...(note.outcome ? { "sluice.outcome": note.outcome } : {}),
          ...(note.code ? { "error.type": note.code } : {}),
        };
        // A SOAP caller's own mistake is answered 500 too: only the gateway's failures are errors.
        const serverError = status >= 500 && note.outcome !== "invalid";
        endSpan(
          span,
          serverError ? (failed ?? { code: note.code ?? "Internal" }) : undefined,
          attributes,
        );
      }
    }
  };
}
