// Which state changes a state notice stands for, and how each is shown: the notice's own
// history entry with the `accepted` before it, keyed by occurrence, as the message stood then.

import { expect } from "chai";
import { stateChanges } from "../../response-worker/correlator";
import { stateNoticeCodec } from "../../shared/protocol/codec";
import type { State, Transaction } from "../../shared/store/transaction-store";

function transaction(history: Array<[State | "delivered", number]>, state: State): Transaction {
  return {
    id: "0b7e1c2a-5d1f-4e63-9a55-2f1d1e6b7c10",
    xroadId: null,
    service: "lookup",
    backend: "sim",
    client: "EE/GOV/70000001/alice",
    protocol: "rest",
    replyMode: "ack",
    owner: null,
    callback: null,
    createdAt: 1_000,
    expiresAt: null,
    state,
    delivery: "delivered",
    updatedAt: 9_000,
    history: history.map(([s, at]) => ({ state: s, at })),
    responses: [
      {
        seq: 1,
        final: true,
        status: 200,
        contentType: "application/json",
        body: "{}",
        bodyEncoding: "utf8",
        outcome: "completed",
        producedAt: 8_000,
      },
    ],
    error: null,
    processedAt: 7_000,
    published: true,
  };
}

const keysAndStates = (changes: ReturnType<typeof stateChanges>) =>
  changes.map((c) => [c.eventKey, c.tx.state]);

describe("stateChanges", () => {
  const retried = transaction(
    [
      ["accepted", 1_000],
      ["processing", 2_000],
      ["accepted", 3_000],
      ["processing", 4_000],
      ["completed", 5_000],
      ["delivered", 6_000],
    ],
    "completed",
  );

  it("tells a claim together with the accepted before it", () => {
    expect(keysAndStates(stateChanges(retried, { state: "processing", at: 2_100 }))).to.deep.equal([
      ["accepted.1", "accepted"],
      ["processing.1", "processing"],
    ]);
  });

  it("picks the claim the notice was sent for, even when the message moved on", () => {
    expect(keysAndStates(stateChanges(retried, { state: "processing", at: 4_000 }))).to.deep.equal([
      ["accepted.2", "accepted"],
      ["processing.2", "processing"],
    ]);
  });

  it("shows each change as the message stood right after it", () => {
    const [accepted, processing] = stateChanges(retried, { state: "processing", at: 4_500 });
    expect(accepted.tx.history.map((h) => h.state)).to.deep.equal([
      "accepted",
      "processing",
      "accepted",
    ]);
    expect(processing.tx).to.include({
      state: "processing",
      updatedAt: 4_000,
      delivery: "pending",
    });
    expect(processing.tx.responses).to.deep.equal([]);
    expect(processing.tx.error).to.equal(null);
  });

  it("tells a cancel as the record is now, after its accepted", () => {
    const cancelled = transaction(
      [
        ["accepted", 1_000],
        ["cancelled", 2_000],
      ],
      "cancelled",
    );
    const changes = stateChanges(cancelled, { state: "cancelled", at: 2_000 });
    expect(keysAndStates(changes)).to.deep.equal([
      ["accepted.1", "accepted"],
      ["cancelled", "cancelled"],
    ]);
    expect(changes[1].tx).to.equal(cancelled);
  });

  it("tells a cancel whose notice a host with a clock behind the canceller's sent", () => {
    // The worker that meets a cancelled message re-sends the cancel's notice stamped with its
    // own clock; a few ms behind the adapter's, the cancel (once, terminal) must still be told,
    // or the response worker marks it told with nothing handed over and drops the adapter's.
    const cancelled = transaction(
      [
        ["accepted", 1_000],
        ["cancelled", 2_000],
      ],
      "cancelled",
    );
    expect(keysAndStates(stateChanges(cancelled, { state: "cancelled", at: 1_995 }))).to.deep.equal(
      [
        ["accepted.1", "accepted"],
        ["cancelled", "cancelled"],
      ],
    );
  });

  it("stands for nothing when the history has no such change yet", () => {
    expect(stateChanges(retried, { state: "processing", at: 1_500 })).to.deep.equal([]);
    expect(stateChanges(retried, { state: "cancelled", at: 9_000 })).to.deep.equal([]);
  });
});

describe("stateNoticeCodec", () => {
  it("reads a notice and refuses anything else", () => {
    const notice = { kind: "state", id: "x", state: "processing", at: 5 };
    const decoded = stateNoticeCodec.decode(Buffer.from(JSON.stringify(notice)));
    expect(decoded.ok && decoded.message).to.deep.equal(notice);
    for (const bad of [
      "not json",
      "null",
      JSON.stringify({ ...notice, kind: "response" }),
      JSON.stringify({ ...notice, state: "completed" }),
      JSON.stringify({ ...notice, at: "5" }),
      JSON.stringify({ id: "x", seq: 1, final: true }),
    ]) {
      expect(stateNoticeCodec.decode(Buffer.from(bad)).ok, bad).to.equal(false);
    }
  });
});
