// A dependency that cannot be reached at start: the CLI prints the message as one line and
// exits non-zero, with no stack trace.

import { hideUrlPassword } from "../observability/url-passwords";
import { redisTarget } from "../config/connection-urls";
import { isLoopbackHost } from "./loopback-host";

export class StartupError extends Error {
  /**
   * RabbitMQ or Redis did not answer at all (nothing listens there, no answer in time, the
   * connection closed): asking again later may work, where a refused login, a missing virtual
   * host or database, a certificate or a file to fix will not. The CLI exits 3 on it, 1 on the
   * others (cli/exit-codes.ts).
   */
  readonly unreachable: boolean;

  constructor(message: string, options: { unreachable?: boolean } = {}) {
    super(message);
    this.name = "StartupError";
    this.unreachable = options.unreachable ?? false;
  }
}

/**
 * A listen that failed for its address, as a StartupError naming the setting: a host that
 * resolves to nothing, or is no address of this machine, read as `getaddrinfo ENOTFOUND x`
 * without a word of which setting named it. Any other error is returned as it is.
 */
export function listenStartupError(error: unknown, setting: string, host: string): unknown {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  if (code !== "ENOTFOUND" && code !== "EAI_AGAIN" && code !== "EADDRNOTAVAIL") return error;
  const why = code === "EADDRNOTAVAIL" ? "is no address of this machine" : "does not resolve";
  return new StartupError(
    `${setting}: "${host}" ${why}, so nothing can listen on it (${code}); name an address of this machine, 127.0.0.1 or 0.0.0.0`,
  );
}

/**
 * Where a refused RabbitMQ or Redis on loopback is set, and the development machine's command,
 * kept as an example only: a production host may run its broker on loopback too, and started
 * by hand there it would lack the service manager's settings.
 */
const START_SERVICE = {
  RabbitMQ: { url: "AMQP_URL or amqpUrl", example: "`rabbitmq-server -detached`" },
  Redis: { url: "REDIS_URL or redisUrl", example: "`redis-server --daemonize yes`" },
} as const;

/** What to do about a RabbitMQ or Redis on loopback that did not take the connection. */
function startServiceHint(
  service: keyof typeof START_SERVICE,
  kind: ReturnType<typeof connectFailureKind>,
): string {
  const { url, example } = START_SERVICE[service];
  const state =
    kind === "refused"
      ? `nothing listens there, so ${service} is not running at that address`
      : `${service} may not be running at that address`;
  return `${state}: start it, or fix the URL (${url}); on a development machine, for example ${example} (README, Start it and test it)`;
}

export const REACH_SERVICE_HINT =
  "check that it runs and that this machine reaches it: its host name, a network policy or " +
  "firewall between them (docs/operations.md, SluiceDependencyDown)";

/** What to check of a RabbitMQ or Redis that took the connection and never answered. */
const STALL_CHECKS = {
  RabbitMQ: "its log and a memory or disk alarm (`rabbitmqctl status`)",
  Redis:
    "its log and a long command, a save or swapping (`redis-cli info`, `redis-cli slowlog get`)",
} as const;

export function notAnsweringHint(service: keyof typeof STALL_CHECKS): string {
  return (
    "something listens there but did not answer in time: it runs but hangs or is overloaded, " +
    `and starting another would not help; check its load, ${STALL_CHECKS[service]}`
  );
}

/**
 * How a connect to a server failed, as far as the hint cares: refused (nothing listens on the
 * port), silent (a timeout: the connection was taken, or queued, and no answer came), or other.
 */
export function connectFailureKind(error: Error | undefined): "refused" | "silent" | "other" {
  const code = (error as NodeJS.ErrnoException | undefined)?.code ?? "";
  const why = error?.message ?? "";
  if (code === "ECONNREFUSED" || /ECONNREFUSED/.test(why)) return "refused";
  if (code === "ETIMEDOUT" || /ETIMEDOUT|timed out|no answer within/i.test(why)) return "silent";
  return "other";
}

/** How a running role's connection to RabbitMQ or Redis was lost, as connectionLossReading reads it. */
export type ConnectionLossKind = "refused" | "closed" | "silent";

