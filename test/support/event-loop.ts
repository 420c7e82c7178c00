// The event loop as the deadline tests drive it: turns let to end, a loop kept busy, and the
// timers and immediates code under test makes, counted.

import { AsyncLocalStorage } from "node:async_hooks";

const realSetImmediate = setImmediate;
const realSetTimeout = setTimeout;

/** Lets `count` turns of the event loop end (each with its check phase). */
export async function turns(count: number): Promise<void> {
  for (let i = 0; i < count; i++) await new Promise((resolve) => realSetImmediate(resolve));
}

/** Keeps the event loop busy for `ms` (as parsing many request bodies does): nothing else runs. */
export function busy(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // nothing: the loop is blocked
  }
}

/**
 * How many timers and immediates `run` made, and what it started made (these helpers' own not
 * counted). Only calls in `run`'s own asynchronous context count: a timer an earlier test left
 * behind can fire inside the window on a loaded machine, and what it schedules is not this test's.
 */
export async function timersMade(
  run: (made: { timers: number; immediates: number }) => Promise<void>,
): Promise<void> {
  const made = { timers: 0, immediates: 0 };
  const context = new AsyncLocalStorage<typeof made>();
  globalThis.setTimeout = ((...args: Parameters<typeof realSetTimeout>) => {
    if (context.getStore() === made) made.timers++;
    return realSetTimeout(...args);
  }) as typeof setTimeout;
  globalThis.setImmediate = ((...args: Parameters<typeof realSetImmediate>) => {
    if (context.getStore() === made) made.immediates++;
    return realSetImmediate(...args);
  }) as typeof setImmediate;
  try {
    await context.run(made, () => run(made));
  } finally {
    globalThis.setTimeout = realSetTimeout;
    globalThis.setImmediate = realSetImmediate;
  }
}
