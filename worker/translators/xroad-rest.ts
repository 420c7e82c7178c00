// The built-in `xroad-rest` translator (docs/consumer.md): calls a remote X-Road REST service as an
// X-Road client through the local security server (PR-REST `/r1/…`), telling the security
// server's own errors (`X-Road-Error`) from the remote provider's answers.

import type { Dispatcher } from "undici";
import { checkedSubPath } from "../../shared/protocol/rest-path";
import { RestJsonTranslator } from "./rest-json";
import { childText } from "./soap-xml";
import { XmlScanError } from "../../shared/protocol/xml-tokens";
import { cutText } from "../../shared/protocol/clip-text";
import {
  BackendAnswerError,
  type BackendResponse,
  type RequestMessage,
  type Translator,
  type TranslatorBackend,
} from "./translator";
import { xroadFailure } from "./xroad-fault";
import { XROAD_ERROR_HEADER, xroadJsonErrorMessage } from "../../shared/protocol/xroad-error-code";
import { xroadTrailOf } from "../../shared/protocol/xroad-trail";
import { decodeXroadIdLeniently, encodeXroadId } from "../../shared/protocol/xroad-id";
import { consumerOf, representedPartyOf, xroadClientFor, type XroadConsumer } from "./xroad-ids";
import {
  isCredentialHeader,
  isOriginHeader,
  remoteHeaderAllowlist,
  remoteRequestHeaders,
} from "./remote-request-headers";

/**
 * What Sluice sets that must not leave the organisation: its internal message id (the provider
 * has it as `X-Road-Id` and `Idempotency-Key`) and `tracestate`, other tracing vendors' data from
 * inside the organisation (`traceparent`, only ids, stays: it joins the two traces).
 */
const WITHHELD_SLUICE_HEADERS = ["x-sluice-id", "tracestate"];

/**
 * How many distinct withheld header names a backend's log names, one line each; a caller's
 * header names are its own choice, and the log is not to grow with them.
 */
export const LOGGED_WITHHELD_NAMES = 32;

/** Request headers a caller may send that X-Road passes on (PR-REST §4.3), by our name. */
const PASSED_ON = ["x-road-userid", "x-road-issue", "x-road-represented-party"];

export function createTranslator(backend: TranslatorBackend): Translator {
  return new XroadRestTranslator(backend, consumerOf(backend));
}

class XroadRestTranslator extends RestJsonTranslator {
  /** `/r1/<service id>` with each identifier part percent-encoded (PR-REST §4.1). */
  private readonly servicePath: string;
  protected override readonly remoteProvider = true;
  /** The caller's header names (lower-case) its calls pass on. */
  private readonly allowed: ReadonlySet<string>;
  /** Withheld names already logged (bounded by LOGGED_WITHHELD_NAMES). */
  private readonly loggedNames = new Set<string>();

  constructor(
    backend: TranslatorBackend,
    private readonly consumer: XroadConsumer,
  ) {
    // The caller's headers are chosen here, by the allowlist, not by rest-json's rules.
    super(backend, []);
    this.allowed = remoteHeaderAllowlist(
      backend.name,
      backend.options?.forwardHeaders,
      backend.options?.forwardCredentials,
      backend.options?.headers,
    );
    this.servicePath = `/r1/${encodeXroadId(consumer.service)}`;
  }

  /**
   * The caller's headers the allowlist passes (remote-request-headers.ts). The first time a
   * name is withheld, the log says so once: a remote service that needs a header of its own
   * fails until the operator names it, and the line says which.
   */
  protected override callerHeadersOf(request: RequestMessage): Record<string, string | string[]> {
    const { kept, withheld } = remoteRequestHeaders(request.headers ?? {}, this.allowed);
    for (const name of withheld) this.noteWithheld(name, request);
    return kept;
  }

