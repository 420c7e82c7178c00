// Starts Sluice's roles as separate processes on a generated configuration with a unique
// prefix, waits until each is ready, and removes every queue, exchange and key it made.

import Redis from "ioredis";
import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { promisify } from "node:util";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify } from "yaml";
import { topologyNames } from "../shared/protocol/names";
import { freePort, spawnNode, waitForHttp, type ManagedProcess } from "./child-processes";
import { RawPublisher } from "./amqp-publisher";
import type { WatchedProcess } from "./cpu-usage";
import {
  JSON_SCHEMA,
  REST_SERVICE,
  REST_SYNC_SERVICE,
  SOAP_SERVICE,
  XROAD_CLIENT,
} from "./payloads";

export type Role = "adapter" | "worker" | "response-worker";

const execFileAsync = promisify(execFile);

export const BACKEND = "legacy";
/** Every queue, exchange and key of a benchmark run starts with this and a random id. */
export const PREFIX_STEM = "sluice-bench-";
const RETRY_BACKOFF = ["1s"];
const RETRY_BACKOFF_MS = [1_000];

export interface SystemOptions {
  amqpUrl: string;
  redisUrl: string;
  /** Base URL of the legacy system the worker calls. */
  backendUrl: string;
  roles: Role[];
  /** Ready messages in `requests.legacy` at which the adapter answers 503. */
  highWater: number;
  maxLength: number;
  maxSyncWaiters: number;
  /** Longest wait a sync caller may ask for, seconds. */
  maxWaitS: number;
  /** When set, one role (`profile.role`) runs with `--cpu-prof` writing into `profile.dir`. */
  profile?: { role: Role; dir: string };
  /**
   * Extra ack-mode services, each with a backend (and request queue) of its own, e.g. for
   * ingest into queues of different depths in one adapter: service `benchIngest-<name>`.
   */
  laneNames?: string[];
  /** Modules every role loads first (`node --require`), for what-if runs. */
  preload?: string[];
  /** Node or V8 options of the adapter alone, for what-if runs. */
  adapterNodeOptions?: string[];
}

/** The ack service and backend of an extra lane (see `SystemOptions.laneNames`). */
export const laneService = (lane: string): string => `${REST_SERVICE}-${lane}`;
export const laneBackend = (lane: string): string => `lane-${lane}`;

/** The generated configuration: docs/configuration.md plus the prefix and ports of one role. */
function configFor(
  options: SystemOptions,
  prefix: string,
  role: Role,
  ports: { service: number; admin: number },
  schemaFile: string,
): Record<string, unknown> {
  const maxWait = `${options.maxWaitS}s`;
  const backend = {
    translator: "rest-json",
    url: options.backendUrl,
    // No rate limit: the runs measure Sluice, not the limiter.
    maxInFlight: 1000,
    timeout: "60s",
    retry: { attempts: 1, backoff: RETRY_BACKOFF },
    queue: { highWater: options.highWater, maxLength: options.maxLength },
  };
  const lanes = options.laneNames ?? [];
  return {
    prefix,
    instance: `${prefix}${role}`,
    amqpUrl: options.amqpUrl,
    redisUrl: options.redisUrl,
    adapter: {
      host: "127.0.0.1",
      port: ports.service,
      maxSyncWaiters: options.maxSyncWaiters,
    },
    admin: { host: "127.0.0.1", port: ports.admin },
    retention: "1h",
    shutdown: { grace: "5s" },
    services: {
      [REST_SERVICE]: {
        protocols: ["rest"],
        schema: schemaFile,
        reply: { mode: "ack" },
        backend: BACKEND,
      },
      [REST_SYNC_SERVICE]: {
        protocols: ["rest"],
        schema: schemaFile,
        reply: { mode: "sync", wait: maxWait, maxWait },
        backend: BACKEND,
      },
      [SOAP_SERVICE]: {
        protocols: ["soap"],
        reply: { mode: "ack" },
        backend: BACKEND,
        allowedClients: [XROAD_CLIENT],
      },
      ...Object.fromEntries(
        lanes.map((lane) => [
          laneService(lane),
          {
            protocols: ["rest"],
            schema: schemaFile,
            reply: { mode: "ack" },
            backend: laneBackend(lane),
          },
        ]),
      ),
    },
    backends: {
      [BACKEND]: backend,
      ...Object.fromEntries(lanes.map((lane) => [laneBackend(lane), backend])),
    },
  };
}

export class SluiceSystem {
  readonly names;
  /** When each role's process was spawned (epoch ms): the origin of its CPU profile. */
  readonly startedAt = new Map<Role, number>();
  private constructor(
    readonly prefix: string,
    private readonly options: SystemOptions,
    private readonly dir: string,
    readonly processes: Map<Role, ManagedProcess>,
    readonly servicePort: number,
    readonly adminPorts: Map<Role, number>,
  ) {
    this.names = topologyNames(prefix);
  }

