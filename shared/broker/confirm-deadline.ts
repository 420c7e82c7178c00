// A broker confirm's deadline (a channel's confirm timeout, `adapter.publishTimeout`) that the
// process's own event-loop lag cannot trip: only a broker that let it pass unconfirmed is slow.

import type { ChannelWrapper } from "amqp-connection-manager";

/** A publish as amqp-connection-manager 4.1's ChannelWrapper queues it (its internals). */
interface QueuedPublish {
  resolve(result: unknown): void;
  reject(error: Error): void;
  /** Set when it gave up: a confirm (or a closed channel) that comes later is ignored. */
  isTimedout: boolean;
}

/** What of the wrapper this reaches into: 4.1 has no hook for its publish timeout. */
interface WrapperInternals {
  /** Publishes not yet sent (sent when a channel is open and has room). */
  _messages: QueuedPublish[];
  /** Publishes sent and not yet confirmed. */
  _unconfirmedMessages: QueuedPublish[];
  /** Queues a publish; its own timer (`timeout`) would start here. */
  _enqueueMessage(message: QueuedPublish, timeout?: number): void;
}

/**
 * Turns between queueing a publish and starting its count: amqplib hands the frames to the
 * socket from an immediate of its own, and the socket, corked per turn (turn-corked-socket.ts),
 * sends what was written in a check phase at the next one. Counting from the third check phase
 * counts from after the frames left, so a busy turn before they did is not the broker's silence.
 */
export const TURNS_BEFORE_COUNT = 3;

/**
 * Gives every publish on `wrapper` a confirm deadline of `ms` (or the publish's own `timeout`
 * option) in place of the library's `publishTimeout`, which must be left unset. The library's
 * timer ran from the moment the publish was queued and fired in the timers phase, before the
 * loop read the sockets: when a busy turn (say, 30 large request bodies parsed on a loaded
 * machine) outlasted it, a confirm already waiting unread was taken for a broker too slow, and
 * the adapter answered 503 for a message the broker had confirmed in time. This deadline runs
 * from when the frames left the process and is declared missed only by a check phase after the
 * timer fired, once the loop has read what the sockets hold. A publish that misses it ends as
 * the library's own timeout ended it, so what follows is unchanged: it is taken off the
 * wrapper's queues (a channel opened again sends what they hold: never behind a caller told it
 * failed), a confirm or a closed channel that comes later is ignored, and it fails "timeout".
 */
export function lagTolerantConfirmDeadlines(wrapper: ChannelWrapper, ms: number): void {
  const internals = wrapper as unknown as WrapperInternals;
  if (
    typeof internals._enqueueMessage !== "function" ||
    !Array.isArray(internals._messages) ||
    !Array.isArray(internals._unconfirmedMessages)
  ) {
    // Without this, publishes would wait for their confirm for ever.
    throw new Error("amqp-connection-manager's ChannelWrapper changed: no confirm deadline");
  }
  const enqueue = internals._enqueueMessage.bind(internals);
  internals._enqueueMessage = (message: QueuedPublish, timeout?: number) => {
    const deadlineMs = timeout || ms;
    if (!deadlineMs) {
      enqueue(message);
      return;
    }
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    let immediate: NodeJS.Immediate | undefined;
    const { resolve, reject } = message;
    const done = () => {
      settled = true;
      clearImmediate(immediate);
      clearTimeout(timer);
    };
    message.resolve = (result) => {
      done();
      resolve(result);
    };
    message.reject = (error) => {
      done();
      reject(error);
    };
    const expire = () => {
      if (settled) return;
      // As the library's own timeout does: off whichever queue holds it, never sent again.
      for (const queue of [internals._messages, internals._unconfirmedMessages]) {
        const at = queue.indexOf(message);
        if (at !== -1) queue.splice(at, 1);
      }
      message.isTimedout = true;
      message.reject(new Error("timeout"));
    };
    const count = (turnsLeft: number) => {
      immediate = setImmediate(() => {
        if (turnsLeft > 1) {
          count(turnsLeft - 1);
          return;
        }
        timer = setTimeout(() => {
          // Due timers run before the loop reads the sockets: the check phase comes after it.
          immediate = setImmediate(expire);
        }, deadlineMs);
      });
    };
    count(TURNS_BEFORE_COUNT);
    // No `timeout`: the library starts no timer of its own.
    enqueue(message);
  };
}
