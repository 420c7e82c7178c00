// One line per request on the service port, refused ones included: who asked for what, what
// they were answered and how long it took. An audit trail, so never a body, query or user id.

import type { Context, Middleware } from "koa";
import type { Logger } from "pino";
import { redactionEnabled } from "../shared/observability/logger";

/** What a route learned about a request; the middleware fills the rest from the wire. */
export interface AccessNote {
  service?: string | null;
  client?: string | null;
  xroadId?: string | null;
  /** The gateway message id, when the request concerned one. */
  id?: string | null;
  /** The error code answered (`ValidationFailed`, `Busy`, ...), null for a success. */
  code?: string | null;
  /** The `outcome` label the request was counted under in sluice_requests_total. */
  outcome?: string | null;
}

const NOTE = Symbol("access-note");
const MAX_FIELD = 255;

/**
 * Adds to what the access line of this request says; null and undefined add nothing. Only a
 * request whose notes someone reads keeps them (see keepNotes): with no access line and no
 * recorded span, a route's notes cost a call, not an object filled per request.
 */
export function noteAccess(ctx: Context, note: AccessNote): void {
  const known = (ctx.state as { [NOTE]?: AccessNote })[NOTE];
  if (known === undefined) return;
  // A for-in, not Object.entries: no array per call (a request is noted three times or more).
  for (const key in note) {
    const value = note[key as keyof AccessNote];
    if (value !== null && value !== undefined) known[key as keyof AccessNote] = value;
  }
}

/** From now on the routes' notes on this request are kept, for whoever reads them when it ends. */
export function keepNotes(ctx: Context): void {
  (ctx.state as { [NOTE]?: AccessNote })[NOTE] ??= {};
}

/** Everything the routes noted about a request so far (kept since keepNotes). */
export function accessNoteOf(ctx: Context): AccessNote {
  return (ctx.state as { [NOTE]?: AccessNote })[NOTE] ?? {};
}

function clip(value: string | null | undefined): string | null {
  if (!value) return null;
  return value.length > MAX_FIELD ? `${value.slice(0, MAX_FIELD)}…` : value;
}

/**
 * A REST path's tail is the caller's own (`/rest/persons/38001010000`) and may name a person:
 * with redaction on, only the service part is logged.
 */
export function loggedPath(path: string, redact: boolean): string {
  const match = redact ? /^(\/rest\/[^/]+)\/./.exec(path) : null;
  return clip(match ? `${match[1]}/[redacted]` : path) ?? "/";
}

/** What is known of a request once answered: the routes' notes, else what the wire says. */
export function accessFields(ctx: Context): Required<AccessNote> {
  const note = accessNoteOf(ctx);
  return {
    service: clip(note.service),
    client: clip(note.client ?? ctx.get("X-Road-Client")),
    xroadId: clip(note.xroadId ?? ctx.get("X-Road-Id")),
    id: note.id ?? (ctx.response.get("X-Sluice-Id") || null),
    code: note.code ?? null,
    outcome: note.outcome ?? null,
  };
}

export function accessLog(log: Logger): Middleware {
  const redact = redactionEnabled();
  return (ctx, next) => {
    // A level above info (the benchmarks', a quiet deployment's) writes no access lines: the
    // request then pays for none of their fields.
    if (!log.isLevelEnabled("info")) return next();
    return logged(ctx, next);
  };

  async function logged(ctx: Context, next: () => Promise<unknown>): Promise<void> {
    const started = process.hrtime.bigint();
    keepNotes(ctx);
    let failed = false;
    try {
      await next();
    } catch (error) {
      failed = true;
      throw error;
    } finally {
      const fields = accessFields(ctx);
      // A caller that hung up before its answer (a sync caller that stopped waiting) was
      // answered nothing, whatever status the route chose for it.
      const gone = ctx.req.socket.destroyed && !ctx.res.headersSent;
      // Written out field by field: a spread followed by more fields is built on V8's slow
      // path (microseconds), and this runs for every request at the default log level.
      log.info(
        {
          method: ctx.method,
          path: loggedPath(ctx.path, redact),
          status: gone ? null : failed ? 500 : ctx.status,
          service: fields.service,
          client: fields.client,
          xroadId: fields.xroadId,
          id: fields.id,
          code: fields.code ?? (failed ? "Internal" : null),
          outcome: fields.outcome,
          durationMs: Math.round(Number(process.hrtime.bigint() - started) / 1e5) / 10,
        },
        "request",
      );
    }
  }
}
