// The adapter's HTTP application: routes of the service port. Protocol routes are small and
// share the intake; anything not matched is a clear 404/405 in the contract's error shape.

import Koa, { type Context } from "koa";
import Router from "@koa/router";
import type { IncomingMessage } from "node:http";
import type { Logger } from "pino";
import { SluiceError } from "../shared/protocol/errors";
import { accessLog, noteAccess } from "./access-log";
import { closeUnreadBody } from "../shared/protocol/unread-body";
import { PipelinedRequests, type PipelineLimits } from "../shared/protocol/pipelined-requests";
import { unmetExpectation } from "../shared/protocol/expect-continue";
import { buildSoapFault } from "./soap/soap-fault";
import { answerError } from "./error-answer";
import { checkServiceHeader } from "./xroad-client";
import { setAnswerHeader } from "./answer-header";
import { xroadIdProblem } from "./route-intake";
import { requestSpan } from "./request-span";
import { restRoute, type RestRouteDeps } from "./rest/rest-route";
import { registerSoapRoutes } from "./soap/soap-route";
import { SoapBodyValidators } from "./soap/soap-validation";
import { cancelRoute, statusRoute, type StatusRouteDeps } from "./status-route";
import { restServiceOpenApi, statusServiceOpenApi } from "./openapi";
import { publicUrl } from "./public-url";
import { REQUEST_REFUSALS } from "./request-refusals";
import { serviceHostCheck, type ServiceHostCheck } from "./service-host-check";
import { requestHost } from "../shared/runtime/served-hosts";
import {
  authorizationLinesProblem,
  contentTypeLinesProblem,
  hostProblem,
  onceOnlyLines,
} from "../shared/protocol/once-only-headers";
import { sendsInSoapBody } from "./rest/soap-xml-body";
import { framingEndsConnection, httpVersionProblem } from "../shared/protocol/http-version";

export type RouteRegistrar = (router: Router, log: Logger) => void;

/** What the service port's app needs beside its routes' own dependencies. */
export interface AppDeps extends RestRouteDeps, StatusRouteDeps {
  /**
   * True once the adapter drains: every answer from then on closes its connection, so a client
   * sends its next request on a new one (to another instance) rather than on a connection the
   * drain is about to close, where a POST written as it closes is lost to a reset.
   */
  draining?: () => boolean;
}

