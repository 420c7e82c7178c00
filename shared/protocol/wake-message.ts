// What the response worker sends to the adapter instance that holds a waiting sync caller,
// on that instance's own reply queue: enough to answer without another Redis read.

import type { State, StoredResponse } from "../store/transaction-store";
import type { ErrorInfo } from "./errors";

export interface WakeMessage {
  id: string;
  state: State;
  response: StoredResponse | null;
  error: ErrorInfo | null;
}
