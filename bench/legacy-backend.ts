// Runs the legacy simulator in its own process as the backend of the sync runs, and as the
// "call the backend directly" baseline; its settings change over HTTP (`PUT /sim/settings`).

import { join } from "node:path";
import { forkReady, type ManagedProcess } from "./child-processes";
import { startLegacySim, type LegacySimSettings } from "../legacy-sim/legacy-sim";

export class LegacyBackend {
  private constructor(
    private readonly proc: ManagedProcess,
    readonly url: string,
  ) {}

  static async start(latencyMs = 0): Promise<LegacyBackend> {
    const { process, ready } = await forkReady<{ type: "ready"; url: string }>(
      "legacy-sim",
      join(__dirname, "legacy-backend.js"),
      ["--child", String(latencyMs)],
    );
    return new LegacyBackend(process, ready.url);
  }

  get pid(): number {
    return this.proc.pid;
  }

  async update(patch: Partial<LegacySimSettings>): Promise<void> {
    const response = await fetch(`${this.url}/sim/settings`, {
      method: "PUT",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(patch),
    });
    await response.arrayBuffer();
    if (response.status !== 200) throw new Error(`legacy-sim settings: HTTP ${response.status}`);
  }

  async stop(): Promise<void> {
    await this.proc.stop(5_000);
  }
}

async function childMain(latencyMs: number): Promise<void> {
  // A small call log: the runs make millions of calls and only the answers matter here.
  const sim = await startLegacySim({ port: 0, latencyMs, maxConcurrency: 0, callCapacity: 1000 });
  const stop = (): void => {
    void sim.close().then(() => process.exit(0));
  };
  process.on("SIGTERM", stop);
  process.on("disconnect", stop);
  process.send?.({ type: "ready", url: sim.url, port: sim.port });
}

if (require.main === module && process.argv.includes("--child")) {
  void childMain(Number(process.argv[process.argv.indexOf("--child") + 1] ?? 0));
}
