import { expect } from "chai";
import {
  CALLBACK_QUEUE_ARGUMENTS,
  callbacksPolicyCommand,
  DEFAULT_CALLBACK_BACKOFF_MS,
  asideTier,
  callbackTopology,
  deadQueueArguments,
  deadQueuePolicyCommand,
  DEFAULT_DEAD_QUEUE_BOUND,
  nextTier,
  waitTier,
  STEP_ASIDE_DELAYS_MS,
  tierQueueArguments,
} from "../../response-worker/callback-schedule";

describe("callback schedule", () => {
  it("defaults to 5 s, 5 min, 30 min, 2 h, 5 h, 10 h", () => {
    expect(DEFAULT_CALLBACK_BACKOFF_MS).to.deep.equal([
      5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000,
    ]);
  });

  it("names one delay queue per distinct delay that dead-letters back to delivery", () => {
    const topology = callbackTopology("t-x.", [1000, 200, 1000]);
    expect(topology.delivery).to.equal("t-x.callbacks");
    expect(topology.dead).to.equal("t-x.callbacks.dead");
    expect(topology.tiers).to.deep.equal([
      { delayMs: 200, queue: "t-x.callbacks.delay.200ms" },
      { delayMs: 1000, queue: "t-x.callbacks.delay.1000ms" },
    ]);
    expect(tierQueueArguments(200, topology.delivery)).to.deep.equal({
      "x-queue-type": "quorum",
      "x-message-ttl": 200,
      "x-overflow": "reject-publish",
      "x-dead-letter-strategy": "at-least-once",
      "x-dead-letter-exchange": "",
      "x-dead-letter-routing-key": "t-x.callbacks",
    });
  });

  it("keeps a busy receiver's jobs apart from the backoff, waiting longer each time, up to a cap", () => {
    const topology = callbackTopology("t-x.", [3_600_000]);
    expect(topology.aside.map((tier) => tier.queue)).to.deep.equal(
      STEP_ASIDE_DELAYS_MS.map((ms) => `t-x.callbacks.aside.${ms}ms`),
    );
    const waits = [0, 1, 2, 3, 4, 5, 50].map((before) => asideTier(topology, before).delayMs);
    expect(waits).to.deep.equal([1_000, 2_000, 5_000, 10_000, 30_000, 30_000, 30_000]);
  });

  it("follows the backoff per failed attempt and stops after the last step", () => {
    const topology = callbackTopology("", DEFAULT_CALLBACK_BACKOFF_MS);
    expect(nextTier(topology, 1)?.tier.delayMs).to.equal(5_000);
    expect(nextTier(topology, 2)?.tier.delayMs).to.equal(300_000);
    expect(nextTier(topology, 6)?.tier.delayMs).to.equal(36_000_000);
    expect(nextTier(topology, 7)).to.equal(null);
    expect(nextTier(topology, 0)).to.equal(null);
  });

  it("waits at least as long as Retry-After asks: in the shortest tier that long, else again after the longest", () => {
    const topology = callbackTopology("", DEFAULT_CALLBACK_BACKOFF_MS);
    const wait = (attempt: number, retryAfterMs?: number) => {
      const next = nextTier(topology, attempt, retryAfterMs);
      return next && [next.tier.delayMs, next.delayMs];
    };
    expect(wait(1, 60_000)).to.deep.equal([300_000, 60_000]);
    expect(wait(1, 1_000)).to.deep.equal([5_000, 5_000]);
    // 20 h: longer than every tier (10 h): the longest, and the rest of the 20 h after it.
    expect(wait(1, 72_000_000)).to.deep.equal([36_000_000, 72_000_000]);
    expect(waitTier(topology, 36_000_000).delayMs).to.equal(36_000_000);
    expect(waitTier(topology, 1).delayMs).to.equal(5_000);
  });

  it("refuses delays that are not positive whole milliseconds", () => {
    expect(() => callbackTopology("", [0])).to.throw(/positive/);
    expect(() => callbackTopology("", [1.5])).to.throw(/positive/);
  });

  it("bounds callbacks.dead to the newest records, for retention, by default 100 000 and 7 days", () => {
    expect(deadQueueArguments(DEFAULT_DEAD_QUEUE_BOUND)).to.deep.equal({
      "x-queue-type": "quorum",
      "x-max-length": 100_000,
      "x-message-ttl": 604_800_000,
      "x-overflow": "drop-head",
    });
  });

  it("gives the policy for an unbounded callbacks.dead, matching that queue only", () => {
    const bound = { maxLength: 5, ttlMs: 60_000 };
    expect(deadQueuePolicyCommand("callbacks.dead", DEFAULT_DEAD_QUEUE_BOUND)).to.equal(
      "rabbitmqctl set_policy --apply-to queues sluice-callbacks-dead '^callbacks\\.dead$' " +
        '\'{"max-length":100000,"overflow":"drop-head","message-ttl":604800000}\'',
    );
    const command = deadQueuePolicyCommand("t-1a2b+c.callbacks.dead", bound);
    // Named under the installation's prefix: another installation's policy stays as it is.
    expect(command).to.include(" --apply-to queues t-1a2b+c.sluice-callbacks-dead '");
    const pattern = new RegExp(/'(\^[^']+)'/.exec(command)![1]);
    expect(pattern.test("t-1a2b+c.callbacks.dead")).to.equal(true);
    expect(pattern.test("t-1a2bbc.callbacks.dead")).to.equal(false);
    expect(pattern.test("t-1a2b+c.callbacks.dead.old")).to.equal(false);
  });

  it("gives callbacks a delivery limit of its own, far above RabbitMQ 4's default of 20", () => {
    expect(CALLBACK_QUEUE_ARGUMENTS).to.deep.equal({
      "x-queue-type": "quorum",
      "x-delivery-limit": 1_000_000,
    });
  });

  it("gives the policy for a callbacks queue without its limit, matching that queue only", () => {
    expect(callbacksPolicyCommand("callbacks")).to.equal(
      "rabbitmqctl set_policy --apply-to queues --priority 10 sluice-callbacks '^callbacks$' " +
        "'{\"delivery-limit\":1000000}'",
    );
    const command = callbacksPolicyCommand("t-1a2b+c.callbacks");
    // Named under the installation's prefix: another installation's policy stays as it is.
    expect(command).to.include(" --priority 10 t-1a2b+c.sluice-callbacks '");
    const pattern = new RegExp(/'(\^[^']+)'/.exec(command)![1]);
    expect(pattern.test("t-1a2b+c.callbacks")).to.equal(true);
    expect(pattern.test("t-1a2bbc.callbacks")).to.equal(false);
    // Not callbacks.dead nor a delay queue: each keeps its own policy, if it has one.
    expect(pattern.test("t-1a2b+c.callbacks.dead")).to.equal(false);
    expect(pattern.test("t-1a2b+c.callbacks.delay.5000ms")).to.equal(false);
  });
});
