// A clean-up sent to Redis after a command whose answer never came (a deadline missed, a
// connection broken): it must reach Redis once it can, or what that command may have taken
// (a claim, an in-flight slot) stays taken until its lease lapses.

import { performance } from "node:perf_hooks";

/** How often the clean-up is sent again while Redis is away. */
const AGAIN_AFTER_MS = 1_000;

/**
 * Sends `action` now and, each time it fails, again a second later, for `forMs` at most (the
 * length of what it gives back: past that, what it fences has lapsed anyway). Never rejects;
 * its timers keep no process alive.
 */
export function untilAnswered(action: () => Promise<unknown>, forMs: number): void {
  const until = performance.now() + forMs;
  const send = (): void => {
    action().catch(() => {
      if (performance.now() + AGAIN_AFTER_MS > until) return;
      setTimeout(send, AGAIN_AFTER_MS).unref();
    });
  };
  send();
}
