// The X-Road REST provider side: `<METHOD> /rest/<serviceCode>[/<path>]`. Checks the X-Road
// headers, the body (size, media type, JSON Schema), picks the reply mode from the service and
// RFC 7240 `Prefer`, hands the message to the intake and maps its result onto HTTP.

import { isUtf8 } from "node:buffer";
import type { Context } from "koa";
import type { Logger } from "pino";
import type { CallbackPolicy } from "../../shared/delivery/callback-target";
import type { ServiceConfig, SluiceConfig } from "../../shared/config/config";
import type { ReplyMode } from "../../shared/protocol/envelope";
import { framesBody } from "../../shared/protocol/content-length";
import { SluiceError } from "../../shared/protocol/errors";
import {
  CONTENT_TYPE_PARAMETER,
  parseContentType,
  refuseRepeatedParameter,
} from "../../shared/protocol/multipart-related";
import { charsetOf } from "../../shared/protocol/xml-encoding";
import { noteAccess } from "../access-log";
import {
  forwardedResponseHeaders,
  forwardedRequestHeaders,
  isOriginBound,
} from "../../shared/protocol/forwarded-headers";
import { observeRequest } from "../request-metrics";
import { isJsonType, mediaType, readBody } from "../body-reader";
import { answerError } from "../error-answer";
import { setAnswerHeader } from "../answer-header";
import { sandboxRemoteContent } from "../remote-content";
import { waitsForAnswer, type Intake, type IntakeResult } from "../intake";
import { decodeBody, isUtf8Charset, parseJsonBody, type SchemaValidators } from "../json-body";
import { parsePrefer } from "../prefer";
import { callbackHeaderOf, headerOf } from "../request-header";
import { REQUEST_REFUSALS } from "../request-refusals";
import { checkedSubPath } from "../../shared/protocol/rest-path";
import {
  checkSoapBodyType,
  checkSoapXmlBody,
  goesInSoapBody,
  sendsInSoapBody,
} from "./soap-xml-body";
import { XmlBodySchemas } from "./soap-xml-schema";
import type { SoapBodyValidators } from "../soap/soap-validation";
import {
  checkServiceHeader,
  checkSingleHeaders,
  readClient,
  throughSecurityServer,
  xroadHeaders,
} from "../xroad-client";
import {
  acceptedOutcome,
  admitCaller,
  errorOutcome,
  failureOf,
  markMessage,
  offeredService,
  submitMessage,
} from "../route-intake";
import {
  arrivalOf,
  statusLocation,
  type ArrivalHeaders,
  UnreachableLocationWarning,
} from "../status-location";
import { callsRemoteService } from "../../shared/config/config";
import { XROAD_ERROR_HEADER } from "../../shared/protocol/xroad-error-code";
import { XROAD_TRAIL_HEADERS } from "../../shared/protocol/xroad-trail";
import { isSendableHeaderValue } from "../../shared/protocol/header-value";

const SERVICE_PATH = /^\/rest\/([^/?]+)(\/[^?]*)?$/;
/** Methods whose request carries a body: without one, a service's schema has nothing to check. */
const BODY_METHODS = new Set(["POST", "PUT", "PATCH"]);
/**
 * The methods an X-Road REST request may have (X-Road's RestRequest.Verb), TRACE excepted: a
 * security server refuses any other, so a consumer-direction call with one could only fail
 * after its 202, and a provider-direction one does not come through X-Road.
 */
const XROAD_METHODS = new Set(["DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"]);
const ALLOW = [...XROAD_METHODS].join(", ");

/** The body of a request without one (never written to). */
const NO_BODY = Buffer.alloc(0);
const TEXT_TYPE = /^(text\/|application\/(?:[\w.+-]+\+)?(?:json|xml)$)/;

/**
 * Refuses a Content-Type that names a parameter twice (RFC 6838 §4.3), as `/soap` does: with
 * its charset twice Sluice reads the first, and a backend that reads the last would process
 * other text than Sluice validated (as with two Content-Type lines, or a JSON name twice).
 */
function checkParametersOnce(contentType: string | null): void {
  // Two parameters need two ";": most requests have one at most, and skip the parse.
  const first = contentType?.indexOf(";") ?? -1;
  if (first < 0 || contentType!.indexOf(";", first + 1) < 0) return;
  refuseRepeatedParameter(parseContentType(contentType!).repeated);
}

/**
 * The Content-Type with its charset parameter set to utf-8, found parameter by parameter as
 * charsetOf finds it: a `charset=` inside another parameter's quoted value is left as it is.
 */
function withUtf8Charset(contentType: string): string {
  return contentType.replace(CONTENT_TYPE_PARAMETER, (parameter, name: string) =>
    name.toLowerCase() === "charset" ? "; charset=utf-8" : parameter,
  );
}

