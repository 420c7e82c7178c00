// The X-Road SOAP 4.0 provider side: `POST /soap` parses and checks the envelope, validates the
// Body against the service's schema, hands the message to the intake like the REST route, and
// answers with the headers echoed; `GET /soap?wsdl` describes the configured SOAP services.

import type Router from "@koa/router";
import type { Context } from "koa";
import type { Logger } from "pino";
import type { AttachmentRef } from "../../shared/protocol/envelope";
import type { CallbackPolicy } from "../../shared/delivery/callback-target";
import {
  callsRemoteService,
  providedServices,
  SOAP_BODY_TRANSLATORS,
  type ServiceConfig,
  type SluiceConfig,
} from "../../shared/config/config";
import { asSluiceError, SluiceError } from "../../shared/protocol/errors";
import { setAnswerHeader } from "../answer-header";
import { sandboxRemoteContent } from "../remote-content";
import { noteAccess } from "../access-log";
import {
  acceptedOutcome,
  admitCaller,
  errorOutcome,
  failureOf,
  markMessage,
  offeredService,
  submitMessage,
} from "../route-intake";
import { observeRequest } from "../request-metrics";
import { callbackHeaderOf, headerOf } from "../request-header";
import { readBody } from "../body-reader";
import { closeUnreadBody } from "../../shared/protocol/unread-body";
import type { Intake, IntakeResult } from "../intake";
import { buildMultipartRelated, type MimePart } from "../../shared/protocol/multipart-related";
import { answerContent, remoteServiceCode } from "./soap-answer";
import type { XmlLimits } from "./safe-xml";
import { EnvelopeFault, soapMessageOf, xroadHeadersOf } from "./soap-envelope";
import { buildSoapFault, faultHttpStatus } from "./soap-fault";
import {
  DEFAULT_SOAP_REQUEST_LIMITS,
  xmlLimitsOf,
  readSoapRequest,
  soapBodyKind,
  type SoapRequestLimits,
  type SoapRequestWithAttachments,
} from "./soap-request";
import { buildSoapAck, buildSoapResponse, type SoapEcho } from "./soap-response";
import { detached } from "./detached";
import { SoapBodyValidators } from "./soap-validation";
import { buildWsdl } from "./wsdl";
import { publicUrl } from "../public-url";
import type { StatusRouteDeps } from "../status-route";
import { soapStatusContent, statusRequestId } from "./soap-status";

export interface SoapRouteDeps extends StatusRouteDeps {
  config: SluiceConfig;
  intake: Intake;
  callbackPolicy: CallbackPolicy;
  log: Logger;
}

const XML_ANSWER = "text/xml; charset=utf-8";
/** Read limit when no service is offered over SOAP: enough to answer UnknownService. */
const NO_SERVICE_MAX_BODY = 64 * 1024;

/**
 * Registers `POST /soap`, `GET /soap?wsdl` and `GET /soap/<serviceCode>?wsdl`; returns the
 * `POST /soap` handler, which the server calls without the router for the exact path.
 */
export function registerSoapRoutes(
  router: Router,
  deps: SoapRouteDeps,
  validators: SoapBodyValidators,
): (ctx: Context) => Promise<void> {
  const services = Object.values(deps.config.services).filter((s) => s.protocols.includes("soap"));
  // The service is known only after parsing, so the read limit is the largest of them.
  const maxBody =
    services.length === 0 ? NO_SERVICE_MAX_BODY : Math.max(...services.map((s) => s.maxBodyBytes));
  const limits: SoapRequestLimits = {
    ...DEFAULT_SOAP_REQUEST_LIMITS,
    xml: xmlLimitsOf(deps.config),
  };
  const post = soapPost(deps, validators, maxBody, limits);
  router.post("/soap", post);
  const statusService = deps.config.xroad.statusService;
  // The endpoint is the configured one, or relative: never the Host the request named.
  const endpoint = publicUrl(deps.config.adapter.publicUrl, "/soap");
  // The WSDL of every service, the one a security server registers, describes the provider
  // direction only: registering a consumer-direction service would let any client granted it
  // call the remote service through Sluice, as Sluice's own consumer subsystem.
  const provided = providedServices(deps.config).filter((s) => s.protocols.includes("soap"));
  router.get("/soap", wsdlGet(provided, null, statusService, endpoint));
  router.get("/soap/:serviceCode", wsdlGet(services, "serviceCode", statusService, endpoint));
  // Other methods on the SOAP endpoint and the WSDLs: 405 as a SOAP fault, as GET /soap
  // without ?wsdl is (they were the generic 404 in JSON).
  router.all("/soap", notAllowed);
  router.all("/soap/:serviceCode", notAllowed);
  return post;
}

