// One shutdown deadline for every role of a process: `shutdown.grace` after the signal, all
// roles together drain within it (the adapter first), so `sluice all` exits 0 in time.

import type { Logger } from "pino";

export class ShutdownDeadline {
  /** Epoch ms when draining must be over. */
  readonly at: number;
  private readonly controller = new AbortController();
  private readonly timer: NodeJS.Timeout;

  constructor(graceMs: number, now = Date.now()) {
    this.at = now + graceMs;
    this.timer = setTimeout(
      () => this.controller.abort(new Error("shutdown grace time over")),
      Math.max(0, graceMs),
    );
    this.timer.unref();
  }

  /** Aborts when the grace time is over. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  get passed(): boolean {
    return this.controller.signal.aborted;
  }

  /** Waits for `work` until the deadline; true when it settled in time. */
  async within(work: Promise<unknown>): Promise<boolean> {
    if (this.passed) return false;
    let onAbort: (() => void) | undefined;
    const over = new Promise<false>((resolve) => {
      onAbort = () => resolve(false);
      this.signal.addEventListener("abort", onAbort, { once: true });
    });
    try {
      return await Promise.race([
        work.then(
          () => true,
          () => true,
        ),
        over,
      ]);
    } finally {
      if (onAbort) this.signal.removeEventListener("abort", onAbort);
    }
  }

  dispose(): void {
    clearTimeout(this.timer);
  }
}

/** A role running on a runtime: it drains (stops intake, finishes work) and then closes. */
export interface DrainingRole {
  name: string;
  /** Stops taking work and finishes what it holds, handing back what is unfinished at `deadline`. */
  drain(deadline: ShutdownDeadline): Promise<void>;
  close(): Promise<void>;
}

/**
 * Drains the roles of a process in reverse start order (intake first) against one deadline,
 * then closes them. Each role gets what is left of the grace time, never a grace of its own.
 */
export async function drainRoles(
  roles: readonly DrainingRole[],
  graceMs: number,
  log?: Logger,
): Promise<void> {
  const deadline = new ShutdownDeadline(graceMs);
  try {
    for (const role of [...roles].reverse()) {
      await role
        .drain(deadline)
        .catch((e: Error) => log?.warn({ err: e.message, role: role.name }, "drain failed"));
    }
  } finally {
    deadline.dispose();
  }
  for (const role of roles) await role.close().catch(() => undefined);
}
