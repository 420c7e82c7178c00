// Sends one callback attempt: signs the body per Standard Webhooks and POSTs it to a checked
// URL, or through the configured security server as an X-Road REST call for xroad: targets.

import {
  OwnedElsewhereRefusal,
  parseCallbackTarget,
  type CallbackPolicy,
} from "../shared/delivery/callback-target";
import {
  classifyStatus,
  type Answer,
  type PostResult,
  type SafeHttp,
} from "../shared/delivery/safe-http";
import { classifyXroadError, xroadJsonErrorMessage } from "../shared/protocol/xroad-error-code";
import { encodeXroadId } from "../shared/protocol/xroad-id";
import { signWebhook } from "./webhook-signature";
import { withoutTrailingSlashes } from "../shared/protocol/trailing-slashes";
import { cutText, wholeCharacters } from "../shared/protocol/clip-text";

/**
 * The failure kind of a target the configuration no longer admits (`callbacks.allow`,
 * `allowHttp`, `allowPrivate` for a literal address, no security server for `xroad:`): no
 * retry and no receiver can mend it, only the operator's configuration.
 */
export const CONFIGURATION_REFUSAL = "configuration";

/** What an attempt came to; "refused" means the target no longer passes the callback policy. */
export interface AttemptResult extends Omit<PostResult, "outcome" | "failure"> {
  outcome: PostResult["outcome"] | "refused";
  failure?: { kind: string; message: string };
}

export interface CallbackSend {
  /** Same on every attempt of one delivery, so receivers can drop duplicates. */
  webhookId: string;
  messageId: string;
  /**
   * The message's X-Road client, whose receivers the target must be (`callbacks.clients`);
   * absent in a job of an earlier release, and null when its record is gone too.
   */
  client?: string | null;
  target: string;
  body: string;
  /** The hub listener an event is for (none for a callback). */
  listenerId?: string;
  /** W3C trace context of this attempt, sent along so the receiver can join the trace. */
  traceHeaders?: Record<string, string>;
}

export interface XRoadCallbackOptions {
  /** Base URL of the security server, e.g. `http://ss.internal:8080`. */
  securityServerUrl: string;
  /** Sluice's own subsystem, sent as `X-Road-Client`: `INSTANCE/CLASS/MEMBER/SUBSYSTEM`. */
  client: string;
  /** Client for the security server: operator-configured, so private addresses are fine there. */
  http: SafeHttp;
}

export interface CallbackSenderOptions {
  /** Signing secrets, newest first; every one signs during a rotation. */
  secrets: readonly string[];
  policy: CallbackPolicy;
  /** Address-checked client for URL targets. */
  http: SafeHttp;
  xroad?: XRoadCallbackOptions;
  now?: () => number;
}

export class CallbackSender {
  constructor(private readonly options: CallbackSenderOptions) {}

  async send(request: CallbackSend): Promise<AttemptResult> {
    const { policy, http, xroad, secrets } = this.options;
    let target;
    try {
      target = parseCallbackTarget(request.target, policy, request.client ?? null);
    } catch (error) {
      // "owned": another client's own receiver, which a hub listener is removed for;
      // "configuration": any other target the configuration no longer admits.
      const kind = error instanceof OwnedElsewhereRefusal ? "owned" : CONFIGURATION_REFUSAL;
      return { outcome: "refused", failure: { kind, message: (error as Error).message } };
    }
    const headers: Record<string, string> = {
      "content-type": "application/json",
      "x-sluice-id": request.messageId,
      ...request.traceHeaders,
      ...signWebhook(secrets, request.webhookId, request.body, this.options.now?.()),
    };
    if (target.kind === "url") return http.post(target.target, headers, request.body);
    if (xroad === undefined) {
      return {
        outcome: "refused",
        failure: {
          kind: CONFIGURATION_REFUSAL,
          message: "X-Road callback targets are not configured",
        },
      };
    }
    const service = encodeXroadId([
      target.instance,
      target.memberClass,
      target.memberCode,
      target.subsystemCode,
      target.serviceCode,
    ]);
    const url = `${withoutTrailingSlashes(xroad.securityServerUrl)}/r1/${service}`;
    // Added to this attempt's own headers, not after a spread of them: V8 builds a spread
    // followed by fields it did not bring on a slow path, microseconds per attempt.
    // PR-REST §4.3: each part percent-encoded; a security server decodes it as a URI segment
    // and refuses what a segment cannot hold raw (an identifier's "?").
    headers["x-road-client"] = encodeXroadId(xroad.client);
    // The webhook id as X-Road id: every attempt of one delivery is the same message to the
    // receiving service, which may have taken an attempt whose answer we never got.
    headers["x-road-id"] = request.webhookId;
    return xroad.http.post(url, headers, request.body, readXroadError);
  }
}

/**
 * An error of the security servers themselves (PR-REST §4.6: `X-Road-Error`), read as for the
 * consumer direction (docs/consumer.md). Access denied, an unknown service, member or client, and a
 * request X-Road cannot take will not pass on any retry: the delivery stops (`rejected`), with
 * the code and X-Road's message as its reason. Network errors, timeouts, a service failure or
 * a security server that cannot serve now are tried again. An answer without the header is the
 * receiving service's own and counts by its status, as for any receiver.
 */
export function readXroadError(answer: Answer): PostResult | null {
  const raw = answer.headers["x-road-error"];
  const code = (Array.isArray(raw) ? raw[raw.length - 1] : raw)?.trim();
  if (!code) return null;
  // JSON, the default without an Accept header; the code alone says enough otherwise.
  const text = xroadJsonErrorMessage(answer.text)?.replace(/\s+/g, " ").trim();
  const failure = {
    kind: "xroad" as const,
    // Kept whole, as a remote provider's error is (xroadFailure): a lone half of a pair the
    // security server sent, or one the cut left, is no character a reader of the record takes.
    message: cutText(
      wholeCharacters(`the security server answered ${code}${text ? `: ${text}` : ""}`),
      500,
    ),
  };
  if (classifyXroadError(code) === "reject") {
    return { outcome: "rejected", status: answer.status, failure };
  }
  const { retryAfterMs } = classifyStatus(answer.status, answer.headers["retry-after"]);
  return {
    outcome: "retry",
    status: answer.status,
    failure,
    ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
  };
}