function soapPost(
  deps: SoapRouteDeps,
  validators: SoapBodyValidators,
  maxBody: number,
  limits: SoapRequestLimits,
) {
  return async (ctx: Context): Promise<void> => {
    const started = process.hrtime.bigint();
    // Filled in by `receive` as it learns them: the fault of a request refused on the way
    // echoes its header fields.
    const seen: Seen = { service: undefined, echo: undefined };
    let outcome = "invalid";
    try {
      const received = await receive(ctx, deps, validators, maxBody, limits, seen);
      if (typeof received === "string") {
        outcome = received;
        return;
      }
      // A sync caller waits here: this frame holds the echo and the service, not the body or
      // the parsed request (`receive` has returned).
      const result = await received.submitted;
      const service = seen.service as ServiceConfig;
      const answerCode = remoteServiceCode(deps.config, service);
      // The envelope Sluice builds holds the remote provider's content (or its fault's) as it
      // came: XHTML elements in it would run as Sluice's in a browser that opens the XML.
      if (callsRemoteService(deps.config, service)) sandboxRemoteContent(ctx);
      outcome = answer(ctx, seen.echo as AnswerEcho, result, answerCode, limits.xml);
    } catch (error) {
      outcome = answerFault(ctx, deps, error, seen.echo);
    } finally {
      observeRequest(ctx, "soap", seen.service ? seen.service.code : null, outcome, started);
    }
  };
}

/** What an answer to a SOAP request echoes of it. */
export type AnswerEcho = SoapEcho & { serviceCode: string };

/** What `receive` learned of a request that its answer needs. */
interface Seen {
  service: ServiceConfig | undefined;
  echo: AnswerEcho | undefined;
}

/**
 * Reads, parses and checks the request and hands it to the intake; answers the status
 * operation itself (its outcome label comes back). The intake's promise comes back wrapped
 * (an async function returning it as it is would wait for it): a sync caller waits in the
 * caller's frame, which keeps neither the body nor the parsed request.
 */
async function receive(
  ctx: Context,
  deps: SoapRouteDeps,
  validators: SoapBodyValidators,
  maxBody: number,
  limits: SoapRequestLimits,
  seen: Seen,
): Promise<string | { submitted: Promise<IntakeResult> }> {
  const contentType = headerOf(ctx.req, "content-type") || undefined;
  soapBodyKind(contentType);
  const body = await readBody(ctx.req, maxBody);
  const request = readSoapRequest(body, contentType, limits);
  seen.echo = request;
  noteAccess(ctx, {
    service: request.serviceCode,
    client: request.clientId,
    xroadId: request.xroadId,
  });
  if (request.serviceCode === deps.config.xroad.statusService) {
    return answerStatus(ctx, deps, request);
  }
  const service = offeredService(deps.config.services, request.serviceCode, "soap");
  seen.service = service;
  if (body.length > service.maxBodyBytes) {
    throw new SluiceError(
      "PayloadTooLarge",
      `the request is larger than ${service.maxBodyBytes} bytes`,
    );
  }
  const submitted = submit(ctx, deps, validators, service, request);
  // A caller that waits for the answer keeps only the echo, copied out of the envelope's text
  // (a view into it would keep the whole envelope) for as long as it waits.
  if (service.reply.mode === "sync") seen.echo = echoOf(request);
  return { submitted };
}

/**
 * The parts of a request its answer echoes, with strings of their own. The header fields one
 * by one are left out when the Header's exact XML is there: the answer echoes that instead.
 */
export function echoOf(request: SoapRequestWithAttachments): AnswerEcho {
  const declarations = request.envelopeDeclarations;
  return {
    envelopePrefix: detached(request.envelopePrefix),
    // A frozen list is shared (and its strings kept) already; its identity finds the answer's
    // cached envelope frame.
    envelopeDeclarations: Object.isFrozen(declarations)
      ? declarations
      : declarations.map(([prefix, uri]) => [detached(prefix), detached(uri)] as const),
    headerXml: detached(request.headerXml),
    headers: request.headerXml === undefined ? request.headers : [],
    bodyNamespace: request.bodyNamespace === null ? null : detached(request.bodyNamespace),
    bodyPrefix: detached(request.bodyPrefix),
    serviceCode: detached(request.serviceCode),
  };
}

/**
 * Admits the caller and hands the message over. Not an async function: without a callback
 * target to look up there is nothing to wait for, and the intake's promise is returned as it is.
 */
