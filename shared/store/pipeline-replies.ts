// Reading an ioredis pipeline's replies, failures thrown. Apart from the client (store/redis.ts)
// so the operator's entry modules, whose filters the command line parses with, load no client.

import type { ChainableCommander } from "ioredis";

/**
 * A pipeline's replies, in order. ioredis resolves a pipeline whose commands failed (no
 * connection, a command timeout, an error reply) with the errors among the replies: the first
 * one is thrown here, as the command alone would have thrown it, so a caller never reads a
 * failed command's missing reply as data.
 */
export async function pipelineReplies(pipeline: ChainableCommander): Promise<unknown[]> {
  const rows = (await pipeline.exec()) ?? [];
  const failed = rows.find(([error]) => error);
  if (failed) throw failed[0];
  return rows.map(([, reply]) => reply);
}
