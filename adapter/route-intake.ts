// What the REST and SOAP routes have in common between parsing a request and writing its
// answer: who may call a service, what an X-Road id may hold, where a callback goes, handing
// the message to the intake, which failure an outcome is, and the metric label of each answer.
// The routes keep only their protocol: reading headers or an envelope, the body, and the
// shape of the answer (JSON or XML).

import type { Context } from "koa";
import type { Logger } from "pino";
import type { CallbackPolicy } from "../shared/delivery/callback-target";
import { checkSubmittedCallback } from "./callback-check";
import type { Lookup } from "../shared/delivery/address-check";
import type { ServiceConfig } from "../shared/config/config";
import type { Protocol, ReplyMode } from "../shared/protocol/envelope";
import { SluiceError, type ErrorCode } from "../shared/protocol/errors";
import { noteAccess } from "./access-log";
import { setAnswerHeader } from "./answer-header";
import { connectionGone } from "./connection-gone";
import { waitsForAnswer, type Intake, type IntakeResult, type Submission } from "./intake";
import { requestContext } from "./request-span";

/** Error code of a malformed X-Road id in each protocol's words. */
const ID_ERROR: Record<Protocol, ErrorCode> = { rest: "InvalidHeader", soap: "InvalidSoap" };

// Control characters (C0 with tab, CR and LF, DEL, C1) and anything an HTTP header cannot carry.
// eslint-disable-next-line no-control-regex -- finding control characters is the point
const NOT_IN_AN_ID = /[\u0000-\u001f\u007f-\u009f\u0100-\uffff]/;

/**
 * The caller's X-Road message id (`X-Road-Id`, or the SOAP `id` header field): at most 255
 * characters a header can carry. It travels on as a header to the backend, so one with CR/LF or
 * other control characters is refused here, not acknowledged and then failed in the worker.
 */
export function checkXroadId(id: string, protocol: Protocol): void {
  const problem = xroadIdProblem(id);
  if (problem !== null) throw new SluiceError(ID_ERROR[protocol], problem);
}

/** What is wrong with an X-Road id (see checkXroadId), or null when it is fine. */
export function xroadIdProblem(id: string): string | null {
  if (id.length > 255) return "the X-Road id is longer than 255 characters";
  if (NOT_IN_AN_ID.test(id)) {
    return "the X-Road id holds a line break, a control character or a character outside ISO-8859-1";
  }
  return null;
}

/**
 * The configured service named `code` when it is offered over `protocol`; else 404
 * UnknownService (a SOAP-only service is unknown to REST callers and the other way round).
 * Own properties only: "toString" must be an unknown service, not Object.prototype's.
 */
export function offeredService(
  services: Readonly<Record<string, ServiceConfig>>,
  code: string,
  protocol: Protocol,
): ServiceConfig {
  const service = Object.hasOwn(services, code) ? services[code] : undefined;
  if (!service || !service.protocols.includes(protocol)) {
    throw new SluiceError(
      "UnknownService",
      `no ${protocol.toUpperCase()} service named "${code.slice(0, 100)}"`,
    );
  }
  return service;
}

/** What a route knows of its caller once the protocol's own checks have passed. */
export interface Caller {
  service: ServiceConfig;
  protocol: Protocol;
  client: string;
  xroadId: string | null;
  replyMode: ReplyMode;
  /** The target the caller named (`X-Callback-Url`), or "" for none. */
  callbackHeader: string;
}

export interface AdmissionDeps {
  callbackPolicy: CallbackPolicy;
  /** Name resolution for the callback check; the system resolver unless a test sets one. */
  lookup?: Lookup;
  /** Where a target refused over the provider's network is logged with its reason. */
  log?: Logger;
}

/**
 * The checks every protocol makes before a message is read further: the service's client
 * allowlist (403 AccessDenied), the X-Road id, and in callback mode the target (the caller's,
 * else the service's own), checked against the callback policy. Returns the callback target
 * once checked, or null at once (no promise) when the mode has none; throws what it refuses.
 */
