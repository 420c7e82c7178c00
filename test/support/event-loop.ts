// The event loop as the deadline tests drive it: turns let to end, a loop kept busy, and the
// timers and immediates code under test makes, counted.

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

/** How many timers and immediates were made while `run` ran (these helpers' own not counted). */
export async function timersMade(
  run: (made: { timers: number; immediates: number }) => Promise<void>,
): Promise<void> {
  const made = { timers: 0, immediates: 0 };
  globalThis.setTimeout = ((...args: Parameters<typeof realSetTimeout>) => {
    made.timers++;
    return realSetTimeout(...args);
  }) as typeof setTimeout;
  globalThis.setImmediate = ((...args: Parameters<typeof realSetImmediate>) => {
    made.immediates++;
    return realSetImmediate(...args);
  }) as typeof setImmediate;
  try {
    await run(made);
  } finally {
    globalThis.setTimeout = realSetTimeout;
    globalThis.setImmediate = realSetImmediate;
  }
}
