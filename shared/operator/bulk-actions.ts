// The bulk replay and discard of dead letters and the bulk redelivery of dead callbacks, as the admin port
// and the CLI both run them: the selection, oldest first up to the limit, run or only judged (a
// dry run), and journaled; what differs between the two callers comes in as parameters.

import type {
  CallbackRedeliverer,
  RedeliveryPreview,
  RedeliveryResult,
  RedeliveryRun,
} from "./callback-redelivery";
import type { DeadCallbackFilter, DeadCallbacks } from "./dead-callbacks";
import type { DeadLetterFilter, DeadLetters } from "./dead-letters";
import { deadCallbackSelection, deadLetterSelection, runOutcome } from "./journal-entries";
import { journaled, type JournalWrite } from "./operator-journal";
import type { Replayer, ReplayPreview, ReplayResult, ReplayRun } from "./replay";
import type { DiscardPreview, DiscardResult, DiscardRun, Discarder } from "./discard";

/** What a bulk action selects, who asked (the journal), and whether it only says what it would do. */
export interface BulkAction<F> {
  filter: F;
  limit: number;
  /** Select and judge as the real run does, sending and changing nothing. */
  dryRun: boolean;
  /** The journal, writing as whoever asked. */
  record: JournalWrite;
  /** True once the run should end (shutdown, Ctrl-C): the rest are skipped, to be asked again. */
  stopping: () => boolean;
}

export interface BulkReplay extends BulkAction<DeadLetterFilter> {
  replayer: Replayer;
  deadLetters: DeadLetters;
  /** A backend's request queue depth (see `Replayer.replayMany`). */
  depthOf: (backend: string) => number | undefined;
  /** Told of each replay sent, when `depthOf` counts them itself; a dry run tells nothing. */
  noteReplayed?: (backend: string) => void;
}

/**
 * A dry run's answer carries `dryRun: true`, its entries `would replay` (or `would redeliver`),
 * and `until`, the newest selected entry's time (absent when none was selected): sent back as
 * the real run's `until`, it keeps that run to what the dry run saw (`untilOf`).
 */
export type Dry<T> = T & { dryRun?: true; until?: string };

function untilOfEntries(entries: Array<{ at: number }>): { until?: string } {
  if (entries.length === 0) return {};
  const newest = entries.reduce((latest, entry) => Math.max(latest, entry.at), 0);
  return { until: new Date(newest).toISOString() };
}

/** The dead letters of the selection not replayed yet, oldest first, replayed (or judged). */
export function replayDeadLetters(
  run: BulkReplay,
): Promise<Dry<ReplayRun<ReplayResult | ReplayPreview>>> {
  const { replayer, deadLetters, filter, depthOf } = run;
  return runBulk(run, {
    action: "dead-letter.replay-bulk",
    target: deadLetterSelection(filter, run.limit),
    done: "replayed",
    would: "would replay",
    // The oldest first, as documented: they have waited longest, and the newest `limit`
    // would leave older ones behind for ever while new failures keep coming.
    select: (count) => deadLetters.oldestPending(filter, count),
    preview: (entries, stopping) => replayer.previewMany(entries, depthOf, stopping),
    act: (entries, stopping) => replayer.replayMany(entries, depthOf, stopping, run.noteReplayed),
    results: (done) => done.replayed,
  });
}

export interface BulkDiscard extends BulkAction<DeadLetterFilter> {
  discarder: Discarder;
  deadLetters: DeadLetters;
  /** Why they are discarded, in the operator's words: journaled with the selection, and kept on each record discarded. */
  note: string;
}

/**
 * The dead letters of the selection not replayed yet, or linked to a replay cancelled before any
 * worker took it, oldest first, discarded (or judged): the bulk replay's selection and those
 * cancelled-replay ones, which a discard by id takes as well.
 */
export function discardDeadLetters(
  run: BulkDiscard,
): Promise<Dry<DiscardRun<DiscardResult | DiscardPreview>>> {
  const { discarder, deadLetters, filter } = run;
  return runBulk(run, {
    action: "dead-letter.discard-bulk",
    target: deadLetterSelection(filter, run.limit, run.note),
    done: "discarded",
    would: "would discard",
    // Those a bulk replay takes, and those whose replay was cancelled before a worker took it:
    // a discard by id replaces that link, and so does a bulk discard.
    select: (count) => deadLetters.oldestDiscardable(filter, count),
    preview: (entries, stopping) => discarder.previewMany(entries, stopping),
    act: (entries, stopping) => discarder.discardMany(entries, stopping, run.note),
    results: (done) => done.discarded,
  });
}

