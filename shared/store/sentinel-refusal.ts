// Why no sentinel answered a start-up check over TLS. ioredis drops the errors of the clients it
// asks the sentinels with, and reports only "All sentinels are unreachable ... Last error:
// Connection is closed.": a sentinel whose certificate Sluice refused reads as a sentinel not
// running. Each sentinel is asked once more alone, with the same TLS, so the start names the
// refusal the operator can fix, and the sentinel that gave it. A sentinel refusing Sluice's
// certificate (TLS 1.3) is named when its alert is read before the PING meets the closed
// connection: a reset read first leaves ioredis's line as it was.

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
  tls: ConnectionTlsOptions,
  timeoutMs: number,
): Promise<SentinelRefusal | null> {
  for (const { host, port } of options.sentinels ?? []) {
    const error = await handshakeRefusal({
      host,
      port,
      tls,
      username: options.sentinelUsername ?? undefined,
      password: options.sentinelPassword ?? undefined,
      lazyConnect: true,
      enableReadyCheck: false,
      connectTimeout: timeoutMs,
      commandTimeout: timeoutMs,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
      enableOfflineQueue: false,
    });
    if (error) return { sentinel: `${host}:${port ?? 26379}`, error };
  }
  return null;
}

async function handshakeRefusal(options: RedisOptions): Promise<Error | null> {
  const probe = new Redis(options);
  let refused: Error | null = null;
  probe.on("error", (error: Error) => {
    if (isCertificateRefusal(error) || isClientCertificateRefusal(error)) refused ??= error;
  });
  try {
    await probe.connect();
    await probe.ping();
  } catch {
    // Whatever else went wrong (not running, no answer) is what ioredis already reported.
  } finally {
    probe.disconnect();
  }
  return refused;
}
