// What the operator journal writes of an action, without Redis: an entry after the action
// whatever came of it (an error thrown included), texts from requests bounded, a bulk run's
// selection without a callback's capability token, and the CLI's user even without a name.

import { expect } from "chai";
import {
  cancelOutcome,
  deadCallbackSelection,
  deadLetterSelection,
  oneOutcome,
  runOutcome,
} from "../../shared/operator/journal-entries";
import {
  bounded,
  cliActor,
  journaled,
  JOURNAL_TEXT_MAX,
  type JournalEntry,
} from "../../shared/operator/operator-journal";

describe("operator journal entries", () => {
  it("journals an action after it ran, with its outcome", async () => {
    const written: JournalEntry[] = [];
    const order: string[] = [];
    const value = await journaled(
      async (entry) => {
        order.push("journal");
        written.push(entry);
      },
      "backend.pause",
      "b",
      async () => {
        order.push("action");
        return { paused: true };
      },
      (state) => ({ result: state.paused ? "paused" : "resumed" }),
    );
    expect(value).to.deep.equal({ paused: true });
    expect(order).to.deep.equal(["action", "journal"]);
    expect(written).to.deep.equal([{ action: "backend.pause", target: "b", result: "paused" }]);
  });

  it("journals an action that threw as an error, then throws it on", async () => {
    const written: JournalEntry[] = [];
    const failing = journaled(
      async (entry) => {
        written.push(entry);
      },
      "message.cancel",
      "m1",
      async () => {
        throw new Error("Command timed out");
      },
      () => ({ result: "cancelled" }),
    );
    let thrown: unknown;
    await failing.catch((error: unknown) => (thrown = error));
    expect((thrown as Error).message).to.equal("Command timed out");
    expect(written).to.deep.equal([
      { action: "message.cancel", target: "m1", result: "error", error: "Command timed out" },
    ]);
  });

  it("bounds a text from a request, never splitting a surrogate pair", () => {
    expect(bounded("short")).to.equal("short");
    const long = bounded("y".repeat(5_000));
    expect(long).to.have.length(JOURNAL_TEXT_MAX);
    expect(long.endsWith("y…")).to.equal(true);
    const emoji = bounded(`${"a".repeat(JOURNAL_TEXT_MAX - 2)}😀😀`);
    expect(emoji).to.equal(`${"a".repeat(JOURNAL_TEXT_MAX - 2)}…`);
    expect(emoji.charCodeAt(emoji.length - 2)).to.be.below(0xd800);
  });

  it("names the CLI's user, or its uid when the user has no name", () => {
    expect(cliActor(() => ({ username: "ops" }))).to.include({
      via: "cli",
      user: "ops",
      pid: process.pid,
    });
    const nameless = cliActor(() => {
      throw new Error("ENOENT: no such file or directory, uv_os_get_passwd");
    });
    expect(nameless).to.include({ via: "cli", user: `uid ${process.getuid?.() ?? "unknown"}` });
    expect((nameless as { host: string }).host)
      .to.be.a("string")
      .and.not.equal("");
  });

  it("writes a bulk run's selection as JSON, a callback URL's query values redacted", () => {
    expect(deadLetterSelection({}, 1000)).to.equal('{"all":true,"limit":1000}');
    expect(deadLetterSelection({ reason: "retries_exhausted", backend: "b" }, 5)).to.equal(
      '{"reason":"retries_exhausted","backend":"b","limit":5}',
    );
    const shown = deadCallbackSelection(
      { target: "https://cb.example.org/h?token=s3cret&n=1", receiver: "xroad:EE/GOV/1/s/svc" },
      10,
    );
    expect(JSON.parse(shown)).to.deep.equal({
      target: "https://cb.example.org/h?token=[redacted]&n=[redacted]",
      receiver: "xroad:EE/GOV/1/s/svc",
      limit: 10,
    });
  });

  it("counts a bulk run's results, and says where it stopped", () => {
    const results = [{ result: "replayed" }, { result: "already" }, { result: "replayed" }];
    expect(runOutcome("replayed", { results, skipped: [{}] })).to.deep.equal({
      result: "done",
      counts: { replayed: 2, already: 1, refused: 0, skipped: 1 },
    });
    expect(
      runOutcome("redelivered", { results: [], skipped: [], failure: "timed out" }),
    ).to.deep.equal({
      result: "stopped",
      counts: { redelivered: 0, already: 0, refused: 0, skipped: 0 },
      error: "timed out",
    });
  });

  it("tells a refusal from an entry that is not there", () => {
    expect(
      oneOutcome({ result: "refused", error: "no such dead letter" }, "no such dead letter"),
    ).to.deep.equal({
      result: "not found",
    });
    expect(
      oneOutcome({ result: "refused", error: "not over" }, "no such dead letter"),
    ).to.deep.equal({
      result: "refused",
      error: "not over",
    });
    expect(oneOutcome({ result: "already" }, "no such dead letter")).to.deep.equal({
      result: "already",
    });
    expect(cancelOutcome({ result: "conflict", state: "processing" })).to.deep.equal({
      result: "refused",
      error: "the message is processing and can no longer be cancelled",
    });
    expect(cancelOutcome({ result: "missing" })).to.deep.equal({ result: "not found" });
  });
});
