// What a configuration allows but most likely does not mean: `sluice check` prints these and
// every role logs them at start, and neither refuses the file for them.

import { plainHttpEntryWarnings } from "../delivery/callback-target";
import { isLoopbackHost } from "../runtime/loopback-host";
import {
  providedServices,
  SPARE_CONNECTIONS,
  tlsBlocks,
  XROAD_TRANSLATORS,
  type SluiceConfig,
} from "./config";
import { exposedKeyWarnings } from "./secret-file-modes";
import { envSecretSource } from "./secret-env";
import { retryWaitsMs } from "./unacknowledged-hold";

/** The service port requires a client certificate: a security server's connections. */
function admitsClients(config: SluiceConfig): boolean {
  const tls = config.adapter.tls;
  return Boolean(tls?.clientCa?.length || tls?.clientCerts?.length);
}

/**
 * REST services offered to X-Road callers (mutual TLS from a security server) without
 * `xroad.provider`: their 202s and hub registrations name `/messages/<id>`, which a caller
 * behind X-Road cannot reach. Consumer-direction services are left out: their local callers
 * reach Sluice directly.
 */
function unreachableLocationWarnings(config: SluiceConfig): string[] {
  if (!admitsClients(config) || config.xroad.provider !== null) return [];
  const offered = providedServices(config).filter((service) => service.protocols.includes("rest"));
  if (offered.length === 0) return [];
  return [
    `config.xroad.provider: not set, while adapter.tls.${config.adapter.tls?.clientCerts?.length ? "clientCerts" : "clientCa"} admits a security server; the Location of a 202 (service ${offered.map((s) => s.code).join(", ")}) and of a hub registration then names /messages/<id>, which no X-Road caller can reach: set it to the subsystem the REST services are registered under (docs/xroad-deployment.md)`,
  ];
}

/**
 * An admin port open beyond loopback: it speaks plain HTTP, so the admin token and the status
 * page's session cookie cross the network readable by anyone on the path. Warned whether or not
 * a token is set: `sluice check` often runs without the SLUICE_ADMIN_TOKEN the roles get.
 */
function plainAdminPortWarnings(config: SluiceConfig): string[] {
  const { host } = config.admin;
  if (isLoopbackHost(host)) return [];
  const where = process.env.ADMIN_HOST ? "environment ADMIN_HOST" : "config.admin.host";
  // Without admin.hosts any Host is served there: a page that re-points its own name at the
  // port's address (DNS rebinding) reaches it from the browser of whoever can.
  const rebinding =
    config.admin.hosts === null
      ? "; and it answers any Host: list the names it is reached by in admin.hosts (IP addresses are always served), so a page re-pointing its own name at it (DNS rebinding) is refused"
      : "";
  return [
    `${where}: "${host}" is not a loopback address, and the admin port speaks plain HTTP: the admin token and the status page's session cookie cross the network unencrypted; keep it on 127.0.0.1 and reach it through ssh or kubectl port-forward, or put a TLS-terminating proxy in front of it, and let a network policy admit only probes and Prometheus otherwise${rebinding} (docs/operator.md)`,
  ];
}

/**
 * Services whose body limit lets through requests whose message the broker cannot carry: the
 * adapter answers those 413 PayloadTooLarge, though the body is within `maxBodySize`. A REST
 * body travels once (JSON-escaped, or base64 when binary), a SOAP Body twice (as JSON for JSON
 * backends and as XML for SOAP ones), so only a limit already too large unescaped is warned of.
 */
function messageSizeWarnings(config: SluiceConfig): string[] {
  const max = config.amqpMaxMessageBytes;
  return Object.values(config.services)
    .filter((service) => service.maxBodyBytes * (service.protocols.includes("soap") ? 2 : 1) > max)
    .map(
      (service) =>
        `config.services.${service.code}.maxBodySize: ${service.maxBodyBytes} bytes, while a request message may be at most amqpMaxMessageSize of ${max} bytes and carries the body ${service.protocols.includes("soap") ? "twice (a SOAP Body as JSON and as XML)" : "once (escaped in JSON, or base64)"}: the larger requests it lets through are answered 413 PayloadTooLarge; lower maxBodySize or raise amqpMaxMessageSize with the broker's max_message_size (docs/configuration.md)`,
    );
}

/**
 * Provider services behind a security server (one is admitted, or `xroad.provider` is set)
 * described in the WSDL without `adapter.publicUrl`: its `soap:address` is then the relative
 * `/soap`, and a security server refuses to add a WSDL whose service URLs are not http(s).
 */
