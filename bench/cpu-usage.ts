// CPU time each process spends during a measured window (utime + stime from /proc), so a run
// can say what a request costs in CPU and which process of the 2-core machine is the limit.

import { readdirSync, readFileSync } from "node:fs";
import { round, type CpuShare } from "./bench-result";

const TICKS_PER_S = 100;

export interface WatchedProcess {
  name: string;
  pid: number;
}

function cpuTicks(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return null;
  }
}

function rssKb(pid: number): number {
  try {
    return Number(/^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0);
  } catch {
    return 0;
  }
}

/** The machine's busy and total ticks over all cores (first line of /proc/stat). */
function machineTicks(): { busy: number; total: number } {
  const line = readFileSync("/proc/stat", "utf8").split("\n")[0];
  const values = line.trim().split(/\s+/).slice(1).map(Number);
  const total = values.slice(0, 8).reduce((a, b) => a + b, 0);
  const idle = values[3] + (values[4] ?? 0);
  return { busy: total - idle, total };
}

/** The shared RabbitMQ and Redis servers of this machine, found by process name. */
export function serviceProcesses(): WatchedProcess[] {
  const found: Array<WatchedProcess & { rss: number }> = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    let comm: string;
    try {
      comm = readFileSync(`/proc/${entry}/comm`, "utf8").trim();
    } catch {
      continue;
    }
    if (comm === "beam.smp" || comm === "redis-server") {
      const pid = Number(entry);
      found.push({ name: comm === "beam.smp" ? "rabbitmq" : "redis", pid, rss: rssKb(pid) });
    }
  }
  // Short-lived beam.smp processes (rabbitmqctl) come and go; the broker is the largest.
  const pick = (name: string): WatchedProcess[] =>
    found
      .filter((p) => p.name === name)
      .sort((a, b) => b.rss - a.rss)
      .slice(0, 1)
      .map(({ name: n, pid }) => ({ name: n, pid }));
  return [...pick("rabbitmq"), ...pick("redis")];
}

/** CPU seconds each watched process (and the machine, as `machine`) used in one window. */
export interface CpuSample {
  seconds: number;
  cpuS: Record<string, number>;
}

export class CpuWindow {
  private readonly start = new Map<number, number>();
  private readonly startMachine = machineTicks();
  private readonly startedAt = process.hrtime.bigint();

  constructor(private readonly watched: WatchedProcess[]) {
    for (const p of watched) this.start.set(p.pid, cpuTicks(p.pid) ?? 0);
  }

  stop(): CpuSample {
    const seconds = Number(process.hrtime.bigint() - this.startedAt) / 1e9;
    const cpuS: Record<string, number> = {};
    for (const p of this.watched) {
      const end = cpuTicks(p.pid);
      if (end === null) continue;
      cpuS[p.name] = (cpuS[p.name] ?? 0) + (end - (this.start.get(p.pid) ?? end)) / TICKS_PER_S;
    }
    cpuS.machine = (machineTicks().busy - this.startMachine.busy) / TICKS_PER_S;
    return { seconds, cpuS };
  }
}

/** Per-process shares over one or more windows in which `requests` requests completed. */
export function cpuShares(samples: CpuSample[], requests: number): CpuShare[] {
  const seconds = samples.reduce((sum, s) => sum + s.seconds, 0);
  const totals = new Map<string, number>();
  for (const sample of samples) {
    for (const [name, cpuS] of Object.entries(sample.cpuS)) {
      totals.set(name, (totals.get(name) ?? 0) + cpuS);
    }
  }
  // What the machine spent beyond the watched processes: other work on the shared machine,
  // and kernel time (loopback TCP, softirq) charged to no process.
  const watchedS = [...totals].reduce(
    (sum, [name, cpuS]) => (name === "machine" ? sum : sum + cpuS),
    0,
  );
  totals.set("others", Math.max(0, (totals.get("machine") ?? 0) - watchedS));
  return [...totals].map(([name, cpuS]) => ({
    name,
    cores: round(seconds > 0 ? cpuS / seconds : 0, 2),
    msPerRequest: round(requests > 0 ? (cpuS * 1000) / requests : 0, 3),
  }));
}

/** Cores the machine keeps busy over `seconds` before anything of the benchmark runs. */
export async function backgroundLoad(seconds: number): Promise<number> {
  const start = machineTicks();
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  const end = machineTicks();
  return round((end.busy - start.busy) / TICKS_PER_S / seconds, 2);
}
