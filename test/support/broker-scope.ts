// What a test of one part of a role sets up on the real broker and Redis when it runs that
// part in its own process: a unique prefix with a one-backend configuration, a Redis client
// with the stores on it, a broker connection with a publisher and a channel to read queues, and
// the parts (request processor, correlator, replayer) wired to them.

import { randomUUID } from "node:crypto";
import type { ChannelWrapper } from "amqp-connection-manager";
import * as amqplib from "amqplib";
import type Redis from "ioredis";
import pino from "pino";
import { Broker } from "../../shared/broker/amqp";
import { declareAllBackends } from "../../shared/broker/topology";
import { compileConfig, type SluiceConfig } from "../../shared/config/config";
import { DeadLetters } from "../../shared/operator/dead-letters";
import { Replayer, type ReplayDeps } from "../../shared/operator/replay";
import { topologyNames, type TopologyNames } from "../../shared/protocol/names";
import { createRedis } from "../../shared/store/redis";
import { TransactionStore } from "../../shared/store/transaction-store";
import { CALLBACK_QUEUE_ARGUMENTS } from "../../response-worker/callback-schedule";
import { Correlator, type CorrelatorDeps } from "../../response-worker/correlator";
import {
  RequestProcessor,
  type CallGuard,
  type ProcessorDeps,
} from "../../worker/request-processor";
import { AMQP_URL, deletePrefix, REDIS_URL } from "./harness";
import { type TcpProxy, viaProxy } from "./tcp-proxy";

const silent = pino({ level: "silent" });

/**
 * Service svc (REST, answered by ack) on backend b, whose URL nothing listens on; `backend`
 * lays settings of b's over that.
 */
export function oneBackendConfig(
  prefix: string,
  backend: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    prefix,
    services: { svc: { protocols: ["rest"], reply: { mode: "ack" }, backend: "b" } },
    backends: { b: { url: "http://127.0.0.1:9", translator: "rest-json", ...backend } },
  };
}

export interface TestScope {
  prefix: string;
  rawConfig: Record<string, unknown>;
  config: SluiceConfig;
  names: TopologyNames;
  /** A request-path client (commands fail rather than wait while Redis is away). */
  redis: Redis;
  store: TransactionStore;
  deadLetters: DeadLetters;
  /** Disconnects the client and deletes what the prefix created on the broker and in Redis. */
  close(): Promise<void>;
}

/** A scope whose Redis client is named `name`; `oneBackendConfig` unless `rawConfig` says. */
export function testScope(
  name: string,
  rawConfig: (prefix: string) => Record<string, unknown> = oneBackendConfig,
): TestScope {
  const prefix = `t-${randomUUID().slice(0, 8)}.`;
  const raw = rawConfig(prefix);
  const redis = createRedis(REDIS_URL, silent, name);
  return {
    prefix,
    rawConfig: raw,
    config: compileConfig(raw, "."),
    names: topologyNames(prefix),
    redis,
    store: new TransactionStore(redis, prefix, 60_000),
    deadLetters: new DeadLetters(redis, prefix, 60_000),
    close: async () => {
      redis.disconnect();
      await deletePrefix(prefix, raw);
    },
  };
}

export interface BrokerSide {
  broker: Broker;
  /** Declares the scope's topology (every backend's queues) unless asked not to. */
  publisher: ChannelWrapper;
  /** A plain channel on its own connection, to read queues as a role would not. */
  channel: amqplib.Channel;
  close(): Promise<void>;
}

/** A publish timeout short enough that a broker that confirms nothing is given up on quickly. */
export const SHORT_PUBLISH_TIMEOUT_MS = 1_000;

/**
 * Connects for `scope` through `proxy` (one a test stalls, or whose filter drops confirms),
 * publishing with SHORT_PUBLISH_TIMEOUT_MS; no timing is asserted.
 */
export async function connectBrokerThrough(
  proxy: TcpProxy,
  scope: Pick<TestScope, "config" | "names">,
  options: { declare?: boolean } = {},
): Promise<BrokerSide> {
  const url = viaProxy(AMQP_URL, await proxy.listen());
  return connectBroker(scope, { url, publishTimeoutMs: SHORT_PUBLISH_TIMEOUT_MS, ...options });
}

