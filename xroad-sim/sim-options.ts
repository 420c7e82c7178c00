// What a simulated security server is configured with (its clients' connection type, its
// internal TLS certificate, the registered services) and the check that turns it into one
// compiled form, listing every problem at once.

import { parseDuration } from "../shared/config/durations";

/** PEM text (a string starting with "-----BEGIN") or its bytes. */
export type Pem = string | Buffer;

/** ug-ss §9.1's connection types: X-Road's NOSSL, SSLNOAUTH and SSLAUTH. */
export type ConnectionType = "HTTP" | "HTTPS_NO_AUTH" | "HTTPS";

/**
 * A client's status on its security server (X-Road's ClientStatus, as its admin API names
 * it). Only a REGISTERED client may send requests.
 */
export type ClientStatus =
  | "REGISTERED"
  | "SAVED"
  | "REGISTRATION_IN_PROGRESS"
  | "DELETION_IN_PROGRESS"
  | "GLOBAL_ERROR"
  | "DISABLED"
  | "DISABLING_IN_PROGRESS"
  | "ENABLING_IN_PROGRESS";

export interface XroadSimClientOptions {
  /** Default `REGISTERED`; any other is refused as a client the server does not have, calling or called. */
  status?: ClientStatus;
  /** Default `HTTPS`, as a security server sets for every client it adds (ug-ss §9). */
  connectionType?: ConnectionType;
  /** The client's "Information System TLS certificates": the certificates themselves. */
  certificates?: Pem | Pem[];
}

export type ServiceType = "rest" | "soap";

/** A REST service's endpoint (ug-ss "Add endpoint"): a method, or `*`, and a path. */
export interface ServiceEndpoint {
  method: string;
  path: string;
}

/** The methods X-Road's admin takes for an endpoint (its REST API's Endpoint.method). */
const ENDPOINT_METHODS = new Set([
  "*",
  "GET",
  "POST",
  "PUT",
  "DELETE",
  "PATCH",
  "HEAD",
  "OPTIONS",
  "TRACE",
]);

export interface XroadSimServiceOptions {
  /**
   * The service URL registered for this service code: REST calls go to `<url>/<path>`, SOAP
   * calls are POSTed to it. `https://` makes the connection type HTTPS (ug-ss §9.2).
   */
  url: string;
  /** Default `rest`. A `soap` service is called by `POST /` with the X-Road SOAP header. */
  type?: ServiceType;
  /** The service's timeout (ug-ss §6.6 "Timeout (s)"): milliseconds or "30s". Default: the sim's. */
  timeout?: number | string;
  /**
   * Towards the provider: `ca` = the provider's own TLS certificates (the "Information System
   * TLS certificate" list; compared as they are, a CA admits nothing), `cert`/`key` override
   * the security server's internal TLS certificate presented as client certificate, `verify`
   * is ug-ss' "Verify TLS certificate" (default true).
   */
  tls?: { ca?: Pem | Pem[]; cert?: Pem; key?: Pem; verify?: boolean };
  /** Access rights: clients (`INSTANCE/CLASS/MEMBER[/SUBSYSTEM]`) allowed to call; default all. */
  allowedClients?: string[];
  /**
   * The URL of the service's description, as a service description is registered (ug-ss
   * §6.1): for REST an "OpenAPI 3 Description", read by `getOpenAPI` (PR-MREST §5) — without it
   * the service is one added by "REST API Base Path"; for SOAP the WSDL, read by `getWsdl`
   * (PR-META §4). Both are read with the service's TLS settings.
   */
  descriptionUrl?: string;
  /**
   * A REST service's endpoints added by hand (ug-ss "Add endpoint"), listed by `listMethods`
   * and `allowedMethods` after those generated from the OpenAPI description: a method (or `*`)
   * and a path such as `/pets/*`. Default none.
   */
  endpoints?: ServiceEndpoint[];
  /**
   * The service's description disabled by the security server's administrator (ug-ss §6.3),
   * with the notice callers are shown; calls get `Server.ServerProxy.ServiceDisabled`.
   */
  disabled?: { notice?: string };
}

export interface XroadSimOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** 0 (the default) picks a free port. */
  port?: number;
  /**
   * The consumer-facing port's TLS: the security server's own certificate and key. As on X-Road
   * a client certificate is asked for and any is taken at the handshake; `clients` decides
   * after it. Without `tls` the port speaks HTTP.
   */
  tls?: { cert: Pem; key: Pem };
  /**
   * The security server's clients by id (`INSTANCE/CLASS/MEMBER[/SUBSYSTEM]`): each one's
   * connection type and "Information System TLS certificates" (ug-ss §9.1). Given, a client
   * not listed is refused `Server.ClientProxy.UnknownMember`; without it every client is taken.
   * A provider listed in a status other than REGISTERED is refused when called
   * (`Server.ServerProxy.UnknownMember`), its services registered or not.
   */
  clients?: Record<string, XroadSimClientOptions>;
  /** The internal TLS certificate presented to `https://` services (ug-ss §10.4). */
  internalTls?: { cert: Pem; key: Pem };
  /** Default service timeout; 30 s as a security server's default. */
  timeout?: number | string;
  /** Largest request or response body passed through; default 10 MB. */
  maxBodyBytes?: number;
  /**
   * Global configuration's providers served by this security server
   * (`INSTANCE/CLASS/MEMBER[/SUBSYSTEM]`). Given, a call to any other provider is refused
   * `Server.ClientProxy.UnknownMember`, as for a member no security server serves; without
   * it every provider is taken to be served here.
   */
  members?: string[];
  /**
   * This security server's id, `INSTANCE/CLASS/MEMBER/SERVERCODE`. Given, a call naming
   * another (`X-Road-Security-Server`, SOAP `securityServer`) is refused
   * `Server.ClientProxy.InvalidSecurityServer`; without it the header is not read.
   */
  securityServer?: string;
  /** Registered services by id `INSTANCE/CLASS/MEMBER/SUBSYSTEM/serviceCode` (SOAP: `[/version]`). */
  services?: Record<string, XroadSimServiceOptions>;
}

