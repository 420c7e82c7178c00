// The error a call that must fail rejected with, for tests that look at the error itself.

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