export interface RestRouteDeps {
  config: SluiceConfig;
  intake: Intake;
  validators: SchemaValidators;
  callbackPolicy: CallbackPolicy;
  log: Logger;
}

/** `soapBodies`: the SOAP Body's schemas, which an XML body bound for a SOAP Body meets too. */
export function restRoute(deps: RestRouteDeps, soapBodies: SoapBodyValidators) {
  const unreachable = new UnreachableLocationWarning(deps.log);
  const xmlSchemas = new XmlBodySchemas(deps.config, soapBodies);
  return async (ctx: Context): Promise<void> => {
    const started = process.hrtime.bigint();
    const match = SERVICE_PATH.exec(ctx.path);
    let serviceCode = "";
    try {
      serviceCode = match ? decodeURIComponent(match[1]) : "";
    } catch {
      // Malformed percent-encoding names no service.
    }
    let service: ServiceConfig | undefined;
    let outcome = "error";
    noteAccess(ctx, { service: serviceCode || null });
    try {
      service = offeredService(deps.config.services, serviceCode, "rest");
      const { submitted } = await handle(ctx, deps, service, match?.[2] ?? "", xmlSchemas);
      const result = await submitted;
      const remote = callsRemoteService(deps.config, service);
      // Through a security server, the status is reachable only as another X-Road service. A
      // consumer-direction caller is a local system that reaches Sluice directly: an
      // X-Road-Service it sends names the remote provider, whose own status service knows
      // nothing of this message.
      const arrival: ArrivalHeaders = remote ? {} : arrivalOf((name) => headerOf(ctx.req, name));
      if (!deps.config.xroad.provider) unreachable.note(arrival);
      const statusUrl = statusLocation(
        arrival,
        service.code,
        deps.config.xroad.statusService,
        result.id,
        deps.config.xroad.provider,
      );
      // A remote X-Road service's answer may be X-Road's own error, which its header marks.
      outcome = answer(ctx, result, statusUrl, remote);
    } catch (error) {
      outcome = errorOutcome(answerError(ctx, error, deps.log));
    } finally {
      observeRequest(ctx, "rest", service?.code ?? null, outcome, started);
    }
  };
}

/**
 * Reads and checks the request and hands it to the intake. The intake's promise comes back
 * wrapped: an async function that returned it as it is would make its own promise adopt it,
 * two more turns of the microtask queue per request. Neither frame keeps the submission (body,
 * headers) while a sync caller waits.
 */
