// A keep-alive connection pool to one backend origin, made again when the backend's
// certificates change (SIGHUP): new calls use the new pool, calls in flight finish on the old.

import { Pool } from "undici";
import { clientCiphers } from "../../shared/config/tls-files";
import { tlsServerName } from "../../shared/protocol/tls-server-name";
import type { TranslatorBackend } from "./translator";

export interface PoolSettings {
  connections: number | null;
  keepAliveTimeoutMs: number;
}

/**
 * A backend option that must be a positive integer, or `fallback` when it is not set. The
 * config schema checks these already; a translator created in code is held to the same rule.
 */
export function positiveOption(backend: TranslatorBackend, name: string, fallback: number): number {
  const value = (backend.options ?? {})[name];
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isInteger(value) || value <= 0) {
    throw new Error(`backend ${backend.name}: options.${name} must be a positive integer`);
  }
  return value;
}

/** The pool settings of a backend's `connections` (unbounded when unset) and `keepAliveTimeoutMs`. */
export function poolSettings(backend: TranslatorBackend): PoolSettings {
  return {
    connections:
      backend.options?.connections === undefined ? null : positiveOption(backend, "connections", 1),
    keepAliveTimeoutMs: positiveOption(backend, "keepAliveTimeoutMs", 4000),
  };
}

export class BackendPool {
  private pool: Pool;

  /** The pool is bound to one origin, so nothing in a request's path can reach another host. */
  constructor(
    private readonly backend: TranslatorBackend,
    private readonly origin: string,
    private readonly settings: PoolSettings,
  ) {
    this.pool = this.newPool();
    backend.clientTls?.onChange(() => {
      const old = this.pool;
      this.pool = this.newPool();
      void old.close().catch(() => undefined);
    });
  }

  get current(): Pool {
    return this.pool;
  }

  close(): Promise<void> {
    return this.pool.close();
  }

  private newPool(): Pool {
    const tls = this.backend.clientTls?.current;
    const serverName = tlsServerName(new URL(this.origin).hostname);
    return new Pool(this.origin, {
      connections: this.settings.connections,
      keepAliveTimeout: this.settings.keepAliveTimeoutMs,
      // Every call runs under its deadline (call-deadline.ts), which bounds the headers and the
      // body together. undici's own timers would time it again and could end it first: after
      // the process stood still they fire before the loop reads an answer that came in time.
      headersTimeout: 0,
      bodyTimeout: 0,
      connect: {
        ...(tls ? { ca: tls.ca, crl: tls.crl, cert: tls.cert, key: tls.key } : {}),
        ciphers: clientCiphers(tls),
        // undici would send a host written `backend.example.` as the server name with its dot.
        ...(serverName === undefined ? {} : { servername: serverName }),
      },
    });
  }
}
