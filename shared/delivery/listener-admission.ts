// Whether the configuration still admits a hub listener's receiver: the delivery policy of a
// configuration, and the refusal a listener's events meet under it. The response worker uses
// it to tell a listener the configuration shut out from a failing receiver; operators see the
// same verdict in the listing (sluice hub-listeners list, GET /admin/hub-listeners).

import type { SluiceConfig } from "../config/config";
import type { HubListener } from "../store/hub-listeners";
import { parseCallbackTarget, type CallbackPolicy } from "./callback-target";

/** The callback policy deliveries are checked against under `config`. */
export function deliveryPolicy(config: SluiceConfig): CallbackPolicy {
  const { callbacks, securityServer } = config;
  return {
    allow: callbacks.allow,
    clients: callbacks.clients,
    allowHttp: callbacks.allowHttp,
    allowPrivate: callbacks.allowPrivate,
    xroad: securityServer !== null,
  };
}

/**
 * The refusal `policy` meets every event of `listener` with (its receiver left
 * `callbacks.allow`, an `http://` receiver after `allowHttp` was turned off, another client's
 * own receiver: an OwnedElsewhereRefusal, ...), or null when it admits it. A host name's
 * addresses are not resolved here: what a name resolves to can change back, and delivery
 * checks it at each attempt.
 */
export function listenerRefusal(
  listener: Pick<HubListener, "callback" | "client">,
  policy: CallbackPolicy,
): Error | null {
  try {
    parseCallbackTarget(listener.callback, policy, listener.client);
    return null;
  } catch (error) {
    return error as Error;
  }
}
