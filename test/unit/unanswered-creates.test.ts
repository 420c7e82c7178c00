// Undoing creates Redis did not answer: one discard once one is sent (Redis runs it behind the
// create), tried again while none can be sent, and given up after the window.

import { expect } from "chai";
import pino from "pino";
import { UnansweredCreates } from "../../adapter/unanswered-creates";
import type { TransactionMeta } from "../../shared/store/transaction-store";

const meta = { id: "7c2a6e0e-0000-4000-8000-000000000001", xroadId: "x" } as TransactionMeta;
const log = pino({ level: "silent" });

/** A store whose discards fail with `errors` in turn, then succeed. */
function store(errors: string[]) {
  const tries: string[] = [];
  return {
    tries,
    discard: async (m: TransactionMeta) => {
      const error = errors.shift();
      tries.push(error ?? "discarded");
      if (error) throw new Error(error);
      expect(m).to.equal(meta);
      return "discarded" as const;
    },
  };
}

describe("unanswered creates", () => {
  it("sends one discard when it is answered", async () => {
    const s = store([]);
    await new UnansweredCreates(s, log, 60_000).undo(meta);
    expect(s.tries).to.deep.equal(["discarded"]);
  });

  it("stops at a discard that was sent but not answered: Redis runs it behind the create", async () => {
    const s = store(["Command timed out"]);
    await new UnansweredCreates(s, log, 60_000).undo(meta);
    expect(s.tries).to.deep.equal(["Command timed out"]);
  });

  it("tries again while a discard cannot be sent (disconnected), until one is", async () => {
    const notSent = "Stream isn't writeable and enableOfflineQueue options is false";
    const s = store([notSent, notSent]);
    await new UnansweredCreates(s, log, 60_000).undo(meta);
    expect(s.tries).to.deep.equal([notSent, notSent, "discarded"]);
  });

  it("gives up after its window: a resubmission adopts the record then", async () => {
    const notSent = "Stream isn't writeable and enableOfflineQueue options is false";
    const s = store(Array.from({ length: 100 }, () => notSent));
    await new UnansweredCreates(s, log, 0).undo(meta);
    expect(s.tries).to.have.length(1);
  });
});