  static async start(options: SystemOptions): Promise<SluiceSystem> {
    const prefix = `${PREFIX_STEM}${randomUUID().slice(0, 8)}.`;
    const dir = mkdtempSync(join(tmpdir(), "sluice-bench-"));
    const schemaFile = join(dir, "schema.json");
    writeFileSync(schemaFile, JSON.stringify(JSON_SCHEMA));
    const servicePort = await freePort();
    const processes = new Map<Role, ManagedProcess>();
    const adminPorts = new Map<Role, number>();
    const system = new SluiceSystem(prefix, options, dir, processes, servicePort, adminPorts);
    try {
      for (const role of options.roles) {
        const admin = await freePort();
        adminPorts.set(role, admin);
        const configFile = join(dir, `${role}.yaml`);
        const config = configFor(
          options,
          prefix,
          role,
          { service: servicePort, admin },
          schemaFile,
        );
        writeFileSync(configFile, stringify(config));
        const profiling = options.profile?.role === role;
        const nodeArgs = [
          ...(options.preload ?? []).flatMap((file) => ["--require", file]),
          ...(role === "adapter" ? (options.adapterNodeOptions ?? []) : []),
          ...(profiling ? ["--cpu-prof", `--cpu-prof-dir=${options.profile?.dir}`] : []),
        ];
        const proc = spawnNode(role, binPath(), [role, "--config", configFile], {
          nodeArgs,
          env: { LOG_LEVEL: "warn", PORT: String(servicePort), ADMIN_PORT: String(admin) },
        });
        processes.set(role, proc);
        system.startedAt.set(role, Date.now());
        await waitForHttp(`http://127.0.0.1:${admin}/readyz`, { process: proc, timeoutMs: 30_000 });
      }
      return system;
    } catch (error) {
      await system.stop();
      await system.cleanup();
      throw error;
    }
  }

  get adapterUrl(): string {
    return `http://127.0.0.1:${this.servicePort}`;
  }

  pid(role: Role): number {
    const proc = this.processes.get(role);
    if (!proc) throw new Error(`${role} is not running`);
    return proc.pid;
  }

  /** The running roles (plus `extra`), for CPU accounting of a run. */
  watch(extra: WatchedProcess[] = []): WatchedProcess[] {
    return [
      ...[...this.processes].map(([role, proc]) => ({ name: role, pid: proc.pid })),
      ...extra,
    ];
  }

  get requestsQueue(): string {
    return this.names.requestsQueue(BACKEND);
  }

  /** SIGTERM every role (adapter last, so in-flight sync callers are answered). */
  async stop(): Promise<void> {
    const order: Role[] = ["worker", "response-worker", "adapter"];
    for (const role of order) {
      const proc = this.processes.get(role);
      if (proc) await proc.stop(15_000);
    }
  }

  /** Stops one role only (e.g. to flush the adapter's CPU profile). */
  async stopRole(role: Role): Promise<number | null> {
    const proc = this.processes.get(role);
    return proc ? proc.stop(15_000) : null;
  }

  /** Deletes the queues, exchanges and Redis keys of this system's prefix. */
  async cleanup(): Promise<void> {
    const n = this.names;
    const backends = [BACKEND, ...(this.options.laneNames ?? []).map(laneBackend)];
    // The names Sluice is known to declare, and whatever else the broker lists under the
    // prefix (roles add queues of their own, e.g. callback delay tiers).
    const queues = new Set([
      ...backends.flatMap((backend) => [
        n.requestsQueue(backend),
        ...RETRY_BACKOFF_MS.map((ms) => n.retryQueue(backend, ms)),
      ]),
      n.responsesQueue,
      n.deadLetterQueue,
      ...(["adapter", "worker", "response-worker"] as Role[]).map((role) =>
        n.replyQueue(`${this.prefix}${role}`),
      ),
      ...(await brokerNames("queues", this.prefix)),
    ]);
    const exchanges = new Set([
      n.requestsExchange,
      n.responsesExchange,
      n.repliesExchange,
      n.deadLetterExchange,
      ...(await brokerNames("exchanges", this.prefix)),
    ]);
    const publisher = await RawPublisher.open(this.options.amqpUrl).catch(() => null);
    if (publisher) {
      await publisher.deleteQueues([...queues]);
      await publisher.deleteExchanges([...exchanges]);
      await publisher.close();
    }
    await deleteRedisKeys(this.options.redisUrl, this.prefix);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * Queue or exchange names under `prefix` as the broker lists them (rabbitmqctl, when this
 * machine has it); an empty list otherwise, and cleanup falls back to the known names.
 */
async function brokerNames(kind: "queues" | "exchanges", prefix: string): Promise<string[]> {
  try {
    const { stdout } = await execFileAsync(
      "rabbitmqctl",
      [`list_${kind}`, "name", "--quiet", "--no-table-headers"],
      { timeout: 30_000, maxBuffer: 64 * 1024 * 1024 },
    );
    return stdout
      .split("\n")
      .map((line) => line.trim())
      .filter((name) => name.startsWith(prefix));
  } catch {
    return [];
  }
}

function binPath(): string {
  return join(__dirname, "..", "..", "bin", "sluice.js");
}

/** Removes every Redis key under `prefix` (SCAN + UNLINK; never a flush of the shared server). */
export async function deleteRedisKeys(redisUrl: string, prefix: string): Promise<number> {
  const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 2 });
  redis.on("error", () => undefined);
  let deleted = 0;
  try {
    await redis.connect();
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1000);
      cursor = next;
      if (keys.length > 0) deleted += await redis.unlink(...keys);
    } while (cursor !== "0");
  } catch {
    // Redis gone: nothing more to clean from here
  } finally {
    redis.disconnect();
  }
  return deleted;
}
