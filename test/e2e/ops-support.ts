// What the operations tests need beside the shared harness: private Redis and RabbitMQ
// instances they may stop and restart (the shared ones are never touched), reading a gauge
// from /metrics, and firing bursts of requests at once.

import { type ChildProcess, execFile } from "node:child_process";
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync, chownSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { call, eventually, type HttpAnswer } from "../support/harness";
import { own, spawn } from "../support/spawned-children";

const run = promisify(execFile);

/**
 * A TCP port nobody listens on right now, for a server a test stops and starts again on it.
 * Picked below the kernel's ephemeral range (32768–60999 on Linux), where no outgoing
 * connection is given a local port: a port the kernel picked for a listener and that was then
 * closed went to another test's connection in the meantime (EADDRINUSE at the restart).
 */
export async function freePort(): Promise<number> {
  for (let tries = 0; ; tries++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    try {
      await new Promise<void>((resolve, reject) => {
        const server = net.createServer();
        server.once("error", reject);
        server.listen(port, "127.0.0.1", () => server.close(() => resolve()));
      });
      return port;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EADDRINUSE" || tries >= 50) throw error;
    }
  }
}

async function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

async function waitPort(port: number, open: boolean, timeoutMs: number, what: string) {
  await eventually(
    async () => ((await portOpen(port)) === open ? true : undefined),
    timeoutMs,
    what,
  );
}

export interface PrivateRedisOptions {
  /** Append-only file on (in a directory of its own): a restart keeps the data. */
  appendonly?: boolean;
  /** `appendfsync` with `appendonly`: "always" keeps every acknowledged write through a crash. */
  appendfsync?: "always" | "everysec";
  /** Starts as a replica of this server (over TLS with `tls`, the master's having TLS too). */
  replicaOf?: PrivateRedis;
  /** Its port (a suite's own range); a free port when not given. */
  port?: number;
  /** TLS only (`--port 0`): the port takes `rediss://`, with this certificate; no client's asked. */
  tls?: ServerTls;
}

/** A test server's TLS: its certificate and key, and the CA it names (files, PEM). */
export interface ServerTls {
  certFile: string;
  keyFile: string;
  caFile: string;
  /** Refuse a client without a certificate `caFile` issued (mutual TLS). */
  clientCertRequired?: boolean;
}

/** A redis-server of this test alone, on a free port; without persistence unless asked. */
export class PrivateRedis {
  private child: ChildProcess | null = null;
  private readonly dir = mkdtempSync(path.join(tmpdir(), "sluice-redis-"));
  private constructor(
    readonly port: number,
    private readonly options: PrivateRedisOptions,
  ) {}

  get url(): string {
    return `${this.options.tls ? "rediss" : "redis"}://127.0.0.1:${this.port}`;
  }

  static async start(options: PrivateRedisOptions = {}): Promise<PrivateRedis> {
    const redis = new PrivateRedis(options.port ?? (await freePort()), options);
    await redis.resume();
    return redis;
  }

  /** Starts (again) on the same port, with the data it kept if it keeps any. */
  async resume(): Promise<void> {
    const tls = this.options.tls;
    const args = tls
      ? ["--port", "0", "--tls-port", String(this.port), "--tls-cert-file", tls.certFile]
          .concat(["--tls-key-file", tls.keyFile, "--tls-ca-cert-file", tls.caFile])
          .concat(["--tls-auth-clients", tls.clientCertRequired ? "yes" : "no"])
      : ["--port", String(this.port)];
    args.push("--bind", "127.0.0.1", "--save", "");
    args.push("--dir", this.dir, "--appendonly", this.options.appendonly ? "yes" : "no");
    if (this.options.appendfsync) args.push("--appendfsync", this.options.appendfsync);
    if (this.options.replicaOf)
      args.push("--replicaof", "127.0.0.1", String(this.options.replicaOf.port));
    // A replica with TLS reaches its master over TLS, presenting its own certificate.
    if (this.options.replicaOf && tls) args.push("--tls-replication", "yes");
    // The watchdog stops it if the test process is killed with SIGKILL (spawned-children.ts).
    this.child = own(spawn("redis-server", args, { stdio: "ignore" }), { watchdog: true });
    await waitPort(this.port, true, 10_000, `private redis on ${this.port}`);
  }

