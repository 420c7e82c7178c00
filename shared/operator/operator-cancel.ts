// The operator's cancel of one message, the same from the admin port and from `sluice messages
// cancel`: idempotent for the operator, a conflict for every other state (a client's cancel).

import type { ChannelWrapper } from "amqp-connection-manager";
import type { Logger } from "pino";
import type { Broker } from "../broker/amqp";
import { wakeUnheard } from "../broker/reply-wake";
import type { ErrorInfo } from "../protocol/errors";
import { terminalWake } from "../protocol/codec";
import type { TopologyNames } from "../protocol/names";
import { StateNotices } from "../protocol/state-notice";
import type { State, TransactionStore } from "../store/transaction-store";
import { unavailableOnOutage } from "./store-unavailable";

/** Who the record says made an operator's change. */
export const OPERATOR = "operator";

/**
 * The cancel's wake and the adapter instances holding a waiting caller that its Redis wake
 * reached no subscriber of: `tellOperatorCancel` sends it to their reply queues.
 */
export interface UnheardWake {
  instances: string[];
  wake: string;
}

export type OperatorCancel =
  /** Cancelled now. */
  | { result: "cancelled"; unheard: UnheardWake }
  /** The operator had cancelled it already: a repeat answers as the cancel did. */
  | { result: "repeated"; unheard: UnheardWake }
  /** No such message. */
  | { result: "missing" }
  /**
   * It is in `state` (processing, finished, cancelled by its client, or `accepted` again after
   * a call that may have reached the backend): not cancelled.
   */
  | { result: "conflict"; state: State | null };

/**
 * Cancels `id` when no worker has taken it. An operator repeating a cancel whose answer was
 * lost (a cut connection, a CLI run killed at its timeout, a second look to be sure) is told it
 * is cancelled, as a client repeating its own cancel is (docs/semantics.md).
 */
export async function cancelByOperator(
  store: TransactionStore,
  id: string,
): Promise<OperatorCancel> {
  // Redis failing or silent: 503. The cancel may or may not have run; a repeat (idempotent)
  // tells which.
  const error: ErrorInfo = { code: "Cancelled", message: "cancelled by the operator" };
  const wake = terminalWake({ id, state: "cancelled", error });
  const { result, previous, changedBy, unreached } = await unavailableOnOutage(async () => {
    if (!(await store.get(id))) {
      return { result: "missing", previous: null, changedBy: null, unreached: [] };
    }
    return store.transition(id, ["accepted"], "cancelled", { error, by: OPERATOR, wake });
  });
  const unheard = { instances: unreached, wake };
  if (result === "ok") return { result: "cancelled", unheard };
  if (result === "missing") return { result: "missing" };
  if (result === "conflict" && previous === "cancelled" && changedBy === OPERATOR) {
    return { result: "repeated", unheard };
  }
  return { result: "conflict", state: previous };
}

/**
 * Tells the broker of an operator's cancel (made or repeated), from the admin port and the CLI
 * alike: the wake goes to the reply queue of each adapter instance holding a waiting caller
 * that its Redis wake reached no subscriber of, so the caller gets its 409 now, not when that
 * subscription is back or at its deadline; the notice hurries callbacks and hub listeners.
 * Neither fails the cancel: the state is in Redis, and a worker meeting the message repeats
 * the notice. A repeat sends both again (the first run may have stopped before them).
 */
export async function tellOperatorCancel(
  deps: { broker: Broker; publisher: ChannelWrapper; names: TopologyNames; log: Logger },
  id: string,
  cancelled: { unheard: UnheardWake },
): Promise<void> {
  await wakeUnheard(deps, cancelled.unheard.instances, cancelled.unheard.wake, id);
  await new StateNotices(deps.broker, deps.publisher, deps.names, deps.log).publish(
    id,
    "cancelled",
  );
}

/** The words of a refused cancel, as the service port, the admin port and the CLI say them. */
export function conflictMessage(state: State | null): string {
  // Refused while `accepted`: a call of an earlier attempt may have reached the backend (the
  // message waits for its retry), or the backend answered and Redis lost the record meanwhile
  // (written again with the answer beside it): either way it was sent, which is what is said.
  if (state === "accepted") {
    return "the message was sent to the backend before and can no longer be cancelled";
  }
  return `the message is ${state ?? "gone"} and can no longer be cancelled`;
}
