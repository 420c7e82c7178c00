// A message past its service's `expireAfter`: ended `expired` when it never reached the
// backend, or `failed` (dead-lettered) when an earlier call of it may have reached it.

import type { RequestMessage } from "../../shared/protocol/envelope";
import { metrics } from "../../shared/observability/metrics";
import type { Clock } from "../../shared/runtime/clock";
import { responsesOf, type AnswerRecorder } from "./answer-recorder";
import type { CallPermit } from "../backend-guard";
import type { HeldMessage } from "./held-message";
import type { ProcessorDeps } from "./processor-deps";
import { callsBefore } from "./retry-parking";

export class MessageExpiry {
  constructor(
    private readonly deps: ProcessorDeps,
    private readonly clock: Clock,
    private readonly answers: AnswerRecorder,
  ) {}

  /** Whether the request is past its service's `expireAfter` by the worker's clock. */
  expired(request: RequestMessage): boolean {
    return request.expiresAt !== null && this.clock.now() > request.expiresAt;
  }

  /**
   * Ends a claimed request past its expiry: `expired` when it never reached the backend. One
   * whose earlier call failed transiently (`calls` made) may have reached it, a timed-out call
   * above all: `expired` would tell its caller the backend never saw it, so the expiry ends its
   * retries instead, as `failed`.
   */
  async expire(
    held: HeldMessage,
    calls = callsBefore(held.message),
    /** The call's slot, while still held: the record's round trip frees it. */
    permit?: CallPermit,
  ) {
    const { request, log } = held;
    // A delivery handed back as it came (a shutdown during a call or an in-place retry) carries
    // no count of the calls made: the record's mark says so instead.
    if (calls === 0 && (await this.deps.store.wasCalled(request.id))) calls = 1;
    if (calls > 0) {
      const error = `the message's expireAfter passed before it could be tried again, after ${calls} failed call${calls === 1 ? "" : "s"} that may have reached the backend`;
      const ended = await this.answers.record(
        held,
        {
          responses: responsesOf(request, [], "failed", {
            code: "BackendFailed",
            message: error,
          }),
          deadLetter: "retries_exhausted",
          deadLetterDetail: { error, attempts: calls },
        },
        true,
        permit,
      );
      if (ended) {
        log.error(
          { expiresAt: request.expiresAt, calls },
          "expired between retries; dead-lettered",
        );
      }
      return;
    }
    const ended = await this.answers.record(
      held,
      {
        responses: responsesOf(request, [], "expired", {
          code: "Expired",
          message: "the message expired before it was sent to the backend",
        }),
        deadLetter: null,
      },
      false,
      permit,
    );
    // Taken over by another worker, or ended meanwhile: not this worker's outcome to count.
    if (!ended) return;
    // Not a dead letter, so nothing else counts it: the operator's only sign of requests that
    // waited too long to be sent (SluiceMessagesExpired).
    metrics.messagesExpired.inc({ backend: this.deps.backend.name });
    log.info({ expiresAt: request.expiresAt }, "expired before it reached the backend");
  }
}
