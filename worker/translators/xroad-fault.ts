// What an error of the security server itself means for a message (docs/consumer.md): retried,
// rejected, or failed at once, read from X-Road's error code (PR-REST §4.6, PR-MESS §2.5).

import {
  BackendAnswerError,
  BackendRejectedError,
  BackendTimeoutError,
  BackendUnavailableError,
  type BackendResponse,
} from "./translator";
import { classifyXroadError, isXroadTimeout } from "../../shared/protocol/xroad-error-code";
import { cutText, wholeCharacters } from "../../shared/protocol/clip-text";

/**
 * The error the worker acts on for an error answer of the security server. Its message starts
 * with the X-Road code, so the code reaches the status document's `error`. `response` is the
 * security server's answer, kept with a rejection.
 */
export function xroadFailure(
  backend: string,
  code: string,
  text: string,
  response: BackendResponse,
  retryAfterMs?: number,
): Error {
  // The provider's words are kept whole: a lone half of a pair it sent (`"\ud800"` in its JSON),
  // or one left by the cut, reached the status document as a character no reader takes.
  const message = cutText(
    wholeCharacters(
      `${code}: the security server answered for backend ${backend}: ${text || "(no message)"}`,
    ),
    500,
  );
  switch (classifyXroadError(code)) {
    case "reject":
      return new BackendRejectedError(message, response);
    case "fail":
      return new BackendAnswerError(message);
    default:
      return isXroadTimeout(code)
        ? new BackendTimeoutError(message, { retryAfterMs, response })
        : new BackendUnavailableError(message, { retryAfterMs, response });
  }
}
