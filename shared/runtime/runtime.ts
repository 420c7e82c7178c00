// What every role of a process shares: one RabbitMQ connection, one Redis client, the admin
// server with readiness checks, the queue monitor, and the logger. `all` runs three roles on
// one runtime.

import type Redis from "ioredis";
import type { Logger } from "pino";
import { AdminServer } from "../observability/admin-server";
import { systemClock, type Clock } from "./clock";
import { Broker } from "../broker/amqp";
import type { SluiceConfig } from "../config/config";
import { BackendPauses } from "../operator/backend-pauses";
import { DeadLetters } from "../operator/dead-letters";
import { RecentFailures } from "../operator/recent-failures";
import { QueueMonitor } from "../broker/queue-monitor";
import { checkRedis, createRedis, whenReady } from "../store/redis";
import { reloadedConnectionTls, type ReloadedConnectionTls } from "../config/connection-tls";
import { RedisHeartbeat } from "../store/redis-heartbeat";
import { redisKeys } from "../protocol/redis-keys";
import { EvictionWatch } from "../store/eviction-policy";
import { watchDependency, watchRedisEviction } from "../observability/metrics";
import { topologyNames, type TopologyNames } from "../protocol/names";
import { TransactionStore } from "../store/transaction-store";
import type { DrainingRole } from "./shutdown-deadline";

export interface Runtime {
  config: SluiceConfig;
  log: Logger;
  broker: Broker;
  redis: Redis;
  store: TransactionStore;
  names: TopologyNames;
  admin: AdminServer;
  monitor: QueueMonitor;
  adminPort: number;
  /** The time source for every decision made by the clock. */
  clock: Clock;
  /** Operator pauses of backends (Redis): workers obey them, the admin port sets them. */
  pauses: BackendPauses;
  /** The operator's record of dead letters. */
  deadLetters: DeadLetters;
  /** Recent failed backend calls, for the status page. */
  failures: RecentFailures;
  /** Why Redis cannot be used now (down, not answering, refusing writes), or null. */
  redisProblem(): string | null;
  /** Why Redis cannot be read now (down, or connected but not answering), or null. */
  redisUnreachable(): string | null;
  /** Runs `listener` after a pause or resume asked on this process's admin port. */
  onPauseChange(listener: () => Promise<void>): void;
  close(): Promise<void>;
}

/** A role running on a runtime: it drains (stops intake, finishes work) and then closes. */
export type Role = DrainingRole;

/** Connects to Redis and RabbitMQ (failing with one clear line) and opens the admin port. */
export async function startRuntime(
  config: SluiceConfig,
  log: Logger,
  adminPort = config.admin.port,
  clock: Clock = systemClock,
): Promise<Runtime> {
  // Read again on SIGHUP for the next connection (a reconnect), in place in these objects: the
  // broker's connection, the Redis client and its duplicates (subscribers) all read them.
  const tls = reloadedConnectionTls(config);
  try {
    return await startWithConnectionTls(config, log, adminPort, clock, tls);
  } catch (error) {
    // No runtime holds them: SIGHUP would read and report files no connection uses.
    tls.dispose();
    throw error;
  }
}

async function startWithConnectionTls(
  config: SluiceConfig,
  log: Logger,
  adminPort: number,
  clock: Clock,
  tls: ReloadedConnectionTls,
): Promise<Runtime> {
  await checkRedis(config.redisUrl, undefined, tls.redis);
  const broker = await Broker.connect(config.amqpUrls, log, undefined, tls.amqp);
  // What is opened below, closed again, newest first, if a later step fails: a process that goes
  // on after a failed start (a test runner, a supervisor retrying in-process) keeps no broker or
  // Redis connection, timer or admin port of it.
  const opened: Array<() => unknown> = [() => broker.close()];
  try {
    return await openAfterBroker(config, log, adminPort, clock, tls, broker, opened);
  } catch (error) {
    for (const close of opened.reverse()) {
      try {
        await close();
      } catch {
        // The start's own error is the one to report.
      }
    }
    throw error;
  }
}

async function openAfterBroker(
  config: SluiceConfig,
  log: Logger,
  adminPort: number,
  clock: Clock,
  tls: ReloadedConnectionTls,
  broker: Broker,
  opened: Array<() => unknown>,
): Promise<Runtime> {
  const redis = createRedis(
    config.redisUrl,
    log,
    `sluice-${config.instanceId}`,
    config.redisCommandTimeoutMs,
    tls.redis,
  );
  opened.push(() => redis.disconnect());
  await whenReady(redis);
  const eviction = new EvictionWatch(redis, log);
  await eviction.check();
  eviction.start();
  opened.push(() => eviction.stop());
  const names = topologyNames(config.prefix);
  const store = new TransactionStore(redis, config.prefix, config.retentionMs);
  const admin = new AdminServer(log, config.admin.token);
  const pauses = new BackendPauses(redis, config.prefix);
  const deadLetters = new DeadLetters(redis, config.prefix, config.retentionMs);
  const failures = new RecentFailures(redis, config.prefix);
  const pauseListeners: Array<() => Promise<void>> = [];
  admin.addCheck("rabbitmq", () => (broker.isConnected() ? null : "disconnected"));
  // A silent Redis, or one refusing writes, keeps its connection "ready": the heartbeat, a
  // write of this process's own key, tells (redisCommandTimeout).
  const heartbeat = new RedisHeartbeat(
    redis,
    redisKeys(config.prefix).heartbeat(config.instanceId),
  );
  heartbeat.start();
  opened.push(() => heartbeat.stop());
  admin.addCheck("redis", () => heartbeat.problem());
  // The same on /metrics: an outage at night, with no caller refused, still raises an alert.
  watchDependency("rabbitmq", () => broker.isConnected());
  watchDependency("redis", () => heartbeat.problem() === null);
  watchRedisEviction(() => eviction.evicting === true);
  const monitor = new QueueMonitor(broker, config, names, log);
  monitor.start();
  opened.push(() => monitor.stop());
  // Without an admin token the operator endpoints are not served (admin-server.ts), so their
  // modules (status page, replay, lookups, about a dozen) are not loaded either.
  if (admin.operatorEnabled) {
    const { addOperatorRoutes } =
      require("../operator/operator-routes") as typeof import("../operator/operator-routes");
    addOperatorRoutes({
      admin,
      config,
      redis,
      store,
      broker,
      names,
      monitor,
      log,
      pauses,
      deadLetters,
      failures,
      clock,
      afterPauseChange: async () => {
        for (const listener of pauseListeners) await listener();
      },
      // Reads still work on a Redis refusing writes: the status page, above all, then.
      redisProblem: () => heartbeat.unreachable(),
    });
  }
  const port = await admin.listen(adminPort, config.admin.host, config.admin.hosts);
  log.info(
    {
      adminPort: port,
      adminHost: config.admin.host,
      operatorEndpoints: admin.operatorEnabled ? "on (bearer token)" : "off (no admin token)",
    },
    "admin port listening",
  );
  return {
    config,
    log,
    broker,
    redis,
    store,
    names,
    admin,
    monitor,
    adminPort: port,
    clock,
    pauses,
    deadLetters,
    failures,
    redisProblem: () => heartbeat.problem(),
    redisUnreachable: () => heartbeat.unreachable(),
    onPauseChange(listener) {
      pauseListeners.push(listener);
    },
    async close() {
      monitor.stop();
      heartbeat.stop();
      eviction.stop();
      await admin.close();
      await broker.close().catch(() => undefined);
      redis.disconnect();
      tls.dispose();
    },
  };
}