function relativeWsdlAddressWarnings(config: SluiceConfig): string[] {
  const behindSecurityServer = admitsClients(config) || config.xroad.provider !== null;
  if (!behindSecurityServer || config.adapter.publicUrl !== null) return [];
  const soap = providedServices(config).filter((s) => s.protocols.includes("soap"));
  if (soap.length === 0) return [];
  return [
    `config.adapter.publicUrl: not set, so the WSDL (service ${soap.map((s) => s.code).join(", ")}) names the relative address /soap, and a security server refuses to add a WSDL whose service URLs are not http:// or https://: set it to the address the security server reaches the service port at (docs/xroad-deployment.md)`,
  ];
}

/**
 * Provider service codes with a character X-Road identifiers may not hold (PR-MESS §2.7,
 * PR-REST §4.8: letters, digits and '()+,-.=?): of Sluice's own service names (letters, digits,
 * `_`, `-`, `.`) that is `_`, which a security server with strict identifier checks (the
 * default of new installations since X-Road 7.3) refuses to register, the whole WSDL with it.
 */
function identifierCharacterWarnings(config: SluiceConfig): string[] {
  // The status service is registered as well (a REST service, and an operation of the WSDL).
  const codes = [
    ...providedServices(config).map((service) => [`config.services.${service.code}`, service.code]),
    ["config.xroad.statusService", config.xroad.statusService],
  ];
  return codes
    .filter(([, code]) => code.includes("_"))
    .map(
      ([where]) =>
        `${where}: an X-Road service code holds only letters, digits and '()+,-.=? (PR-MESS §2.7); a security server with strict identifier checks refuses to register this one, and a WSDL that holds it`,
    );
}

/**
 * A duration as a warning names it: the largest whole unit, to a tenth; under two of that unit,
 * in the next one if it is a whole number of it (95s, not 1.6m, which an operator would copy as
 * 96 s).
 */
function spoken(ms: number): string {
  const units: [string, number][] = [
    ["d", 86_400_000],
    ["h", 3_600_000],
    ["m", 60_000],
    ["s", 1_000],
  ];
  const at = units.findIndex(([, unitMs]) => ms >= unitMs);
  if (at < 0) return `${ms}ms`;
  const [unit, size] = units[at];
  const [smaller, smallerSize] = units[at + 1] ?? ["ms", 1];
  if (ms % size !== 0 && ms < 2 * size && ms % smallerSize === 0) {
    return `${ms / smallerSize}${smaller}`;
  }
  return `${Math.round((ms / size) * 10) / 10}${unit}`;
}

/**
 * A `retention` no longer than a message may still be pending: its record (state, responses,
 * duplicate key) is deleted first, so the caller's status read answers 404 for a message Sluice
 * still holds, a late outcome has no record to land in, and its `X-Road-Id` counts as new.
 * Warned, not refused: 1 h is the floor, and a short retention may be what an agency's data
 * rules ask for.
 */
function retentionWarnings(config: SluiceConfig): string[] {
  const keep = config.retentionMs;
  const warnings: string[] = [];
  const outlasts = (where: string, ms: number, what: string, then: string) => {
    if (ms >= keep) {
      warnings.push(
        `${where}: ${what} ${spoken(ms)}, and config.retention keeps a message's record ${spoken(keep)}: ${then}; raise retention above it (docs/configuration.md)`,
      );
    }
  };
  const held =
    "a message Sluice still holds may lose its record (a status read answers 404, its X-Road-Id counts as new)";
  for (const service of Object.values(config.services)) {
    if (service.expireAfterMs !== null) {
      outlasts(
        `config.services.${service.code}.expireAfter`,
        service.expireAfterMs,
        "a message may wait",
        held,
      );
    }
  }
  for (const backend of Object.values(config.backends)) {
    const { attempts, backoffMs } = backend.retry;
    outlasts(
      `config.backends.${backend.name}.retry`,
      retryWaitsMs(backoffMs, attempts - 1),
      "the retries wait",
      held,
    );
  }
  if (Object.values(config.services).some((s) => s.reply.mode === "callback")) {
    const { backoffMs } = config.callbacks;
    outlasts(
      "config.callbacks.backoff",
      retryWaitsMs(backoffMs, backoffMs.length),
      "a callback's attempts wait",
      "a message whose callback is still tried may lose its record (a status read answers 404)",
    );
  }
  return warnings;
}

