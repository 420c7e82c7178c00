// The operator journal: one entry per operator action (a pause, a replay, a cancel, …) from the
// admin port or the CLI, with who asked and what came of it, in a bounded Redis stream. A role's
// log holds only what its own admin port did, and a CLI action was on the operator's terminal.

import os from "node:os";
import type http from "node:http";
import type Redis from "ioredis";
import type { Logger } from "pino";
import type { AdminCredential } from "../observability/admin-route-table";
import { redisKeys } from "../protocol/redis-keys";
import { clipText } from "../protocol/clip-text";

/**
 * About how many entries the stream keeps (`XADD … MAXLEN ~`: Redis trims whole nodes of the
 * stream, so up to a node's worth more may stay). An entry is a few hundred bytes at most, so
 * the journal stays within a few megabytes however long the deployment runs.
 */
export const JOURNAL_MAX_LENGTH = 10_000;

/** The longest text a field keeps: ids and filters come from requests. */
export const JOURNAL_TEXT_MAX = 512;

export type JournalAction =
  | "backend.pause"
  | "backend.resume"
  | "message.cancel"
  | "dead-letter.replay"
  | "dead-letter.replay-bulk"
  | "dead-letter.replay-bulk-dry-run"
  | "dead-letter.discard"
  | "dead-letter.discard-bulk"
  | "dead-letter.discard-bulk-dry-run"
  | "dead-callback.redeliver"
  | "dead-callback.redeliver-bulk"
  | "dead-callback.redeliver-bulk-dry-run"
  | "hub-listener.remove";

/**
 * Who asked. The admin port knows the client's address and how it signed in, never the token
 * or the session id themselves; the CLI knows its own process (it talks to Redis directly).
 */
export type JournalActor =
  | { via: "admin"; remote: string; credential: AdminCredential; instance: string }
  | { via: "cli"; user: string; host: string; pid: number };

export interface JournalOutcome {
  /** `paused`, `replayed`, `already`, `refused`, `not found`, …; a bulk run's `done` or `stopped`. */
  result: string;
  /**
   * A bulk run's results by kind (`replayed`, `already`, `refused`, `skipped`; a dry run's
   * `would replay` or `would redeliver` in place of what it would send).
   */
  counts?: Record<string, number>;
  /** Why it was refused, or what stopped it. */
  error?: string;
}

export interface JournalEntry extends JournalOutcome {
  action: JournalAction;
  /** An id, a backend name, or a bulk run's selection as JSON. */
  target: string;
  /**
   * Why, in the operator's words: a discard by id's note (a bulk discard's is in its selection,
   * its target).
   */
  note?: string;
}

/** An entry as read back, newest first; `at` is the time Redis gave its id. */
export interface JournalRecord extends JournalOutcome {
  id: string;
  at: string;
  action: string;
  target: string;
  note?: string;
  via: string;
  remote?: string;
  credential?: string;
  instance?: string;
  user?: string;
  host?: string;
  pid?: number;
}

/** Writes one entry for one action: who asked is already known. */
export type JournalWrite = (entry: JournalEntry) => Promise<void>;

export class OperatorJournal {
  private readonly key: string;

  /** @param prefix the deployment's prefix, as every other key has it. */
  constructor(
    private readonly redis: Redis,
    prefix: string,
    private readonly log: Logger,
    private readonly maxLength = JOURNAL_MAX_LENGTH,
  ) {
    this.key = redisKeys(prefix).operatorJournal;
  }

  /** Writes entries for `actor`. */
  as(actor: JournalActor): JournalWrite {
    return (entry) => this.record(actor, entry);
  }

