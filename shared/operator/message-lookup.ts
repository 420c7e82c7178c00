// The operator's look-up of one message, for the admin port and `sluice messages show` alike: by
// gateway id, or by what its caller sent (the X-Road client and the caller's X-Road id, with the
// service code when the operator knows it), and the one document both show for it.

import { shownCallbackTarget } from "../delivery/callback-target";
import { withCredentialsRedacted } from "../protocol/credential-headers";
import { statusDocument } from "../store/status-document";
import type { Transaction, TransactionStore } from "../store/transaction-store";
import type { ErrorCode } from "../protocol/errors";
import { strip, type DeadLetter, type DeadLetters } from "./dead-letters";
import { describeDead } from "./operator-answers";

export interface CallerLookup {
  client: string;
  xroadId: string;
  /** Narrows the search to one service code; else every service in `services` is tried. */
  service?: string | null;
}

/**
 * Every message `client` sent under `xroadId` (to `service`, or to any of `services`). Records
 * are keyed by all three (the same X-Road id sent to two services is two messages), so without a
 * service every configured one is tried.
 */
async function findByCaller(
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
function ambiguity(found: readonly Transaction[]) {
  const type: ErrorCode = "Ambiguous";
  return {
    type,
    message: `${found.length} messages of this client carry this X-Road id (one per service); name the service`,
    matches: found.map((tx) => ({ id: tx.id, service: tx.service, state: tx.state })),
  };
}

/**
 * The operator's view of a message: the status document plus what only an operator sees, with
 * the caller's credential headers redacted and the callback target's query values hidden
 * (`shownCallbackTarget`), since either may hold the caller's tokens.
 */
export function operatorDocument(tx: Transaction, dead: DeadLetter | null, now: number) {
  return {
    ...withCredentialsRedacted(statusDocument(tx)),
    client: tx.client,
    backend: tx.backend,
    protocol: tx.protocol,
    replyMode: tx.replyMode,
    callback: tx.callback ? shownCallbackTarget(tx.callback) : tx.callback,
    // Its request is shown by the dead letter's own look-up, redacted: not here, whole.
    deadLetter: dead ? describeDead(strip(dead), now) : null,
  };
}

export type OperatorMessage = ReturnType<typeof operatorDocument>;

/** What a look-up came to: one message's document, several candidates, or none. */
export type MessageLookup =
  | { result: "found"; message: OperatorMessage }
  | { result: "ambiguous"; ambiguity: ReturnType<typeof ambiguity> }
  | { result: "missing" };

/** Looks a message up by its gateway id or by its caller, as every operator view does. */
export async function lookUpMessage(
  sources: { store: TransactionStore; deadLetters: DeadLetters; services: readonly string[] },
  query: { id: string } | CallerLookup,
  now: number,
): Promise<MessageLookup> {
  const { store, deadLetters, services } = sources;
  const found =
    "id" in query
      ? [await store.get(query.id)].filter((tx): tx is Transaction => tx !== null)
      : await findByCaller(store, services, query);
  if (found.length > 1) return { result: "ambiguous", ambiguity: ambiguity(found) };
  const [tx] = found;
  if (!tx) return { result: "missing" };
  return { result: "found", message: operatorDocument(tx, await deadLetters.get(tx.id), now) };
}
