// `sluice journal`: the operator journal from a shell, newest first, as GET /admin/journal
// answers it: who paused, cancelled, replayed, redelivered or removed what, from where.

import type { JournalRecord } from "../shared/operator/operator-journal";
import { LIST_LIMIT } from "../shared/operator/selection-limit";
import { cutText } from "../shared/protocol/clip-text";
import type { OperatorContext } from "./operator-context";
import { columns, listing } from "./operator-tables";

export async function runJournalCommand(context: OperatorContext): Promise<number> {
  const { parsed, journal, print } = context;
  const limit = parsed.limit ?? LIST_LIMIT.fallback;
  const entries = await journal.newest(limit);
  print(entries, listing(entries, limit, journalTable, "no operator actions journaled"));
  return 0;
}

function journalTable(entries: JournalRecord[]): string {
  return columns([
    ["TIME", "ACTION", "TARGET", "RESULT", "VIA", "BY"],
    ...entries.map((e) => [e.at, e.action, targetText(e), resultText(e), e.via, by(e)]),
  ]);
}

/** The target, and a discard by id's note after it: `ID (note: why)`. */
function targetText(e: JournalRecord): string {
  const text = e.note === undefined ? e.target : `${e.target} (note: ${e.note})`;
  // Never half of an emoji: a note may end in them, and the half left alone printed as U+FFFD.
  return cutText(text, TARGET_WIDTH);
}

/** How much of a target the table shows. */
const TARGET_WIDTH = 80;

/** `done (replayed 3, already 0, refused 1, skipped 2)`, `refused: why`. */
function resultText(e: JournalRecord): string {
  const counts = e.counts
    ? ` (${Object.entries(e.counts)
        .map(([kind, n]) => `${kind} ${n}`)
        .join(", ")})`
    : "";
  return `${e.result}${counts}${e.error ? `: ${e.error.slice(0, 80)}` : ""}`;
}

/** The admin port's client and how it signed in, or the CLI's user, host and process. */
function by(e: JournalRecord): string {
  if (e.via === "admin") return `${e.remote} (${e.credential}; ${e.instance})`;
  return `${e.user}@${e.host} (pid ${e.pid})`;
}