export function createApp(deps: AppDeps, extraRoutes: RouteRegistrar[] = []): Koa {
  const app = new Koa();
  app.proxy = false;
  const router = new Router();
  const statusService = deps.config.xroad.statusService;
  const status = statusRoute(deps, statusService);
  const cancel = cancelRoute(deps, statusService);
  /** An X-Road-Service header, when sent, names the status service, as on any REST service. */
  const asStatusService =
    (route: (ctx: Context & { params: { id: string } }) => Promise<void>) =>
    (ctx: Context & { params: { id: string } }) => {
      try {
        checkServiceHeader(ctx.req, statusService);
      } catch (error) {
        answerError(ctx, error, deps.log);
        return;
      }
      return route(ctx);
    };
  // The descriptions first: `/rest/<statusService>/openapi.json` is the status service's own,
  // not a status resource named "openapi.json".
  router.get("/openapi/:serviceCode", (ctx) => openApi(ctx, deps, ctx.params.serviceCode));
  router.get(OPENAPI_JSON, (ctx) =>
    openApi(ctx, deps, safeDecode(OPENAPI_JSON.exec(ctx.path)?.[1] ?? ""), true),
  );
  router.get("/messages/:id", status);
  router.delete("/messages/:id", cancel);
  // The status service (docs/xroad-deployment.md): what a caller reaches through a security server.
  // These and the hub come before the business route, so nothing here ever reaches a backend.
  router.get(`/rest/${statusService}/:id`, asStatusService(status));
  router.delete(`/rest/${statusService}/:id`, asStatusService(cancel));
  for (const register of extraRoutes) register(router, deps.log);
  // RFC 9110 §15.5.6: a message's status resource is there whatever method asks for it; another
  // method is 405 naming the ones served (as on a business service), not a 404 saying that
  // nothing is there. The same for every id, so it tells nothing of which ids exist.
  const statusMethods = (ctx: Context): void => {
    ctx.set("Allow", STATUS_ALLOW);
    answerError(
      ctx,
      new SluiceError(
        REQUEST_REFUSALS.method.code,
        `${ctx.method} is not served on a message (${STATUS_ALLOW})`,
        { status: REQUEST_REFUSALS.method.status },
      ),
      deps.log,
    );
  };
  // Not `hub`: the hub's own path, which answers 404 while the hub is off.
  router.all(
    new RegExp(`^/rest/${escapeRegExp(statusService)}/(?!hub$)[^/]+$`, "i"),
    statusMethods,
  );
  router.all(/^\/messages\/[^/]+$/i, statusMethods);
  router.all(new RegExp(`^/rest/${escapeRegExp(statusService)}(?:/.*)?$`), (ctx) =>
    answerError(ctx, new SluiceError("NotFound", `nothing at ${ctx.method} ${ctx.path}`), deps.log),
  );
  // The SOAP Body's schemas, for SOAP callers and for REST callers' XML bound for a SOAP Body:
  // compiled once, so a service offered both ways is not compiled twice.
  const soapBodies = new SoapBodyValidators(
    Object.values(deps.config.services).filter(
      (service) =>
        service.protocols.includes("soap") ||
        (service.protocols.includes("rest") && sendsInSoapBody(deps.config, service)),
    ),
  );
  const rest = restRoute(deps, soapBodies);
  router.all(/^\/rest\/.*/, rest);
  const soap = registerSoapRoutes(router, deps, soapBodies);
  const businessCall = businessCallMatcher(statusService);
  app.use(
    requestFrame(deps, (ctx, next) => {
      // A business call, the hot path, goes to its route directly: matching it against every
      // route above (and building the router's middleware chain) costs more than the bare
      // request. Anything the routes above could claim still goes through the router.
      if (businessCall(ctx.path)) return rest(ctx);
      // `POST /soap` exactly (other spellings the router takes still go through it).
      if (ctx.method === "POST" && ctx.path === "/soap") return soap(ctx);
      return next();
    }),
  );
  app.use(router.routes());
  app.use(async (ctx) => {
    answerError(ctx, new SluiceError("NotFound", `nothing at ${ctx.method} ${ctx.path}`), deps.log);
  });
  // Koa's own error event would print stacks; errors are answered in the routes already.
  app.on("error", (error: Error) => deps.log.debug({ err: error.message }, "connection error"));
  return app;
}

/**
 * What every request on the service port passes through before its route, outermost first:
 * its span, its access line, the header section's checks; and once answered, the caller's X-Road-Id
 * echoed (docs/semantics.md, whatever route or error made the answer) and the answer's deadline.
 * One Koa middleware whose parts call each other, not one middleware each: a span or an access
 * log that records nothing then costs a function call, not a dispatch and promise of Koa's per
 * part, and the answer's two finishing steps share one promise.
 */
function requestFrame(deps: AppDeps, route: Koa.Middleware): Koa.Middleware {
  const span = requestSpan();
  const access = accessLog(deps.log);
  const header = headerSection(
    deps.config.adapter.maxHeaders,
    deps.log,
    serviceHostCheck(
      deps.config.adapter.host,
      deps.config.adapter.publicUrl,
      deps.config.adapter.hosts,
    ),
  );
  const deadline = answerDeadline(deps.config.adapter.requestTimeoutMs);
  const pipelined = new PipelinedRequests(PIPELINE_LIMITS);
  return (ctx, next) => {
    const handle = (): Promise<unknown> => header(ctx, () => route(ctx, next));
    // A request pipelined behind an answer not yet sent waits for it: a caller that sent 200
    // reads of a large record at once and read no answer had all 200 read from Redis and held
    // as answers. One at a time, the rest end with the connection at the answer deadline.
    const routed = pipelined.inTurn(ctx.req, ctx.res, handle);
    let done: Promise<unknown>;
    try {
      done = span(ctx, () => access(ctx, routed));
    } catch (error) {
      done = Promise.reject(error);
    }
    return whenAnswered(done, ctx, deadline, deps.draining);
  };
}

/**
 * `done`, then the answer's finishing steps. A promise chain, not an async function: no
 * suspended frame held for a sync caller's wait. Made here, not in requestFrame's handler: its
 * callbacks would share that scope's context, and keep Koa's `next` and the route's closure
 * alive with it for as long as the caller waits.
 */
function whenAnswered(
  done: Promise<unknown>,
  ctx: Context,
  deadline: (ctx: Context) => void,
  draining: (() => boolean) | undefined,
): Promise<unknown> {
  return done.then(
    () => answered(ctx, deadline, draining),
    (error: unknown) => {
      answered(ctx, deadline, draining);
      throw error;
    },
  );
}

