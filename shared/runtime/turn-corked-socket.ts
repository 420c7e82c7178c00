// Coalesces what a connection writes during one turn of the event loop into one system call:
// the first write of a turn corks the socket and the check phase of that turn uncorks it.

import type { Writable } from "node:stream";

const CORKED = Symbol("sluice.turnCorked");

type Corkable = Writable & { [CORKED]?: true };

/**
 * Makes `socket` send everything written to it in one turn as one `writev` when the turn
 * ends. amqplib writes each frame of each channel separately and ioredis each pipeline: with
 * many messages in flight that is one syscall (and one packet the broker or Redis must read)
 * per frame. Nagle's algorithm would merge them too, but only by holding a small write until
 * the peer's ACK arrives; this holds it at most until the current turn's callbacks have run,
 * with no timer, so a lone publish leaves as soon as it would have. Idempotent per socket.
 */
export function corkPerTurn(socket: Writable): void {
  const target = socket as Corkable;
  if (target[CORKED]) return;
  target[CORKED] = true;
  const write = target.write.bind(target) as (...args: unknown[]) => boolean;
  let corked = false;
  let flush: NodeJS.Immediate | undefined;
  const uncork = () => {
    corked = false;
    // A socket destroyed meanwhile drops its buffered writes either way.
    if (!target.destroyed) target.uncork();
  };
  target.write = ((...args: unknown[]) => {
    if (!corked && !target.destroyed) {
      corked = true;
      target.cork();
      // setImmediate, not nextTick: writes made from later promise callbacks and socket reads
      // of this same turn join the batch.
      flush = setImmediate(uncork);
    }
    const accepted = write(...args);
    // A batch as large as the stream's buffer goes out at once: a big message body arrives in
    // many frames, and a writer waiting for `drain` would otherwise move one buffer per turn.
    if (corked && target.writableLength >= target.writableHighWaterMark) {
      clearImmediate(flush);
      uncork();
    }
    return accepted;
  }) as Writable["write"];
}
