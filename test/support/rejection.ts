// The error a call that must fail rejected with (or threw), for tests that look at the error
// itself.

import { expect } from "chai";
import { SluiceError } from "../../shared/protocol/errors";

/** What `promise` rejected with; throws, naming the value, when it resolved instead. */
export async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  let value: unknown;
  try {
    value = await promise;
  } catch (error) {
    return error;
  }
  throw new Error(`expected a failure, got ${String(JSON.stringify(value)).slice(0, 500)}`);
}

/** The SluiceError `action` threw; fails the test when it threw something else, or nothing. */
export function refusal(action: () => unknown): SluiceError {
  try {
    action();
  } catch (error) {
    expect(error).to.be.instanceOf(SluiceError);
    return error as SluiceError;
  }
  throw new Error("expected a refusal");
}