export interface CompiledService {
  id: string;
  /** The service URL without a trailing slash. */
  url: URL;
  type: ServiceType;
  timeoutMs: number;
  tls: { ca?: Pem[]; cert?: Pem; key?: Pem; verify: boolean };
  allowedClients: Set<string> | null;
  /** The OpenAPI 3 description's or the WSDL's URL; null for a service without one. */
  descriptionUrl: URL | null;
  /** The disabled notice as X-Road's serverconf gives it, or null while the service is enabled. */
  disabledNotice: string | null;
  /** The endpoints added by hand, in the order given. */
  endpoints: ServiceEndpoint[];
}

export const DEFAULT_TIMEOUT_MS = 30_000;
export const DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024;

/** PR-REST §4.8: the only characters an X-Road identifier part may hold. */
export const IDENTIFIER_PART = /^[A-Za-z0-9'()+,\-.=?]+$/;

/** A member's or subsystem's id, INSTANCE/CLASS/MEMBER[/SUBSYSTEM], of those characters. */
export function isClientId(id: unknown): boolean {
  if (typeof id !== "string") return false;
  const parts = id.split("/");
  return parts.length >= 3 && parts.length <= 4 && parts.every((p) => IDENTIFIER_PART.test(p));
}

/** Checks a service id (4 parts for a member's service, 5 with a subsystem, SOAP may add a version). */
export function serviceIdProblem(id: string): string | null {
  const parts = id.split("/");
  if (parts.length < 4 || parts.length > 6) {
    return `service id "${id}" must be INSTANCE/CLASS/MEMBER/SUBSYSTEM/serviceCode`;
  }
  const bad = parts.find((p) => !IDENTIFIER_PART.test(p));
  return bad === undefined ? null : `service id "${id}" has an invalid part "${bad}"`;
}

const asList = <T>(value: T | T[] | undefined): T[] | undefined =>
  value === undefined ? undefined : Array.isArray(value) ? value : [value];

/** Compiles one service; returns the problems instead when there are any. */
export function compileService(
  id: string,
  service: XroadSimServiceOptions,
  defaultTimeoutMs: number,
): CompiledService | string[] {
  const problems: string[] = [];
  const idProblem = serviceIdProblem(id);
  if (idProblem) problems.push(idProblem);
  const url = httpUrl(service.url, `service ${id}: url`, problems);
  if (url && (url.search || url.hash)) problems.push(`service ${id}: url must not have a query`);
  const type = service.type ?? "rest";
  if (type !== "rest" && type !== "soap") problems.push(`service ${id}: type must be rest or soap`);
  const timeoutMs =
    service.timeout === undefined ? defaultTimeoutMs : parseDuration(service.timeout);
  if (timeoutMs === undefined || timeoutMs <= 0) {
    problems.push(`service ${id}: timeout must be a positive duration`);
  }
  const descriptionUrl =
    service.descriptionUrl === undefined
      ? null
      : httpUrl(service.descriptionUrl, `service ${id}: descriptionUrl`, problems);
  const { cert, key } = service.tls ?? {};
  if ((cert === undefined) !== (key === undefined)) {
    problems.push(`service ${id}: tls.cert and tls.key go together`);
  }
  const endpoints = service.endpoints ?? [];
  if (endpoints.length > 0 && type !== "rest") {
    problems.push(`service ${id}: endpoints are a REST service's`);
  }
  for (const endpoint of endpoints) {
    const problem = endpointProblem(endpoint);
    if (problem) problems.push(`service ${id}: ${problem}`);
  }
  if (problems.length > 0 || url === null) return problems;
  return {
    id,
    url,
    type,
    timeoutMs: timeoutMs as number,
    tls: { ca: asList(service.tls?.ca), cert, key, verify: service.tls?.verify ?? true },
    allowedClients: service.allowedClients ? new Set(service.allowedClients) : null,
    descriptionUrl,
    disabledNotice: service.disabled ? disabledNotice(id, service.disabled.notice) : null,
    endpoints: endpoints.map(({ method, path }) => ({ method, path })),
  };
}

/** An endpoint X-Road's admin would refuse: a method it does not know, or no path. */
function endpointProblem(endpoint: unknown): string | null {
  const { method, path } = (endpoint ?? {}) as Partial<ServiceEndpoint>;
  if (typeof method !== "string" || !ENDPOINT_METHODS.has(method)) {
    return `endpoint method ${JSON.stringify(method)} must be one of ${[...ENDPOINT_METHODS].join(", ")}`;
  }
  if (typeof path !== "string" || path === "") return "endpoint path must not be empty";
  return null;
}

/**
 * X-Road's serverconf (ServerConfImpl.getDisabledNotice) gives the administrator's notice, or,
 * when the service was disabled without one, a sentence of its own.
 */
function disabledNotice(id: string, notice: string | undefined): string {
  return notice === undefined ? `Service 'SERVICE:${id}' is disabled` : notice;
}

/** An http(s) URL, or null with the problem noted (a query is allowed: `…?format=json`). */
function httpUrl(text: string, where: string, problems: string[]): URL | null {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    problems.push(`${where} "${text}" is not a URL`);
    return null;
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    problems.push(`${where} must be http:// or https://`);
    return null;
  }
  return url;
}
