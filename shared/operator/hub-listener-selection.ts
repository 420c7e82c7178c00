// Hub listeners as operators see them (the admin port's /admin/hub-listeners and `sluice
// hub-listeners`): which client's listener sends events where, so that one whose receiver is
// gone for good can be found and removed instead of failing every event for hours.

import { receiverOf, shownCallbackTarget, type CallbackPolicy } from "../delivery/callback-target";
import { listenerRefusal } from "../delivery/listener-admission";
import type { HubListener, HubListeners } from "../store/hub-listeners";

/** A removal's refusal when the id names no listener (answered NotFound, exit 1). */
export const NO_SUCH_HUB_LISTENER = "no such hub listener";

export interface HubListenerFilter {
  /** The X-Road client that registered them. */
  client?: string;
  /** A URL of the receiver (or an `xroad:` target): listeners sending to its origin. */
  receiver?: string;
}

export const HUB_LISTENER_FILTER_KEYS = ["client", "receiver"] as const;

export function hubListenerFilter(get: (key: string) => unknown): HubListenerFilter {
  const filter: HubListenerFilter = {};
  for (const key of HUB_LISTENER_FILTER_KEYS) {
    const value = get(key);
    if (typeof value === "string" && value) filter[key] = value;
  }
  if (filter.receiver) filter.receiver = receiverOf(filter.receiver) ?? filter.receiver;
  return filter;
}

/**
 * The listeners `filter` names, newest first, at most `limit`. A client's are read from its
 * own set; all of them (or a receiver's) are read through the index of clients (HubListeners.all).
 */
export async function selectHubListeners(
  listeners: HubListeners,
  filter: HubListenerFilter,
  limit: number,
): Promise<HubListener[]> {
  const candidates = filter.client
    ? await listeners.forClient(filter.client)
    : await listeners.all();
  return candidates
    .filter((l) => filter.receiver === undefined || receiverOf(l.callback) === filter.receiver)
    .sort((a, b) => b.createdAt - a.createdAt || a.id.localeCompare(b.id))
    .slice(0, limit);
}

/**
 * One listener as operators see it: its callback's query values redacted, as dead callbacks'.
 * With `policy` (the configuration this process read), `refusedByConfiguration` says why that
 * configuration refuses every event of the listener, or is null when it admits them.
 */
export function hubListenerDocument(listener: HubListener, now: number, policy?: CallbackPolicy) {
  return {
    id: listener.id,
    client: listener.client,
    callback: shownCallbackTarget(listener.callback),
    receiver: receiverOf(listener.callback),
    query: listener.query,
    createdAt: new Date(listener.createdAt).toISOString(),
    ageSeconds: Math.max(0, Math.round((now - listener.createdAt) / 1000)),
    ...(policy === undefined
      ? {}
      : { refusedByConfiguration: listenerRefusal(listener, policy)?.message ?? null }),
  };
}
