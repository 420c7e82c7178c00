// What follows a backend call (docs/translators.md): complete, reject, retry (later through a delay
// queue, or in place for an ordered backend), dead-letter as failed, or hand the message back.
// A pure function of the call's result, the attempt and the backend's retry policy.

import {
  BackendAnswerError,
  BackendRedirectError,
  BackendRejectedError,
  BackendTimeoutError,
  BackendUnavailableError,
  SluiceError,
  type BackendResponse,
  type ErrorInfo,
} from "../../shared/protocol/errors";
import { withUrlsShown } from "../../shared/delivery/callback-target";
import { answerProblem } from "../../shared/protocol/codec";
import {
  MAX_RESPONSES,
  responseSizeProblem,
  responsesProblem,
} from "../../shared/protocol/envelope";
import { planRetry, type RetryPolicy } from "./retry-schedule";

/** What a call came to: answers, or the failure thrown, or nothing (shutdown came first). */
export type CallResult =
  { answers: BackendResponse[]; failure?: undefined } | { answers?: undefined; failure: unknown };

export interface DecisionContext {
  /** 1-based number of the call that just ended. */
  attempt: number;
  retry: RetryPolicy;
  /** An ordered backend's message retries in place, keeping its place in line. */
  ordered: boolean;
  /** The worker is shutting down: whatever the call came to, it was interrupted. */
  shuttingDown: boolean;
  /** The broker's `max_message_size`: no response message may be larger. */
  maxMessageBytes: number;
  /** `maxMessageBytes` named for the operator, when it is not `amqpMaxMessageSize`. */
  maxMessageLimit?: string;
}

/** The `outcome` label of sluice_backend_calls_total. */
export type CallOutcome =
  "completed" | "rejected" | "retryable_error" | "timeout" | "redirect" | "poison" | "interrupted";

/** Why a message went to the dead-letter queue (`x-sluice-reason`). */
export type FailReason = "retries_exhausted" | "backend_redirect" | "translator_error";

export type CallDecision =
  /** The backend answered: the message is `completed` with these responses; ack. */
  | { action: "complete"; outcome: "completed"; answers: BackendResponse[] }
  /** A business refusal, never retried: `rejected` with the backend's answer; ack. */
  | {
      action: "reject";
      outcome: "rejected";
      response: BackendResponse;
      error: ErrorInfo;
    }
  /** A transient failure with attempts left: call again after `delayMs`. */
  | {
      action: "retry";
      outcome: "retryable_error" | "timeout";
      /** Wait in the worker (ordered backend) instead of a delay queue. */
      inPlace: boolean;
      delayMs: number;
      nextAttempt: number;
      cause: string;
    }
  /** `failed` and dead-lettered with `reason`; ack. */
  | {
      action: "fail";
      outcome: "retryable_error" | "timeout" | "redirect" | "poison";
      reason: FailReason;
      error: ErrorInfo;
      /** The backend's own answer, when it gave one (a caller in sync mode sees it). */
      response: BackendResponse | null;
      cause: string;
    }
  /** Nothing is decided: the claim is released and the message requeued. */
  | { action: "hand-back"; outcome: "interrupted" };

/**
 * The failure in words for the operator (log, dead letter): its message, and its cause's when
 * that says more (the network error under a transport failure, whose addresses the caller's
 * status document leaves out). A URL the cause quotes is shown as callback targets are: a
 * library's message may hold the backend url whole, its password and query key included.
 */
function describe(failure: unknown): string {
  const message = (failure as Error | null)?.message ?? String(failure);
  const cause = (failure as { cause?: unknown } | null)?.cause;
  const detail =
    cause instanceof Error
      ? withUrlsShown(cause.message.split("\n")[0]).slice(0, 300) + namesHeld(cause)
      : "";
  return detail && !message.includes(detail) ? `${message} (${detail})` : message;
}

/**
 * What a certificate that does not name the host it was reached by names instead. Node's words
 * list, for a host given as an IP address, only the certificate's IP addresses ("IP: 10.0.3.7 is
 * not in the cert's list: "), which for a security server's DNS-named certificate is nothing: the
 * operator needs its names to choose securityServer.url's host or a new certificate.
 */
function namesHeld(cause: Error): string {
  if ((cause as { code?: unknown }).code !== "ERR_TLS_CERT_ALTNAME_INVALID") return "";
  const cert = (cause as { cert?: { subjectaltname?: unknown; subject?: { CN?: unknown } } }).cert;
  const names = cert?.subjectaltname;
  if (typeof names === "string" && names !== "") return `; the certificate names ${names}`;
  const cn = cert?.subject?.CN;
  return typeof cn === "string" ? `; the certificate names no subjectAltName, only CN=${cn}` : "";
}

/**
 * The decision reads the error's `retryCall` flag and its kind, nothing else: a business
 * refusal (BackendRejected) is final, a failure that may be called again is retried while
 * attempts are left (a timeout is one, named as such), a redirect fails at once, and anything
 * else is a message the translator cannot handle (poison), which fails at once too.
 */