/**
 * Requests that may wait for the answers before them, pipelined (HTTP/1.1): read on while up
 * to 16 wait on a connection (a sync caller that pipelined a few and hung up is seen to go),
 * then kept unparsed up to 64 KiB, then not read; a connection with more than 1 000 waiting, or
 * adding to 10 000 across the adapter, is closed. A security server does not pipeline; a caller
 * that does is served in order within these.
 */
const PIPELINE_LIMITS: PipelineLimits = {
  readWhileWaiting: 16,
  maxPerConnection: 1000,
  maxTotal: 10_000,
  maxUnparsedBytes: 64 * 1024,
};

/**
 * The answer is made: the caller's X-Road-Id goes back on it, unless it was refused (sending a
 * refused value back, 16 KiB of it or a C1 control, serves no caller), and its deadline starts.
 * It closes the connection when the adapter drains, and after an HTTP/1.0 request that had a
 * Transfer-Encoding (http-version.ts).
 */
function answered(
  ctx: Context,
  deadline: (ctx: Context) => void,
  draining: (() => boolean) | undefined,
): void {
  // Read from Node's (lower-case) header table: `ctx.get` lower-cases the name on every call.
  const xroadId = ctx.req.headers["x-road-id"];
  if (typeof xroadId === "string" && xroadId && xroadIdProblem(xroadId.trim()) === null) {
    setAnswerHeader(ctx, "X-Road-Id", xroadId);
  }
  // An HTTP/1.0 request with a Transfer-Encoding: what follows it is not read (RFC 9112 §6.1).
  if (draining?.() || framingEndsConnection(ctx.req)) setAnswerHeader(ctx, "Connection", "close");
  deadline(ctx);
}

/**
 * Once the answer is ready, a caller must take it: a connection whose writes make no progress
 * for `ms` (adapter.requestTimeout) is closed. Node bounds how long a request may take to
 * arrive, not how long its answer may take to leave, so a client that never read (a sync answer
 * of a megabyte, say) kept the answer in memory and its connection open for ever. Set after the
 * routes: waiting for a sync answer stays unbounded here (maxWait bounds it). After the answer
 * Node's keepAliveTimeout takes over.
 */
function answerDeadline(ms: number): (ctx: Context) => void {
  if (ms <= 0) return () => undefined;
  return (ctx) => {
    if (!ctx.res.writableEnded) ctx.req.socket?.setTimeout(ms);
  };
}

/**
 * What is wrong with the request's header section as a whole, refused before any route sees
 * it: a request line of another version than HTTP/1.0 or 1.1 (505, http-version.ts); more than `maxHeaders` lines (431: Node keeps only the first lines, the server's
 * maxHeadersCount being one more than accepted, so an `X-Road-Service` or a second
 * `X-Road-Client` further down would escape their checks); an HTTP/1.1 request without a
 * `Host`, with more than one, or with one that is no host (400, RFC 9112 §3.2: Node refuses
 * only a missing one, with an empty answer, and reads the first of two); more than one
 * `Content-Type` (400, RFC 9110 §8.3: Node reads the first); an `Expect` other than
 * 100-continue (417: Node's answer had no body); a `Host` the port does not answer to (421,
 * service-host-check.ts: on loopback, a name other than a loopback one; elsewhere, with
 * adapter.hosts, one not on it: a web page that re-points its own name to the port's address,
 * DNS rebinding, would otherwise reach it from a browser as its own origin, and submit calls in
 * its name). The
 * answer is the contract's error document, a SOAP fault on /soap, and the connection is
 * closed: its body, if any, is not read.
 */
function headerSection(
  maxHeaders: number,
  log: Logger,
  servesHost: ServiceHostCheck | null,
): (ctx: Context, next: () => Promise<unknown>) => Promise<unknown> {
  return (ctx, next) => {
    const error = headerSectionProblem(ctx.req, maxHeaders, servesHost);
    if (error === null) return next();
    if (ctx.path === "/soap" || ctx.path.startsWith("/soap/")) {
      noteAccess(ctx, { code: error.code });
      closeUnreadBody(ctx.req, ctx.res);
      ctx.status = error.status;
      ctx.type = "text/xml; charset=utf-8";
      ctx.body = buildSoapFault(error);
    } else {
      answerError(ctx, error, log);
    }
    // Whatever else the connection carries comes after a refused request: not worth reading.
    ctx.set("Connection", "close");
    return Promise.resolve();
  };
}

