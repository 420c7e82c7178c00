// A message this worker holds the claim of, as ending it takes it along: the delivery, the
// request it carries, the lines written about it, and the claim its record is changed under.

import type { ConsumeMessage } from "amqplib";
import type { RequestMessage } from "../../shared/protocol/envelope";
import type { ClaimHold } from "./claim-hold";
import type { MessageLog } from "./message-log";

/** What recording a claimed message's outcome (an answer, an expiry, a retry) takes. */
export interface HeldMessage {
  request: RequestMessage;
  message: ConsumeMessage;
  log: MessageLog;
  /** This worker's claim on the message: its outcome is recorded only under it. */
  hold: ClaimHold;
}
