// What the two halves of the naive durable sync round trip (naive-sync-server.ts and
// naive-sync-worker.ts) share: the queue, the answers channel and the keys of one run's prefix,
// and the answer the worker publishes.

/** What the worker publishes on the answers channel. */
export interface NaiveAnswer {
  id: string;
  status: number;
  contentType: string;
  body: string;
}

export const naiveSyncNames = (prefix: string) => ({
  queue: `${prefix}naive.sync`,
  answers: `${prefix}naive.answers`,
  /** The SCAN pattern of every key the run writes. */
  keys: `${prefix}naive:*`,
  result: (id: string) => `${prefix}naive:result:${id}`,
});
