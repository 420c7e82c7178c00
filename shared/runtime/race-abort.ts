// A wait that gives way to an abort: the worker's line of waits and the SOAP translator's calls
// each end as soon as their signal aborts, whatever they were waiting on.

/** `work`, or what `onAbort` gives (or throws) as soon as `signal` aborts. */
export function raceAbort<T>(signal: AbortSignal, work: Promise<T>, onAbort: () => T): Promise<T> {
  if (signal.aborted) return Promise.resolve().then(onAbort);
  return new Promise<T>((resolve, reject) => {
    const abort = () => {
      try {
        resolve(onAbort());
      } catch (error) {
        reject(error);
      }
    };
    signal.addEventListener("abort", abort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener("abort", abort));
  });
}
