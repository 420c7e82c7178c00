// Redis connections: a fast start-up check that names the URL when Redis is unreachable, then
// a client that reconnects by itself (following the master through Sentinel failovers) and
// fails commands fast while disconnected.

import Redis, { type RedisOptions } from "ioredis";
import type { Writable } from "node:stream";
import type { Logger } from "pino";
import type { ConnectionTlsOptions } from "../config/connection-tls";
import { CLIENT_CIPHERS } from "../config/tls-files";
import { DEFAULT_REDIS_COMMAND_TIMEOUT_MS, redisTarget } from "../config/connection-urls";
import {
  connectFailureReason,
  isCertificateRefusal,
  isClientCertificateRefusal,
  connectionLossReading,
  type ConnectionLossKind,
  reconnectCertificateRefusal,
  redisStartupError,
  StartupError,
} from "../runtime/startup-error";
import { metrics } from "../observability/metrics";
import { hideUrlPassword } from "../observability/url-passwords";
import { corkPerTurn } from "../runtime/turn-corked-socket";
import { COMMAND_TIMED_OUT, lagTolerantDeadlines } from "./reply-deadline";
import { sentinelMasterAddress, sentinelTlsRefusal } from "./sentinel-refusal";

/**
 * Whether a command failed because Redis did not answer it within `commandTimeout`: it was sent,
 * so it may still run (in order, after everything sent before it).
 */
export function isCommandTimeout(error: unknown): boolean {
  return (error as Error | undefined)?.message === COMMAND_TIMED_OUT;
}

/**
 * A client for `url` (direct or Sentinel) with `options`. `tls` (`redisTls`): the CA and client
 * certificate of a rediss:// connection; with a Sentinel URL, which has no TLS scheme, it turns
 * TLS on to the sentinels and to the master they name, both with the same material. ioredis
 * keeps `tls` itself (not a copy) for every reconnect, the sentinels' connections and
 * `duplicate()`, so a certificate SIGHUP puts into it (connection-tls.ts) reaches them all.
 */
export function redisClient(
  url: string,
  options: RedisOptions,
  tls: ConnectionTlsOptions | null = null,
): Redis {
  const target = redisTarget(url);
  if (target.kind === "direct") {
    // rediss:// without redisTls: ioredis would connect with Node's cipher list.
    const direct = tls ?? (/^rediss:/i.test(target.url) ? { ciphers: CLIENT_CIPHERS } : null);
    return new Redis(target.url, direct ? { ...options, tls: direct } : options);
  }
  const sentinelTls = tls ? { tls, sentinelTLS: tls, enableTLSForSentinelMode: true } : {};
  return new Redis({ ...target.options, ...options, ...sentinelTls });
}

/** Fails with one clear line when Redis does not answer a PING. */
export async function checkRedis(
  url: string,
  timeoutMs = 5_000,
  tls: ConnectionTlsOptions | null = null,
): Promise<void> {
  const probe = redisClient(
    url,
    {
      lazyConnect: true,
      connectTimeout: timeoutMs,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
      sentinelRetryStrategy: () => null,
      enableOfflineQueue: false,
      // A server that takes the connection and never answers (a partition, a frozen server)
      // is as unreachable as one that refuses it: without this the start waits for ever.
      commandTimeout: timeoutMs,
    },
    tls,
  );
  // A refused AUTH, a refused TLS certificate (rediss://), or a ready check nobody answered,
  // arrives as an error event; the connect itself only says "closed".
  let refused: Error | null = null;
  // A port nobody listens on: the connect itself only says "closed", and the hint needs to
  // tell it from a server that took the connection and never answered.
  let connectRefused: Error | null = null;
  probe.on("error", (error: Error) => {
    if ((error as NodeJS.ErrnoException).code === "ECONNREFUSED") connectRefused = error;
    if (/timed out/.test(error.message)) refused = new Error(`no answer within ${timeoutMs} ms`);
    else if (
      /NOAUTH|WRONGPASS|ERR/.test(error.message) ||
      isCertificateRefusal(error) ||
      isClientCertificateRefusal(error)
    )
      refused = error;
  });
  // The ready check and the PING each have the command deadline: together, one deadline too.
  let timer: NodeJS.Timeout | undefined;
  const silent = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    // A database the URL names (redis://host/3) is chosen on connect, and ioredis goes on in
    // database 0 when Redis refuses it (an index beyond `databases`): chosen again here, so
    // the refusal stops the start instead of another installation's keys being used.
    const db = probe.options.db ?? 0;
    await Promise.race([
      probe
        .connect()
        .then(() => probe.ping())
        .then(() => (db === 0 ? undefined : probe.select(db))),
      silent,
    ]);
  } catch (error) {
    // Sentinels that all refused the TLS handshake are reported as merely unreachable.
    const target = redisTarget(url);
    const sentinel =
      !refused && tls && target.kind === "sentinel"
        ? await sentinelTlsRefusal(target.options, tls, timeoutMs)
        : null;
    if (sentinel) throw redisStartupError(url, sentinel.error, sentinel.sentinel);
    // A certificate refusal through sentinels that answered is the master's: name where it is.
    const master =
      refused &&
      tls &&
      target.kind === "sentinel" &&
      (isCertificateRefusal(refused) || isClientCertificateRefusal(refused))
        ? await sentinelMasterAddress(target.options, tls, timeoutMs)
        : null;
    throw redisStartupError(
      url,
      refused ?? connectRefused ?? (error as Error),
      undefined,
      master ?? undefined,
    );
  } finally {
    clearTimeout(timer);
    probe.disconnect();
  }
}

