// A keep-alive connection pool to one backend origin, made again when the backend's
// certificates change (SIGHUP): new calls use the new pool, calls in flight finish on the old.

import { Pool } from "undici";
import type { TranslatorBackend } from "./translator";

export interface PoolSettings {
  connections: number | null;
  keepAliveTimeoutMs: number;
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
    return new Pool(this.origin, {
      connections: this.settings.connections,
      keepAliveTimeout: this.settings.keepAliveTimeoutMs,
      headersTimeout: this.backend.timeoutMs,
      bodyTimeout: this.backend.timeoutMs,
      ...(tls ? { connect: { ca: tls.ca, cert: tls.cert, key: tls.key } } : {}),
    });
  }
}