function submit(
  ctx: Context,
  deps: SoapRouteDeps,
  validators: SoapBodyValidators,
  service: ServiceConfig,
  request: SoapRequestWithAttachments,
): Promise<IntakeResult> {
  // SOAP callers get the service's configured mode; a callback target may come as a header.
  const caller = {
    service,
    protocol: "soap" as const,
    client: request.clientId,
    xroadId: request.xroadId,
    replyMode: service.reply.mode,
    callbackHeader: callbackHeaderOf(ctx.req),
  };
  const admitted = admitCaller(caller, deps);
  if (admitted === null) return handOver(ctx, deps, validators, service, request, null);
  return admitted.then((callback) => handOver(ctx, deps, validators, service, request, callback));
}

function handOver(
  ctx: Context,
  deps: SoapRouteDeps,
  validators: SoapBodyValidators,
  service: ServiceConfig,
  request: SoapRequestWithAttachments,
  callback: string | null,
): Promise<IntakeResult> {
  const mode = service.reply.mode;
  if (request.attachments.length > 0 && !service.attachments) {
    throw new SluiceError("InvalidContentType", `${service.code} does not accept attachments`);
  }
  // A SOAP backend gets the Body's XML as sent; any other the typed JSON, numbers as doubles.
  const typedJson = !SOAP_BODY_TRANSLATORS.includes(
    deps.config.backends[service.backend]?.translator ?? "",
  );
  const body = validators.validate(service.code, request.bodyJson, typedJson);
  const soap = soapMessageOf(request, request.mtom);
  const attachments = request.attachments.map(attachmentRef);
  return submitMessage(ctx, deps.intake, {
    service,
    protocol: "soap",
    client: request.clientId,
    xroadId: request.xroadId,
    replyMode: mode,
    waitMs: mode === "sync" ? service.reply.waitMs : 0,
    callback,
    request: {
      method: "POST",
      path: "",
      query: "",
      xroadHeaders: xroadHeadersOf(request),
      // The Body as JSON for JSON backends; its exact XML travels in `soap` for SOAP backends.
      contentType: "application/json",
      body: JSON.stringify(body),
      bodyEncoding: "utf8",
      soap,
      ...(attachments.length > 0 ? { attachments } : {}),
    },
  });
}

function attachmentRef(part: MimePart): AttachmentRef {
  const ref: AttachmentRef = {
    contentType: part.contentType,
    data: part.data.toString("base64"),
    size: part.data.length,
    headers: part.headers,
  };
  if (part.contentId !== undefined) ref.contentId = part.contentId;
  return ref;
}

/** The status operation: the caller's own message's state and responses. */
async function answerStatus(
  ctx: Context,
  deps: SoapRouteDeps,
  request: SoapRequestWithAttachments,
): Promise<string> {
  const id = statusRequestId(request.bodyJson);
  const { innerXml, messageId } = await soapStatusContent(deps, request.clientId, id);
  ctx.set("X-Sluice-Id", messageId);
  ctx.type = XML_ANSWER;
  ctx.status = 200;
  ctx.body = buildSoapResponse(request, innerXml);
  return "status";
}

/** Maps an intake result onto the SOAP answer; returns the metrics outcome label. */
function answer(
  ctx: Context,
  request: AnswerEcho,
  result: IntakeResult,
  answerCode: string,
  xmlLimits: XmlLimits,
): string {
  markMessage(ctx, result);
  // Koa's `ctx.type` would look the type up and set it with Koa's `set`: it is written as is.
  setAnswerHeader(ctx, "Content-Type", XML_ANSWER);
  const unfinished =
    result.kind === "accepted" ||
    ((result.state === "accepted" || result.state === "processing") && !result.response);
  if (unfinished) {
    ctx.status = 200;
    ctx.body = buildSoapAck(request, {
      id: result.id,
      state: "accepted",
      // Through X-Road a SOAP caller polls with the status operation (named in the WSDL):
      // the REST status service may well sit on another subsystem than the SOAP services.
      statusUrl: `/messages/${result.id}`,
    });
    return acceptedOutcome(result);
  }
  const { state, response } = result;
  // A failed message keeps its last call's answer when the backend gave one (a Server or an
  // application Fault, a 5xx page); the worker's stand-in for none has an empty body.
  const answered =
    state === "completed" ||
    state === "processing" ||
    state === "rejected" ||
    (state === "failed" && response !== null && response.body !== "");
  const content = response && answered ? answerContent(response, answerCode, xmlLimits) : null;
  if (content?.kind === "content" && state !== "rejected" && state !== "failed") {
    ctx.status = 200;
    const envelope = buildSoapResponse(request, content.innerXml);
    if (content.attachments?.length) {
      // The backend's attachments go back beside the answer, headers and bytes as it sent them.
      const packed = buildMultipartRelated(
        envelope,
        content.attachments.map((part) => ({ headers: part.headers, data: part.data })),
        content.mtom === true,
      );
      ctx.type = packed.contentType;
      ctx.body = packed.body;
    } else {
      ctx.body = envelope;
    }
    return "completed";
  }
  const failure = failureOf(result);
  const error = new SluiceError(failure.code, result.error?.message ?? failure.message, {
    side: "Server",
    status: 500,
    messageId: result.id,
  });
  // A refusal is the backend's business answer, so the caller sees it (a SOAP backend's own
  // Fault whole, inside `response`). The faultcode is Sluice's Server.BackendRejected, so
  // "processed and refused" never reads as a Client.* "not accepted". A failure after the
  // retries carries the last answer the same way under Server.BackendFailed: a backend's own
  // Fault with an application faultcode (customfault.answer's foo:FOOCODE), its actor and its
  // detail reach the caller, not only Sluice's words about them.
  const inner = content?.kind === "fault" ? content.faultXml : content?.innerXml;
  const detailXml =
    response && inner !== undefined
      ? `<status>${response.status}</status><response>${inner}</response>`
      : undefined;
  noteAccess(ctx, { code: failure.code });
  ctx.status = 500;
  ctx.body = buildSoapFault(error, request, { detailXml });
  return state;
}

