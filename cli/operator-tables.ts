// The operator commands' tables for a terminal: columns padded to their widest cell, each cell
// one line with its control characters shown as escapes, ages in words.

import { terminalLine } from "./terminal-text";

/** How long ago `at` (epoch ms) was, in seconds, minutes or hours. */
export function age(at: number): string {
  const s = Math.max(0, Math.round((Date.now() - at) / 1000));
  return s < 120 ? `${s}s` : s < 7200 ? `${Math.round(s / 60)}m` : `${Math.round(s / 3600)}h`;
}

/**
 * A list as its table, or `none` when it is empty. A full page may not be all: the table says
 * so, or the operator takes it for the count.
 */
export function listing<T>(
  entries: T[],
  limit: number,
  table: (entries: T[]) => string,
  none: string,
): string {
  if (entries.length === 0) return none;
  const more =
    entries.length < limit ? "" : `\n(the newest ${limit} shown; there may be more: --limit N)`;
  return table(entries) + more;
}

/** The rows of `table` as aligned columns; the first row is the header. */
export function columns(table: string[][]): string {
  const rows = table.map((row) => row.map(terminalLine));
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  return rows
    .map((r) =>
      r
        .map((cell, c) => cell.padEnd(widths[c]))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}

/** What a dry run's entries say of what the real run would do to them. */
const WOULD = {
  replayed: "would replay",
  redelivered: "would redeliver",
  discarded: "would discard",
} as const;

/**
 * A bulk replay's, discard's or redelivery's last line: how many were sent (or would be), found done
 * already, refused and skipped. Refusals are counted too: "0 replayed, 0 skipped" after a run
 * whose every entry was refused read as a run that found nothing.
 */
export function bulkSummary(
  results: Array<{ result: string }>,
  skipped: number,
  kind: "replayed" | "redelivered" | "discarded",
  dryRun: boolean,
): string {
  const count = (result: string) => results.filter((r) => r.result === result).length;
  const sent = dryRun ? WOULD[kind] : kind;
  const parts = [`${count(sent)} ${dryRun ? `would be ${kind}` : kind}`];
  if (count("already")) parts.push(`${count("already")} already`);
  if (count("refused")) parts.push(`${count("refused")} refused`);
  parts.push(`${skipped} skipped`);
  const nothing = kind === "discarded" ? "nothing was discarded" : "nothing was sent";
  return `${parts.join(", ")}${dryRun ? ` (dry run: ${nothing})` : ""}`;
}

/**
 * A bulk run's last lines, as `dead-letters replay` and `dead-callbacks redeliver` print them:
 * its counts (`bulkSummary`), whether more matched than it took, and after a dry run the
 * `--until` that keeps the real run to what it listed.
 */
export function bulkEnding(
  results: Array<{ result: string }>,
  run: { skipped: unknown[]; dryRun?: boolean; more?: true; until?: string },
  kind: "replayed" | "redelivered" | "discarded",
  limit: number,
): string[] {
  return [
    bulkSummary(results, run.skipped.length, kind, run.dryRun === true),
    ...moreMatched(run.more, limit),
    ...untilNote(run.until),
  ];
}

/**
 * The line under a bulk run's summary when more matched than its limit let it take: without it,
 * "1000 replayed, 0 skipped" read as a run that had taken every match.
 */
export function moreMatched(more: true | undefined, limit: number): string[] {
  return more
    ? [
        `(more match than --limit ${limit}; the oldest ${limit} were taken: run it again for the rest)`,
      ]
    : [];
}

/**
 * After a dry run, how to keep the real run to what it listed: without `--until`, it also
 * acts on whatever failed since.
 */
export function untilNote(until: string | undefined): string[] {
  return until === undefined
    ? []
    : [`(to act on these alone, run it again without --dry-run, with --until ${until})`];
}

/**
 * A bulk run's skipped entries, one line each: the reason may carry a Redis or broker error's
 * text, whose line breaks would otherwise split an entry over lines.
 */
export function skippedLines(skipped: Array<{ id: string; reason: string }>): string[] {
  return skipped.map((s) => `${s.id}: skipped: ${terminalLine(s.reason)}`);
}
