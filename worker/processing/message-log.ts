// The lines a worker writes about one message, each carrying the message's identifiers. Not a
// pino child per message: pino serialises (and redacts) a child's bindings when the child is
// made, whatever the level, and most messages write no line at all at `warn`.

import type { Logger } from "pino";
import type { MessageRef } from "../../shared/observability/logger";

type Level = "info" | "warn" | "error";

/** Writes what `messageLogger(root, ref)` would, with the identifiers merged into each line. */
export class MessageLog {
  constructor(
    private readonly root: Logger,
    private readonly ref: MessageRef,
  ) {}

  info(details: object | string, message?: string): void {
    this.write("info", details, message);
  }

  warn(details: object | string, message?: string): void {
    this.write("warn", details, message);
  }

  error(details: object | string, message?: string): void {
    this.write("error", details, message);
  }

  private write(level: Level, details: object | string, message?: string): void {
    if (!this.root.isLevelEnabled(level)) return;
    const { id, xroadId, client } = this.ref;
    const ids = { id, xroadId: xroadId ?? null, client: client ?? null };
    if (typeof details === "string") this.root[level](ids, details);
    // Added to the fresh identifiers, not spread into a new object: V8 builds spreads followed
    // by more fields on a slow path, several microseconds per line.
    else this.root[level](Object.assign(ids, details), message);
  }
}
