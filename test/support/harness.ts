// Test harness for end-to-end tests: a unique prefix per test file (queues, exchanges, Redis
// keys), a legacy-sim, a callback receiver, a generated configuration, Sluice roles as real
// child processes, and a cleanup that removes everything the prefix created. Harness.suite sets
// all of it up in a describe block's hooks.

import type { ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import * as amqplib from "amqplib";
import Redis from "ioredis";
import { Agent, fetch } from "undici";
import { startLegacySim, type LegacySim, type LegacySimOptions } from "../../legacy-sim/legacy-sim";
import { callbackQueues, callbackTopology } from "../../response-worker/callback-schedule";
import { compileConfig, type SluiceConfig } from "../../shared/config/config";
import { isPartitioned, partitionQueueName } from "../../shared/broker/ordering";
import { topologyNames } from "../../shared/protocol/names";
import { TransactionStore } from "../../shared/store/transaction-store";
import { CallbackReceiver } from "../integration/callback-receiver";
import { spawn } from "./spawned-children";

export const AMQP_URL = process.env.AMQP_URL || "amqp://guest:guest@127.0.0.1:5672";
export const REDIS_URL = process.env.REDIS_URL || "redis://127.0.0.1:6379";
const BIN = path.resolve(__dirname, "..", "..", "..", "bin", "sluice.js");

export interface SluiceProcess {
  role: string;
  child: ChildProcess;
  /** Service port (adapter roles). */
  port: number;
  adminPort: number;
  url: string;
  adminUrl: string;
  /** Every log line so far, parsed. */
  lines: Array<Record<string, unknown>>;
  /** Every line written to stdout so far, as written (JSON or not). */
  output: string[];
  /** Everything written to stderr so far. */
  stderr(): string;
  /** Resolves with the exit code once the process ended and its output is all read. */
  exited: Promise<number | null>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** A role a suite starts: `sluice <role> [...args]` with `env` in its environment. */
export interface RoleStart {
  role: string;
  /** Its key in `harness.roles` (the role's name unless given). */
  as?: string;
  args?: string[];
  /** The environment, or a function making it when the role starts (a proxy's address, say). */
  env?: Record<string, string> | (() => Promise<Record<string, string>>);
  /** Node options before the program (`--expose-gc`, `--require` of a test-only module). */
  nodeArgs?: string[];
}

/** A callback receiver a suite's callbacks and hub listeners go to. */
export interface ReceiverSetup {
  /** The secret the configuration's `callbacks` sign with. */
  secret: string;
  /** Hub listeners registered at the `adapter` once the roles run, at `path` on the receiver. */
  listeners?: Array<{ client: string; path: string; query?: string }>;
}

/**
 * What a suite runs, in this order: the sim, the receiver, the configuration, `seed`, `roles`,
 * then the receiver's hub listeners.
 */
export interface SuiteSetup {
  /** The legacy-sim's options; `false` for a suite that runs none. */
  sim?: LegacySimOptions | false;
  /**
   * A callback receiver (plain HTTP on loopback), in `harness.receiver`: the configuration's
   * `callbacks` (unless it has its own) allow it and sign with `secret`; cleanup closes it.
   */
  receiver?: ReceiverSetup;
  /** The configuration for writeConfig, or a function making it once the sim runs. */
  config:
    | Record<string, unknown>
    | ((harness: Harness) => Record<string, unknown> | Promise<Record<string, unknown>>);
  /** What the suite puts in the queues and Redis before any role starts. */
  seed?: (harness: Harness) => Promise<void>;
  roles?: Array<string | RoleStart>;
}

export class Harness {
  readonly prefix = `t-${randomUUID().slice(0, 8)}.`;
  /** The admin token every process of this harness gets (operator endpoints, status page). */
  readonly adminToken = `test-admin-${randomUUID()}`;
  readonly dir = mkdtempSync(path.join(tmpdir(), "sluice-test-"));
  sim!: LegacySim;
  /** The suite's callback receiver, when its setup asks for one (`SuiteSetup.receiver`). */
  receiver!: CallbackReceiver;
  private readonly processes = new Set<SluiceProcess>();
  private config: Record<string, unknown> = {};
  configFile = path.join(this.dir, "sluice.json");
  /** The Node.js binary the processes run on: this one unless a test picks another. */
  node = process.execPath;
  /** The roles `start` started, by name (`RoleStart.as`). */
  readonly roles: Record<string, SluiceProcess> = {};
  private redisClient?: Redis;
  /** The configuration as the roles read it (compiled), once writeConfig wrote it. */
  compiledConfig!: SluiceConfig;

  /**
   * A harness for the enclosing describe block: its `before` hook runs `setup` (see start), its
   * `after` hook cleans up. Roles are in `harness.roles` from the first test on.
   */
  static suite(setup: SuiteSetup): Harness {
    const harness = new Harness();
    // Starting and stopping processes is a liveness bound, not the suite's: a machine busy with
    // other work may take a minute to start three roles, well past a suite's 30-40 s per test.
    before(function () {
      this.timeout(hookTimeout(this.timeout()));
      return harness.start(setup);
    });
    after(function () {
      this.timeout(hookTimeout(this.timeout()));
      return harness.cleanup();
    });
    return harness;
  }

  /**
   * Starts the sim (unless `sim: false`) and the receiver (if asked), writes the configuration,
   * seeds, starts the roles, registers the receiver's hub listeners.
   */
  async start(setup: SuiteSetup): Promise<void> {
    if (setup.sim !== false) await this.startSim(setup.sim);
    if (setup.receiver) this.receiver = await CallbackReceiver.start({ tls: false });
    const made = typeof setup.config === "function" ? await setup.config(this) : setup.config;
    // A copy: writeConfig fills in the sim's URL, and suites may share one configuration.
    const config = structuredClone(made);
    if (setup.receiver) config.callbacks ??= this.receiver.loopbackCallbacks(setup.receiver.secret);
    this.writeConfig(config);
    await setup.seed?.(this);
    for (const entry of setup.roles ?? []) {
      const {
        role,
        as = role,
        args = [],
        env = {},
        nodeArgs = [],
      } = typeof entry === "string" ? { role: entry } : entry;
      this.roles[as] = await this.spawn(
        role,
        typeof env === "function" ? await env() : env,
        args,
        nodeArgs,
      );
    }
    for (const { client, path: at, query } of setup.receiver?.listeners ?? []) {
      const answer = await call(`${this.roles.adapter.url}/hub`, {
        client,
        body: JSON.stringify({ callback: this.receiver.url(at), query }),
      });
      if (answer.status !== 201) {
        throw new Error(`hub listener ${at} of ${client}: ${answer.status} ${answer.text}`);
      }
    }
  }

  /**
   * A Redis client of the test's own (one per harness, disconnected by cleanup). It connects
   * at its first command: a suite may make it, and stores on it, while mocha collects tests.
   */
  redis(): Redis {
    this.redisClient ??= new Redis(REDIS_URL, { lazyConnect: true });
    return this.redisClient;
  }

  /** The transaction store under the prefix, on `redis()`, keeping what it writes `ttlMs`. */
  store(ttlMs: number): TransactionStore {
    return new TransactionStore(this.redis(), this.prefix, ttlMs);
  }

  async startSim(options: LegacySimOptions = {}): Promise<LegacySim> {
    this.sim = await startLegacySim({ port: 0, latencyMs: 0, ...options });
    return this.sim;
  }

  /** Writes the configuration (JSON is YAML too); `backends[*].url` defaults to the sim. */
  writeConfig(config: Record<string, unknown>): string {
    const backends = (config.backends ?? {}) as Record<string, Record<string, unknown>>;
    for (const backend of Object.values(backends)) backend.url ??= this.sim?.url;
    this.config = {
      prefix: this.prefix,
      adapter: { port: 0, plainHttp: true },
      admin: { port: 0, token: this.adminToken },
      shutdown: { grace: "5s" },
      ...config,
    };
    // A test's own adapter settings keep the free port unless they name one: on 8080 a test
    // failed whenever anything else (a demo, another suite) held it. A test's service port is
    // plain HTTP on purpose, on every address so the tests' Host headers pass: not warned of.
    if (typeof config.adapter === "object" && config.adapter !== null) {
      this.config.adapter = { port: 0, plainHttp: true, ...config.adapter };
    }
    // Compiled here too, to fail early, in the test, on a bad configuration.
    this.compiledConfig = compileConfig(this.config, this.dir);
    // Only this user may read it, as an operator keeps a file holding the admin token (a
    // file every user may read is warned of at start).
    writeFileSync(this.configFile, JSON.stringify(this.config, null, 2), { mode: 0o600 });
    return this.configFile;
  }

  /** Headers of an operator request (the admin bearer token). */
  adminHeaders(): Record<string, string> {
    return { authorization: `Bearer ${this.adminToken}` };
  }

  /** An operator request to `proc`'s admin port: the admin token, and no X-Road client. */
  admin(proc: SluiceProcess, route: string, options: CallOptions = {}): Promise<HttpAnswer> {
    return call(`${proc.adminUrl}${route}`, {
      client: null,
      ...options,
      headers: { ...this.adminHeaders(), ...(options.headers ?? {}) },
    });
  }

  /**
   * Spawns `sluice <role> [...args]` and resolves once it logged that it is ready (`legacy-sim`:
   * that it listens, on the configuration's `legacySim.port`; its URL in `url`). `nodeArgs` go
   * to Node before the program (`--expose-gc`, `--require` of a test-only module).
   */
  spawn(
    role: string,
    env: Record<string, string> = {},
    args: string[] = [],
    nodeArgs: string[] = [],
  ): Promise<SluiceProcess> {
    return this.launch(role, ["--config", this.configFile, ...args], env, nodeArgs);
  }

  /** Spawns `sluice xroad-sim --config file` and resolves once it listens (its URL in `url`). */
  spawnXroadSim(file: string, env: Record<string, string> = {}): Promise<SluiceProcess> {
    return this.launch("xroad-sim", ["--config", file], env);
  }

  private async launch(
    role: string,
    args: string[],
    env: Record<string, string>,
    nodeArgs: string[] = [],
  ): Promise<SluiceProcess> {
    const child = spawn(this.node, [...nodeArgs, BIN, role, ...args], {
      // Its stdin ends when this process dies, even of a SIGKILL nothing here can handle, and
      // the role or simulator then stops (shared/runtime/stop-with-stdin.ts), rather than
      // consume from the shared broker or hold its port.
      env: {
        ...process.env,
        LOG_LEVEL: "info",
        LOG_REDACT: "on",
        SLUICE_STOP_WITH_STDIN: "1",
        ...env,
      },
      stdio: ["pipe", "pipe", "pipe"],
    });
    const lines: Array<Record<string, unknown>> = [];
    const output: string[] = [];
    let stderr = "";
    // "close", not "exit": a process's last lines may still be in the pipe when it exits, and
    // tests read them ("stopped", a start failure on stderr) as soon as this resolves.
    const exited = new Promise<number | null>((resolve) =>
      child.once("close", (code) => resolve(code)),
    );
    const proc: SluiceProcess = {
      role,
      child,
      port: 0,
      adminPort: 0,
      url: "",
      adminUrl: "",
      lines,
      output,
      stderr: () => stderr,
      exited,
      stop: async (signal = "SIGTERM") => {
        if (child.exitCode === null && child.signalCode === null) child.kill(signal);
        const code = await exited;
        this.processes.delete(proc);
        return code;
      },
    };
    this.processes.add(proc);
    await new Promise<void>((resolve, reject) => {
      let buffer = "";
      // How long a role may take to start is no property under test: on the shared 2-core
      // machine at load ~20 several roles starting together (module loading, first connects)
      // took over 20 s. Suites that start several roles at once give their hook the time.
      const timer = setTimeout(
        () => reject(new Error(`${role} did not start:\n${stderr}`)),
        START_TIMEOUT_MS,
      );
      child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
      child.stdout!.on("data", (chunk: Buffer) => {
        buffer += chunk.toString();
        let newline: number;
        while ((newline = buffer.indexOf("\n")) >= 0) {
          const text = buffer.slice(0, newline);
          buffer = buffer.slice(newline + 1);
          output.push(text);
          let line: Record<string, unknown>;
          try {
            line = JSON.parse(text);
          } catch {
            continue;
          }
          lines.push(line);
          if (line.msg === "adapter listening") proc.port = Number(line.port);
          if (line.msg === "admin port listening") proc.adminPort = Number(line.adminPort);
          if (line.msg === "sluice ready") {
            clearTimeout(timer);
            proc.url = `http://127.0.0.1:${proc.port}`;
            proc.adminUrl = `http://127.0.0.1:${proc.adminPort}`;
            resolve();
          } else if (line.msg === `${role} listening on ${line.url}`) {
            // A simulator: no admin port, and no ready line but this one.
            clearTimeout(timer);
            proc.url = String(line.url);
            resolve();
          }
        }
      });
      void exited.then((code) => {
        clearTimeout(timer);
        reject(new Error(`${role} exited with ${code} before it was ready:\n${stderr}`));
      });
    });
    return proc;
  }

  /**
   * Stops every process, the sim, and deletes the prefix's queues, exchanges and keys; closes
   * the test's Redis client.
   */
  async cleanup(): Promise<void> {
    await Promise.all([...this.processes].map((p) => p.stop("SIGKILL")));
    await this.sim?.close();
    await this.receiver?.close();
    // Without a configuration nothing ran under the prefix, and there is none to read it from.
    if (Object.keys(this.config).length > 0) await deletePrefix(this.prefix, this.config);
    this.redisClient?.disconnect();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export async function deletePrefix(
  prefix: string,
  rawConfig: Record<string, unknown>,
): Promise<void> {
  const names = topologyNames(prefix);
  const connection = await amqplib.connect(AMQP_URL);
  try {
    const channel = await connection.createChannel();
    channel.on("error", () => undefined);
    const queues = [names.responsesQueue, names.deadLetterQueue, names.deadLetterWatchQueue];
    const backends = (rawConfig.backends ?? {}) as Record<
      string,
      { retry?: { backoff?: string[] } }
    >;
    for (const [name] of Object.entries(backends)) {
      queues.push(names.requestsQueue(name));
    }
    for (const queue of queues) await channel.deleteQueue(queue).catch(() => undefined);
    // Retry tiers have derived names: compile the configuration to know them.
    const withUrls = Object.fromEntries(
      Object.entries(backends).map(([n, b]) => [n, { ...b, url: "http://x" }]),
    );
    const compiled = compileConfig({ ...rawConfig, backends: withUrls }, ".");
    for (const backend of Object.values(compiled.backends)) {
      if (isPartitioned(backend.ordering)) {
        for (let p = 0; p < backend.ordering.partitions; p++) {
          await channel
            .deleteQueue(partitionQueueName(names.requestsQueue(backend.name), p))
            .catch(() => undefined);
        }
      }
      for (const ms of backend.retry.backoffMs) {
        await channel.deleteQueue(names.retryQueue(backend.name, ms)).catch(() => undefined);
      }
    }
    const callbacks = callbackTopology(prefix, compiled.callbacks.backoffMs);
    for (const queue of callbackQueues(callbacks)) {
      await channel.deleteQueue(queue).catch(() => undefined);
    }
    for (const exchange of [
      names.requestsExchange,
      names.responsesExchange,
      names.repliesExchange,
      names.deadLetterExchange,
    ]) {
      await channel.deleteExchange(exchange).catch(() => undefined);
    }
    await channel.close().catch(() => undefined);
  } finally {
    await connection.close().catch(() => undefined);
  }
  const redis = new Redis(REDIS_URL);
  try {
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 500);
      cursor = next;
      if (keys.length) await redis.del(...keys);
    } while (cursor !== "0");
  } finally {
    redis.disconnect();
  }
}

/** Longest wait for a spawned role's ready line. */
export const START_TIMEOUT_MS = 90_000;

/** A suite's before and after hooks: a role's start, and the rest of the set-up or clean-up. */
export const HOOK_TIMEOUT_MS = START_TIMEOUT_MS + 30_000;

/**
 * A suite hook's timeout given the suite's: at least HOOK_TIMEOUT_MS, and none when the suite
 * has none (0: `--timeout 0`, `--inspect`), which a larger number would have put back.
 */
export function hookTimeout(suiteMs: number): number {
  return suiteMs === 0 ? 0 : Math.max(suiteMs, HOOK_TIMEOUT_MS);
}

/** Polls until `check` returns a value other than undefined, or fails after `timeoutMs`. */
export async function eventually<T>(
  check: () => Promise<T | undefined>,
  timeoutMs = 10_000,
  what = "condition",
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ""}`);
}

/**
 * Reads message `id`'s status from `adapter` until its state is one of `states`; returns that
 * answer (or fails after `timeoutMs`, naming `what`).
 */
export function untilState(
  adapter: SluiceProcess,
  id: string,
  states: string[],
  timeoutMs = 10_000,
  what = `message ${id} ${states.join(" or ")}`,
): Promise<HttpAnswer> {
  return eventually(
    async () => {
      const answer = await call(`${adapter.url}/messages/${id}`);
      return states.includes(answer.json?.state) ? answer : undefined;
    },
    timeoutMs,
    what,
  );
}

export interface HttpAnswer {
  status: number;
  headers: Headers;
  text: string;
  json: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

export interface CallOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** The X-Road-Client header (a test client unless given); null sends none. */
  client?: string | null;
  /**
   * Sent on a kept-alive connection (undici's global dispatcher), for a test of what the server
   * says of the connection (`Connection: close` while it drains); else one connection per call.
   */
  keepAlive?: boolean;
}

/**
 * The connections `call` sends on: one per request, closed after its answer (pipelining 0). A
 * kept-alive connection is reused whenever the client believes it idle for less than the
 * server's keep-alive timeout (5 s on Sluice's ports); a test that blocked its event loop
 * meanwhile (a command run with spawnSync, a key generated, a document validated) or whose idle
 * timer ran late on a loaded machine sends on a connection the server has just closed, and the
 * call fails with "other side closed" or ECONNRESET, whatever the test was about.
 */
const freshConnections = new Agent({ pipelining: 0 });

/** The X-Road client `call` names unless told otherwise. */
export const TEST_CLIENT = "EE/GOV/70000001/case-app";

/** A plain HTTP call with the X-Road client header most tests need. */
export async function call(url: string, options: CallOptions = {}): Promise<HttpAnswer> {
  const headers: Record<string, string> = { ...(options.headers ?? {}) };
  if (options.client !== null) headers["X-Road-Client"] ??= options.client ?? TEST_CLIENT;
  if (
    typeof options.body === "string" &&
    !Object.keys(headers).some((h) => h.toLowerCase() === "content-type")
  ) {
    headers["Content-Type"] = "application/json";
  }
  const response = await fetch(url, {
    method: options.method ?? (options.body ? "POST" : "GET"),
    headers,
    body: options.body,
    ...(options.keepAlive ? {} : { dispatcher: freshConnections }),
  });
  const text = await response.text();
  let json: unknown = null;
  try {
    json = JSON.parse(text);
  } catch {
    json = null;
  }
  return { status: response.status, headers: response.headers, text, json };
}
