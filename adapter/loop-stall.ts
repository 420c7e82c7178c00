// Refuses a body's work while this process's event loop is stalled. A well-formed ~1 MB SOAP
// envelope of small elements costs the reader a few tenths of a second, within every limit;
// two hundred sent at once finished their uploads together and were each read in the same turn
// of the loop, one after another, and everything else the process serves (other callers' acks,
// the worker's calls, broker heartbeats) waited behind them for half a minute. A request whose
// body arrives while the loop has not come round for `limitMs` is answered 503 Busy instead,
// before its body is read into a document: that is the load the process cannot take now.

import { SluiceError } from "../shared/protocol/errors";
import { metrics } from "../shared/observability/metrics";

/** How often the loop's heartbeat is due; its lateness is the stall. */
const BEAT_MS = 25;

export class LoopStall {
  private lastBeat: number;
  private timer: NodeJS.Timeout | null = null;

  /** `now`: a monotonic clock in ms; `limitMs` 0 turns the refusal off. */
  constructor(
    private readonly limitMs: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.lastBeat = now();
  }

  start(): void {
    if (this.timer !== null || this.limitMs === 0) return;
    this.lastBeat = this.now();
    this.timer = setInterval(() => (this.lastBeat = this.now()), BEAT_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  /** How long past its due time the heartbeat is: how long this turn of the loop has run. */
  stalledMs(): number {
    return Math.max(0, this.now() - this.lastBeat - BEAT_MS);
  }

  /** Throws 503 Busy while the loop is stalled for longer than the limit. */
  refuseIfStalled(): void {
    if (this.timer === null || this.stalledMs() <= this.limitMs) return;
    metrics.backpressureRejections.inc({ reason: "loop_stalled" });
    throw new SluiceError("Busy", "the adapter is overloaded; retry later", { retryAfter: 1 });
  }
}

/** The adapter process's guard (off until its role starts it with the configured limit). */
let current: LoopStall | null = null;

export function startLoopStallGuard(limitMs: number): LoopStall {
  current?.stop();
  current = new LoopStall(limitMs);
  current.start();
  return current;
}

export function stopLoopStallGuard(): void {
  current?.stop();
  current = null;
}

/** See LoopStall.refuseIfStalled; nothing while no guard runs. */
export function refuseIfStalled(): void {
  current?.refuseIfStalled();
}
