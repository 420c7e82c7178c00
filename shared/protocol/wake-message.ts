// What the response worker sends to the adapter instance that holds a waiting sync caller:
// enough to answer without another Redis read. It goes over the instance's Redis pub/sub
// channel (`RedisKeys.wake`) or, when no subscriber heard it there, to its reply queue.

import type { State, StoredResponse } from "./envelope";
import type { ErrorInfo } from "./errors";

export interface WakeMessage {
  id: string;
  state: State;
  response: StoredResponse | null;
  error: ErrorInfo | null;
}