async function handle(
  ctx: Context,
  deps: RestRouteDeps,
  service: ServiceConfig,
  path: string,
  xmlSchemas: XmlBodySchemas,
): Promise<{ submitted: Promise<IntakeResult> }> {
  const req = ctx.req;
  const method = req.method ?? "";
  if (!XROAD_METHODS.has(method)) {
    // RFC 9110 §15.5.6: a 405 names the methods that are served.
    ctx.set("Allow", ALLOW);
    const { code, status } = REQUEST_REFUSALS.method;
    throw new SluiceError(
      code,
      // A TRACE is looped back by the backend that answers it: its answer would show the
      // caller every header Sluice sent, the operator's own (options.headers) included.
      method === "TRACE"
        ? "TRACE is not passed to backends"
        : `${method} is not an X-Road REST method (${ALLOW})`,
      { status },
    );
  }
  const subPath = checkedSubPath(path);
  if (callsRemoteService(deps.config, service) && throughSecurityServer(req)) {
    // Every security server puts X-Road-Request-Id on the calls it forwards to a provider: this
    // one came through X-Road. Served, every client the service is granted to would call the
    // remote service as Sluice's own X-Road client, past the remote provider's access rights.
    throw new SluiceError(
      "AccessDenied",
      `${service.code} calls a remote X-Road service for local systems only; this request came through a security server (it carries X-Road-Request-Id), which must not offer ${service.code}`,
    );
  }
  const client = readClient(req, service.client);
  checkServiceHeader(req, service.code);
  checkSingleHeaders(req);
  const xroadId = headerOf(req, "x-road-id").trim() || null;
  const callbackHeader = callbackHeaderOf(req);
  const { mode, waitMs, applied } = replyMode(ctx, service, callbackHeader !== "");
  if (callbackHeader !== "" && mode !== "callback") {
    // Taken as the service's own mode, the caller who forgot `Prefer` got its 202 (or its
    // answer) and waited for a callback nobody would ever send.
    throw new SluiceError(
      "InvalidCallback",
      `X-Callback-Url asks for a callback, which ${service.code} sends only with Prefer: respond-async (its reply mode is ${mode}); send that, or leave X-Callback-Url out`,
    );
  }
  const caller = {
    service,
    protocol: "rest" as const,
    client,
    xroadId,
    replyMode: mode,
    callbackHeader,
  };
  const admitted = admitCaller(caller, deps);
  const callback = admitted === null ? null : await admitted;

  const declaredType = headerOf(req, "content-type");
  const type = mediaType(declaredType || undefined);
  const hasBody = framesBody(req);
  let body: Buffer = NO_BODY;
  const soapBody = sendsInSoapBody(deps.config, service);
  if (hasBody) {
    if (!type) throw new SluiceError("InvalidContentType", "a body needs a Content-Type");
    checkParametersOnce(declaredType);
    if (soapBody) checkSoapBodyType(service, type);
    if (!isJsonType(type) && !service.contentTypes.includes(type)) {
      throw new SluiceError("InvalidContentType", `${service.code} does not take ${type} bodies`);
    }
    // A 503 the head alone decides comes before the body is read (docs/backpressure.md).
    const waits = waitsForAnswer(mode, waitMs);
    const judged = deps.intake.refuseBeforeBody(service, client, xroadId, waits);
    if (judged !== null) await judged;
    body = await readBody(req, service.maxBodyBytes);
  }
  // No body, or a chunked one that held nothing.
  if (soapBody && body.length === 0) checkSoapBodyType(service, null);
  if (body.length === 0 && BODY_METHODS.has(req.method ?? "")) {
    deps.validators.requireBody(service.code);
  }
  let contentType = body.length ? declaredType : null;
  const charset = charsetOf(contentType);
  let text = body.length === 0;
  /** The body as the message carries it, when already decoded to exactly that text. */
  let bodyText: string | null = null;
  if (body.length > 0 && isJsonType(type)) {
    const json = decodeBody(body, charset, "InvalidJson");
    const value = parseJsonBody(json, deps.config.adapter.maxJsonDepth);
    deps.validators.validate(service.code, value);
    if (!isUtf8Charset(charset)) {
      // Transcoded, not passed on in a charset the backend may not expect (RFC 8259: JSON
      // travels as UTF-8); the content type says so.
      body = Buffer.from(json, "utf8");
      contentType = withUtf8Charset(contentType as string);
    } else {
      // The decoded text is the body's UTF-8 text less a leading byte order mark, which the
      // decoder drops: RFC 8259 lets a parser ignore one but forbids sending one, and a backend
      // whose parser refuses it (JSON.parse does) would fail a body Sluice had accepted.
      bodyText = json;
      if (body[0] === 0xef) body = body.subarray(3);
    }
    text = true;
  } else if (body.length > 0 && type !== null && TEXT_TYPE.test(type) && isUtf8Charset(charset)) {
    // Other text is kept as text only when it is valid UTF-8; else its bytes travel unchanged.
    text = isUtf8(body);
  }
  if (body.length > 0 && goesInSoapBody(deps.config, service, contentType)) {
    // Checked as the message will carry it: that text, or the bytes read by their charset.
    if (text) bodyText ??= body.toString("utf8");
    xmlSchemas.check(service, checkSoapXmlBody(body, text ? bodyText : null, contentType));
  }
  if (applied.length) ctx.set("Preference-Applied", applied.join(", "));

  const submitted = submitMessage(ctx, deps.intake, {
    service,
    protocol: "rest",
    client,
    xroadId,
    replyMode: mode,
    waitMs,
    callback,
    request: {
      method: ctx.method,
      path: subPath,
      query: ctx.querystring,
      xroadHeaders: xroadHeaders(req),
      headers: forwardedRequestHeaders(req.headers),
      contentType,
      body: bodyText ?? body.toString(text ? "utf8" : "base64"),
      bodyEncoding: text ? "utf8" : "base64",
    },
  });
  return { submitted };
}

/** The service's default mode, overridden by `Prefer` and `X-Callback-Url` (docs/semantics.md). */
function replyMode(
  ctx: Context,
  service: ServiceConfig,
  ownTarget: boolean,
): { mode: ReplyMode; waitMs: number; applied: string[] } {
  const prefer = parsePrefer(ctx.req.headers.prefer);
  const applied: string[] = [];
  let mode = service.reply.mode;
  let waitMs = mode === "sync" ? service.reply.waitMs : 0;
  const callbackWanted = ownTarget || service.reply.mode === "callback";
  if (prefer.respondAsync && (callbackWanted || prefer.wait === null)) {
    mode = callbackWanted ? "callback" : "ack";
    waitMs = 0;
    applied.push("respond-async");
  } else if (prefer.wait !== null) {
    // `wait=N` alone, or with respond-async (RFC 7240 §4.3): answer within N seconds if the
    // backend is that fast, else 202 as respond-async asks. With a callback target the mode
    // stays callback: a wait that ends first still has its outcome POSTed there.
    if (prefer.respondAsync) applied.push("respond-async");
    mode = ownTarget || (callbackWanted && service.callback) ? "callback" : "sync";
    waitMs = Math.min(prefer.wait * 1000, service.reply.maxWaitMs);
    applied.push(`wait=${Math.round(waitMs / 1000)}`);
  }
  return { mode, waitMs, applied };
}

