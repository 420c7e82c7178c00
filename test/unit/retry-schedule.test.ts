import { expect } from "chai";
import type { ConsumeMessage } from "amqplib";
import { HEADERS } from "../../shared/protocol/names";
import { attemptOf } from "../../worker/processing/retry-parking";
import { planRetry, retryProblems, retryTiers } from "../../worker/processing/retry-schedule";

describe("retry schedule", () => {
  const policy = { attempts: 4, backoffMs: [1_000, 5_000, 30_000] };

  it("counts the first call as an attempt and gives up after the last", () => {
    expect(planRetry(policy, 1)).to.deep.equal({
      retry: true,
      tier: 0,
      delayMs: 1_000,
      nextAttempt: 2,
    });
    expect(planRetry(policy, 2)).to.deep.equal({
      retry: true,
      tier: 1,
      delayMs: 5_000,
      nextAttempt: 3,
    });
    expect(planRetry(policy, 3)).to.deep.equal({
      retry: true,
      tier: 2,
      delayMs: 30_000,
      nextAttempt: 4,
    });
    expect(planRetry(policy, 4)).to.deep.equal({ retry: false });
    expect(planRetry({ attempts: 1, backoffMs: [1_000] }, 1)).to.deep.equal({ retry: false });
  });

  it("repeats the last delay when there are more retries than delays", () => {
    const plan = planRetry({ attempts: 10, backoffMs: [1_000, 2_000] }, 7);
    expect(plan).to.deep.equal({ retry: true, tier: 1, delayMs: 2_000, nextAttempt: 8 });
  });

  it("lets a longer Retry-After pick the shortest tier that covers it", () => {
    expect(planRetry(policy, 1, 3_000)).to.include({ tier: 1, delayMs: 5_000 });
    expect(planRetry(policy, 1, 5_000)).to.include({ tier: 1, delayMs: 5_000 });
    expect(planRetry(policy, 1, 5_001)).to.include({ tier: 2, delayMs: 30_000 });
  });

  it("caps a Retry-After beyond every tier at the longest tier", () => {
    expect(planRetry(policy, 1, 3_600_000)).to.include({ tier: 2, delayMs: 30_000 });
  });

  it("never shortens the scheduled delay for a shorter Retry-After", () => {
    expect(planRetry(policy, 3, 10)).to.include({ tier: 2, delayMs: 30_000 });
    expect(planRetry(policy, 2, Number.NaN)).to.include({ tier: 1, delayMs: 5_000 });
  });

  it("maps repeated and unsorted backoff values onto distinct sorted tiers", () => {
    const odd = { attempts: 5, backoffMs: [5_000, 1_000, 5_000] };
    expect(retryTiers(odd)).to.deep.equal([1_000, 5_000]);
    expect(planRetry(odd, 1)).to.include({ tier: 1, delayMs: 5_000 });
    expect(planRetry(odd, 2)).to.include({ tier: 0, delayMs: 1_000 });
    expect(planRetry(odd, 3)).to.include({ tier: 1, delayMs: 5_000 });
  });

  it("lists the problems of an unusable policy", () => {
    expect(retryProblems(policy, "backends.x.retry")).to.deep.equal([]);
    expect(retryProblems({ attempts: 0, backoffMs: [] }, "r")).to.deep.equal([
      "r.attempts must be a whole number >= 1",
    ]);
    expect(retryProblems({ attempts: 3, backoffMs: [] }, "r")).to.have.length(1);
    expect(retryProblems({ attempts: 3, backoffMs: [0] }, "r")).to.have.length(1);
  });
});

describe("a delivery's attempt", () => {
  const delivery = (attempt: unknown) =>
    ({
      properties: { headers: attempt === undefined ? {} : { [HEADERS.attempt]: attempt } },
    }) as unknown as ConsumeMessage;

  it("is its header's whole number from 1 up, else the first: retries still run out", () => {
    expect(attemptOf(delivery(undefined))).to.equal(1);
    expect(attemptOf(delivery(3))).to.equal(3);
    expect(attemptOf(delivery("3"))).to.equal(3);
    for (const unreadable of ["x", 0, -2, 2.5, "", null]) {
      expect(attemptOf(delivery(unreadable)), String(unreadable)).to.equal(1);
    }
    // A message put back by hand with a header nobody can read is retried as a first attempt
    // would be, and given up after the last.
    const policy = { attempts: 3, backoffMs: [1_000] };
    let attempt = attemptOf(delivery("not a number"));
    let plan = planRetry(policy, attempt);
    let retries = 0;
    while (plan.retry && retries < 10) {
      retries += 1;
      attempt = plan.nextAttempt;
      plan = planRetry(policy, attempt);
    }
    expect(retries).to.equal(2);
  });
});
