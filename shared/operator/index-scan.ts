// Reading an operator index (dead letters, dead callbacks: ids in a sorted set by time) a batch
// at a time, each batch's records in one pipeline, until enough of them match.

import type Redis from "ioredis";
import type { ChainableCommander } from "ioredis";
import { pipelineReplies } from "../store/pipeline-replies";

const BATCH = 200;

export interface IndexScan<T> {
  /** Queues the commands that read one id's record. */
  read(pipeline: ChainableCommander, id: string): unknown;
  /** The record from those commands' replies; null when it is gone (outlived its retention). */
  decode(replies: unknown[]): T | null;
  /** Whether a record is one the caller asked for. */
  keep(entry: T): boolean;
}

/**
 * The records of `ids` (in the index's order) that `scan.keep` accepts, at most `limit`, and
 * the ids whose record is gone, for the caller to drop from its index. A failed read (Redis
 * out of reach, a command timeout) is thrown, never read as a gone record.
 */
export async function scanIndex<T>(
  redis: Redis,
  ids: string[],
  limit: number,
  scan: IndexScan<T>,
): Promise<{ found: T[]; gone: string[] }> {
  const found: T[] = [];
  const gone: string[] = [];
  for (let start = 0; start < ids.length && found.length < limit; start += BATCH) {
    const batch = ids.slice(start, start + BATCH);
    const pipeline = redis.pipeline();
    for (const id of batch) scan.read(pipeline, id);
    const replies = await pipelineReplies(pipeline);
    const perId = replies.length / batch.length;
    batch.forEach((id, i) => {
      const entry = scan.decode(replies.slice(i * perId, (i + 1) * perId));
      if (entry === null) gone.push(id);
      else if (found.length < limit && scan.keep(entry)) found.push(entry);
    });
  }
  return { found, gone };
}