/** Maps an intake result onto the HTTP answer; returns the metrics outcome label. */
function answer(
  ctx: Context,
  result: IntakeResult,
  statusUrl: string,
  remoteXroad: boolean,
): string {
  markMessage(ctx, result);
  if (result.kind === "accepted") {
    ctx.status = 202;
    setAnswerHeader(ctx, "Location", statusUrl);
    setAnswerHeader(ctx, "Retry-After", String(result.retryAfter));
    // Serialised here with its type set, as Koa would for an object, minus its type lookup.
    setAnswerHeader(ctx, "Content-Type", "application/json; charset=utf-8");
    ctx.body = JSON.stringify({
      id: result.id,
      xroadId: headerOf(ctx.req, "x-road-id") || null,
      state: "accepted",
      statusUrl,
    });
    return acceptedOutcome(result);
  }
  const response = result.response;
  if (
    response &&
    (result.state === "completed" || result.state === "rejected" || result.state === "processing")
  ) {
    // The backend's own headers first (filtered again: a stored answer may predate the
    // filter); Sluice's own headers are set around them and cannot be overridden.
    const redirect = remoteXroad && response.status >= 300 && response.status < 400;
    for (const [name, value] of Object.entries(forwardedResponseHeaders(response.headers ?? {}))) {
      // Another organisation's cookies, HSTS or CORS grants would be set for Sluice's origin.
      if (remoteXroad && isOriginBound(name)) continue;
      // Another organisation's redirect is its answer, not Sluice's: as `Location` the local
      // caller's HTTP client would follow it, a relative one to another of Sluice's services
      // (called as the organisation, with the caller's body and headers), an absolute one
      // anywhere in the local network. It is passed under a name no client follows.
      if (redirect && name.toLowerCase() === "location") ctx.set(PROVIDER_LOCATION, value);
      else ctx.set(name, value);
    }
    // Another organisation's body, served from Sluice's origin (adapter/remote-content.ts).
    if (remoteXroad) sandboxRemoteContent(ctx);
    // The consumer direction: PR-REST §4.6 has a caller tell the security server's errors from
    // the provider's by X-Road-Error alone; it is not among the backend's own headers above.
    const xroadError = response.headers?.[XROAD_ERROR_HEADER];
    if (remoteXroad && typeof xroadError === "string" && xroadError !== "") {
      ctx.set("X-Road-Error", xroadError);
    }
    // And the exchange's names in the security servers' message logs (shared/protocol/xroad-trail.ts).
    if (remoteXroad) {
      for (const name of XROAD_TRAIL_HEADERS) {
        const value = response.headers?.[name];
        if (typeof value === "string" && isSendableHeaderValue(value)) ctx.set(name, value);
      }
    }
    ctx.status = response.status;
    const bytes = Buffer.from(
      response.body,
      response.bodyEncoding === "base64" ? "base64" : "utf8",
    );
    ctx.body = bytes;
    answerContentType(ctx, response.contentType, bytes.length);
    return result.state === "rejected" ? "rejected" : "completed";
  }
  const failure = failureOf(result);
  noteAccess(ctx, { code: failure.code });
  ctx.status = failure.status;
  ctx.body = {
    type: failure.code,
    message: result.error?.message ?? failure.message,
    detail: result.id,
  };
  return result.state;
}

/** Where a remote provider's redirect pointed (its `Location`), on a sync caller's answer. */
const PROVIDER_LOCATION = "X-Sluice-Provider-Location";

/**
 * The backend's content type, as it sent it: Koa's `type` adds a charset to a text or JSON
 * type that names none, and `text/plain` around ISO-8859-1 bytes reached the caller as
 * `text/plain; charset=utf-8`. A name without a "/" (a translator's `json`) is still Koa's
 * to expand; a value Node cannot send, or none, is `application/octet-stream`. An empty body
 * without a type (a 204) has no Content-Type at all (RFC 9110 §8.3): set after the body, which
 * sets Koa's own.
 */
function answerContentType(ctx: Context, type: string | undefined, size: number): void {
  if (!type && size === 0) ctx.remove("Content-Type");
  else if (!type) ctx.set("Content-Type", "application/octet-stream");
  else if (!type.includes("/")) ctx.type = type;
  else ctx.set("Content-Type", isSendableHeaderValue(type) ? type : "application/octet-stream");
}