/**
 * A remote X-Road service whose call may outlast the worker's shutdown grace: a call still
 * running when the grace ends is given up and handed back, and the next worker calls the remote
 * service again (docs/semantics.md, the second window). A remote provider is another
 * organisation's, a SOAP one sees no Idempotency-Key (its X-Road id is its only key), and the
 * default timeout of 95 s, longer than the security servers may take with their defaults (30 s
 * to connect, 60 s of the service's Timeout) so that Sluice never calls again while they may
 * still bring the first answer, is over nine times the default grace: every rolling restart
 * during a slow call sent it twice, without a word.
 */
function shutdownGraceWarnings(config: SluiceConfig): string[] {
  const grace = config.shutdownGraceMs;
  return Object.values(config.backends)
    .filter((b) => XROAD_TRANSLATORS.includes(b.translator) && b.timeoutMs > grace)
    .map(
      (backend) =>
        `config.shutdown.grace: ${spoken(grace)}, shorter than config.backends.${backend.name}.timeout of ${spoken(backend.timeoutMs)}: a call to the remote service still running when a worker's grace ends is given up and made again by the next worker, so the remote provider gets the message twice; set shutdown.grace above the timeout (docs/consumer.md)`,
    );
}

/**
 * Backends that call one remote X-Road service: each holds its own rate, in-flight limit and
 * windows, so the remote provider gets their sum, more than the agreement any one of them was
 * written for (docs/consumer.md: one backend per remote service). A local service of its own
 * needs no backend of its own: services share a backend, each naming its own `client`.
 */
function sharedRemoteServiceWarnings(config: SluiceConfig): string[] {
  const byService = new Map<string, string[]>();
  for (const backend of Object.values(config.backends)) {
    if (!XROAD_TRANSLATORS.includes(backend.translator) || !backend.service) continue;
    // Another security server (a backend's own url) is the same remote provider all the same.
    const names = byService.get(backend.service) ?? [];
    names.push(backend.name);
    byService.set(backend.service, names);
  }
  return [...byService]
    .filter(([, names]) => names.length > 1)
    .map(
      ([service, names]) =>
        `config.backends: ${names.join(", ")} all call the remote service ${service}, each within its own rate, maxInFlight and windows, so the remote provider gets their sum; have the services share one backend (each may name its own client) (docs/consumer.md)`,
    );
}

/** Fewer different characters than this make a token of any length guessable. */
const MIN_TOKEN_VARIETY = 6;

/**
 * An admin token that a person typed rather than a generator made: long enough for the rule of
 * 16, guessable all the same (`aaaaaaaaaaaaaaaa`, `1234123412341234`, `abcabcabcabcabca`). Only
 * warned of: such a token may be a test setup's, and a refusal would not make the next one
 * random. A random hex token of 16 characters has fewer than 6 different ones about 3 times in
 * 100 000; of 32 (openssl rand -hex 16), never in practice.
 */
function guessableTokenWarnings(config: SluiceConfig): string[] {
  const token = config.admin.token;
  if (token === null) return [];
  const where = envSecretSource("SLUICE_ADMIN_TOKEN") ?? "config.admin.token";
  return guessableTokenWarning(token, where);
}

/**
 * The warning about a guessable admin token, `where` naming its source: given at start and
 * again when SIGHUP takes a rotated token (admin-token-reload.ts). Never the token itself.
 */
export function guessableTokenWarning(token: string, where: string): string[] {
  const variety = new Set(token).size;
  if (variety >= MIN_TOKEN_VARIETY) return [];
  return [
    `${where}: has only ${variety} different characters, as a token a person typed does, and whoever reaches the admin port may guess it; use a random one (openssl rand -hex 32)`,
  ];
}

/**
 * Whether two URLs name the same place as a client reaches it: `HTTPS://SS.internal:8443` and
 * `https://ss.internal:8443/` are one security server, whose warning was given twice.
 */
function sameUrl(a: string, b: string): boolean {
  try {
    return new URL(a).href === new URL(b).href;
  } catch {
    return a === b;
  }
}

/**
 * A security server reached over HTTPS without its certificate named in a `ca`: it is checked
 * against the public CAs Node trusts, and a security server's internal TLS certificate is
 * self-signed unless its administrator replaced it, so every call would fail at the handshake
 * and be retried for the backend's whole retry schedule before anyone sees why.
 */