  /** Resolves once this replica's link to its master is up, so it holds the master's data. */
  async untilInSync(): Promise<void> {
    await eventually(
      async () => {
        const { stdout } = await run("redis-cli", ["-p", String(this.port), "info", "replication"]);
        return stdout.includes("master_link_status:up") ? true : undefined;
      },
      20_000,
      "the replica in sync",
    );
  }

  /** Kills the server, as a crash or an outage would. */
  async stop(): Promise<void> {
    const child = this.child;
    this.child = null;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGKILL");
    await exited;
  }

  /** Stops the server and removes its data. */
  async remove(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * Three Redis Sentinels of this test alone (or one on each of `givenPorts`) watching `master`
 * (quorum 2, or 1 for one sentinel; a master is down after one second without an answer),
 * started with `redis-server --sentinel`. With `tls` they listen with TLS only and reach the
 * master (and each other) over TLS with the same certificate, as the master needs for `tls`.
 */
export class PrivateSentinels {
  private readonly children: ChildProcess[] = [];
  private readonly dir = mkdtempSync(path.join(tmpdir(), "sluice-sentinel-"));
  private constructor(
    readonly ports: number[],
    readonly masterName: string,
  ) {}

  /** The `redis-sentinel://` URL Sluice connects with. */
  get url(): string {
    return `redis-sentinel://${this.ports.map((p) => `127.0.0.1:${p}`).join(",")}/${this.masterName}`;
  }

  static async start(
    master: PrivateRedis,
    masterName = "sluice",
    givenPorts?: number[],
    tls?: ServerTls,
  ): Promise<PrivateSentinels> {
    const ports = givenPorts ?? [await freePort(), await freePort(), await freePort()];
    const sentinels = new PrivateSentinels(ports, masterName);
    for (const port of ports) {
      const file = path.join(sentinels.dir, `sentinel-${port}.conf`);
      const listen = tls
        ? ["port 0", `tls-port ${port}`, `tls-cert-file ${tls.certFile}`]
            .concat([`tls-key-file ${tls.keyFile}`, `tls-ca-cert-file ${tls.caFile}`])
            .concat([
              "tls-replication yes",
              `tls-auth-clients ${tls.clientCertRequired ? "yes" : "no"}`,
            ])
        : [`port ${port}`];
      writeFileSync(
        file,
        [
          ...listen,
          "bind 127.0.0.1",
          `dir ${sentinels.dir}`,
          `sentinel monitor ${masterName} 127.0.0.1 ${master.port} ${Math.min(2, ports.length)}`,
          `sentinel down-after-milliseconds ${masterName} 1000`,
          `sentinel failover-timeout ${masterName} 5000`,
          `sentinel parallel-syncs ${masterName} 1`,
          "",
        ].join("\n"),
      );
      sentinels.children.push(
        own(spawn("redis-server", [file, "--sentinel"], { stdio: "ignore" }), { watchdog: true }),
      );
    }
    for (const port of ports) await waitPort(port, true, 10_000, `sentinel on ${port}`);
    return sentinels;
  }

  /** The port of the master the sentinels agree on now. */
  async masterPort(): Promise<number> {
    const { stdout } = await run("redis-cli", [
      "-p",
      String(this.ports[0]),
      "sentinel",
      "get-master-addr-by-name",
      this.masterName,
    ]);
    return Number(stdout.trim().split("\n")[1]);
  }

  async stop(): Promise<void> {
    for (const child of this.children) if (child.exitCode === null) child.kill("SIGKILL");
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * A RabbitMQ node of this test alone: own node name, AMQP and distribution ports, data and
 * log directories, no plugins. It runs in the foreground under the `rabbitmq` user (the
 * packaged start script switches to it); `-detached` proved unreliable on restart here.
 */
export class PrivateRabbit {
  private child: ChildProcess | null = null;
  /** The Erlang cookie the node has while `partition()` holds it apart, else null. */
  private partitionCookie: string | null = null;
  private constructor(
    readonly node: string,
    readonly port: number,
    private readonly distPort: number,
    readonly dir: string,
    private readonly tls: boolean,
  ) {}

  get url(): string {
    return `${this.tls ? "amqps" : "amqp"}://guest:guest@127.0.0.1:${this.port}`;
  }

  /**
   * Starts a fresh node; `port` and `distPort` from a suite's own range (free ports when not
   * given). The node name is new each time, so a port may serve one node after another.
   * `config`: more rabbitmq.conf lines (e.g. `max_message_size = 1048576\n`). `tls`: the port
   * takes `amqps://` only (no plain listener), with this certificate; a client's asked for only
   * with `clientCertRequired`.
   */
  static async start(
    ports: { port?: number; distPort?: number; config?: string; tls?: ServerTls } = {},
  ): Promise<PrivateRabbit> {
    const dir = mkdtempSync(path.join(tmpdir(), "sluice-rabbit-"));
    const port = ports.port ?? (await freePort());
    let distPort = ports.distPort ?? (await freePort());
    while (distPort === port) distPort = await freePort();
    const node = `sluice-t${process.pid}-${port}-${Date.now().toString(36)}@localhost`;
    // The node runs as the `rabbitmq` user: it reads copies in its own directory, not the test's.
    const tlsFiles = ports.tls
      ? { "ca.pem": ports.tls.caFile, "cert.pem": ports.tls.certFile, "key.pem": ports.tls.keyFile }
      : {};
    for (const [name, from] of Object.entries(tlsFiles)) copyFileSync(from, path.join(dir, name));
    const listeners = ports.tls
      ? [
          "listeners.tcp = none",
          `listeners.ssl.default = 127.0.0.1:${port}`,
          `ssl_options.cacertfile = ${path.join(dir, "ca.pem")}`,
          `ssl_options.certfile = ${path.join(dir, "cert.pem")}`,
          `ssl_options.keyfile = ${path.join(dir, "key.pem")}`,
          `ssl_options.verify = ${ports.tls.clientCertRequired ? "verify_peer" : "verify_none"}`,
          `ssl_options.fail_if_no_peer_cert = ${ports.tls.clientCertRequired === true}`,
        ].join("\n")
      : `listeners.tcp.local = 127.0.0.1:${port}`;
    writeFileSync(
      path.join(dir, "rabbitmq.conf"),
      `${listeners}\nloopback_users = none\n${ports.config ?? ""}`,
    );
    writeFileSync(path.join(dir, "enabled_plugins"), "[].\n");
    if (process.getuid?.() === 0) {
      const { stdout } = await run("id", ["-u", "rabbitmq"]);
      const uid = Number(stdout.trim());
      const { stdout: gidOut } = await run("id", ["-g", "rabbitmq"]);
      const gid = Number(gidOut.trim());
      for (const entry of [
        dir,
        ...["rabbitmq.conf", "enabled_plugins", ...Object.keys(tlsFiles)].map((f) =>
          path.join(dir, f),
        ),
      ])
        chownSync(entry, uid, gid);
    }
    const rabbit = new PrivateRabbit(node, port, distPort, dir, ports.tls !== undefined);
    await rabbit.resume();
    return rabbit;
  }

  /** Starts the node (again, with the same data) and waits until it takes AMQP connections. */
  async resume(): Promise<void> {
    const env = {
      ...process.env,
      RABBITMQ_NODENAME: this.node,
      RABBITMQ_DIST_PORT: String(this.distPort),
      RABBITMQ_CONFIG_FILE: path.join(this.dir, "rabbitmq.conf"),
      RABBITMQ_MNESIA_BASE: path.join(this.dir, "mnesia"),
      RABBITMQ_LOG_BASE: path.join(this.dir, "log"),
      RABBITMQ_ENABLED_PLUGINS_FILE: path.join(this.dir, "enabled_plugins"),
      RABBITMQ_PID_FILE: path.join(this.dir, "pid"),
    };
    // A group of its own, and the VM's pid file: killed with the test process if the test
    // never stops it (the VM runs under `su`, so its pid is known from the file alone).
    this.child = own(spawn("rabbitmq-server", [], { env, stdio: "ignore", detached: true }), {
      group: true,
      pidFile: env.RABBITMQ_PID_FILE,
      watchdog: true,
    });
    this.child.unref();
    // A node boots in seconds on an idle machine, in a minute or more on a loaded one.
    await waitPort(this.port, true, 150_000, `private RabbitMQ node ${this.node}`);
    await run("rabbitmqctl", ["-n", this.node, "await_startup", "--timeout", "120"]);
  }

  /** Runs rabbitmqctl against this node only. */
  async ctl(...args: string[]): Promise<string> {
    const cookie = this.partitionCookie ? ["--erlang-cookie", this.partitionCookie] : [];
    const { stdout } = await run("rabbitmqctl", [...cookie, "-n", this.node, ...args]);
    return stdout;
  }

  /**
   * Cuts this node off from the rest of its cluster, as a network partition would, while its
   * process and AMQP listener stay up: the node takes another Erlang cookie (keeping its own in
   * the node itself) and drops its distribution links, so neither side can connect to the
   * other until `heal()`. What the node does then is its `cluster_partition_handling`'s doing.
   * `keepLinks`: the links up now stay up (a cookie is only asked for at a connection's
   * start), so a link that goes silent (`freeze()`) ends by `net_ticktime` and is not made again.
   */
  async partition(options: { keepLinks?: boolean } = {}): Promise<void> {
    const cookie = `sluice_partitioned_${process.pid}`;
    await this.ctl(
      "eval",
      "persistent_term:put(sluice_cluster_cookie, erlang:get_cookie()), " +
        `erlang:set_cookie(node(), '${cookie}'), ` +
        (options.keepLinks ? "" : "[erlang:disconnect_node(N) || N <- nodes()], ") +
        "ok.",
    );
    this.partitionCookie = cookie;
  }

  /** Stops the node's VM with SIGSTOP: its links and client connections go silent. */
  freeze(): void {
    const pid = this.pid();
    if (pid) process.kill(pid, "SIGSTOP");
  }

  /** Continues a frozen VM (SIGCONT). */
  thaw(): void {
    const pid = this.pid();
    if (pid) process.kill(pid, "SIGCONT");
  }

  /** Gives the node its cookie back: it reaches (and is reached by) the other nodes again. */
  async heal(): Promise<void> {
    if (!this.partitionCookie) return;
    await this.ctl(
      "eval",
      "erlang:set_cookie(node(), persistent_term:get(sluice_cluster_cookie)), ok.",
    );
    this.partitionCookie = null;
  }

  /** Whether the RabbitMQ application runs on the node (false while it is paused). */
  async running(): Promise<boolean> {
    return (await this.ctl("eval", "rabbit:is_running().")).trim() === "true";
  }

  /** `rabbitmqctl cluster_status` as this node sees it: its running nodes and partitions. */
  async clusterStatus(): Promise<{ running: string[]; partitions: Record<string, string[]> }> {
    const status = JSON.parse(await this.ctl("cluster_status", "--formatter", "json")) as {
      running_nodes?: string[];
      partitions?: Record<string, string[]>;
    };
    return { running: status.running_nodes ?? [], partitions: status.partitions ?? {} };
  }

  /** Makes this (fresh) node a member of `seed`'s cluster. */
  async join(seed: PrivateRabbit): Promise<void> {
    await this.ctl("stop_app");
    await this.ctl("join_cluster", seed.node);
    await this.ctl("start_app");
    await run("rabbitmqctl", ["-n", this.node, "await_startup", "--timeout", "120"]);
  }

  private pid(): number | null {
    try {
      return Number(readFileSync(path.join(this.dir, "pid"), "utf8").trim()) || null;
    } catch {
      return null;
    }
  }

  /** Waits until the node's Erlang VM has exited (its ports and node name are free again). */
  private async gone(pid: number | null): Promise<void> {
    if (!pid) return;
    await eventually(
      async () => {
        try {
          process.kill(pid, 0);
          return undefined;
        } catch {
          return true;
        }
      },
      60_000,
      `node ${this.node} to exit`,
    );
  }

  /** Kills the node's Erlang VM with SIGKILL, as a crash would, and waits until it is gone. */
  async kill(): Promise<void> {
    const pid = this.pid();
    if (pid) process.kill(pid, "SIGKILL");
    await waitPort(this.port, false, 20_000, `node ${this.node} to die`);
    await this.gone(pid);
    this.child = null;
  }

  /** Stops the node and waits until its port is closed and its VM has exited. */
  async stop(): Promise<void> {
    const pid = this.pid();
    await this.ctl("stop", path.join(this.dir, "pid")).catch(() => undefined);
    await waitPort(this.port, false, 20_000, `node ${this.node} to stop`);
    await this.gone(pid);
    this.child = null;
  }

  /** Stops the node (if running) and removes its data. */
  async remove(): Promise<void> {
    const pid = this.pid();
    // A frozen VM answers nothing, its stop included.
    try {
      if (pid) process.kill(pid, "SIGCONT");
    } catch {
      // gone already
    }
    let alive = false;
    try {
      if (pid) process.kill(pid, 0);
      alive = pid !== null;
    } catch {
      alive = false;
    }
    if (alive || (await portOpen(this.port)))
      await this.stop().catch(() => this.kill().catch(() => undefined));
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * The value of one sample of `/metrics`, e.g. `sluice_queue_depth_messages{queue="x"}`. Asked by
 * `call`, on a connection of its own: suites ask between restarts and long waits, and a plain
 * `fetch` sent it on a kept-alive connection the admin port had just closed as idle.
 */
export async function metricValue(
  adminUrl: string,
  name: string,
  labels: Record<string, string> = {},
): Promise<number | undefined> {
  const { text } = await call(`${adminUrl}/metrics`, { client: null });
  return parseMetric(text, name, labels);
}

export function parseMetric(
  text: string,
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const match = /^([^{\s]+)(?:\{([^}]*)\})?\s+(\S+)/.exec(line);
    if (!match || match[1] !== name) continue;
    const found: Record<string, string> = {};
    for (const pair of (match[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g))
      found[pair[1]] = pair[2];
    if (Object.entries(labels).every(([k, v]) => found[k] === v)) return Number(match[3]);
  }
  return undefined;
}

/** `PUT /sim/settings` on the legacy simulator, as an operator or a test would (by `call`). */
export async function simSettings(simUrl: string, patch: Record<string, unknown>): Promise<void> {
  const answer = await call(`${simUrl}/sim/settings`, {
    method: "PUT",
    client: null,
    body: JSON.stringify(patch),
  });
  if (answer.status !== 200) throw new Error(`sim settings: ${answer.status}`);
}

/** Sends `count` requests at once (no request waits for another) and returns every answer. */
export async function burst(
  url: string,
  count: number,
  body: (i: number) => string = (i) => JSON.stringify({ n: i }),
  headers: Record<string, string> = {},
): Promise<HttpAnswer[]> {
  return Promise.all(
    Array.from({ length: count }, (_, i) => call(url, { body: body(i), headers })),
  );
}

export async function readyz(adminUrl: string): Promise<{ status: number; reasons: string[] }> {
  const answer = await call(`${adminUrl}/readyz`, { client: null });
  return { status: answer.status, reasons: answer.json?.reasons ?? [] };
}

/** Polls `/readyz` until it answers `status`; returns that answer's reasons. */
export async function untilReadiness(
  adminUrl: string,
  status: 200 | 503,
  timeoutMs = 5_000,
): Promise<{ status: number; reasons: string[] }> {
  return eventually(
    async () => {
      const ready = await readyz(adminUrl);
      return ready.status === status ? ready : undefined;
    },
    timeoutMs,
    `/readyz ${status} at ${adminUrl}`,
  );
}

/** Polls a queue's `sluice_queue_depth_messages` until `accept` holds; returns the depth. */
export async function untilDepth(
  adminUrl: string,
  queue: string,
  accept: (depth: number) => boolean,
  timeoutMs = 10_000,
): Promise<number> {
  return eventually(
    async () => {
      const depth = await metricValue(adminUrl, "sluice_queue_depth_messages", { queue });
      return depth !== undefined && accept(depth) ? depth : undefined;
    },
    timeoutMs,
    `the depth of ${queue}`,
  );
}

/** Whole seconds of a Retry-After header, or NaN when it is not a plain integer. */
export function retryAfterSeconds(answer: HttpAnswer): number {
  const value = answer.headers.get("retry-after") ?? "";
  return /^\d+$/.test(value) ? Number(value) : NaN;
}