export function decideCall(result: CallResult, context: DecisionContext): CallDecision {
  const broken = brokenAnswer(result);
  if (broken) return translatorFailure(`the translator broke its interface: ${broken}`);
  // An answer the broker would refuse as a response message fails now, once: published, it
  // would close the worker's channel on every try and the message never end.
  const oversized = oversizedAnswer(result, context.maxMessageBytes, context.maxMessageLimit);
  if (oversized) return translatorFailure(oversized);
  if (result.answers) return { action: "complete", outcome: "completed", answers: result.answers };
  const failure = result.failure;
  const cause = describe(failure);
  // A shutdown interrupts a call, not an answer: a refusal, a redirect or an answer that is not
  // the message's came from the backend and is decided as any answer is. Handed back, the next
  // worker would call the backend again for an answer it has given (a translator that finished
  // its call in the grace after the shutdown's abort).
  const answered =
    failure instanceof BackendRejectedError ||
    failure instanceof BackendRedirectError ||
    failure instanceof BackendAnswerError;
  if (context.shuttingDown && !answered) return { action: "hand-back", outcome: "interrupted" };
  if (failure instanceof BackendRejectedError) {
    return {
      action: "reject",
      outcome: "rejected",
      response: failure.response,
      error: { code: "BackendRejected", message: failure.message },
    };
  }
  if (failure instanceof BackendRedirectError) {
    return {
      action: "fail",
      outcome: "redirect",
      reason: "backend_redirect",
      error: {
        code: "BackendFailed",
        message: `the backend answered ${failure.backendStatus} (a redirect, which is not followed)`,
      },
      response: null,
      cause,
    };
  }
  if (failure instanceof BackendAnswerError) {
    return {
      action: "fail",
      outcome: "poison",
      reason: "translator_error",
      error: { code: "BackendFailed", message: failure.message },
      response: null,
      cause,
    };
  }
  if (failure instanceof SluiceError && failure.retryCall) {
    const timedOut = failure instanceof BackendTimeoutError;
    const outcome = timedOut ? "timeout" : "retryable_error";
    const unavailable = failure instanceof BackendUnavailableError ? failure : null;
    const plan = planRetry(context.retry, context.attempt, unavailable?.retryAfterMs);
    if (plan.retry) {
      return {
        action: "retry",
        outcome,
        inPlace: context.ordered,
        delayMs: plan.delayMs,
        nextAttempt: plan.nextAttempt,
        cause,
      };
    }
    // A caller waiting in sync mode is told a timeout as one (504, Server.Timeout).
    return {
      action: "fail",
      outcome,
      reason: "retries_exhausted",
      error: {
        code: timedOut ? "Timeout" : "BackendFailed",
        message: `the backend failed ${context.attempt} times: ${failure.message}`,
      },
      // A response too large for the broker is left out: the failure is told without it.
      response:
        unavailable?.response && !responseSizeProblem(unavailable.response, context.maxMessageBytes)
          ? unavailable.response
          : null,
      cause,
    };
  }
  return translatorFailure(cause);
}

/**
 * What the caller reads when the translator failed on its message. The translator's own words
 * stay with the operator (the dead letter, the log): they are any module's error text, which
 * may name hosts, paths or credentials, and the status document goes to another organisation.
 * The caller is told what it may conclude instead, and where the reason is.
 */
export const TRANSLATOR_FAILED =
  "the message could not be translated for the backend, or the backend's answer for you: " +
  "not retried, and the backend may or may not have received it; the operator of this " +
  "gateway has the reason under this message's id";

/** A message the translator cannot handle: `failed` at once, dead-lettered for the operator. */
function translatorFailure(cause: string): CallDecision {
  return {
    action: "fail",
    outcome: "poison",
    reason: "translator_error",
    error: { code: "BackendFailed", message: TRANSLATOR_FAILED },
    response: null,
    cause,
  };
}

/** Why an answer that would become a response message is too large for the broker, or "". */
function oversizedAnswer(result: CallResult, maxBytes: number, limitName?: string): string {
  if (result.answers) {
    for (const answer of result.answers) {
      const problem = responseSizeProblem(answer, maxBytes, limitName);
      if (problem) return problem;
    }
    return "";
  }
  if (result.failure instanceof BackendRejectedError) {
    return responseSizeProblem(result.failure.response, maxBytes, limitName);
  }
  return "";
}

/**
 * What is wrong with the answers a translator returned, or with the answer its rejection or
 * transient failure carries, or "". They become the message's responses: one the response
 * worker cannot read is dead-lettered there, and the message would stay `processing` for ever.
 */
function brokenAnswer(result: CallResult): string {
  if (result.answers) {
    if (!Array.isArray(result.answers)) return "call() resolved to something other than a list";
    if (result.answers.length > MAX_RESPONSES) {
      return `call() resolved to ${result.answers.length} answers, more than the ${MAX_RESPONSES} a message may have`;
    }
    for (let i = 0; i < result.answers.length; i++) {
      const problem = answerProblem(result.answers[i], `answer[${i}]`);
      if (problem) return problem;
    }
    const problem = responsesProblem(result.answers);
    return problem ? `call() resolved to answers that are too many or too large: ${problem}` : "";
  }
  if (result.failure instanceof BackendRejectedError) {
    return answerProblem(result.failure.response, "the rejection's response") ?? "";
  }
  if (result.failure instanceof BackendUnavailableError && result.failure.response != null) {
    return answerProblem(result.failure.response, "the failure's response") ?? "";
  }
  return "";
}
