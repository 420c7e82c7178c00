// A Redis command's deadline (`redisCommandTimeout`) that the process's own event-loop lag cannot
// trip: only a Redis that let the deadline pass without answering is reported as silent.

import type Redis from "ioredis";

/** The error message of a missed deadline: ioredis's own `commandTimeout` words, kept. */
export const COMMAND_TIMED_OUT = "Command timed out";

/** What ioredis's commands expose to whoever sends them (see ioredis's Command). */
interface SentCommand {
  isResolved: boolean;
  promise: Promise<unknown>;
  reject(error: Error): void;
}

/**
 * Gives every command `client` sends a deadline of `ms` that runs from the moment the command
 * left the process (turn-corked sockets write in the check phase of the turn that sent it) and
 * is declared missed only by a poll phase that began after it passed: when the timer fires, the
 * loop first reads what the sockets hold. Node runs due timers before it reads sockets, so while
 * a busy turn (say, 30 chunked request bodies being parsed) outlasted the deadline, ioredis's own
 * `commandTimeout` failed commands whose replies were already waiting unread, and the adapter
 * answered 503 for Redis work done in time. A Redis that is truly silent still fails each
 * command once `ms` has passed with the loop free to hear it.
 */
export function lagTolerantDeadlines(client: Redis, ms: number): void {
  const send = client.sendCommand.bind(client) as (...args: unknown[]) => unknown;
  (client as unknown as { sendCommand: unknown }).sendCommand = (
    command: SentCommand,
    ...rest: unknown[]
  ) => {
    const result = send(command, ...rest);
    if (command.isResolved) return result;
    let timer: NodeJS.Timeout | undefined;
    let immediate = setImmediate(() => {
      timer = setTimeout(() => {
        immediate = setImmediate(() => {
          if (!command.isResolved) command.reject(new Error(COMMAND_TIMED_OUT));
        });
      }, ms);
    });
    const settled = () => {
      clearImmediate(immediate);
      clearTimeout(timer);
    };
    command.promise.then(settled, settled);
    return result;
  };
}