function securityServerTrustWarnings(config: SluiceConfig): string[] {
  const ss = config.securityServer;
  if (ss === null) return [];
  const fix =
    "export the security server's internal TLS certificate and name it in ca (docs/consumer.md), or ignore this if a public CA issued it";
  const warnings: string[] = [];
  const usesOwn = Object.values(config.backends).filter(
    (b) => XROAD_TRANSLATORS.includes(b.translator) && (b.url || b.tls),
  );
  const https = (url: string) => url.toLowerCase().startsWith("https:");
  if (https(ss.url) && !ss.tls?.ca.length) {
    warnings.push(
      `config.securityServer.tls.ca: not set, while securityServer.url is HTTPS: its certificate is checked against the public CAs; ${fix}`,
    );
  }
  for (const backend of usesOwn) {
    const url = backend.url || ss.url;
    const tls = backend.tls ?? ss.tls;
    if (!https(url) || tls?.ca.length) continue;
    if (!backend.tls && sameUrl(url, ss.url)) continue;
    warnings.push(
      `config.backends.${backend.name}.tls.ca: not set, while the security server it calls (${url}) is HTTPS: its certificate is checked against the public CAs; ${fix}`,
    );
  }
  return warnings;
}

/**
 * A security server reached over HTTPS without a client certificate to present. Legal: the
 * security server's "HTTPS NOAUTH" connection type (UG-SS §9.1) takes such calls, and so does
 * "HTTP". But "HTTPS", the default of a new client, wants one of the subsystem's certificates,
 * and fails every call `Server.ClientProxy.SslAuthenticationFailed` ("specifies HTTPS but did not
 * supply TLS certificate", `MessageProcessorBase` in proxy-core), each retried for the backend's
 * whole retry schedule first. The subsystems are named: the connection type is set on each.
 */
function securityServerClientCertWarnings(config: SluiceConfig): string[] {
  const ss = config.securityServer;
  if (ss === null) return [];
  const https = (url: string) => url.toLowerCase().startsWith("https:");
  const xroad = Object.values(config.backends).filter((b) =>
    XROAD_TRANSLATORS.includes(b.translator),
  );
  const ownConnection = (b: (typeof xroad)[number]) => Boolean(b.url || b.tls);
  const clientsOf = (backends: typeof xroad): string[] => {
    const names = new Set(backends.map((b) => b.name));
    return Object.values(config.services)
      .filter((service) => names.has(service.backend))
      .map((service) => service.client ?? ss.client);
  };
  const warning = (where: string, url: string, clients: string[]) =>
    `${where}.tls.cert: not set, while ${url} is HTTPS: Sluice presents no client certificate, so the security server takes its calls only with the connection type HTTPS NOAUTH on each client it calls as (${[...new Set(clients)].join(", ")}; INTERNAL SERVERS tab, UG-SS §9.1); with HTTPS, the default, every call fails Server.ClientProxy.SslAuthenticationFailed: set tls.cert and tls.key and list the certificate on those clients, or ignore this if HTTPS NOAUTH is intended (docs/consumer.md)`;
  const warnings: string[] = [];
  if (https(ss.url) && !ss.tls?.cert) {
    // securityServer.client is named too: xroad: callback targets are called as it.
    const shared = xroad.filter((b) => !ownConnection(b));
    warnings.push(
      warning("config.securityServer", "securityServer.url", [ss.client, ...clientsOf(shared)]),
    );
  }
  for (const backend of xroad.filter(ownConnection)) {
    const url = backend.url || ss.url;
    const tls = backend.tls ?? ss.tls;
    if (!https(url) || tls?.cert) continue;
    // Already named with securityServer's: the same connection, its settings unchanged.
    if (!backend.tls && sameUrl(url, ss.url)) continue;
    warnings.push(
      warning(
        `config.backends.${backend.name}`,
        `the security server it calls (${url})`,
        clientsOf([backend]),
      ),
    );
  }
  return warnings;
}

/** The client security server's `client-connector-initial-idle-time` by default (UG-SYSPAR). */
const SECURITY_SERVER_IDLE_MS = 30_000;

/**
 * An `xroad-*` backend that keeps a connection open as long as the security server lets it
 * idle, or longer: the security server closes a connection idle for 30 s (docs/consumer.md), and
 * a call sent on it as it closes fails with a reset. Warned, not refused: the security server
 * closes a connection that holds no request, so that call never reached it, and it is retried
 * as any unreachable call (only one on its last attempt is dead-lettered, to be replayed); and
 * the idle time is the security server administrator's to raise, which Sluice cannot see.
 */
