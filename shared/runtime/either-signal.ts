// A signal aborted when either of two signals aborts, made once per pair and kept while both are.
// AbortSignal.any enters the signal it makes in each source's set of dependants: on Node 20 that
// entry stays after the signal is collected, and a signal with an abort listener left on it is
// never collected on any Node while its sources live. A worker made one or two per message on its
// role-long drain signal and its channel's, and kept them all: memory that only grew.

import { setMaxListeners } from "node:events";

const pairs = new WeakMap<AbortSignal, WeakMap<AbortSignal, AbortSignal>>();

/**
 * Aborts when `first` or `second` does, with its reason. The same two signals give the same
 * signal, so messages that wait on the same drain and channel share one; a waiter must remove
 * the listener it adds (every wait here does), as the signal outlives it.
 */
export function eitherSignal(first: AbortSignal, second: AbortSignal): AbortSignal {
  let bySecond = pairs.get(first);
  if (!bySecond) {
    bySecond = new WeakMap();
    pairs.set(first, bySecond);
  }
  let either = bySecond.get(second);
  if (!either) {
    either = AbortSignal.any([first, second]);
    // Every message waiting at once listens to it: many listeners are normal.
    setMaxListeners(0, either);
    bySecond.set(second, either);
  }
  return either;
}

/** A signal of one wait's own, and how to take its listeners off its sources once it ended. */
export interface LinkedSignal {
  signal: AbortSignal;
  dispose(): void;
}

/**
 * Aborts when any of `sources` does, with its reason, until `dispose`: for a wait on a signal
 * of its own message (its expiry) and a long-lived one, where AbortSignal.any would leave its
 * signal entered in the long-lived one.
 */
export function linkedSignal(sources: readonly AbortSignal[]): LinkedSignal {
  const controller = new AbortController();
  const onAbort = (event: Event): void => {
    dispose();
    controller.abort((event.target as AbortSignal).reason);
  };
  const dispose = (): void => {
    for (const source of sources) source.removeEventListener("abort", onAbort);
  };
  const aborted = sources.find((source) => source.aborted);
  if (aborted) controller.abort(aborted.reason);
  else for (const source of sources) source.addEventListener("abort", onAbort, { once: true });
  return { signal: controller.signal, dispose };
}