/**
 * What a lost or failed connection of a running role says about the server, as the start's line
 * does: refused (nothing listens on the port) is a server not running there; closed or reset
 * (RabbitMQ's close as it stops, a process gone) is a server that ended the connection, most
 * often a stop or a restart, which the reconnects after it tell apart; a timeout or a missed
 * heartbeat is one that runs but does not answer. Null for anything else (a certificate refusal
 * has its own words: reconnectCertificateRefusal).
 */
export function connectionLossReading(
  error: Error | undefined,
  service: keyof typeof STALL_CHECKS,
): { kind: ConnectionLossKind; why: string } | null {
  const code = (error as NodeJS.ErrnoException | undefined)?.code ?? "";
  const message = error?.message ?? "";
  const kind = connectFailureKind(error);
  if (kind === "refused") {
    return {
      kind,
      why: `the connection was refused: nothing listens there, so ${service} is not running at that address (or not yet); ${REACH_SERVICE_HINT}`,
    };
  }
  if (kind === "silent" || /Heartbeat timeout/i.test(message)) {
    return { kind: "silent", why: notAnsweringHint(service) };
  }
  if (
    code === "ECONNRESET" ||
    code === "EPIPE" ||
    /ECONNRESET|EPIPE|Connection is closed|Connection closed|Socket closed abruptly|Unexpected close/i.test(
      message,
    )
  ) {
    return {
      kind: "closed",
      why: `${service} closed or reset the connection: it stopped or restarted (err gives its reason when it sent one), or something between closed it; the reconnects that follow say whether it runs there again`,
    };
  }
  return null;
}

/**
 * What to do about a server that did not answer. Starting it helps where the URLs name loopback
 * (every host here), on a developer's machine or a server alike; a deployment's broker or Redis elsewhere
 * is not started from the machine of the role that cannot reach it, and the operator following
 * the line at night would start a second, empty one. On loopback a port nobody listens on
 * refuses the connection at once, so a timeout there means a server that runs (it took the
 * connection, or its full backlog queued it) and hangs: starting it is no answer to that.
 */
export function unreachableHint(
  hosts: ReadonlyArray<string | undefined>,
  service: keyof typeof STALL_CHECKS,
  error?: Error,
): string {
  if (hosts.length === 0 || !hosts.every((host) => isLoopbackHost(host))) return REACH_SERVICE_HINT;
  const kind = connectFailureKind(error);
  return kind === "silent" ? notAnsweringHint(service) : startServiceHint(service, kind);
}

function userOf(url: string): string {
  try {
    return decodeURIComponent(new URL(url).username) || "guest";
  } catch {
    return "guest";
  }
}

function vhostOf(url: string): string {
  try {
    const path = new URL(url).pathname;
    return path.length > 1 ? decodeURIComponent(path.slice(1)) : "/";
  } catch {
    return "/";
  }
}

/**
 * What went wrong connecting to RabbitMQ, in the operator's terms: a broker that answered
 * but refused the login or the virtual host needs a different fix from one that is not running.
 */
export function amqpStartupError(
  urls: string | readonly string[],
  error: Error | undefined,
): StartupError {
  const list = typeof urls === "string" ? [urls] : urls;
  const url = list[0] ?? "";
  const why = error?.message ?? "connection failed";
  const where = `RabbitMQ at ${list.map(hideUrlPassword).join(", ")}`;
  if (/ACCESS.REFUSED|authentication mechanism|403/i.test(why)) {
    return new StartupError(
      `${where} refused the login of user "${userOf(url)}": check the user name and password in AMQP_URL (${why})`,
    );
  }
  // The broker closes the connection instead of opening it: the vhost is missing or the user
  // has no permission on it (RabbitMQ answers both the same way during the handshake).
  if (/Expected ConnectionOpenOk|NOT.ALLOWED|vhost/i.test(why)) {
    return new StartupError(
      `${where} refused to open virtual host "${vhostOf(url)}": it does not exist or user "${userOf(url)}" has no permission on it (create it with \`rabbitmqctl add_vhost\` and \`set_permissions\`)`,
    );
  }
  if (isClientCertificateRefusal(error))
    return clientCertificateStartupError(where, why, "amqpTls");
  const revocation = revocationRefusal(error, "amqpTls");
  if (revocation) return new StartupError(`cannot connect to ${where}: ${revocation}`);
  if (isCertificateRefusal(error))
    return certificateStartupError(where, why, "amqpTls", "name in AMQP_URL a host");
  return new StartupError(
    `cannot connect to ${where} (${why}); ${unreachableHint(list.map(hostOf), "RabbitMQ", error)}`,
    { unreachable: true },
  );
}

