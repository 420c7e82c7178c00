// Why no sentinel answered a start-up check over TLS, and where the master is whose certificate
// was refused through sentinels that answered. ioredis drops the errors of the clients it
// asks the sentinels with, and reports only "All sentinels are unreachable ... Last error:
// Connection is closed.": a sentinel whose certificate Sluice refused, or that refused Sluice's,
// reads as a sentinel not running. Each sentinel is asked once more alone, with the same TLS, so
// the start names the refusal the operator can fix, and the sentinel that gave it.
//
// The probe is a bare TLS handshake that sends nothing. In TLS 1.3 a server refusing the
// client's certificate says so in an alert after the client has finished its side of the
// handshake; a client that writes at once (ioredis's PING) could meet the reset of the closed
// connection before reading that alert, and the refusal went unnamed about 2 times in 5. A server
// that accepts the certificate sends its session tickets instead (OpenSSL does, Redis's session
// caching on or off), so the probe waits for the alert, the ticket or the end.

import tls from "node:tls";
import Redis, { type RedisOptions } from "ioredis";
import type { ConnectionTlsOptions } from "../config/connection-tls";
import { isCertificateRefusal, isClientCertificateRefusal } from "../runtime/startup-error";

/** A sentinel's TLS refusal: its address (`host:port`) and the handshake's error. */
export interface SentinelRefusal {
  sentinel: string;
  error: Error;
}

/** The first of `options.sentinels` (a Sentinel URL's) that fails the TLS handshake, if any. */
export async function sentinelTlsRefusal(
  options: RedisOptions,
  connectionTls: ConnectionTlsOptions,
  timeoutMs: number,
): Promise<SentinelRefusal | null> {
  for (const { host = "localhost", port = 26379 } of options.sentinels ?? []) {
    const error = await handshakeRefusal(host, port, connectionTls, timeoutMs);
    if (error) return { sentinel: `${host}:${port}`, error };
  }
  return null;
}

/** The certificate refusal of a TLS handshake with `host:port`, or null (accepted, or no answer). */
function handshakeRefusal(
  host: string,
  port: number,
  connectionTls: ConnectionTlsOptions,
  timeoutMs: number,
): Promise<Error | null> {
  return new Promise((resolve) => {
    const socket = tls.connect({ ...connectionTls, host, port });
    const done = (refusal: Error | null) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(refusal);
    };
    const timer = setTimeout(() => done(null), timeoutMs);
    socket.once("session", () => done(null));
    socket.once("close", () => done(null));
    // Whatever else went wrong (not running, no answer) is what ioredis already reported.
    socket.once("error", (error: Error) =>
      done(isCertificateRefusal(error) || isClientCertificateRefusal(error) ? error : null),
    );
  });
}

/**
 * Where the sentinels of `options` say its master is (`host:port`): asked of each in turn, with
 * the same TLS and sentinel credentials; null when none answers. A master's refused
 * certificate is then named with the address the sentinels gave Sluice, which the URL does not
 * hold.
 */
export async function sentinelMasterAddress(
  options: RedisOptions,
  connectionTls: ConnectionTlsOptions,
  timeoutMs: number,
): Promise<string | null> {
  for (const { host = "localhost", port = 26379 } of options.sentinels ?? []) {
    const sentinel = new Redis({
      host,
      port,
      tls: connectionTls,
      username: options.sentinelUsername,
      password: options.sentinelPassword,
      lazyConnect: true,
      connectTimeout: timeoutMs,
      commandTimeout: timeoutMs,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
      enableOfflineQueue: false,
      enableReadyCheck: false,
    });
    sentinel.on("error", () => undefined);
    try {
      await sentinel.connect();
      const address = await sentinel.call(
        "SENTINEL",
        "GET-MASTER-ADDR-BY-NAME",
        options.name ?? "",
      );
      if (Array.isArray(address) && address.length === 2) return `${address[0]}:${address[1]}`;
    } catch {
      // Not this one: the next sentinel is asked.
    } finally {
      sentinel.disconnect();
    }
  }
  return null;
}
