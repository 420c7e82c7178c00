// Finding a message by what its caller sent: the X-Road client and the caller's X-Road id, with
// the service code when the operator knows it. Records are keyed by all three (the same X-Road
// id sent to two services is two messages), so without a service every configured one is tried.

import type { Transaction, TransactionStore } from "../store/transaction-store";

export interface CallerLookup {
  client: string;
  xroadId: string;
  /** Narrows the search to one service code; else every service in `services` is tried. */
  service?: string | null;
}

/** Every message `client` sent under `xroadId` (to `service`, or to any of `services`). */
export async function findByCaller(
  store: TransactionStore,
  services: readonly string[],
  lookup: CallerLookup,
): Promise<Transaction[]> {
  const codes = lookup.service ? [lookup.service] : services;
  const found = await Promise.all(
    codes.map((code) => store.findByXroadId(lookup.client, code, lookup.xroadId)),
  );
  return found.filter((tx): tx is Transaction => tx !== null);
}

/** The answer when several services hold a message under the same client and X-Road id. */
export function ambiguity(found: readonly Transaction[]) {
  return {
    type: "Ambiguous",
    message: `${found.length} messages of this client carry this X-Road id (one per service); name the service`,
    matches: found.map((tx) => ({ id: tx.id, service: tx.service, state: tx.state })),
  };
}
