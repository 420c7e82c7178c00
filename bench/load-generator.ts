// Drives HTTP load with autocannon from a separate process, so the load generator never
// shares an event loop with a server under test; latencies are kept at full precision.

import autocannon from "autocannon";
import { join } from "node:path";
import { forkReady, type ManagedProcess } from "./child-processes";
import { round, summarise, type LoadStats } from "./bench-result";

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
}

type ParentMessage = { type: "run"; options: LoadOptions };
type ChildMessage =
  { type: "ready" } | { type: "result"; stats: LoadStats } | { type: "error"; message: string };

/** A load generator process, reused across runs. */
export class LoadGenerator {
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

  run(options: LoadOptions): Promise<LoadStats> {
    const child = this.proc.child;
    return new Promise<LoadStats>((resolve, reject) => {
      const onMessage = (message: ChildMessage): void => {
        if (message.type === "ready") return;
        cleanup();
        if (message.type === "result") resolve(message.stats);
        else reject(new Error(`load generator: ${message.message}`));
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

/** Growable store of latency samples (ms), cheap enough for millions of responses. */
class Samples {
  private data = new Float64Array(1 << 16);
  length = 0;
  push(value: number): void {
    if (this.length === this.data.length) {
      const bigger = new Float64Array(this.data.length * 2);
      bigger.set(this.data);
      this.data = bigger;
    }
    this.data[this.length++] = value;
  }
  values(): Float64Array {
    return this.data.subarray(0, this.length);
  }
}

function cannon(
  options: LoadOptions,
  durationS: number,
  samples: Samples | null,
): Promise<{ result: autocannon.Result; codes: Record<string, number>; ok: number }> {
  const codes: Record<string, number> = {};
  let ok = 0;
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
        else resolve({ result, codes, ok });
      },
    );
    // autocannon's own histogram has 1 ms resolution; sub-millisecond runs need the raw times.
    instance.on("response", (_client: unknown, status: number, _bytes: number, ms: number) => {
      if (samples === null) return;
      codes[status] = (codes[status] ?? 0) + 1;
      if (status === options.expectStatus) ok++;
      samples.push(ms);
    });
  });
}

async function measure(options: LoadOptions): Promise<LoadStats> {
  if (options.warmupS > 0) await cannon(options, options.warmupS, null);
  const samples = new Samples();
  const { result, codes, ok } = await cannon(options, options.durationS, samples);
  const requests = samples.length;
  const durationS = result.duration > 0 ? result.duration : options.durationS;
  return {
    rps: round(requests / durationS, 1),
    okRps: round(ok / durationS, 1),
    requests,
    ok,
    durationS,
    connections: options.connections,
    latencyMs: summarise(samples.values()),
    statusCodes: codes,
    errors: result.errors,
    timeouts: result.timeouts,
  };
}

function childMain(): void {
  const send = (message: ChildMessage): void => {
    process.send?.(message);
  };
  process.on("message", (message: ParentMessage) => {
    if (message.type !== "run") return;
    measure(message.options).then(
      (stats) => send({ type: "result", stats }),
      (error: unknown) =>
        send({ type: "error", message: String((error as Error).message ?? error) }),
    );
  });
  process.on("disconnect", () => process.exit(0));
  send({ type: "ready" });
}

if (require.main === module && process.argv.includes("--child")) childMain();