export function admitCaller(caller: Caller, deps: AdmissionDeps): Promise<string> | null {
  const { service, client } = caller;
  if (service.allowedClients && !service.allowedClients.includes(client)) {
    throw new SluiceError("AccessDenied", `client ${client} may not use ${service.code}`);
  }
  if (caller.xroadId !== null) checkXroadId(caller.xroadId, caller.protocol);
  if (caller.replyMode !== "callback") return null;
  // A per-request callback (Prefer: respond-async with X-Callback-Url) on a service of another
  // mode was accepted with 202 and then never sent: its delivery ended delivery_failed unseen.
  if (deps.callbackPolicy.signing === false) {
    throw new SluiceError(
      "InvalidCallback",
      "callbacks are off: no callback secret is configured, so none could be signed",
    );
  }
  return callbackTarget(caller, deps);
}

async function callbackTarget(caller: Caller, deps: AdmissionDeps): Promise<string> {
  const { service } = caller;
  const raw = caller.callbackHeader || service.callback;
  if (!raw) {
    throw new SluiceError(
      "InvalidCallback",
      caller.protocol === "rest"
        ? "callback mode needs an X-Callback-Url header"
        : `${service.code} has no callback target`,
    );
  }
  return (
    await checkSubmittedCallback(raw, deps.callbackPolicy, caller.client, deps.lookup, deps.log)
  ).target;
}

/**
 * Hands an admitted message to the intake. A caller that waits (sync, or `Prefer: wait`) stops
 * waiting when its connection goes; the message's trace descends from the request's span.
 */
export function submitMessage(
  ctx: Context,
  intake: Intake,
  submission: Omit<Submission, "gone" | "trace">,
): Promise<IntakeResult> {
  const waits = waitsForAnswer(submission.replyMode, submission.waitMs);
  // Completed in place, not copied with a spread: the route made it for this call alone.
  const full = submission as Submission;
  full.gone = waits ? connectionGone(ctx.res) : undefined;
  full.trace = requestContext(ctx);
  return intake.submit(full);
}

/**
 * The gateway id on an answer (`X-Sluice-Id` and the access log line), and the message's state
 * (`X-Sluice-State`, `accepted` until it is answered): a backend's own `202` (a remote
 * provider's, with a `Location` of its own) says `completed`, so a caller never takes it for
 * Sluice's "kept, not sent yet".
 */
export function markMessage(ctx: Context, result: IntakeResult): void {
  setAnswerHeader(ctx, "X-Sluice-Id", result.id);
  setAnswerHeader(ctx, "X-Sluice-State", result.kind === "accepted" ? "accepted" : result.state);
  noteAccess(ctx, { id: result.id });
}

export interface OutcomeFailure {
  /** Error code: the REST `type`, the SOAP `Server.<code>`. */
  code: ErrorCode;
  /** Said when the outcome carries no message of its own. */
  message: string;
  /** HTTP status of a REST answer (SOAP faults are 500). */
  status: number;
}

/** Outcomes that are not an answer of the backend, as each protocol reports them. */
export const OUTCOME_FAILURES: Readonly<Record<string, OutcomeFailure>> = {
  failed: {
    code: "BackendFailed",
    message: "the backend failed to process the message",
    status: 502,
  },
  expired: {
    code: "Timeout",
    message: "the message expired before the backend processed it",
    status: 504,
  },
  cancelled: { code: "Conflict", message: "the message was cancelled", status: 409 },
  rejected: { code: "BackendRejected", message: "the backend rejected the message", status: 502 },
  /** `failed` because the backend's calls timed out. */
  timeout: { code: "Timeout", message: "the backend did not answer in time", status: 504 },
};

/** The failure an answered outcome stands for (a message whose state has no row is `failed`). */
export function failureOf(result: Extract<IntakeResult, { kind: "answered" }>): OutcomeFailure {
  const timedOut = result.state === "failed" && result.error?.code === "Timeout";
  if (timedOut) return OUTCOME_FAILURES.timeout;
  return Object.hasOwn(OUTCOME_FAILURES, result.state)
    ? OUTCOME_FAILURES[result.state]
    : OUTCOME_FAILURES.failed;
}

/** Metric label (`sluice_requests_total{outcome}`) of a 202 or SOAP acknowledgement. */
export function acceptedOutcome(result: IntakeResult): "accepted" | "duplicate" {
  return result.kind === "accepted" && result.duplicate ? "duplicate" : "accepted";
}

/** Metric label of a request refused with an error before or while it was taken. */
export function errorOutcome(error: SluiceError): string {
  if (error.code === "Busy") return "busy";
  if (error.code === "Unavailable") return "unavailable";
  return error.side === "Client" ? "invalid" : "error";
}