function securityServerIdleWarnings(config: SluiceConfig): string[] {
  return Object.values(config.backends)
    .filter((backend) => XROAD_TRANSLATORS.includes(backend.translator))
    .filter((backend) => {
      const keepAlive = backend.options.keepAliveTimeoutMs;
      return typeof keepAlive === "number" && keepAlive >= SECURITY_SERVER_IDLE_MS;
    })
    .map(
      (backend) =>
        `config.backends.${backend.name}.options.keepAliveTimeoutMs: ${backend.options.keepAliveTimeoutMs}, not below the ${spoken(SECURITY_SERVER_IDLE_MS)} the security server lets a connection idle (client-connector-initial-idle-time): it may close a kept-alive connection just as a call is sent on it, and that call fails with a reset and spends one of its retry attempts; leave keepAliveTimeoutMs unset (4000) or below 30000, or ignore this if the security server's idle time was raised above it (docs/consumer.md)`,
    );
}

/**
 * A service port beyond loopback without TLS: requests and answers, and the `X-Road-Client`
 * Sluice takes as the caller, cross the network readable and forgeable by anyone who can reach
 * the port (docs/xroad-deployment.md §4). The default (0.0.0.0, no TLS) is one. Legal where the
 * network admits only the security server, or a proxy in front terminates TLS: `adapter.plainHttp`
 * says so, and silences this.
 */
function plainServicePortWarnings(config: SluiceConfig): string[] {
  const { host, tls, plainHttp } = config.adapter;
  if (tls !== null || plainHttp || isLoopbackHost(host)) return [];
  return [
    `config.adapter.host: "${host}" is not a loopback address, and the service port speaks plain HTTP: requests, answers and the X-Road-Client Sluice takes as the caller cross the network readable by anyone on the path; set adapter.tls (cert, key, and clientCerts with the security server's certificate) and an https:// service URL (docs/xroad-deployment.md §3), bind adapter.host to an interface only the security server reaches, or set adapter.plainHttp: true if plain HTTP is intended`,
  ];
}

/**
 * No more service-port connections than sync waiters: each waiting caller holds a connection,
 * so the connection cap is met first and a caller past the waiter limit is dropped without an
 * answer (the security server reports a failed connection) instead of getting its 503 Busy,
 * and status reads and acknowledgements cannot get in until waits end.
 */
function connectionCapWarnings(config: SluiceConfig): string[] {
  const { maxConnections, maxSyncWaiters } = config.adapter;
  if (maxConnections > maxSyncWaiters) return [];
  return [
    `config.adapter.maxConnections: ${maxConnections}, not above adapter.maxSyncWaiters (${maxSyncWaiters}): each sync caller holds its connection while it waits, so with every waiter slot taken the next connection is closed unanswered rather than answered 503 Busy, and nobody can read a status meanwhile; leave maxConnections unset (maxSyncWaiters + ${SPARE_CONNECTIONS}) or set it well above maxSyncWaiters (docs/configuration.md)`,
  ];
}

/**
 * An outbound block's `ciphers` that names no `@SECLEVEL`: it replaces Sluice's list and with
 * it the level 2 that list sets, so OpenSSL's level 1 applies and a peer's 1024-bit RSA key is
 * taken again. Meant for an old backend's suites, seldom for its weak key as well.
 */
function cipherLevelWarnings(config: SluiceConfig): string[] {
  // The service port takes no `ciphers` of its own; every other block may.
  return tlsBlocks(config)
    .filter(([, tls]) => tls?.ciphers !== undefined && !/@SECLEVEL=/i.test(tls.ciphers))
    .map(
      ([where]) =>
        `${where}.ciphers: names no @SECLEVEL, so OpenSSL's level 1 applies to this connection and a peer key Sluice's level 2 refuses (RSA under 2048 bits) is taken; end the list with :@SECLEVEL=2 unless the peer's key needs less (docs/configuration.md, "Cipher suites")`,
    );
}

export function configWarnings(config: SluiceConfig): string[] {
  return [
    ...connectionCapWarnings(config),
    ...guessableTokenWarnings(config),
    ...securityServerTrustWarnings(config),
    ...securityServerClientCertWarnings(config),
    ...securityServerIdleWarnings(config),
    ...plainServicePortWarnings(config),
    ...shutdownGraceWarnings(config),
    ...sharedRemoteServiceWarnings(config),
    ...unreachableLocationWarnings(config),
    ...relativeWsdlAddressWarnings(config),
    ...identifierCharacterWarnings(config),
    ...plainAdminPortWarnings(config),
    ...exposedKeyWarnings(config),
    ...cipherLevelWarnings(config),
    ...messageSizeWarnings(config),
    ...retentionWarnings(config),
    ...plainHttpEntryWarnings(config.callbacks),
    ...Object.entries(config.callbacks.clients).flatMap(([client, allow]) =>
      plainHttpEntryWarnings(
        { allow, allowHttp: config.callbacks.allowHttp },
        `config.callbacks.clients.${client}`,
      ),
    ),
  ];
}
