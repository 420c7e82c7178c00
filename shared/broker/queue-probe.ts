// Finding out how an existing queue was declared, on throwaway channels: the broker answers a
// declaration that differs from the queue's arguments by closing the channel (PRECONDITION_FAILED),
// so a role that meets a queue an earlier release declared can use it as it is instead of failing.

import type { Channel } from "amqplib";

/** A channel the broker may close, to find out how an existing queue was declared. */
export type ProbeChannel = Pick<Channel, "assertQueue" | "checkQueue" | "close">;

/** The broker refused a declaration because the existing queue was declared otherwise. */
export function isInequivalentDeclaration(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown } | null;
  return (
    e !== null &&
    typeof e === "object" &&
    (e.code === 406 || /PRECONDITION/.test(String(e.message))) &&
    /inequivalent arg/.test(String(e.message))
  );
}

/** Tries a declaration on a probe channel of its own: the broker's error, or null. */
export async function tryDeclare(
  probe: () => Promise<ProbeChannel>,
  queue: string,
  args: Record<string, unknown> | undefined,
): Promise<unknown> {
  const channel = await probe();
  try {
    await channel.assertQueue(queue, { durable: true, arguments: args });
  } catch (err) {
    // The broker closed the probe channel.
    return err;
  }
  await channel.close().catch(() => undefined);
  return null;
}

/** Whether `queue` exists, asked on a probe channel (a passive declaration). */
export async function queueExists(
  probe: () => Promise<ProbeChannel>,
  queue: string,
): Promise<boolean> {
  const channel = await probe();
  try {
    await channel.checkQueue(queue);
  } catch {
    return false;
  }
  await channel.close().catch(() => undefined);
  return true;
}
