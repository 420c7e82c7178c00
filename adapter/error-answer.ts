// Turns any error of a REST or status request into the contract's JSON error answer:
// `{type, message, detail}` with the right status and Retry-After, never a stack trace.

import type { Context } from "koa";
import type { Logger } from "pino";
import { asSluiceError, type SluiceError } from "../shared/protocol/errors";
import { noteAccess } from "./access-log";
import { closeUnreadBody } from "../shared/protocol/unread-body";

export function answerError(ctx: Context, error: unknown, log: Logger): SluiceError {
  const err = asSluiceError(error);
  if (err.code === "Internal")
    log.error({ err: (error as Error)?.stack ?? String(error) }, "request failed");
  ctx.status = err.status;
  noteAccess(ctx, { code: err.code, id: err.messageId });
  closeUnreadBody(ctx.req, ctx.res);
  if (err.retryAfter !== undefined) ctx.set("Retry-After", String(err.retryAfter));
  ctx.type = "application/json";
  const body: Record<string, unknown> = {
    type: err.code,
    message: err.message,
    detail: err.messageId,
  };
  if (err.details !== undefined) body.errors = err.details;
  ctx.body = body;
  return err;
}
