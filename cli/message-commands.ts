// `sluice messages show|cancel`: the admin port's message look-up and cancel from a shell.

import { declareAllBackends, roleTopologyOptions } from "../shared/broker/topology";
import { cancelOutcome } from "../shared/operator/journal-entries";
import { lookUpMessage } from "../shared/operator/message-lookup";
import {
  cancelByOperator,
  conflictMessage,
  tellOperatorCancel,
} from "../shared/operator/operator-cancel";
import { journaled } from "../shared/operator/operator-journal";
import { OPERATOR_USAGE } from "./operator-args";
import { fail, type OperatorContext } from "./operator-context";
import { sayOnStderr } from "./output";

export async function runMessageCommand(context: OperatorContext): Promise<number> {
  const { config, parsed, verb, id, log, names, store, deadLetters, record, print, connectBroker } =
    context;
  if (verb === "show") {
    const client = parsed.flags.get("client");
    const service = parsed.flags.get("service");
    const xroadId = parsed.flags.get("xroad-id");
    const query = id ? { id } : client && xroadId ? { client, xroadId, service } : null;
    // Not reached: parseOperatorArgs refuses a show that names neither.
    if (!query) return fail(OPERATOR_USAGE, 2);
    // The admin port's look-up and document (GET /admin/messages/<id>), so both show the same.
    const services = Object.keys(config.services);
    const found = await lookUpMessage({ store, deadLetters, services }, query, Date.now());
    if (found.result === "ambiguous") {
      const { message, matches } = found.ambiguity;
      print(
        found.ambiguity,
        [message, ...matches.map((m) => `${m.id}  ${m.service}  ${m.state}`)].join("\n"),
      );
      return 1;
    }
    if (found.result === "missing") return fail("no such message");
    print(found.message, JSON.stringify(found.message, null, 2));
    return 0;
  }
  if (verb === "cancel" && id) {
    const cancelled = await journaled(
      record,
      "message.cancel",
      id,
      () => cancelByOperator(store, id),
      cancelOutcome,
    );
    if (cancelled.result === "missing") return fail("no such message");
    if (cancelled.result === "conflict") return fail(conflictMessage(cancelled.state));
    // The cancel is done (it lives in Redis). The broker carries only news of it: the wake of
    // a sync caller whose adapter missed the Redis wake, and the notice that hurries callbacks
    // and hub listeners, which a worker meeting the message tells as well. A broker out of
    // reach is a warning, not a failure of a cancel that happened. A repeat sends both again
    // (the first run may have stopped before them).
    try {
      const b = await connectBroker();
      const publisher = b.channel("publisher", async (channel) =>
        declareAllBackends(channel, config, names, roleTopologyOptions(b, log)),
      );
      await tellOperatorCancel({ broker: b, publisher, names, log }, id, cancelled);
    } catch (error) {
      sayOnStderr(
        `warning: the message is cancelled, but the broker was not told (${(error as Error).message}); callbacks and hub listeners hear of it once a worker meets the message, and a sync caller whose adapter missed the cancel once that adapter hears Redis again (or at its wait's end)`,
      );
    }
    const repeated = cancelled.result === "repeated";
    print(
      { id, state: "cancelled", ...(repeated ? { already: true } : {}) },
      repeated ? `${id}: cancelled (already, by the operator)` : `${id}: cancelled`,
    );
    return 0;
  }
  return fail(OPERATOR_USAGE, 2);
}
