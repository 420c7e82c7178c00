// One try of a claimed message's call of its backend: the message and its claim, the attempt
// and slot it is made under, and what the try came to as it goes.

import type { BackendResponse } from "../../shared/protocol/errors";
import type { CallPermit } from "../backend-guard";
import type { HeldMessage } from "./held-message";
import type { MessageWaits } from "./message-waits";

/**
 * One try of a claimed message's call: what each step of the backend call takes along. A
 * retry in place makes the next one (its attempt, its slot, the calls made so far).
 */
export interface CallTry extends HeldMessage {
  /** Aborted when the delivery's channel closed: the broker has the message again. */
  gone: AbortSignal;
  /** The message's expiry, unless it may have reached the backend before (then `false`). */
  expiry: MessageWaits | false;
  attempt: number;
  permit: CallPermit;
  /** Calls of this message made before this one (by earlier attempts). */
  calls: number;
}

/** What a try came to, filled in as it goes: decided on, logged and measured. */
export interface TryRecord {
  /** The call's rate token's grant time on the limiter's clock (logged with its outcome). */
  tokenAt: number | null;
  /** The worker's clock at the last look: when the call was sent (logged with its outcome). */
  sentAt: number | null;
  /** When the call was made (hrtime); `null` while nothing of this try reached the backend. */
  started: bigint | null;
  answers: BackendResponse[] | null;
  failure: unknown;
}

/**
 * The try after `t`: the same message, its next attempt under a new slot. Written out field by
 * field: V8 builds a spread followed by more fields on a slow path.
 */
export function nextTry(t: CallTry, attempt: number, permit: CallPermit, calls: number): CallTry {
  return {
    request: t.request,
    message: t.message,
    log: t.log,
    hold: t.hold,
    gone: t.gone,
    expiry: t.expiry,
    attempt,
    permit,
    calls,
  };
}

/** Calls of the message that may have reached the backend, this try's included. */
export function callsMade(t: CallTry, record: TryRecord): number {
  return t.calls + (record.started === null ? 0 : 1);
}