/**
 * Whether a connection failed because this side refused the server's TLS certificate (an
 * issuer Node does not trust, a host name it does not hold, expired): Node's verify codes.
 * The alerts of a server refusing this side's certificate are not among them.
 */
export function isCertificateRefusal(error: Error | undefined): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code ?? "";
  return (
    !isClientCertificateRefusal(error) &&
    /CERT|SELF_SIGNED|UNABLE_TO_(?:GET|VERIFY)|ALTNAME|CRL/.test(code)
  );
}

/** Node's verdicts on the server's chain that come from `crl` (the lists), not its certificate. */
const REVOCATION_LIST_PROBLEM =
  /^(?:UNABLE_TO_GET_CRL(?:_ISSUER)?|CRL_\w+|UNABLE_TO_DECRYPT_CRL_SIGNATURE|ERROR_IN_CRL_\w+)$/;

/**
 * What a refusal by `tlsBlock.crl` says, or null for any other: a server whose certificate its
 * CA revoked, or a list that cannot be used for its chain (missing, past its nextUpdate, signed
 * by another key), is running and trusted, so neither the CA nor a stopped server is the
 * answer. Said the same at start and on every reconnect refused after SIGHUP.
 */
export function revocationRefusal(error: Error | undefined, tlsBlock: string): string | null {
  const code = (error as NodeJS.ErrnoException | undefined)?.code ?? "";
  const why = error?.message ?? code;
  if (code === "CERT_REVOKED") {
    return `its TLS certificate is on a revocation list in ${tlsBlock}.crl (${why}); the server needs a certificate its CA has not revoked`;
  }
  if (REVOCATION_LIST_PROBLEM.test(code)) {
    return `the revocation lists in ${tlsBlock}.crl cannot be used for its TLS certificate's chain (${why}, ${code}); put there the current list of every CA of that chain`;
  }
  return null;
}

/**
 * Whether the server ended the handshake over this side's certificate: none given to a server
 * that requires one (TLS 1.3's `certificate required`), or one it does not accept (issued by a
 * CA it does not trust, expired). OpenSSL names the alert the server sent in the error code.
 */
export function isClientCertificateRefusal(error: Error | undefined): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code ?? "";
  return /^ERR_SSL_\w*ALERT_(?:CERTIFICATE_REQUIRED|BAD_CERTIFICATE|UNKNOWN_CA|CERTIFICATE_UNKNOWN|CERTIFICATE_EXPIRED|CERTIFICATE_REVOKED|UNSUPPORTED_CERTIFICATE)$/.test(
    code,
  );
}

/** The `reason` label of `sluice_dependency_connect_failures_total` for a failed connect. */
export type ConnectFailureReason =
  | "revoked_certificate"
  | "revocation_list_unusable"
  | "untrusted_certificate"
  | "certificate_refused_by_server"
  | "other";

/**
 * Which kind of failure a connect attempt to RabbitMQ or Redis met, in the same terms as the
 * warnings: a refusal over a certificate lasts until the TLS files change, so an alert can tell
 * it from an outage, which ends by itself.
 */
export function connectFailureReason(error: Error | undefined): ConnectFailureReason {
  const code = (error as NodeJS.ErrnoException | undefined)?.code ?? "";
  if (code === "CERT_REVOKED") return "revoked_certificate";
  if (REVOCATION_LIST_PROBLEM.test(code)) return "revocation_list_unusable";
  if (isClientCertificateRefusal(error)) return "certificate_refused_by_server";
  if (isCertificateRefusal(error)) return "untrusted_certificate";
  return "other";
}

