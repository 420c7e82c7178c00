// `sluice dead-letters list|show|replay|discard`: the admin port's dead-letter endpoints from a shell,
// answered as the admin port answers them.

import { declareAllBackends, roleTopologyOptions } from "../shared/broker/topology";
import type { DeadLetter } from "../shared/operator/dead-letters";
import { Discarder, type DiscardPreview, type DiscardResult } from "../shared/operator/discard";
import { discardDeadLetters, replayDeadLetters } from "../shared/operator/bulk-actions";
import { oneOutcome } from "../shared/operator/journal-entries";
import { deadLetterDocument, withErrorShape } from "../shared/operator/operator-answers";
import { journaled } from "../shared/operator/operator-journal";
import {
  NO_SUCH_DEAD_LETTER,
  Replayer,
  type ReplayPreview,
  type ReplayResult,
} from "../shared/operator/replay";
import { BULK_LIMIT, LIST_LIMIT } from "../shared/operator/selection-limit";
import { filterOf, OPERATOR_USAGE } from "./operator-args";
import { fail, showEntry, untilInterrupted, type OperatorContext } from "./operator-context";
import { age, bulkEnding, columns, listing, skippedLines } from "./operator-tables";
import { requestQueueSamples } from "./request-queue-samples";
import { terminalLine } from "./terminal-text";
import { failureExit, refusedExit } from "./exit-codes";

export async function runDeadLetterCommand(context: OperatorContext): Promise<number> {
  const {
    config,
    parsed,
    verb,
    id,
    log,
    redis,
    names,
    store,
    deadLetters,
    record,
    print,
    connectBroker,
  } = context;
  if (verb === "list") {
    const limit = parsed.limit ?? LIST_LIMIT.fallback;
    const replayed = parsed.flags.get("replayed");
    const entries = await deadLetters.list(
      replayed ? { ...filterOf(parsed), replayed: replayed === "yes" } : filterOf(parsed),
      limit,
    );
    print(entries, listing(entries, limit, deadLetterTable, "no dead letters"));
    return 0;
  }
  if (verb === "show" && id)
    return showEntry(print, await deadLetters.get(id), `no dead letter ${id}`, deadLetterDocument);
  if (verb === "discard" && !id) {
    // parseOperatorArgs made sure a filter or --all, and a note, are named.
    const limit = parsed.limit ?? BULK_LIMIT.fallback;
    const outcome = await untilInterrupted((stopping) =>
      discardDeadLetters({
        discarder: new Discarder(redis, deadLetters),
        deadLetters,
        filter: filterOf(parsed),
        limit,
        dryRun: parsed.dryRun,
        note: (parsed.flags.get("note") ?? "").trim(),
        record,
        stopping,
      }),
    );
    print(
      outcome,
      [
        ...outcome.discarded.map(discardLine),
        ...skippedLines(outcome.skipped),
        ...bulkEnding(outcome.discarded, outcome, "discarded", limit),
      ].join("\n"),
    );
    return outcome.failure === undefined
      ? 0
      : fail(
          `dead-letters discard stopped: ${terminalLine(outcome.failure)}`,
          failureExit(outcome.failure),
        );
  }
  if (verb === "discard" && id) {
    // parseOperatorArgs checked the note, if given; blank is none.
    const note = parsed.flags.get("note")?.trim() || undefined;
    const discarded = await journaled(
      record,
      "dead-letter.discard",
      id,
      () => new Discarder(redis, deadLetters).discard(id, true, note ?? ""),
      (done) => oneOutcome(done, NO_SUCH_DEAD_LETTER),
      note,
    );
    const result = withErrorShape(discarded, NO_SUCH_DEAD_LETTER);
    print(result, discardLine(result));
    return refusedExit(result);
  }
  if (verb === "replay") {
    // parseOperatorArgs made sure an ID, a filter or --all is named.
    const filter = filterOf(parsed);
    const b = await connectBroker();
    const publishTimeoutMs = config.adapter.publishTimeoutMs;
    const publisher = b.channel(
      "publisher",
      async (channel) => declareAllBackends(channel, config, names, roleTopologyOptions(b, log)),
      publishTimeoutMs,
    );
    await publisher.waitForConnect();
    const replayer = new Replayer({
      config,
      redis,
      store,
      deadLetters,
      broker: b,
      publisher,
      names,
      publishTimeoutMs,
    });
    if (id) {
      // A refusal in the admin port's error shape (type and message) beside its own fields.
      const replayed = await journaled(
        record,
        "dead-letter.replay",
        id,
        () => replayer.replay(id),
        (done) => oneOutcome(done, NO_SUCH_DEAD_LETTER),
      );
      const result = withErrorShape(replayed, NO_SUCH_DEAD_LETTER);
      print(
        result,
        [
          replayLine(result),
          ...(result.warning ? [`warning: ${terminalLine(result.warning)}`] : []),
          ...(result.note ? [`note: ${terminalLine(result.note)}`] : []),
        ].join("\n"),
      );
      return refusedExit(result);
    }
    const samples = await requestQueueSamples(config, b, names, Date.now());
    // As the admin port's bulk replay: the oldest first, at most --limit (1000) per run.
    const limit = parsed.limit ?? BULK_LIMIT.fallback;
    // Ctrl-C (or SIGTERM) stops the run at its next dead letter.
    const outcome = await untilInterrupted((stopping) =>
      replayDeadLetters({
        replayer,
        deadLetters,
        filter,
        limit,
        dryRun: parsed.dryRun,
        record,
        // A sample taken before the run: the run adds its own replays to it.
        depthOf: (backend) => samples.get(names.requestsQueue(backend))?.depth,
        stopping,
      }),
    );
    print(
      outcome,
      [
        ...outcome.replayed.map(replayLine),
        ...skippedLines(outcome.skipped),
        ...bulkEnding(outcome.replayed, outcome, "replayed", limit),
        ...pausedNotes(outcome.replayed),
      ].join("\n"),
    );
    // Cut short by an error (Redis stopped answering): what was done is printed above.
    return outcome.failure === undefined
      ? 0
      : fail(
          `dead-letters replay stopped: ${terminalLine(outcome.failure)}`,
          failureExit(outcome.failure),
        );
  }
  return fail(OPERATOR_USAGE, 2);
}

