// A process that stands still as a stopped (SIGSTOP), paused or CPU-starved one does: a busy
// loop holds the whole process, its event loop and every server in it, until the given moment.

import { performance } from "node:perf_hooks";

/** The timings of the stall tests: a deadline, an answer well within it, a stall past it. */
export const STALL_TIMINGS = {
  /** The call's timeout; the answers come well within it. */
  timeoutMs: 1500,
  /** When the other side answers. */
  answerMs: 100,
  /** How far past the deadline the process stands still. */
  pastDeadlineMs: 700,
};

/** Holds the whole process, event loop and all, until `until` on the monotonic clock. */
export function standStill(until: number): void {
  while (performance.now() < until) {
    // The stall: nothing else in this process runs meanwhile.
  }
}
