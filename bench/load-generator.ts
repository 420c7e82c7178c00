// Drives HTTP load with autocannon from a separate process, so the load generator never
// shares an event loop with a server under test; latencies are kept at full precision.

import autocannon from "autocannon";
import { join } from "node:path";
import { forkReady, type ManagedProcess } from "./child-processes";
import { LatencySamples, round, summarise, type LoadStats } from "./bench-result";
import {
  cpuShares,
  CpuWindow,
  serviceProcesses,
  type CpuSample,
  type WatchedProcess,
} from "./cpu-usage";

export interface LoadOptions {
  url: string;
  method: "GET" | "POST" | "PUT";
  headers: Record<string, string>;
  body?: string;
  connections: number;
  durationS: number;
  /** Load before the measured window, discarded (JIT, connection pools, broker channels). */
  warmupS: number;
  /** The status a correct answer has; everything else is counted but not "ok". */
  expectStatus: number;
  timeoutS?: number;
  /** Replace `[<id>]` in headers and body by a fresh id per request (X-Road ids are unique). */
  idReplacement?: boolean;
  /**
   * Adds this load to earlier ones with the same key (rounds of one run interleaved with other
   * runs); the answer covers all of them.
   */
  accumulate?: string;
}

type ParentMessage = { type: "run"; options: LoadOptions };
type ChildMessage =
  | { type: "ready" }
  | { type: "measuring" }
  | { type: "result"; stats: LoadStats }
  | { type: "error"; message: string };

/** A load generator process, reused across runs. */
export class LoadGenerator {
  /** Wall-clock bounds (epoch ms) of the last measured window, warm-up excluded. */
  lastWindow: { startMs: number; endMs: number } | null = null;
  private readonly cpuByKey = new Map<string, CpuSample[]>();

  private constructor(private readonly proc: ManagedProcess) {}

  static async start(): Promise<LoadGenerator> {
    const { process } = await forkReady("load-generator", join(__dirname, "load-generator.js"), [
      "--child",
    ]);
    return new LoadGenerator(process);
  }

  get pid(): number {
    return this.proc.pid;
  }

  /**
   * Runs one load; `watch` names the processes whose CPU time is reported for the measured
   * window (the load generator, RabbitMQ and Redis are always included).
   */
  run(options: LoadOptions, watch: WatchedProcess[] = []): Promise<LoadStats> {
    const child = this.proc.child;
    let window: CpuWindow | null = null;
    let measuringAt = Date.now();
    return new Promise<LoadStats>((resolve, reject) => {
      const onMessage = (message: ChildMessage): void => {
        if (message.type === "ready") return;
        if (message.type === "measuring") {
          measuringAt = Date.now();
          window = new CpuWindow([
            ...watch,
            { name: "load generator", pid: this.proc.pid },
            ...serviceProcesses(),
          ]);
          return;
        }
        cleanup();
        if (message.type === "result") {
          this.lastWindow = { startMs: measuringAt, endMs: Date.now() };
          if (!window) return resolve(message.stats);
          const sample = window.stop();
          const key = options.accumulate;
          const windows = [...(key === undefined ? [] : (this.cpuByKey.get(key) ?? [])), sample];
          if (key !== undefined) this.cpuByKey.set(key, windows);
          resolve({ ...message.stats, cpu: cpuShares(windows, message.stats.requests) });
        } else reject(new Error(`load generator: ${message.message}`));
      };
      const onExit = (code: number | null): void => {
        cleanup();
        reject(new Error(`load generator exited (${code})\n${this.proc.output()}`));
      };
      const cleanup = (): void => {
        child.off("message", onMessage);
        child.off("exit", onExit);
      };
      child.on("message", onMessage);
      child.on("exit", onExit);
      child.send({ type: "run", options } satisfies ParentMessage);
    });
  }

  async stop(): Promise<void> {
    await this.proc.stop(2_000);
  }
}

/** What one key has measured so far (several rounds of the same run add up). */
interface Tally {
  samples: LatencySamples;
  codes: Record<string, number>;
  ok: number;
  durationS: number;
  errors: number;
  timeouts: number;
}

const newTally = (): Tally => ({
  samples: new LatencySamples(),
  codes: {},
  ok: 0,
  durationS: 0,
  errors: 0,
  timeouts: 0,
});

function cannon(
  options: LoadOptions,
  durationS: number,
  tally: Tally | null,
): Promise<autocannon.Result> {
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: options.url,
        method: options.method,
        headers: options.headers,
        body: options.body,
        connections: options.connections,
        duration: durationS,
        timeout: options.timeoutS ?? 30,
        idReplacement: options.idReplacement ?? false,
      },
      (error: unknown, result: autocannon.Result) => {
        if (error) reject(error instanceof Error ? error : new Error(String(error)));
        else resolve(result);
      },
    );
    // autocannon's own histogram has 1 ms resolution; sub-millisecond runs need the raw times.
    instance.on("response", (_client: unknown, status: number, _bytes: number, ms: number) => {
      if (tally === null) return;
      tally.codes[status] = (tally.codes[status] ?? 0) + 1;
      if (status === options.expectStatus) tally.ok++;
      tally.samples.push(ms);
    });
  });
}

const tallies = new Map<string, Tally>();

async function measure(options: LoadOptions, onMeasuring: () => void): Promise<LoadStats> {
  if (options.warmupS > 0) await cannon(options, options.warmupS, null);
  const key = options.accumulate;
  const tally = (key === undefined ? undefined : tallies.get(key)) ?? newTally();
  if (key !== undefined) tallies.set(key, tally);
  onMeasuring();
  const result = await cannon(options, options.durationS, tally);
  tally.durationS += result.duration > 0 ? result.duration : options.durationS;
  tally.errors += result.errors;
  tally.timeouts += result.timeouts;
  const requests = tally.samples.length;
  return {
    rps: round(requests / tally.durationS, 1),
    okRps: round(tally.ok / tally.durationS, 1),
    requests,
    ok: tally.ok,
    durationS: round(tally.durationS, 2),
    connections: options.connections,
    latencyMs: summarise(tally.samples.values()),
    statusCodes: { ...tally.codes },
    errors: tally.errors,
    timeouts: tally.timeouts,
  };
}

function childMain(): void {
  const send = (message: ChildMessage): void => {
    process.send?.(message);
  };
  process.on("message", (message: ParentMessage) => {
    if (message.type !== "run") return;
    measure(message.options, () => send({ type: "measuring" })).then(
      (stats) => send({ type: "result", stats }),
      (error: unknown) =>
        send({ type: "error", message: String((error as Error).message ?? error) }),
    );
  });
  process.on("disconnect", () => process.exit(0));
  send({ type: "ready" });
}

if (require.main === module && process.argv.includes("--child")) childMain();
