// The worker's hold on a message's claim: right before a call, a claim not confirmed for half a
// lease (the process stood still: paused, starved, Redis out of reach) is asked about in Redis,
// and a lost one stops the call; a fresh one costs no round trip.

import { expect } from "chai";
import { performance } from "node:perf_hooks";
import type { ClaimRenewal, TransactionStore } from "../../shared/store/transaction-store";
import { ClaimHold } from "../../worker/processing/claim-hold";
import { transactionMeta } from "../support/messages";

/** The message held: its record is written again from this should Redis lose it. */
const meta = transactionMeta({ id: "m" });

/** A store whose renewals answer `answer` and are counted. */
function storeAnswering(answer: ClaimRenewal) {
  const asked: Array<{ id: string; ms: number; token: string }> = [];
  const options: Array<Parameters<TransactionStore["renewClaim"]>[3]> = [];
  const store = {
    async renewClaim(
      id: string,
      ms: number,
      token: string,
      given: Parameters<TransactionStore["renewClaim"]>[3],
    ): Promise<ClaimRenewal> {
      asked.push({ id, ms, token });
      options.push(given);
      return answer;
    },
  } as unknown as TransactionStore;
  return { store, asked, options };
}

describe("claim hold", () => {
  it("a claim set less than half a lease ago is held without asking Redis", async () => {
    const { store, asked } = storeAnswering("lost");
    const hold = new ClaimHold(store, meta, "t", 60_000, performance.now());
    expect(await hold.stillHeld()).to.equal(true);
    expect(asked).to.deep.equal([]);
  });

  it("a claim last set half a lease ago or more is asked about; lost, the worker stops", async () => {
    const { store, asked } = storeAnswering("lost");
    const hold = new ClaimHold(store, meta, "t", 60_000, performance.now() - 30_000);
    expect(await hold.stillHeld()).to.equal(false);
    expect(hold.lost).to.equal(true);
    expect(asked).to.deep.equal([{ id: "m", ms: 60_000, token: "t" }]);
    // Lost stays lost, without asking again.
    expect(await hold.stillHeld()).to.equal(false);
    expect(await hold.renew(60_000)).to.equal(false);
    expect(asked).to.have.length(1);
  });

  it("a stale claim Redis still has is renewed, and counts as fresh again", async () => {
    const { store, asked } = storeAnswering("held");
    const hold = new ClaimHold(store, meta, "t", 60_000, performance.now() - 45_000);
    expect(await hold.stillHeld()).to.equal(true);
    expect(await hold.stillHeld()).to.equal(true);
    expect(asked).to.have.length(1);
  });

  it("a renewal carries what the record is written again from, and whether a call was made", async () => {
    const { store, options } = storeAnswering("held");
    const hold = new ClaimHold(store, meta, "t", 60_000, performance.now());
    await hold.renew(60_000);
    hold.called = true;
    await hold.renew(60_000);
    // Once the outcome is recorded, a lost record is left to the response worker to write.
    hold.recorded = true;
    await hold.renew(60_000);
    expect(options).to.deep.equal([
      { called: false, meta },
      { called: true, meta },
      { called: true, meta: undefined },
    ]);
  });

  it("a record Redis lost is nobody else's claim: the worker carries on", async () => {
    const { store, asked } = storeAnswering("missing");
    const hold = new ClaimHold(store, meta, "t", 60_000, performance.now() - 45_000);
    expect(await hold.stillHeld()).to.equal(true);
    expect(hold.lost).to.equal(false);
    expect(asked).to.have.length(1);
  });
});
