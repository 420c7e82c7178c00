// A Redis command's deadline (`redisCommandTimeout`) that the process's own event-loop lag cannot
// trip: only a Redis that let the deadline pass without answering is reported as silent.

import type Redis from "ioredis";
import { TurnDeadlines } from "../runtime/turn-deadlines";

/** The error message of a missed deadline: ioredis's own `commandTimeout` words, kept. */
export const COMMAND_TIMED_OUT = "Command timed out";

/** What ioredis's commands expose to whoever sends them (see ioredis's Command). */
interface SentCommand {
  /** Called by ioredis as methods (`command.resolve(reply)`), never detached. */
  resolve(result: unknown): void;
  reject(error: Error): void;
}

/**
 * Check phases between sending a command and starting its count. ioredis writes a command to
 * the socket as it is sent, and the socket, corked per turn (turn-corked-socket.ts), sends it
 * in the first check phase that begins after the write. Check phases are counted by one
 * immediate per client: queued before that socket's flush, it may count a phase the command
 * has not yet left in (sent from an immediate ahead of it in that phase, or sent in a poll
 * phase when the count's immediate was queued the turn before), never two. Counting from the
 * second counts from after the command left, so a busy turn before it did is not Redis's
 * silence.
 */
export const TURNS_BEFORE_COUNT = 2;

/**
 * Gives every command `client` sends a deadline of `ms` that runs from the moment the command
 * left the process and is declared missed only by a check phase after its timer fired, once
 * the loop has read what the sockets hold. Node runs due timers before it reads sockets, so
 * while a busy turn (say, 30 chunked request bodies being parsed) outlasted the deadline,
 * ioredis's own `commandTimeout` failed commands whose replies were already waiting unread, and
 * the adapter answered 503 for Redis work done in time. A Redis that is truly silent still
 * fails each command once `ms` has passed with the loop free to hear it. A command ioredis
 * sends again (after a reconnect) keeps the deadline it started with. The commands of a client
 * share one immediate per turn and one timer (turn-deadlines.ts): a small record per command,
 * where an immediate, a timer, their closures and a promise reaction each cost several times
 * as much.
 */
export function lagTolerantDeadlines(client: Redis, ms: number): void {
  const send = client.sendCommand.bind(client) as (...args: unknown[]) => unknown;
  const deadlines = new TurnDeadlines<SentCommand>({
    turnsBeforeCount: TURNS_BEFORE_COUNT,
    missed: () => new Error(COMMAND_TIMED_OUT),
  });
  (client as unknown as { sendCommand: unknown }).sendCommand = (
    command: SentCommand,
    ...rest: unknown[]
  ) => {
    // Before it is sent: a command refused as it is sent (no connection) settles at once.
    deadlines.track(command, ms);
    return send(command, ...rest);
  };
}
