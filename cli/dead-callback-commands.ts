// `sluice dead-callbacks list|show|redeliver`: the admin port's dead-callback endpoints from a
// shell, answered as the admin port answers them.

import { shownCallbackTarget } from "../shared/delivery/callback-target";
import {
  CallbackRedeliverer,
  NO_SUCH_DEAD_CALLBACK,
  type RedeliveryPreview,
  type RedeliveryResult,
} from "../shared/operator/callback-redelivery";
import { DeadCallbacks, type DeadCallback } from "../shared/operator/dead-callbacks";
import { redeliverDeadCallbacks } from "../shared/operator/bulk-actions";
import { oneOutcome } from "../shared/operator/journal-entries";
import { deadCallbackDocument, withErrorShape } from "../shared/operator/operator-answers";
import { journaled } from "../shared/operator/operator-journal";
import { BULK_LIMIT, LIST_LIMIT } from "../shared/operator/selection-limit";
import { callbackFilterOf, OPERATOR_USAGE } from "./operator-args";
import { fail, showEntry, untilInterrupted, type OperatorContext } from "./operator-context";
import { age, bulkEnding, columns, listing, skippedLines } from "./operator-tables";
import { terminalLine } from "./terminal-text";
import { failureExit, refusedExit } from "./exit-codes";

export async function runDeadCallbackCommand(context: OperatorContext): Promise<number> {
  const { config, parsed, verb, id, redis, names, store, record, print, connectBroker } = context;
  const deadCallbacks = new DeadCallbacks(redis, config.prefix, config.retentionMs);
  if (verb === "list") {
    const limit = parsed.limit ?? LIST_LIMIT.fallback;
    const entries = await deadCallbacks.list(callbackFilterOf(parsed), limit);
    print(
      entries.map((entry) => ({ ...entry, target: shownCallbackTarget(entry.target) })),
      listing(entries, limit, callbackTable, "no dead callbacks"),
    );
    return 0;
  }
  if (verb === "show" && id)
    return showEntry(
      print,
      await deadCallbacks.get(id),
      `no dead callback ${id}`,
      deadCallbackDocument,
    );
  if (verb === "redeliver") {
    // parseOperatorArgs made sure an ID, a filter or --all is named.
    const filter = callbackFilterOf(parsed);
    const b = await connectBroker();
    const publishTimeoutMs = config.adapter.publishTimeoutMs;
    const publisher = b.channel("publisher", async () => undefined, publishTimeoutMs);
    await publisher.waitForConnect();
    const redeliverer = new CallbackRedeliverer({
      store,
      deadCallbacks,
      broker: b,
      publisher,
      names,
      publishTimeoutMs,
      maxJobBytes: config.amqpMaxMessageBytes,
    });
    if (id) {
      // A refusal in the admin port's error shape (type and message) beside its own fields.
      const redelivered = await journaled(
        record,
        "dead-callback.redeliver",
        id,
        () => redeliverer.redeliver(id),
        (done) => oneOutcome(done, NO_SUCH_DEAD_CALLBACK),
      );
      const result = withErrorShape(redelivered, NO_SUCH_DEAD_CALLBACK);
      print(result, redeliveryLine(result));
      return refusedExit(result);
    }
    // As the admin port's: the oldest first, at most --limit (1000) per run.
    const limit = parsed.limit ?? BULK_LIMIT.fallback;
    // Ctrl-C (or SIGTERM) stops the run at its next dead callback, as a bulk replay's.
    const outcome = await untilInterrupted((stopping) =>
      redeliverDeadCallbacks({
        redeliverer,
        deadCallbacks,
        filter,
        limit,
        dryRun: parsed.dryRun,
        record,
        stopping,
      }),
    );
    const { redelivered, skipped } = outcome;
    print(
      outcome,
      [
        ...redelivered.map(redeliveryLine),
        ...skippedLines(skipped),
        ...bulkEnding(redelivered, outcome, "redelivered", limit),
      ].join("\n"),
    );
    // Cut short by an error (Redis stopped answering): what was done is printed above.
    if (outcome.failure !== undefined) {
      return fail(
        `dead-callbacks redeliver stopped: ${terminalLine(outcome.failure)}`,
        failureExit(outcome.failure),
      );
    }
    // As a bulk replay: refusals are listed and counted above; the run itself went through.
    return 0;
  }
  return fail(OPERATOR_USAGE, 2);
}

function callbackTable(entries: DeadCallback[]): string {
  return columns([
    ["AGE", "REASON", "ATTEMPTS", "DELIVERY", "ID", "TARGET", "FAILURE"],
    ...entries.map((e) => [
      age(e.at),
      e.reason,
      String(e.attempts),
      e.delivery,
      e.id,
      shownCallbackTarget(e.target),
      (e.failure ?? "").slice(0, 80),
    ]),
  ]);
}

function redeliveryLine(r: RedeliveryResult | RedeliveryPreview): string {
  if (r.result === "would redeliver") return `${r.id}: would redeliver`;
  return `${r.id}: ${r.result}${r.type ? ` (${r.type})` : ""}${r.delivery ? ` (delivery ${r.delivery})` : ""}${r.error ? `: ${terminalLine(r.error)}` : ""}`;
}
