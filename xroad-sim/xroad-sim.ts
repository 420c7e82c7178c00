// A simulated X-Road security server on a real port: information systems call registered
// services through it (REST `/r1/…`, SOAP `POST /`), over HTTP, HTTPS or mTLS, and it calls
// each service's URL as PR-REST / PR-MESS say, answering its own errors as X-Road does. The
// metaservices (PR-MREST, PR-META) it answers itself.

import { randomUUID } from "node:crypto";
import http from "node:http";
import https from "node:https";
import tls from "node:tls";
import getRawBody from "raw-body";
import { parseDuration } from "../shared/config/durations";
import { serverTlsOptions } from "../shared/config/tls-files";
import { framingEndsConnection, hostLines } from "../shared/protocol/http-version";
import { listenSimulator } from "../shared/runtime/simulator-server";
import { jettyVersionRefusal } from "./jetty-framing";
import { authenticateClient, compileClients, requireKnownClient } from "./client-authentication";
import {
  compileGlobalConfiguration,
  type GlobalConfiguration,
  requireProviderAddress,
  requireSecurityServer,
} from "./global-configuration";
import { lastHeader } from "./header-filter";
import { ProviderClient } from "./provider-client";
import { mayCall, requireKnownProvider } from "./provider-services";
import { type JettyTarget, mismatchedAuthority, readJettyTarget } from "./jetty-uri";
import {
  NODE_MAX_HEADER_SIZE,
  requestHeadOverflow,
  sendBadMessage,
  sendHeadOverflow,
} from "./request-head-limit";
import { javaUriRefusal } from "./java-uri";
import { answerRestMetaservice, matchRestMetaservice } from "./rest-metaservices";
import {
  findRestTarget,
  forwardRest,
  parseRestPath,
  readCallerIds,
  restProvider,
} from "./rest-proxy";
import {
  compileService,
  DEFAULT_MAX_BODY_BYTES,
  DEFAULT_TIMEOUT_MS,
  type CompiledService,
  type Pem,
  type XroadSimClientOptions,
  type XroadSimOptions,
  type XroadSimServiceOptions,
} from "./sim-options";
import { answerSoapMetaservice, isSoapMetaservice } from "./soap-metaservices";
import { findSoapService, forwardSoap, readSoapRequest } from "./soap-proxy";
import { sendRestError, sendSoapFault, XroadError } from "./xroad-errors";

export type { XroadSimOptions, XroadSimServiceOptions, Pem } from "./sim-options";
export type { ClientStatus, ConnectionType, XroadSimClientOptions } from "./sim-options";
export { XroadError } from "./xroad-errors";

/** One call the simulator handled, for tests and the demo. */
export interface XroadSimCall {
  protocol: "rest" | "soap";
  /** The service id the call named (null when it could not be read). */
  service: string | null;
  client: string | null;
  xroadId: string;
  method: string;
  /** The request path as the client sent it. */
  path: string;
  /** The status answered to the client. */
  status: number;
  /** The X-Road error type when the security server answered with its own error. */
  error: string | null;
  /** Subject of the client certificate, when the client presented one. */
  clientCertificate: string | null;
  at: number;
}

export interface XroadSim {
  /** Base URL of the consumer-facing port, e.g. `https://127.0.0.1:41234` (no trailing slash). */
  readonly url: string;
  readonly port: number;
  /** Registers (or replaces) a service, e.g. once the provider's port is known. */
  register(id: string, service: XroadSimServiceOptions): void;
  /**
   * Removes a service; later calls get `Server.ServerProxy.UnknownService`, or
   * `Server.ServerProxy.UnknownMember` once its provider has no service left.
   */
  unregister(id: string): void;
  /** Swaps the consumer-facing certificate and key for new connections. */
  setTls(options: NonNullable<XroadSimOptions["tls"]>): void;
  /**
   * Replaces every client's connection type and certificates, from the next request;
   * `undefined`, as a file without `clients`, takes any client again.
   */
  setClients(clients: Record<string, XroadSimClientOptions> | undefined): void;
  /**
   * Takes a configuration file's settings again (`sluice xroad-sim` on SIGHUP): the
   * consumer-facing certificate (when `tls` is given), `clients`, `members`,
   * `securityServer` and `services`, whose list replaces the registered one (a service left
   * out is gone). All of them are checked first: a RangeError listing every problem changes
   * nothing. Host, port, timeouts, body limit and the internal certificate stay as started.
   */
  reload(options: XroadSimOptions): void;
  /** Handled calls, oldest first (at most the last 10000). */
  calls(): XroadSimCall[];
  /** Connections open on the consumer-facing port, as the server counts them. */
  connections(): Promise<number>;
  reset(): void;
  close(): Promise<void>;
}