/**
 * A client for request paths: commands fail at once while Redis is down (no offline queue),
 * so the adapter answers 503 instead of piling up requests, and it reconnects in the background.
 * A command Redis does not answer (a silent connection: a partition without resets, a frozen
 * server; or a command ioredis sends again after a reconnect) fails after `commandTimeoutMs`
 * (counted so that the process's own event-loop lag does not count as silence).
 * It may still run later: every state change it makes recognises its own run (see
 * docs/reliability.md, "A Redis that does not answer"). A subscriber connection made from this
 * client with `duplicate()` waits without a deadline, as a subscription must: it copies the
 * options (no `commandTimeout` among them), not the deadlines, which wrap this instance only.
 */
export function createRedis(
  url: string,
  log: Logger,
  name: string,
  commandTimeoutMs = DEFAULT_REDIS_COMMAND_TIMEOUT_MS,
  tls: ConnectionTlsOptions | null = null,
): Redis {
  const client = redisClient(
    url,
    {
      connectionName: name,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      // Not ioredis's commandTimeout: lagTolerantDeadlines below (an answer read late is no silence).
      // The sentinels are asked where the master is on every reconnect: not for ever either.
      sentinelCommandTimeout: commandTimeoutMs,
      // Off: the socket is corked per event-loop turn (corkPerTurn below), which already sends a
      // turn's commands in one write; auto-pipelining only added a Pipeline object per batch.
      enableAutoPipelining: false,
      retryStrategy: (times) => Math.min(times * 200, 2_000),
      sentinelRetryStrategy: (times) => Math.min(times * 200, 2_000),
      // A former master that came back as a replica refuses writes: find the master again.
      reconnectOnError: (error) => error.message.startsWith("READONLY"),
    },
    tls,
  );
  lagTolerantDeadlines(client, commandTimeoutMs);
  // Each (re)connect brings a new socket; ioredis only exposes it on `connect`.
  client.on("connect", () => {
    const socket = (client as unknown as { stream?: Writable }).stream;
    if (socket) corkPerTurn(socket);
  });
  let down = false;
  // The first error of an outage is warned of; while it lasts, a reconnect refused over a
  // certificate (a list that revokes the server's, given on SIGHUP) is too, once per reason:
  // the first error is most often the lost connection itself, which does not say why the role
  // stays away.
  let refusalSaid: string | null = null;
  let readingSaid: ConnectionLossKind | null = null;
  client.on("error", (error: Error) => {
    // An error while ready is a connection lost; any other is an attempt to connect that failed.
    if (client.status !== "ready") {
      metrics.dependencyConnectFailures.inc({
        dependency: "redis",
        reason: connectFailureReason(error),
      });
    }
    const refusal = reconnectCertificateRefusal(error, "redisTls");
    // Refused (not running there), closed or reset (stopped, restarted) or silent (running, not
    // answering), as the start's line says; said again when an outage turns from one to another
    // (a reset, then refused reconnects).
    const reading = refusal ? null : connectionLossReading(error, "Redis");
    const readingChanged = reading !== null && reading.kind !== readingSaid;
    if (!down || (refusal && refusal !== refusalSaid) || readingChanged) {
      const why = refusal ?? reading?.why;
      log.warn(
        { err: error.message, redis: hideUrlPassword(url), ...(why ? { why } : {}) },
        "Redis connection error",
      );
    }
    refusalSaid = refusal ?? refusalSaid;
    readingSaid = reading?.kind ?? readingSaid;
    down = true;
  });
  client.on("ready", () => {
    if (down) log.info({ redis: hideUrlPassword(url) }, "Redis connection restored");
    down = false;
    refusalSaid = null;
    readingSaid = null;
  });
  return client;
}

/**
 * Waits until a client is ready (it was checked at start, so this is short). Fails at once when
 * the client ends (it has given up reconnecting, or was closed) rather than at the deadline, and
 * leaves no listener behind either way.
 */
export async function whenReady(client: Redis, timeoutMs = 10_000): Promise<void> {
  if (client.status === "ready") return;
  if (client.status === "end")
    throw new StartupError("Redis connection was closed", { unreachable: true });
  await new Promise<void>((resolve, reject) => {
    const settle = (error: Error | null): void => {
      clearTimeout(timer);
      client.off("ready", onReady);
      client.off("end", onEnd);
      if (error) reject(error);
      else resolve();
    };
    const onReady = (): void => settle(null);
    const onEnd = (): void =>
      settle(new StartupError("Redis connection was closed", { unreachable: true }));
    const timer = setTimeout(
      () => settle(new StartupError("Redis did not become ready", { unreachable: true })),
      timeoutMs,
    );
    client.once("ready", onReady);
    client.once("end", onEnd);
  });
}
