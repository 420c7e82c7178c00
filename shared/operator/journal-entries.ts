// What the operator journal says of each action, the same whether the admin port or the CLI
// took it: the target a bulk run had (its selection) and the outcome of every kind of action.

import { shownCallbackTarget } from "../delivery/callback-target";
import { conflictMessage, type OperatorCancel } from "./operator-cancel";
import type { DeadCallbackFilter } from "./dead-callbacks";
import type { DeadLetterFilter } from "./dead-letters";
import type { JournalOutcome } from "./operator-journal";

/** A pause or resume: the state it left, or `already` when that was the state before (a repeat). */
export function pauseOutcome(change: { paused: boolean; already: boolean }): JournalOutcome {
  if (change.already) return { result: "already" };
  return { result: change.paused ? "paused" : "resumed" };
}

/** A hub listener's removal: there was one to remove, or not. */
export function removalOutcome(removed: unknown): JournalOutcome {
  return { result: removed === null ? "not found" : "removed" };
}

/** An operator's cancel: done now, done before (`already`), no such message, or refused. */
export function cancelOutcome(cancelled: OperatorCancel): JournalOutcome {
  switch (cancelled.result) {
    case "cancelled":
      return { result: "cancelled" };
    case "repeated":
      return { result: "already" };
    case "missing":
      return { result: "not found" };
    case "conflict":
      return { result: "refused", error: conflictMessage(cancelled.state) };
  }
}

/**
 * A replay or redelivery of one entry: its result, `not found` when there is no such entry
 * (`missing` is that refusal's error), and a refusal's reason.
 */
export function oneOutcome(
  done: { result: string; error?: string },
  missing: string,
): JournalOutcome {
  if (done.result === "refused" && done.error === missing) return { result: "not found" };
  return done.error === undefined
    ? { result: done.result }
    : { result: done.result, error: done.error };
}

/**
 * A bulk replay or redelivery: `done`, or `stopped` at an error, with how many of its entries
 * came to each result (`sent` names the result of one made now: `replayed`, `redelivered`; in a
 * dry run, of one it would make: `would replay`, `would redeliver`).
 */
export function runOutcome(
  sent:
    "replayed" | "redelivered" | "discarded" | "would replay" | "would redeliver" | "would discard",
  run: { results: Array<{ result: string }>; skipped: unknown[]; failure?: string },
  /** The run was told to stop (Ctrl-C, SIGTERM) before its last entry. */
  interrupted = false,
): JournalOutcome {
  const counts: Record<string, number> = { [sent]: 0, already: 0, refused: 0 };
  for (const { result } of run.results) counts[result] = (counts[result] ?? 0) + 1;
  counts.skipped = run.skipped.length;
  if (run.failure !== undefined) return { result: "stopped", counts, error: run.failure };
  // Journaled as `done`, a run cut short by Ctrl-C read as one that had done all it selected.
  return interrupted
    ? { result: "stopped", counts, error: RUN_INTERRUPTED }
    : { result: "done", counts };
}

/** Why a bulk run told to stop (Ctrl-C, SIGTERM) before its last entry ended. */
export const RUN_INTERRUPTED = "interrupted: the process was told to stop; ask again for the rest";

/**
 * A bulk replay's or discard's selection: its filter, or `all`, and its limit; a discard's
 * `note` (why, in the operator's words) after them.
 */
export function deadLetterSelection(
  filter: DeadLetterFilter,
  limit: number,
  note?: string,
): string {
  return selection(filter, limit, note);
}

/**
 * A bulk redelivery's selection. A callback URL's query may hold the caller's token, so a
 * target or receiver given as a full URL is kept as operator views show it (values redacted).
 */
export function deadCallbackSelection(filter: DeadCallbackFilter, limit: number): string {
  const shown: DeadCallbackFilter = { ...filter };
  for (const key of ["target", "receiver"] as const) {
    const value = filter[key];
    if (value !== undefined) shown[key] = shownCallbackTarget(value);
  }
  return selection(shown, limit);
}

function selection(filter: { until?: number }, limit: number, note?: string): string {
  const { until, ...named } = filter;
  return JSON.stringify({
    ...(Object.keys(named).length === 0 ? { all: true } : named),
    ...(until === undefined ? {} : { until: new Date(until).toISOString() }),
    limit,
    ...(note === undefined ? {} : { note }),
  });
}
