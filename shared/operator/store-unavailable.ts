// The operator's answer when Redis or the broker fails or does not answer within its timeout:
// 503 Unavailable with Retry-After (try again soon). Any other error is a bug, which the admin
// port answers 500 Internal and logs with its stack (shared/runtime/outage.ts tells them apart).

import { outageAnswer, type Dependency } from "../runtime/outage";

/** The operator is told which dependency failed and how. */
function operatorMessage(dependency: Dependency, cause: Error): string {
  return `${dependency} unavailable (${cause.message})`;
}

/**
 * Runs `operation`; an outage it meets (a Redis command failed for want of a connection, or
 * timed out; the broker's connection gone) becomes 503 Unavailable with `message` (by default
 * naming the error, for the operator). A SluiceError keeps its own status: the broker's
 * Unavailable and Busy already say what to do.
 */
export async function unavailableOnOutage<T>(
  operation: () => Promise<T>,
  message: (dependency: Dependency, cause: Error) => string = operatorMessage,
): Promise<T> {
  try {
    return await operation();
  } catch (error) {
    throw outageAnswer(error, message);
  }
}