  /**
   * Appends an entry. Never throws: the action is done by now, and a journal Redis cannot take
   * (down, silent) must not turn it into an error; the warning names the action instead.
   */
  async record(actor: JournalActor, entry: JournalEntry): Promise<void> {
    const fields: Record<string, string> = {
      action: entry.action,
      target: bounded(entry.target),
      result: bounded(entry.result),
    };
    if (entry.note !== undefined) fields.note = bounded(entry.note);
    if (entry.counts !== undefined) fields.counts = JSON.stringify(entry.counts);
    if (entry.error !== undefined) fields.error = bounded(entry.error);
    for (const [name, value] of Object.entries(actor)) fields[name] = bounded(String(value));
    try {
      // The id (`*`) is Redis's clock: one clock for every writer, however wrong a host's is.
      await this.redis.xadd(
        this.key,
        "MAXLEN",
        "~",
        String(this.maxLength),
        "*",
        ...Object.entries(fields).flat(),
      );
    } catch (error) {
      this.log.warn(
        {
          action: entry.action,
          target: fields.target,
          result: fields.result,
          err: (error as Error)?.message ?? String(error),
        },
        "operator journal not written; the action stands",
      );
    }
  }

  /** The newest `limit` entries, newest first. */
  async newest(limit: number): Promise<JournalRecord[]> {
    const entries = await this.redis.xrevrange(this.key, "+", "-", "COUNT", limit);
    return entries.map(([id, values]) => journalRecord(id, values));
  }
}

/**
 * Runs an operator action and journals it after, whatever came of it: `outcome` of what it
 * resolved to, or the error it threw (Redis stopped answering: it may or may not have taken
 * effect), which is then thrown on.
 */
export async function journaled<T>(
  write: JournalWrite,
  action: JournalAction,
  target: string,
  run: () => Promise<T>,
  outcome: (value: T) => JournalOutcome,
  /** The operator's note of why, journaled whatever came of the action. */
  note?: string,
): Promise<T> {
  const asked = note === undefined ? { action, target } : { action, target, note };
  let value: T;
  try {
    value = await run();
  } catch (error) {
    await write({ ...asked, result: "error", error: (error as Error)?.message ?? "" });
    throw error;
  }
  await write({ ...asked, ...outcome(value) });
  return value;
}

/** The admin port's client: its address (a proxy's, behind one) and how it signed in. */
export function adminActor(
  req: http.IncomingMessage,
  credential: AdminCredential,
  instance: string,
): JournalActor {
  return { via: "admin", remote: req.socket.remoteAddress ?? "", credential, instance };
}

/**
 * The CLI's own process. A uid with no user name (a container run under an arbitrary uid) makes
 * `os.userInfo` throw: the uid is recorded instead, and the action still runs.
 */
export function cliActor(userInfo: () => { username: string } = os.userInfo): JournalActor {
  let user: string;
  try {
    user = userInfo().username;
  } catch {
    user = `uid ${process.getuid?.() ?? "unknown"}`;
  }
  return { via: "cli", user, host: os.hostname(), pid: process.pid };
}

/** `text` cut to JOURNAL_TEXT_MAX characters, marked with `…` when it was cut. */
export function bounded(text: string, max = JOURNAL_TEXT_MAX): string {
  return clipText(text, max);
}

function journalRecord(id: string, values: string[]): JournalRecord {
  const fields = new Map<string, string>();
  for (let i = 0; i + 1 < values.length; i += 2) fields.set(values[i], values[i + 1]);
  const record: JournalRecord = {
    id,
    at: new Date(Number(id.split("-")[0])).toISOString(),
    action: fields.get("action") ?? "",
    target: fields.get("target") ?? "",
    result: fields.get("result") ?? "",
    via: fields.get("via") ?? "",
  };
  const counts = fields.get("counts");
  if (counts !== undefined) record.counts = parsedCounts(counts);
  for (const name of [
    "note",
    "error",
    "remote",
    "credential",
    "instance",
    "user",
    "host",
  ] as const) {
    const value = fields.get(name);
    if (value !== undefined) record[name] = value;
  }
  const pid = fields.get("pid");
  if (pid !== undefined) record.pid = Number(pid);
  return record;
}

/** A bulk run's counts as written; anything else (a hand-written entry) reads as none. */
function parsedCounts(text: string): Record<string, number> {
  try {
    const parsed: unknown = JSON.parse(text);
    return parsed !== null && typeof parsed === "object" && !Array.isArray(parsed)
      ? (parsed as Record<string, number>)
      : {};
  } catch {
    return {};
  }
}