function deadLetterTable(entries: DeadLetter[]): string {
  return columns([
    ["AGE", "REASON", "BACKEND", "SERVICE", "CLIENT", "ID", "REPLAYED AS", "ERROR"],
    ...entries.map((e) => [
      age(e.at),
      e.reason,
      e.backend,
      e.service,
      e.client,
      e.id,
      e.replayedAs ?? (e.discardedAt !== null ? "(discarded)" : "-"),
      (e.error ?? "").slice(0, 80),
    ]),
  ]);
}

/** One line per paused backend a run's replays (or, dry, would) wait for, under its summary. */
function pausedNotes(results: Array<ReplayResult | ReplayPreview>): string[] {
  const waiting = new Map<string, number>();
  for (const r of results) {
    const backend = r.pausedBackend;
    if (backend !== undefined) waiting.set(backend, (waiting.get(backend) ?? 0) + 1);
  }
  return [...waiting].map(
    ([backend, count]) =>
      `note: backend ${backend} is paused: ${count} of these replays ${count === 1 ? "waits" : "wait"} in its queue until it is resumed (sluice backends resume ${backend} --config FILE)`,
  );
}

/** One discard's line, as `replayLine` says a replay's. */
function discardLine(r: (DiscardResult & { type?: string }) | DiscardPreview): string {
  const how = r.previousReplayAbandoned ? "never confirmed, its publisher gone" : "cancelled";
  const replacing = r.previousReplay ? ` (in place of replay ${r.previousReplay}, ${how})` : "";
  if (r.result === "would discard")
    return `${r.id}: would discard (backend ${r.backend})${replacing}`;
  if (r.result === "refused") {
    // Refused while a replay of it is being published: the operator looks that replay up.
    const replay = r.replayedAs ? ` (replay ${r.replayedAs})` : "";
    return `${r.id}: refused (${r.type}): ${terminalLine(r.error ?? "")}${replay}`;
  }
  if (r.replayedAs) return `${r.id}: already replayed as ${r.replayedAs}; not discarded`;
  return `${r.id}: ${r.result === "discarded" ? "discarded" : "already discarded"}${r.discardedAt ? ` at ${r.discardedAt}` : ""}${replacing}`;
}

/** One replay's line; a warning, when there is one, is printed under it by the caller. */
export function replayLine(r: ReplayResult | ReplayPreview): string {
  if (r.result === "would replay") {
    return `${r.id}: would replay (backend ${r.backend})${r.mayHaveReachedBackend ? "; the backend may already have seen the original" : ""}`;
  }
  const replacing = r.previousReplay ? ` (in place of ${r.previousReplay}, cancelled)` : "";
  return `${r.id}: ${r.result}${r.type ? ` (${r.type})` : ""}${r.replayedAs ? ` as ${r.replayedAs}` : ""}${replacing}${discardedWhy(r)}${r.error ? `: ${terminalLine(r.error)}` : ""}`;
}

/** Why a replay found nothing to do: the dead letter was discarded (when; the replay it withdrew). */
function discardedWhy(r: ReplayResult): string {
  if (!r.discarded) return "";
  const at = r.discardedAt ? ` at ${r.discardedAt}` : "";
  const withdrawn = r.discardReplaced ? `; replay ${r.discardReplaced} withdrawn` : "";
  return ` (discarded${at}${withdrawn})`;
}
