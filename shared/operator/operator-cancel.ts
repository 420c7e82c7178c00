// The operator's cancel of one message, the same from the admin port and from `sluice messages
// cancel`: idempotent for the operator, a conflict for every other state (a client's cancel).

import type { ErrorInfo } from "../protocol/errors";
import { terminalWake } from "../protocol/codec";
import type { State, TransactionStore } from "../store/transaction-store";
import { unavailableOnOutage } from "./store-unavailable";

/** Who the record says made an operator's change. */
export const OPERATOR = "operator";

export type OperatorCancel =
  /** Cancelled now. */
  | { result: "cancelled" }
  /** The operator had cancelled it already: a repeat answers as the cancel did. */
  | { result: "repeated" }
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
  const { result, previous, changedBy } = await unavailableOnOutage(async () => {
    if (!(await store.get(id))) return { result: "missing", previous: null, changedBy: null };
    const error: ErrorInfo = { code: "Cancelled", message: "cancelled by the operator" };
    return store.transition(id, ["accepted"], "cancelled", {
      error,
      by: OPERATOR,
      wake: terminalWake({ id, state: "cancelled", error }),
    });
  });
  if (result === "ok") return { result: "cancelled" };
  if (result === "missing") return { result: "missing" };
  if (result === "conflict" && previous === "cancelled" && changedBy === OPERATOR) {
    return { result: "repeated" };
  }
  return { result: "conflict", state: previous };
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
