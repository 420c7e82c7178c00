// Timing a backend call: the worker makes one deadline per call (shared/runtime/
// stall-aware-deadline.ts: its shutdown signal plus the backend's timeout, released after every
// call so long-lived signals never collect listeners) and hands it to the translator, which times
// the call with it rather than again.

import { Deadline } from "../../shared/runtime/stall-aware-deadline";
import type { CallDeadline, TranslatorCall } from "./translator";

/**
 * `work` under the call's deadline: the worker's when it handed one over (the backend's
 * timeout is already in it), else one of its own over `call.signal`, released afterwards.
 */
export function underDeadline<T>(
  call: TranslatorCall,
  timeoutMs: number,
  work: (deadline: CallDeadline) => Promise<T>,
): Promise<T> {
  if (call.deadline) return work(call.deadline);
  const own = new Deadline(call.signal, timeoutMs);
  return work(own).finally(() => own.dispose());
}