/** Connects to the broker (through `url`, a proxy say, when given) for `scope`. */
export async function connectBroker(
  scope: Pick<TestScope, "config" | "names">,
  options: { url?: string; publishTimeoutMs?: number; declare?: boolean } = {},
): Promise<BrokerSide> {
  const broker = await Broker.connect(options.url ?? AMQP_URL, silent);
  const reader = await amqplib.connect(AMQP_URL).catch(async (error: unknown) => {
    await broker.close();
    throw error;
  });
  const close = async () => {
    await reader.close().catch(() => undefined);
    await broker.close();
  };
  try {
    const publisher = broker.channel(
      "publisher",
      options.declare === false
        ? async () => undefined
        : (ch) => declareAllBackends(ch, scope.config, scope.names),
      options.publishTimeoutMs,
    );
    await publisher.waitForConnect();
    return { broker, publisher, channel: await reader.createChannel(), close };
  } catch (error) {
    await close();
    throw error;
  }
}

/**
 * Declares the scope's callbacks queue (as the response worker declares it: quorum, with its
 * delivery limit) on
 * `amqp`'s reading channel, for a test whose publisher declares nothing: redelivered dead
 * callbacks are published there.
 */
export async function declareCallbacksQueue(
  amqp: BrokerSide,
  names: Pick<TopologyNames, "callbacksQueue">,
): Promise<void> {
  await amqp.channel.assertQueue(names.callbacksQueue, {
    durable: true,
    arguments: { ...CALLBACK_QUEUE_ARGUMENTS },
  });
}

/** What each part of a role takes from the scope and its broker connection. */
function wiring(scope: Pick<TestScope, "names" | "store">, amqp: BrokerSide) {
  const { broker, publisher } = amqp;
  return { broker, publisher, store: scope.store, names: scope.names };
}

/** A guard with a slot always free and no rate limit, and no claim in its round trip. */
export const freeGuard: CallGuard = async () => ({
  async beforeCall() {
    return null;
  },
  release: async () => undefined,
});

/**
 * A request processor of backend b on the scope's Redis and broker, with `freeGuard`, logging
 * nothing, and no client with hub listeners (no `processing` notices); `deps` replaces any part.
 */
export function processorFor(
  scope: Pick<TestScope, "config" | "names" | "store">,
  amqp: BrokerSide,
  deps: Pick<ProcessorDeps, "translator" | "shutdown"> & Partial<ProcessorDeps>,
): RequestProcessor {
  return new RequestProcessor({
    ...wiring(scope, amqp),
    log: silent,
    backend: scope.config.backends.b,
    guard: freeGuard,
    listened: async () => false,
    ...deps,
  });
}

/** A correlator on the scope's Redis and broker, logging nothing; `deps` replaces any part. */
export function correlatorFor(
  scope: Pick<TestScope, "names" | "store">,
  amqp: BrokerSide,
  deps: Partial<CorrelatorDeps> = {},
): Correlator {
  return new Correlator({ ...wiring(scope, amqp), log: silent, listeners: [], ...deps });
}

/** A dead-letter replayer on the scope's Redis and broker; `deps` replaces any of its parts. */
export function replayerFor(
  scope: TestScope,
  amqp: BrokerSide,
  deps: Partial<ReplayDeps> = {},
): Replayer {
  return new Replayer({
    ...wiring(scope, amqp),
    config: scope.config,
    redis: scope.redis,
    deadLetters: scope.deadLetters,
    publishTimeoutMs: 5_000,
    ...deps,
  });
}

/** Takes every message now in `queue` off it: their message ids, in queue order. */
export async function takeQueued(channel: amqplib.Channel, queue: string): Promise<string[]> {
  const ids: string[] = [];
  for (;;) {
    const message = await channel.get(queue, { noAck: true });
    if (!message) return ids;
    ids.push(String(message.properties.messageId));
  }
}