export interface BulkRedelivery extends BulkAction<DeadCallbackFilter> {
  redeliverer: CallbackRedeliverer;
  deadCallbacks: DeadCallbacks;
}

/** The dead callbacks of the selection still delivery_failed, oldest first, redelivered (or judged). */
export function redeliverDeadCallbacks(
  run: BulkRedelivery,
): Promise<Dry<RedeliveryRun<RedeliveryResult | RedeliveryPreview>>> {
  const { redeliverer, deadCallbacks, filter } = run;
  return runBulk(run, {
    action: "dead-callback.redeliver-bulk",
    target: deadCallbackSelection(filter, run.limit),
    done: "redelivered",
    would: "would redeliver",
    // The oldest first: they have waited longest.
    select: (count) =>
      deadCallbacks.list({ ...filter, delivery: "delivery_failed" }, count, "oldest"),
    preview: (entries, stopping) => redeliverer.previewMany(entries, stopping),
    act: (entries, stopping) => redeliverer.redeliverMany(entries, stopping),
    results: (done) => done.redelivered,
  });
}

/** What sets one bulk action apart; selecting to the limit, the dry run and the journal are shared. */
interface BulkKind<E, R> {
  /** Journaled as this, a dry run as this with `-dry-run`. */
  action: "dead-letter.replay-bulk" | "dead-letter.discard-bulk" | "dead-callback.redeliver-bulk";
  /** The selection as the journal shows it. */
  target: string;
  /** What the journal counts: the entries the run acted on, or a dry run would have. */
  done: "replayed" | "discarded" | "redelivered";
  would: "would replay" | "would discard" | "would redeliver";
  /** The selection, oldest first, at most `count`. */
  select: (count: number) => Promise<E[]>;
  preview: (entries: E[], stopping: () => boolean) => Promise<R>;
  act: (entries: E[], stopping: () => boolean) => Promise<R>;
  results: (run: R) => Array<{ result: string }>;
}

/** A bulk action: its selection up to the limit, acted on (or judged), and journaled. */
async function runBulk<
  E extends { at: number },
  R extends { skipped: unknown[]; failure?: string },
>(run: BulkAction<unknown>, kind: BulkKind<E, R>): Promise<Dry<R>> {
  const { limit, dryRun } = run;
  const { stopping, interrupted } = watched(run.stopping);
  return journaled(
    run.record,
    dryRun ? (`${kind.action}-dry-run` as const) : kind.action,
    kind.target,
    async (): Promise<Dry<R>> => {
      const { entries, more } = withinLimit(await kind.select(limit + 1), limit);
      return {
        ...(dryRun
          ? {
              dryRun: true as const,
              ...untilOfEntries(entries),
              ...(await kind.preview(entries, stopping)),
            }
          : await kind.act(entries, stopping)),
        ...more,
      };
    },
    (done) =>
      runOutcome(
        dryRun ? kind.would : kind.done,
        { ...done, results: kind.results(done) },
        interrupted(),
      ),
  );
}

/**
 * The first `limit` of a selection made with one entry more than the limit, and `more: true`
 * when that one was found: a run that stopped at its limit said "1000 replayed, 0 skipped",
 * as a run that had taken every match says it, with thousands still waiting.
 */
function withinLimit<T>(selected: T[], limit: number): { entries: T[]; more: { more?: true } } {
  return {
    entries: selected.slice(0, limit),
    more: selected.length > limit ? { more: true } : {},
  };
}

/**
 * `stopping` as the run asks it before each entry, and whether it ever said yes: the run then
 * skipped the rest, and is journaled as stopped, not done.
 */
function watched(stopping: () => boolean): { stopping: () => boolean; interrupted: () => boolean } {
  let said = false;
  return {
    stopping: () => (stopping() ? (said = true) : false),
    interrupted: () => said,
  };
}
