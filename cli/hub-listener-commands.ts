// `sluice hub-listeners list|remove`: the admin port's hub-listener endpoints from a shell,
// answered as the admin port answers them.

import {
  hubListenerDocument,
  hubListenerFilter,
  NO_SUCH_HUB_LISTENER,
  selectHubListeners,
} from "../shared/operator/hub-listener-selection";
import { removalOutcome } from "../shared/operator/journal-entries";
import { journaled } from "../shared/operator/operator-journal";
import { LIST_LIMIT } from "../shared/operator/selection-limit";
import { HubListeners } from "../shared/store/hub-listeners";
import { deliveryPolicy } from "../shared/delivery/listener-admission";
import { OPERATOR_USAGE } from "./operator-args";
import { fail, type OperatorContext } from "./operator-context";
import { age, columns, listing } from "./operator-tables";

export async function runHubListenerCommand(context: OperatorContext): Promise<number> {
  const { config, parsed, verb, id, redis, log, record, print } = context;
  const listeners = new HubListeners(redis, config.prefix);
  const now = Date.now();
  if (verb === "list") {
    const limit = parsed.limit ?? LIST_LIMIT.fallback;
    const filter = hubListenerFilter((key) => parsed.flags.get(key));
    const found = await selectHubListeners(listeners, filter, limit);
    // Judged by the configuration given (--config): the response workers' may differ during a
    // rollout.
    const policy = deliveryPolicy(config);
    const documents = found.map((listener) => hubListenerDocument(listener, now, policy));
    print(
      documents,
      listing(
        found,
        limit,
        () =>
          columns([
            ["AGE", "ID", "CLIENT", "CALLBACK", "QUERY", "REFUSED BY CONFIGURATION"],
            ...found.map((listener, i) => [
              age(listener.createdAt),
              listener.id,
              listener.client,
              documents[i].callback,
              listener.query,
              documents[i].refusedByConfiguration ?? "-",
            ]),
          ]),
        "no hub listeners",
      ),
    );
    return 0;
  }
  if (verb === "remove" && id) {
    const removed = await journaled(
      record,
      "hub-listener.remove",
      id,
      () => listeners.removeAny(id),
      removalOutcome,
    );
    if (removed === null) return fail(`${NO_SUCH_HUB_LISTENER} ${id}`);
    log.info({ listener: removed.id, client: removed.client }, "operator removed a hub listener");
    const document = hubListenerDocument(removed, now);
    print({ removed: document }, `${removed.id}: removed (client ${removed.client})`);
    return 0;
  }
  return fail(OPERATOR_USAGE, 2);
}