  private noteWithheld(name: string, request: RequestMessage): void {
    const log = this.backend.log;
    if (!log || this.loggedNames.has(name) || this.loggedNames.size > LOGGED_WITHHELD_NAMES) return;
    this.loggedNames.add(name);
    const ids = { id: request.id, xroadId: request.xroadId, client: request.client };
    if (this.loggedNames.size > LOGGED_WITHHELD_NAMES) {
      log.info(
        ids,
        `caller headers withheld from the remote provider: ${LOGGED_WITHHELD_NAMES} names logged, no more are`,
      );
      return;
    }
    // An origin header is never passed on, named or not: the hint would send the operator to a
    // setting that changes nothing. A credential is opted in by another setting than the rest.
    log.info(
      { ...ids, header: name },
      isOriginHeader(name)
        ? "caller header withheld from the remote provider (it maps the local network, and is never passed on)"
        : isCredentialHeader(name)
          ? "caller header withheld from the remote provider (a credential: one the remote service needs is named in the backend's options.forwardCredentials)"
          : "caller header withheld from the remote provider (one the remote service needs is named in the backend's options.forwardHeaders)",
    );
  }

  protected override withholdSluiceHeaders(headers: Record<string, string | string[]>): void {
    for (const name of WITHHELD_SLUICE_HEADERS) delete headers[name];
  }

  /** Sluice is the X-Road client here: its own client id, the gateway id as message id. */
  protected override xroadHeadersOf(request: RequestMessage): Record<string, string> {
    const headers: Record<string, string> = {
      "x-road-client": encodeXroadId(xroadClientFor(this.consumer, request)),
      // The Idempotency-Key's value: a replay is the same message to the remote provider,
      // which may have served the original before it failed, and X-Road ids are its key.
      "x-road-id": request.idempotencyKey ?? request.id,
    };
    for (const name of PASSED_ON) {
      const value = request.xroadHeaders[name];
      if (value !== undefined && value !== "") headers[name] = value;
    }
    // An identifier, read by the security server part by part as URI segments (PR-REST §4.3):
    // each part is sent encoded once.
    const party = representedPartyOf(request);
    if (party !== undefined) {
      headers["x-road-represented-party"] = encodeXroadId(
        party.partyClass === undefined ? [party.partyCode] : [party.partyClass, party.partyCode],
      );
    }
    return headers;
  }

  protected override pathOf(request: RequestMessage): string {
    // The adapter refuses paths that could leave the service; a replay is held to the same rule.
    checkedSubPath(request.path);
    const path =
      request.path === "" || request.path.startsWith("/") ? request.path : `/${request.path}`;
    return `${this.basePath}${this.servicePath}${path}${request.query ? `?${request.query}` : ""}`;
  }

  /** Another organisation's answer: its caller reads why it was not taken (BackendAnswerError). */
  protected override unusableAnswer(_status: number, why: string, request: RequestMessage): Error {
    return new BackendAnswerError(
      `the answer of ${this.consumer.service} is not usable (${why}); it is not taken as the answer to message ${request.id}`,
    );
  }

  /** PR-REST §4.6: an answer with `X-Road-Error` is the security server's, not the provider's. */
  protected override inspect(
    headers: Dispatcher.ResponseData["headers"],
    response: BackendResponse,
    retryAfterMs: number | undefined,
    request: RequestMessage,
    unread = "",
  ): void {
    // PR-REST §4.3: the security server's answer names the call it answers. One naming another
    // call (id, client or service) is not taken as this message's answer, as for SOAP.
    const mismatch = echoMismatch(headers, {
      "x-road-id": request.idempotencyKey ?? request.id,
      "x-road-client": xroadClientFor(this.consumer, request),
      "x-road-service": this.consumer.service,
    });
    if (mismatch) {
      throw new BackendAnswerError(
        `the answer of ${this.consumer.service} does not echo the request's X-Road headers (${mismatch}); it is not taken as the answer to message ${request.id}`,
      );
    }
    // Kept with the answer, as X-Road-Error below: they name the exchange in both message logs.
    const trail = xroadTrailOf(headers);
    if (Object.keys(trail).length > 0) response.headers = { ...response.headers, ...trail };
    const code = xroadErrorCode(headers["x-road-error"], this.consumer.service, request.id);
    if (!code) return;
    // Kept with the answer: a sync caller tells X-Road's errors from the provider's by it alone.
    response.headers = { ...response.headers, [XROAD_ERROR_HEADER]: code };
    // The code decides, as for any error of the security server; only its message is lost.
    const text = unread ? `(${unread})` : errorText(response);
    throw xroadFailure(this.backend.name, code, text, response, retryAfterMs);
  }
}

