// Samples a process's resident memory (VmRSS in /proc/<pid>/status) while a run lasts, so
// memory runs report idle, peak and end figures for the adapter process alone.

import { readFileSync } from "node:fs";
import { round, type MemoryStats } from "./bench-result";

/** Resident set size of `pid` in MB, or null once the process is gone. */
export function rssMb(pid: number): number | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const kb = /^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1];
    return kb === undefined ? null : Number(kb) / 1024;
  } catch {
    return null;
  }
}

export class RssSampler {
  private readonly idle: number;
  private peak: number;
  private count = 0;
  private timer: NodeJS.Timeout | null = null;
  /** [seconds since start, MB] pairs, for plotting memory over time. */
  readonly series: Array<[number, number]> = [];
  private readonly started = Date.now();

  constructor(
    private readonly pid: number,
    intervalMs = 250,
  ) {
    this.idle = rssMb(pid) ?? 0;
    this.peak = this.idle;
    this.timer = setInterval(() => this.sample(), intervalMs);
    this.timer.unref();
  }

  sample(): number | null {
    const mb = rssMb(this.pid);
    if (mb === null) return null;
    this.count++;
    if (mb > this.peak) this.peak = mb;
    this.series.push([round((Date.now() - this.started) / 1000, 1), round(mb, 1)]);
    return mb;
  }

  stop(): MemoryStats {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    const end = this.sample() ?? this.series.at(-1)?.[1] ?? 0;
    return {
      idleMb: round(this.idle, 1),
      peakMb: round(this.peak, 1),
      endMb: round(end, 1),
      samples: this.count,
    };
  }
}
