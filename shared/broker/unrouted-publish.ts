// A publish the broker confirmed but routed to no queue: it returned the mandatory message and
// dropped it. Its own type, so the 503 it is answered with is counted as the missing queue it is.

import { SluiceError } from "../protocol/errors";

/** A mandatory publish returned by the broker: no queue is bound for it (topology missing). */
export class UnroutedPublishError extends SluiceError {
  constructor() {
    super("Unavailable", "no queue took the message (topology missing)", { retryAfter: 5 });
  }
}
