// The history of a message's status document, as callers, callbacks and the operator's look-up
// see it: each state with the instant the record gives it, in ISO time, in the record's order.

import { expect } from "chai";
import { statusDocument } from "../../shared/store/status-document";
import { transactionMeta } from "../support/messages";
import type { Transaction } from "../../shared/store/transaction-store";

describe("status document history", () => {
  it("gives each state the instant the record holds for it, not the creation or last change", () => {
    const t0 = Date.parse("2026-01-05T08:00:00.000Z");
    const tx: Transaction = {
      ...transactionMeta({ createdAt: t0 }),
      state: "completed",
      delivery: "delivered",
      updatedAt: t0 + 9_000,
      history: [
        { state: "accepted", at: t0 },
        { state: "processing", at: t0 + 1_250 },
        { state: "completed", at: t0 + 4_007 },
        { state: "delivered", at: t0 + 9_000 },
      ],
      responses: [],
      error: null,
      processedAt: t0 + 4_000,
      published: true,
      replayOf: null,
      replayedAs: null,
    };
    expect(statusDocument(tx).history).to.deep.equal([
      { state: "accepted", at: "2026-01-05T08:00:00.000Z" },
      { state: "processing", at: "2026-01-05T08:00:01.250Z" },
      { state: "completed", at: "2026-01-05T08:00:04.007Z" },
      { state: "delivered", at: "2026-01-05T08:00:09.000Z" },
    ]);
  });
});