/**
 * Why a reconnect of a running role was refused over a certificate (the server's, refused by
 * this side: revoked, untrusted, its lists unusable; or this side's, refused by the server), or
 * null for any other failure. After SIGHUP replaced the files of `tlsBlock` this is what keeps
 * the role from RabbitMQ or Redis until they change again, so it is worth a warning where an
 * ordinary failed reconnect is not.
 */
export function reconnectCertificateRefusal(
  error: Error | undefined,
  tlsBlock: string,
): string | null {
  // Judged as the connect-failure counter judges it, so a warning and its reason label agree.
  const why = error?.message.trim() ?? "";
  switch (connectFailureReason(error)) {
    case "revoked_certificate":
    case "revocation_list_unusable":
      return revocationRefusal(error, tlsBlock);
    case "certificate_refused_by_server":
      return `it refused the TLS handshake over Sluice's client certificate (${why}); check ${tlsBlock}.cert and ${tlsBlock}.key`;
    case "untrusted_certificate":
      return `its TLS certificate was refused (${why}); check ${tlsBlock}.ca`;
    case "other":
      return null;
  }
}

/**
 * A server that answered with a certificate Node refused is running: the hint to start it
 * would mislead. What fixes it is the CA trusted or the host name in the URL.
 */
function certificateStartupError(
  where: string,
  why: string,
  tlsBlock: string,
  named: string,
): StartupError {
  return new StartupError(
    `cannot connect to ${where}: its TLS certificate was refused (${why}); trust the CA that issued it in ${tlsBlock}.ca or with NODE_EXTRA_CA_CERTS=<CA file>, and ${named} the certificate is issued for`,
  );
}

/**
 * A server that refused this side's certificate (or its lack of one) is running too, and
 * requires mutual TLS: what fixes it is a client certificate it accepts.
 */
function clientCertificateStartupError(where: string, why: string, tlsBlock: string): StartupError {
  return new StartupError(
    `cannot connect to ${where}: it refused the TLS handshake over Sluice's client certificate (${why.trim()}); it requires one its CA issued: name the certificate and its key in ${tlsBlock}.cert and ${tlsBlock}.key`,
  );
}

/** The same for Redis: a refused password or database is not a stopped server. */
export function redisStartupError(
  url: string,
  error: Error,
  sentinel?: string,
  master?: string,
): StartupError {
  const why = error.message;
  // The sentinel that gave the error, when it was one of a Sentinel URL's and not the master;
  // or the master (`host:port`) the sentinels named, whose certificate was refused.
  const at = sentinel
    ? ` (sentinel ${sentinel})`
    : master
      ? ` (master ${master}, as the sentinels name it)`
      : "";
  const where = `Redis at ${hideUrlPassword(url)}${at}`;
  if (/NOAUTH|WRONGPASS|invalid password|invalid username/i.test(why)) {
    return new StartupError(
      `${where} refused the credentials: check the user name and password in REDIS_URL (${why})`,
    );
  }
  if (/DB index is out of range/i.test(why)) {
    return new StartupError(`${where}: the database number in REDIS_URL does not exist (${why})`);
  }
  if (isClientCertificateRefusal(error))
    return clientCertificateStartupError(where, why, "redisTls");
  const revocation = revocationRefusal(error, "redisTls");
  if (revocation) return new StartupError(`cannot connect to ${where}: ${revocation}`);
  if (isCertificateRefusal(error))
    return certificateStartupError(
      where,
      why,
      "redisTls",
      // The master's host is the sentinels' word, not the URL's.
      master && !sentinel
        ? "have the sentinels name the master by a host"
        : "name in REDIS_URL a host",
    );
  return new StartupError(
    `cannot connect to ${where} (${why}); ${unreachableHint(redisHosts(url), "Redis", error)}`,
    { unreachable: true },
  );
}

/** The hosts of the servers a Redis URL names: a Sentinel URL's sentinels, else its own. */
function redisHosts(url: string): Array<string | undefined> {
  try {
    const target = redisTarget(url);
    if (target.kind === "sentinel") return target.options.sentinels!.map((s) => s.host);
  } catch {
    // A URL the configuration check let through but this cannot read: judged as it is.
  }
  return [hostOf(url)];
}

function hostOf(url: string): string | undefined {
  try {
    return new URL(url).hostname;
  } catch {
    return undefined;
  }
}