function headerSectionProblem(
  req: IncomingMessage,
  maxHeaders: number,
  servesHost: ServiceHostCheck | null,
): SluiceError | null {
  const version = httpVersionProblem(req);
  if (version !== null) {
    const { code, status } = REQUEST_REFUSALS.version;
    return new SluiceError(code, version, { status });
  }
  if (req.rawHeaders.length / 2 > maxHeaders) {
    const { code, status } = REQUEST_REFUSALS.headerLines;
    return new SluiceError(code, `the request has more than ${maxHeaders} header lines`, {
      status,
    });
  }
  const lines = onceOnlyLines(req);
  const hostLines = hostProblem(req, lines.host);
  if (hostLines !== null) {
    const { code, status } = REQUEST_REFUSALS.host;
    return new SluiceError(code, hostLines, { status });
  }
  const contentTypes = contentTypeLinesProblem(lines.contentType);
  if (contentTypes !== null) {
    const { code, status } = REQUEST_REFUSALS.contentTypeLines;
    return new SluiceError(code, contentTypes, { status });
  }
  const authorizations = authorizationLinesProblem(lines.authorization);
  if (authorizations !== null) {
    const { code, status } = REQUEST_REFUSALS.authorizationLines;
    return new SluiceError(code, authorizations, { status });
  }
  // A request without Host (HTTP/1.0) names no other site: only a browser's page could.
  const host = requestHost(req);
  if (servesHost !== null && host !== undefined && !servesHost.serves(host)) {
    const { code, status } = REQUEST_REFUSALS.misdirectedHost;
    return new SluiceError(code, servesHost.refusal, { status });
  }
  const unmet = unmetExpectation(req);
  if (unmet !== undefined) {
    const { code, status } = REQUEST_REFUSALS.expectation;
    return new SluiceError(code, unmet, { status });
  }
  return null;
}

/**
 * Whether a path can only be a business call (`/rest/<serviceCode>...`): not the status
 * service's own paths (the router matches those case-insensitively, so this does too) and not
 * an `openapi.json`, which the router serves for GET.
 */
function businessCallMatcher(statusService: string): (path: string) => boolean {
  const status = statusService.toLowerCase();
  return (path) => {
    if (!path.startsWith("/rest/") || path.endsWith("/openapi.json")) return false;
    const end = path.indexOf("/", 6);
    const code = end === -1 ? path.slice(6) : path.slice(6, end);
    return code.toLowerCase() !== status;
  };
}

/** `GET <service URL>/openapi.json`: the description where a consumer would look for it. */
const OPENAPI_JSON = /^\/rest\/([^/]+)\/openapi\.json$/;

/** The methods a message's status resource serves (HEAD as GET, by the router). */
const STATUS_ALLOW = "GET, HEAD, DELETE";

const escapeRegExp = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return "";
  }
}

/**
 * `GET /openapi/<serviceCode>` (and `/rest/<serviceCode>/openapi.json`): the OpenAPI document of
 * a REST service or of the status service. Its service URL is `adapter.publicUrl`'s, or relative
 * (a security server resolves it against the description URL it registered); the same document
 * whatever Host the request named. `beside` the service (its `openapi.json`) the service URL is
 * `../<serviceCode>`: a consumer may fetch that one through X-Road's path mapping, at
 * `/r1/<provider>/<serviceCode>/openapi.json`, and only a URL relative to where it was served
 * names the service there as well as at Sluice itself (OpenAPI 3.1, Server Object).
 */
function openApi(ctx: Context, deps: RestRouteDeps, code: string, beside = false): void {
  const { services, xroad, adapter } = deps.config;
  const path = encodeURIComponent(code);
  const base = beside ? `../${path}` : publicUrl(adapter.publicUrl, `/rest/${path}`);
  const service = Object.hasOwn(services, code) ? services[code] : undefined;
  if (code === xroad.statusService) {
    ctx.body = statusServiceOpenApi(
      code,
      base,
      deps.config.callbacks.secrets.length > 0,
      Object.values(services).some((s) => s.client !== null),
    );
  } else if (service && service.protocols.includes("rest")) {
    ctx.body = restServiceOpenApi(service, base, sendsInSoapBody(deps.config, service));
  } else {
    answerError(
      ctx,
      new SluiceError("UnknownService", `no REST service named "${code.slice(0, 100)}"`),
      deps.log,
    );
    return;
  }
  ctx.status = 200;
  ctx.type = "application/json";
}
