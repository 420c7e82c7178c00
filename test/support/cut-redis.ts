// A Redis connection whose answers a test can cut: through a proxy, the connection breaks after
// Redis ran a chosen command and before its reply arrived, and ioredis sends the command again
// on its next connection (the lost-reply case every Redis write must survive).

import type Redis from "ioredis";
import pino from "pino";
import { createRedis, whenReady } from "../../shared/store/redis";
import { REDIS_URL } from "./harness";
import { answerCutter, type AnswerCutter, proxyTo, type TcpProxy, viaProxy } from "./tcp-proxy";

export interface CutRedis {
  /** The client behind the proxy, ready. */
  redis: Redis;
  /** Arms the cut and counts the answers cut. */
  cut: AnswerCutter;
  /** Lets the client reconnect (and send again) when `held` kept it out after a cut. */
  release(): void;
  /** Disconnects the client and closes the proxy. */
  close(): Promise<void>;
}

/**
 * Connects a client named `name` through a cutting proxy. With `held`, the client's reconnects
 * are refused after a cut until `release`, so that others act on Redis meanwhile.
 */
export async function connectCutRedis(
  name: string,
  options: { held?: boolean } = {},
): Promise<CutRedis> {
  const cut = answerCutter();
  const proxy: TcpProxy = proxyTo(REDIS_URL, () => {
    const filters = cut.filters();
    if (!options.held) return filters;
    return {
      client: filters.client,
      server: (chunk) => {
        const pass = filters.server!(chunk);
        if (pass === null) proxy.refuse(true);
        return pass;
      },
    };
  });
  const redis = createRedis(
    viaProxy(REDIS_URL, await proxy.listen()),
    pino({ level: "silent" }),
    name,
  );
  const close = async () => {
    redis.disconnect();
    await proxy.close();
  };
  try {
    await whenReady(redis);
  } catch (error) {
    await close();
    throw error;
  }
  return { redis, cut, release: () => proxy.refuse(false), close };
}

/** Runs `work` with a cut Redis (see `connectCutRedis`), closed after. */
export async function withCutRedis<T>(
  name: string,
  options: { held?: boolean },
  work: (cutRedis: CutRedis) => Promise<T>,
): Promise<T> {
  const cutRedis = await connectCutRedis(name, options);
  try {
    return await work(cutRedis);
  } finally {
    await cutRedis.close();
  }
}