const CALL_LOG_LIMIT = 10_000;

/** Starts the simulator and resolves once it listens. Throws RangeError listing bad options. */
export async function startXroadSim(options: XroadSimOptions = {}): Promise<XroadSim> {
  const problems: string[] = [];
  const timeoutMs =
    options.timeout === undefined ? DEFAULT_TIMEOUT_MS : parseDuration(options.timeout);
  if (timeoutMs === undefined || timeoutMs <= 0)
    problems.push("timeout must be a positive duration");
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const settings = compileSettings(options, timeoutMs ?? DEFAULT_TIMEOUT_MS);
  problems.push(...settings.problems);
  if (problems.length > 0 || settings.globalConf === null) {
    throw new RangeError(`xroad-sim: ${problems.join("; ")}`);
  }
  const services = settings.services;
  // Null while the simulator was given no `clients`: then it takes any client (docs/xroad-sim.md).
  let clients = settings.clients;
  // Replaced whole by reload; each request reads the one of its moment.
  let globalConf: GlobalConfiguration = settings.globalConf;

  /**
   * Throws X-Road's UnknownMember for a client the security server does not have, then its
   * SslAuthenticationFailed when this connection may not speak as `client`.
   */
  const authenticate = (req: http.IncomingMessage, client: string): void => {
    requireKnownClient(clients, client);
    const socket = req.socket as tls.TLSSocket;
    const overTls = socket.encrypted === true;
    const peer = overTls ? (socket.getPeerX509Certificate() ?? null) : null;
    authenticateClient(clients?.get(client), client, peer, overTls);
  };

  const provider = new ProviderClient(options.internalTls, maxBodyBytes);
  const log: XroadSimCall[] = [];
  const record = (call: XroadSimCall): void => {
    log.push(call);
    if (log.length > CALL_LOG_LIMIT) log.shift();
  };
  const lookup = (id: string): CompiledService | undefined => services.get(id);

  const peerSubject = (req: http.IncomingMessage): string | null => {
    const socket = req.socket as tls.TLSSocket;
    if (typeof socket.getPeerCertificate !== "function") return null;
    const cert = socket.getPeerCertificate();
    if (!cert || !cert.subject) return null;
    const cn = cert.subject.CN;
    return Array.isArray(cn) ? cn.join(", ") : (cn ?? JSON.stringify(cert.subject));
  };

  /** The whole request body, bounded; `errorType` is the X-Road error when it cannot be read. */
  const readBody = async (req: http.IncomingMessage, errorType: string): Promise<Buffer> => {
    try {
      return await getRawBody(req, {
        limit: maxBodyBytes,
        length: req.headers["content-length"] ?? null,
      });
    } catch (error) {
      const tooLarge = (error as { type?: string }).type === "entity.too.large";
      throw new XroadError(
        errorType,
        tooLarge
          ? `Request body larger than ${maxBodyBytes} bytes`
          : "Could not read the request body",
      );
    }
  };

  /**
   * The caller's client and the security server it names, read with the request's other ids
   * (X-Road's RestRequest), so a malformed one is refused before the client is looked at. The
   * named server is compared only once the simulator has an identity: without one the header
   * passes to the provider unread beyond its form.
   */
  const callerIds = (req: http.IncomingMessage): { client: string; server: string | null } => {
    const ids = readCallerIds(req.rawHeaders);
    return {
      client: ids.client,
      server: globalConf.securityServer === null ? null : ids.securityServer,
    };
  };

  const serveRest = async (
    req: http.IncomingMessage,
    res: http.ServerResponse,
    jettyTarget: JettyTarget,
  ): Promise<void> => {
    const path = req.url ?? "/";
    const call: XroadSimCall = {
      protocol: "rest",
      service: null,
      client: null,
      xroadId: req.headers["x-road-id"]
        ? String(lastHeader(req.rawHeaders, "x-road-id"))
        : randomUUID(),
      method: req.method ?? "GET",
      path,
      status: 500,
      error: null,
      clientCertificate: peerSubject(req),
      at: Date.now(),
    };
    try {
      // X-Road's order (ClientRestMessageProcessor.process): the request's ids are read, the
      // client is checked (verifyClientStatus, verifyClientAuthentication), then global
      // configuration must know the provider's security server (prepareRequest), and only then
      // does the provider's server proxy pick a metaservice or look the service up
      // (ServerRestMessageProcessor.handleRequest, verifyAccess: unknown, then of another type,
      // then not allowed), so an unknown client learns nothing of the services.
      const restPath = parseRestPath(jettyTarget);
      const { client, server } = callerIds(req);
      call.client = client;
      authenticate(req, call.client);
      const named = restPath.decoded;
      requireProviderAddress(globalConf, restProvider(restPath), named.slice(0, 5).join("/"));
      requireSecurityServer(globalConf, server);
      // The provider's server proxy reads the request line again with java.net.URI
      // (RestRequest(byte[])), before anything else; its URISyntaxException is an InternalError.
      const { path: rawPath, query: rawQuery } = jettyTarget;
      const refusal = javaUriRefusal(rawQuery === null ? rawPath : `${rawPath}?${rawQuery}`);
      if (refusal) throw new XroadError("Server.ServerProxy.InternalError", refusal);
      // The provider's server proxy reads the provider's status first (verifyClientStatus in
      // ServerRestMessageProcessor.readMessage), metaservice or service alike.
      requireKnownProvider([...services.values()], restProvider(restPath), clients);
      const meta = matchRestMetaservice(call.method, restPath);
      if (meta) {
        call.service = `${meta.provider}/${meta.code}`;
        const body = await readBody(req, "Client.BadRequest");
        const ids = { client, xroadId: call.xroadId };
        const deps = { services: [...services.values()], provider, clients };
        call.status = await answerRestMetaservice(req, res, meta, body, ids, deps);
        return;
      }
      const target = findRestTarget(restPath, lookup, (provider) =>
        requireKnownProvider([...services.values()], provider, clients),
      );
      call.service = target.service.id;
      if (target.service.type !== "rest") {
        // X-Road 7's X_INVALID_SERVICE_TYPE is `ServiceType` (ErrorCodes; X-Road 8 `service_type`):
        // no security server answers `InvalidServiceType`.
        throw new XroadError(
          "Server.ServerProxy.ServiceType",
          "Service is a SOAP service and cannot be called using REST interface",
        );
      }
      checkAccess(target.service, call.client);
      const body = await readBody(req, "Client.BadRequest");
      call.status = await forwardRest(req, res, target, body, call.client, call.xroadId, provider);
    } catch (error) {
      const xroad = asXroadError(error);
      call.status = xroad.status;
      call.error = xroad.type;
      sendRestError(req, res, xroad);
    } finally {
      record(call);
    }
  };

  const serveSoap = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const call: XroadSimCall = {
      protocol: "soap",
      service: null,
      client: null,
      xroadId: "",
      method: "POST",
      path: req.url ?? "/",
      status: 500,
      error: null,
      clientCertificate: peerSubject(req),
      at: Date.now(),
    };
    try {
      const body = await readBody(req, "Client.InvalidSoap");
      const request = readSoapRequest(req, body);
      call.client = request.client;
      call.xroadId = request.xroadId;
      call.service = request.serviceId;
      authenticate(req, request.client);
      requireProviderAddress(globalConf, request.provider, request.serviceId);
      requireSecurityServer(globalConf, request.securityServer);
      // ServerMessageProcessor.readMessage: verifySecurityServer, then verifyClientStatus of the
      // provider, before a metaservice or the service is looked up.
      requireKnownProvider([...services.values()], request.provider, clients);
      if (isSoapMetaservice(request)) {
        const deps = { services: [...services.values()], provider, clients };
        call.status = await answerSoapMetaservice(req, res, request, body, deps);
        return;
      }
      const service = findSoapService(request.serviceId, lookup);
      if (!service) {
        // ServerMessageProcessor.readMessage checks the provider is a client of this security
        // server (verifyClientStatus: `Server.ServerProxy.UnknownMember`) before verifyAccess
        // looks the service up. A registered service's provider is always one.
        requireKnownProvider([...services.values()], request.provider, clients);
        throw new XroadError(
          "Server.ServerProxy.UnknownService",
          `Unknown service: SERVICE:${request.serviceId}`,
        );
      }
      if (service.type !== "soap") {
        // As ServerMessageProcessor.verifyAccess answers it, after UnknownService.
        throw new XroadError(
          "Server.ServerProxy.ServiceType",
          "Service is a REST service and cannot be called using SOAP interface",
        );
      }
      checkAccess(service, request.client);
      call.status = await forwardSoap(req, res, service, request, body, provider);
    } catch (error) {
      const xroad = asXroadError(error);
      call.status = 200;
      call.error = xroad.type;
      sendSoapFault(res, xroad);
    } finally {
      record(call);
    }
  };

  const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    // The request line's version first: Jetty refuses it before it reads any header.
    const version = jettyVersionRefusal(req);
    if (version !== null) {
      req.resume();
      sendBadMessage(res, version.status, version.reason);
      return;
    }
    // RFC 9112 §6.1: an HTTP/1.0 request with a Transfer-Encoding has faulty framing, and the
    // connection ends with its answer. Node read it chunked and, with keep-alive, read the
    // bytes after it as the next request.
    if (framingEndsConnection(req)) res.setHeader("connection", "close");
    // RFC 9112 §3.2; Jetty's parser refuses a second Host line (HttpCompliance
    // DUPLICATE_HOST_HEADERS is not allowed in its default mode). Node kept the first.
    if (hostLines(req) > 1) {
      req.resume();
      sendBadMessage(res, 400, "Duplicate Host Header");
      return;
    }
    // Jetty's order: a URI past the head limit while the request line is read (414), then the
    // URI's parse (its 400 "Bad Request"), then the headers past the limit (431), then the
    // URI's ambiguities and an absolute target's authority against `Host` once the headers are
    // complete (Request.setMetaData).
    const target = readJettyTarget(req.url ?? "/");
    const overflow = requestHeadOverflow(req);
    const refusal =
      overflow === 414 ? null : (target.refusal ?? mismatchedAuthority(target, req.headers.host));
    if (overflow !== null || refusal !== null) {
      req.resume();
      if (overflow !== null && !refusal?.early) sendHeadOverflow(res, overflow);
      else if (refusal !== null) sendBadMessage(res, 400, refusal.reason);
      return;
    }
    // X-Road's handlers are given Jetty's decoded, dot-resolved path (an absolute-form target's
    // too): ClientRestMessageHandler takes one starting with `/r1/`, and its RestRequest then
    // reads the raw path.
    if (target.pathInContext.startsWith("/r1/")) {
      void serveRest(req, res, target);
      return;
    }
    // Every other target is the SOAP handler's (ClientProxy adds ClientMessageHandler last, for
    // any path): it takes only POST (verifyCanProcess: ClientException
    // `Client.InvalidHttpMethod`, answered as a SOAP fault like its others).
    if (req.method === "POST") {
      void serveSoap(req, res);
      return;
    }
    // Drain what the client sent so the connection stays usable.
    req.resume();
    sendSoapFault(
      res,
      new XroadError(
        "Client.InvalidHttpMethod",
        `Must use POST request method instead of ${req.method ?? "GET"}`,
      ),
    );
  };

  let server: http.Server | https.Server;
  if (options.tls) {
    try {
      server = https.createServer(
        { ...consumerPortTls(options.tls), maxHeaderSize: NODE_MAX_HEADER_SIZE },
        handler,
      );
    } catch (error) {
      throw new RangeError(`xroad-sim: tls: ${(error as Error).message}`);
    }
  } else {
    server = http.createServer({ maxHeaderSize: NODE_MAX_HEADER_SIZE }, handler);
  }
  // A refused TLS handshake is the answer; it must not reach the process as an error.
  server.on("tlsClientError", () => undefined);
  const { url, port } = await listenSimulator(server, options);
  let closed = false;

  return {
    url,
    port,
    register(id, service) {
      const compiled = compileService(id, service, timeoutMs ?? DEFAULT_TIMEOUT_MS);
      if (Array.isArray(compiled)) throw new RangeError(`xroad-sim: ${compiled.join("; ")}`);
      services.set(id, compiled);
      void provider.forget(id);
    },
    unregister(id) {
      services.delete(id);
      void provider.forget(id);
    },
    setTls(tlsOptions) {
      if (!(server instanceof https.Server)) throw new Error("xroad-sim: started without tls");
      server.setSecureContext(consumerPortTls(tlsOptions));
    },
    setClients(all) {
      if (all === undefined) {
        clients = null;
        return;
      }
      const compiled = compileClients(all);
      if (Array.isArray(compiled)) throw new RangeError(`xroad-sim: ${compiled.join("; ")}`);
      clients = compiled;
    },
    reload(fresh) {
      const settings = compileSettings(fresh, timeoutMs ?? DEFAULT_TIMEOUT_MS);
      const problems = [...settings.problems];
      let context: tls.SecureContextOptions | null = null;
      if (fresh.tls) {
        if (!(server instanceof https.Server)) problems.push("tls: started without tls");
        else {
          try {
            context = consumerPortTls(fresh.tls);
            // What setSecureContext would throw on, found before anything is swapped.
            tls.createSecureContext(context);
          } catch (error) {
            problems.push(`tls: ${(error as Error).message}`);
          }
        }
      }
      if (problems.length > 0 || settings.globalConf === null) {
        throw new RangeError(`xroad-sim: ${problems.join("; ")}`);
      }
      if (context !== null) (server as https.Server).setSecureContext(context);
      clients = settings.clients;
      globalConf = settings.globalConf;
      for (const id of new Set([...services.keys(), ...settings.services.keys()])) {
        void provider.forget(id);
      }
      services.clear();
      for (const [id, compiled] of settings.services) services.set(id, compiled);
    },
    calls: () => [...log],
    connections: () =>
      new Promise<number>((resolve, reject) =>
        server.getConnections((error, count) => (error ? reject(error) : resolve(count))),
      ),
    reset() {
      log.length = 0;
    },
    async close() {
      if (closed) return;
      closed = true;
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await provider.close();
    },
  };
}

