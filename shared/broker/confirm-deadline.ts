// A broker confirm's deadline (a channel's confirm timeout, `adapter.publishTimeout`) that the
// process's own event-loop lag cannot trip: only a broker that let it pass unconfirmed is slow.

import type { ChannelWrapper } from "amqp-connection-manager";
import { TurnDeadlines } from "../runtime/turn-deadlines";

/** A publish as amqp-connection-manager 4.1's ChannelWrapper queues it (its internals). */
interface QueuedPublish {
  /** Called by the wrapper as a method (`message.resolve(...)`), as is `reject`. */
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
 * Check phases are counted by one immediate per channel and turn: a publish queued by another
 * immediate that runs before it in the same phase has that phase counted, and its count starts
 * in the phase its frames leave in, just after they did (their immediates were queued first).
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
  // About 100 bytes of heap per publish awaiting its confirm; a timer and three immediates per
  // publish, with their closures, cost 750 and made as much garbage.
  const deadlines = new TurnDeadlines<QueuedPublish>({
    turnsBeforeCount: TURNS_BEFORE_COUNT,
    missed(publish) {
      // As the library's own timeout does: off whichever queue holds it, never sent again.
      for (const queue of [internals._messages, internals._unconfirmedMessages]) {
        const at = queue.indexOf(publish);
        if (at !== -1) queue.splice(at, 1);
      }
      publish.isTimedout = true;
      return new Error("timeout");
    },
  });
  const enqueue = internals._enqueueMessage.bind(internals);
  internals._enqueueMessage = (message: QueuedPublish, timeout?: number) => {
    const deadlineMs = timeout || ms;
    if (deadlineMs) deadlines.track(message, deadlineMs);
    // No `timeout`: the library starts no timer of its own.
    enqueue(message);
  };
}
