// The warning for connections closed at once because adapter.maxConnections are open: they get
// no answer and no access-log line, so this line is how an operator learns of them.

import type { EventEmitter } from "node:events";
import type { Logger } from "pino";
import { ThrottledWarning, type Schedule } from "../shared/observability/throttled-warning";

/**
 * Warns of each connection the server drops at its `maxConnections` (Node's "drop" event), one
 * line per 10 s at most with `count` (as every throttled warning of the adapter) and the cap.
 * The answer stops the warning's timer, logging what its interval counted.
 */
export function warnRefusedConnections(
  server: Pick<EventEmitter, "on">,
  log: Logger,
  maxConnections: number,
  schedule?: Schedule,
): () => void {
  const warning = new ThrottledWarning<"max_connections">(
    log,
    "connections refused: adapter.maxConnections reached",
    10_000,
    schedule,
  );
  server.on("drop", () => warning.note("max_connections", { maxConnections }));
  return () => warning.close();
}