/** An X-Road error code: its origin, then at least one more part (`Server.ClientProxy.X`). */
const XROAD_CODE = /^(?:server|client)\.[^.\s]/i;

/**
 * The one code of an answer's `X-Road-Error`, or "" without the header. A security server writes
 * it once, with a code; given with none, or more than once with different codes, the answer
 * cannot say which error it is, and taking it would decide between a retry and a rejection on a
 * guess: it is not taken as the answer. The same code repeated is that code.
 */
function xroadErrorCode(raw: string | string[] | undefined, service: string, id: string): string {
  if (raw === undefined) return "";
  // Lines joined by commas are the same as several lines (RFC 9110 §5.3); no code has a comma.
  const values = (Array.isArray(raw) ? raw : [raw]).flatMap((value) => value.split(","));
  const codes = new Set(values.map((value) => value.trim()).filter((value) => value !== ""));
  // Present but empty: the security server marked the answer as its own error and named none,
  // so it is neither the provider's answer nor an error to retry or reject by.
  if (codes.size === 0) {
    throw new BackendAnswerError(
      `the answer of ${service} carries an X-Road-Error without a code; it is not taken as the answer to message ${id}`,
    );
  }
  if (codes.size > 1) {
    const named = [...codes].map((code) => `"${code.slice(0, 100)}"`).join(", ");
    throw new BackendAnswerError(
      `the answer of ${service} names ${codes.size} different X-Road-Error codes (${named}); it is not taken as the answer to message ${id}`,
    );
  }
  const code = codes.values().next().value ?? "";
  // A security server's code always starts with its origin (ErrorOrigin: `server.`/`client.`,
  // X-Road 7 `Server.`/`Client.`; AbstractClientProxyHandler prefixes every other error with
  // `server.clientproxy`). Any other value is no security server's, and its class would be a guess.
  if (!XROAD_CODE.test(code)) {
    throw new BackendAnswerError(
      `the answer of ${service} carries an X-Road-Error that is no X-Road error code ("${code.slice(0, 100)}"); it is not taken as the answer to message ${id}`,
    );
  }
  return code;
}

/**
 * The first X-Road header of an answer that names something other than what was sent, or "".
 * A header the answer lacks is not a difference: only a security server's answer carries them.
 * Identifiers are compared part by part, percent-decoded (`…/evil%2Fthing` is one part, not the
 * two of `…/evil/thing`); the message id as it was sent. Of a repeated header the last line
 * counts, as X-Road reads it: a security server passes on a provider's own `X-Road-Service` and
 * adds its own after it (RestResponse).
 */
function echoMismatch(
  headers: Dispatcher.ResponseData["headers"],
  sent: Record<string, string>,
): string {
  const same = (name: string, got: string, value: string) =>
    name === "x-road-id"
      ? got.trim() === value.trim()
      : sameParts(decodeXroadIdLeniently(got.trim()), decodeXroadIdLeniently(value.trim()));
  for (const [name, value] of Object.entries(sent)) {
    const raw = headers[name];
    if (raw === undefined) continue;
    const got = Array.isArray(raw) ? raw[raw.length - 1] : raw;
    if (!same(name, got, value)) {
      return `${name} is "${got.slice(0, 200)}", sent "${value}"`;
    }
  }
  return "";
}

function sameParts(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((part, i) => part === b[i]);
}

/** The `message` of an X-Road REST error body (JSON, or XML when the caller asked for it). */
function errorText(response: BackendResponse): string {
  if (response.bodyEncoding === "base64") return "";
  return (
    xroadJsonErrorMessage(response.body) ??
    // Not JSON: XML, or text.
    xmlMessage(response.body) ??
    cutText(response.body, 200)
  );
}

/** The text of an XML error body's `message`; null for XML that refers to a character XML does not allow, whose text is then given as written. */
function xmlMessage(body: string): string | null {
  try {
    return childText(body, "message");
  } catch (error) {
    if (error instanceof XmlScanError) return null;
    throw error;
  }
}