function answerFault(
  ctx: Context,
  deps: SoapRouteDeps,
  thrown: unknown,
  request: AnswerEcho | undefined,
): string {
  const error = asSluiceError(thrown);
  if (error.code === "Internal") {
    deps.log.error({ err: (thrown as Error)?.stack ?? String(thrown) }, "SOAP request failed");
  }
  ctx.status = faultHttpStatus(error, deps.config.adapter.soapBusyStatus);
  noteAccess(ctx, { code: error.code, id: error.messageId });
  closeUnreadBody(ctx.req, ctx.res);
  if (error.retryAfter !== undefined) ctx.set("Retry-After", String(error.retryAfter));
  if (error.messageId) ctx.set("X-Sluice-Id", error.messageId);
  ctx.type = XML_ANSWER;
  // A fault found after the header fields were read echoes them too.
  ctx.body = buildSoapFault(
    error,
    request ?? (thrown instanceof EnvelopeFault ? thrown.echo : undefined),
  );
  return errorOutcome(error);
}

/**
 * 405 as a SOAP fault: a method other than POST on `/soap`, or than GET on a WSDL's path, and a
 * GET without `?wsdl`. `Allow` names what the path serves with or without the query.
 */
function notAllowed(ctx: Context): void {
  closeUnreadBody(ctx.req, ctx.res);
  ctx.status = 405;
  ctx.set("Allow", ctx.path === "/soap" ? "GET, POST" : "GET");
  ctx.type = XML_ANSWER;
  const error = new SluiceError(
    "MethodNotAllowed",
    `${ctx.method} ${ctx.path.slice(0, 100)} is not served: SOAP requests are POSTed to /soap; a WSDL is read with GET /soap?wsdl or /soap/<serviceCode>?wsdl`,
  );
  noteAccess(ctx, { code: error.code });
  ctx.body = buildSoapFault(error);
}

function wsdlGet(
  services: ServiceConfig[],
  param: string | null,
  statusService: string,
  endpoint: string,
) {
  return (ctx: Context): void => {
    // Any case of the name: many SOAP tools and clients ask for `?WSDL`.
    if (!Object.keys(ctx.query).some((key) => key.toLowerCase() === "wsdl")) {
      notAllowed(ctx);
      return;
    }
    let selected = services;
    let withStatus = true;
    if (param !== null) {
      const code = String(ctx.params[param] ?? "");
      selected = services.filter((s) => s.code === code);
      withStatus = code === statusService;
      if (selected.length === 0 && !withStatus) {
        ctx.status = 404;
        ctx.type = XML_ANSWER;
        ctx.body = buildSoapFault(
          new SluiceError("UnknownService", `no SOAP service named "${code.slice(0, 100)}"`),
        );
        return;
      }
    }
    ctx.status = 200;
    ctx.type = XML_ANSWER;
    ctx.body = buildWsdl(
      selected.map((s) => ({
        serviceCode: s.code,
        namespace: s.namespace,
        schema: s.schema,
        replyMode: s.reply.mode,
      })),
      endpoint,
      withStatus ? { statusService } : {},
    );
  };
}
