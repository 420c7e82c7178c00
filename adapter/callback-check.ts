// The check of a callback target a caller submits (X-Callback-Url, a service's callback, a hub
// listener), with the operator's log line for a target refused over the provider's network.

import type { Logger } from "pino";
import type { Lookup } from "../shared/delivery/address-check";
import {
  CallbackAddressRefusal,
  checkCallbackTarget,
  type CallbackPolicy,
  type CallbackTarget,
} from "../shared/delivery/callback-target";
import { clipText } from "../shared/protocol/clip-text";

/** A client id is the caller's own header: bounded on the line as the access log bounds it. */
const MAX_CLIENT = 255;

/**
 * checkCallbackTarget for `client`. The caller's answer says only that the target is not
 * allowed when resolution refused it; why (no such name, a private address) goes to the log
 * here, with the client that asked, so an operator sees a client probing internal names.
 */
export async function checkSubmittedCallback(
  raw: unknown,
  policy: CallbackPolicy,
  client: string | null,
  lookup: Lookup | undefined,
  log: Logger | undefined,
): Promise<CallbackTarget> {
  try {
    return await checkCallbackTarget(raw, policy, client, lookup);
  } catch (error) {
    if (error instanceof CallbackAddressRefusal) {
      log?.info(
        {
          client: client === null ? null : clipText(client, MAX_CLIENT),
          host: error.host,
          reason: error.reason,
        },
        "callback target refused: its host name resolves to no address Sluice may call",
      );
    }
    throw error;
  }
}
