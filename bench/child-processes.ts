// Starts and stops the processes a benchmark run needs (servers under test, baselines, the
// load generator), so nothing under test shares an event loop with the harness.

import { fork, spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { createServer } from "node:net";

/** A child process the harness owns: it is always stopped, even when the run fails. */
export interface ManagedProcess {
  readonly name: string;
  readonly pid: number;
  readonly child: ChildProcess;
  /** The last lines it wrote (stdout and stderr), for error messages. */
  output(): string;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves with the exit code (null if killed). */
  stop(graceMs?: number): Promise<number | null>;
  readonly exited: Promise<number | null>;
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // A crashed or interrupted harness must not leave servers or load generators behind.
  process.on("exit", () => {
    for (const child of live) child.kill("SIGKILL");
  });
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => {
      for (const child of live) child.kill("SIGKILL");
      process.exit(130);
    });
  }
}

function manage(name: string, child: ChildProcess): ManagedProcess {
  installExitHook();
  live.add(child);
  const lines: string[] = [];
  const keep = (chunk: Buffer): void => {
    for (const line of chunk.toString("utf8").split("\n")) {
      if (line.trim() === "") continue;
      lines.push(line.length > 400 ? `${line.slice(0, 400)}…` : line);
      if (lines.length > 40) lines.shift();
    }
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  const exited = new Promise<number | null>((resolve) => {
    child.once("exit", (code) => {
      live.delete(child);
      resolve(code);
    });
  });
  if (child.pid === undefined) throw new Error(`${name}: could not start`);
  return {
    name,
    pid: child.pid,
    child,
    exited,
    output: () => lines.join("\n"),
    async stop(graceMs = 10_000): Promise<number | null> {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
      try {
        return await exited;
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

export interface SpawnOptions {
  env?: Record<string, string>;
  /** Flags for node itself, e.g. `--cpu-prof`. */
  nodeArgs?: string[];
  cwd?: string;
}

/** Runs `node <script> <args>` with piped output. */
export function spawnNode(
  name: string,
  script: string,
  args: string[],
  options: SpawnOptions = {},
): ManagedProcess {
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), script, ...args], {
    cwd: options.cwd,
    env: { ...process.env, ...options.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  return manage(name, child);
}

/**
 * Forks a harness module that answers over IPC; resolves once it sends `{ type: "ready" }`,
 * with that message.
 */
export async function forkReady<T extends { type: "ready" }>(
  name: string,
  script: string,
  args: string[] = [],
  options: SpawnOptions & { timeoutMs?: number } = {},
): Promise<{ process: ManagedProcess; ready: T }> {
  const child = fork(script, args, {
    cwd: options.cwd,
    env: { ...process.env, ...options.env },
    execArgv: options.nodeArgs ?? [],
    stdio: ["ignore", "pipe", "pipe", "ipc"],
  });
  const managed = manage(name, child);
  const timeoutMs = options.timeoutMs ?? 30_000;
  const ready = await new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`${name} did not get ready in ${timeoutMs} ms\n${managed.output()}`));
    }, timeoutMs);
    const onMessage = (message: unknown): void => {
      if ((message as { type?: string } | null)?.type !== "ready") return;
      cleanup();
      resolve(message as T);
    };
    const onExit = (code: number | null): void => {
      cleanup();
      reject(new Error(`${name} exited (${code}) before it was ready\n${managed.output()}`));
    };
    const cleanup = (): void => {
      clearTimeout(timer);
      child.off("message", onMessage);
      child.off("exit", onExit);
    };
    child.on("message", onMessage);
    child.on("exit", onExit);
  });
  return { process: managed, ready };
}

/** A port nobody listens on right now (for children that need a fixed port up front). */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const address = server.address();
  server.close();
  await once(server, "close");
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}

/** Polls `url` until it answers `status` (default 200) or the time runs out. */
export async function waitForHttp(
  url: string,
  options: { timeoutMs?: number; status?: number; process?: ManagedProcess } = {},
): Promise<void> {
  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  let last = "no answer";
  while (Date.now() < deadline) {
    if (options.process && options.process.child.exitCode !== null) {
      throw new Error(
        `${options.process.name} exited (${options.process.child.exitCode}) while starting\n` +
          options.process.output(),
      );
    }
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(2_000) });
      await response.arrayBuffer();
      if (response.status === (options.status ?? 200)) return;
      last = `HTTP ${response.status}`;
    } catch (error) {
      last = (error as Error).message;
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  const tail = options.process ? `\n${options.process.output()}` : "";
  throw new Error(`${url} not ready: ${last}${tail}`);
}