/**
 * The settings a configuration file gives and SIGHUP takes again (services, clients, members,
 * securityServer), compiled, with every problem found; a part with problems is left null (or
 * without the refused services). `clients` null: none given, any client taken.
 */
function compileSettings(options: XroadSimOptions, timeoutMs: number) {
  const problems: string[] = [];
  const services = new Map<string, CompiledService>();
  for (const [id, service] of Object.entries(options.services ?? {})) {
    const compiled = compileService(id, service, timeoutMs);
    if (Array.isArray(compiled)) problems.push(...compiled);
    else services.set(id, compiled);
  }
  const clients = options.clients === undefined ? null : compileClients(options.clients);
  if (Array.isArray(clients)) problems.push(...clients);
  const globalConf = compileGlobalConfiguration(options.members, options.securityServer);
  if (Array.isArray(globalConf)) problems.push(...globalConf);
  return {
    problems,
    services,
    clients: Array.isArray(clients) ? null : clients,
    globalConf: Array.isArray(globalConf) ? null : globalConf,
  };
}

/**
 * X-Road's client-side HTTPS connector (ClientProxy.createClientHttpsConnector, proxy-core) asks
 * for a client certificate and trusts any (its ClientSslTrustManager): who may call is decided
 * per client after the request is read, not at the handshake.
 */
function consumerPortTls(options: { cert: Pem; key: Pem }): https.ServerOptions {
  return { ...serverTlsOptions(options), requestCert: true, rejectUnauthorized: false };
}

/**
 * The provider's security server's last checks (ServerMessageProcessor and
 * ServerRestMessageProcessor.verifyAccess): access rights, then whether the service is
 * disabled, so only a client allowed to call it is shown the administrator's notice.
 */
function checkAccess(service: CompiledService, client: string): void {
  if (!mayCall(service, client)) {
    // verifyAccess's words: `Request is not allowed: %s` with the service id alone.
    throw new XroadError(
      "Server.ServerProxy.AccessDenied",
      `Request is not allowed: SERVICE:${service.id}`,
    );
  }
  if (service.disabledNotice !== null) {
    throw new XroadError(
      "Server.ServerProxy.ServiceDisabled",
      `Service SERVICE:${service.id} is disabled: ${service.disabledNotice}`,
    );
  }
}

function asXroadError(error: unknown): XroadError {
  if (error instanceof XroadError) return error;
  return new XroadError(
    "Server.ServerProxy.InternalError",
    `Internal error: ${(error as Error)?.message ?? String(error)}`,
  );
}
