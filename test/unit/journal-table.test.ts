// `sluice journal`'s table: the target column is cut to its width, and a discard by id's note
// after it is cut with it.

import { expect } from "chai";
import { runJournalCommand } from "../../cli/journal-commands";
import type { OperatorContext } from "../../cli/operator-context";
import type { JournalRecord } from "../../shared/operator/operator-journal";

async function table(entries: JournalRecord[]): Promise<string> {
  let printed = "";
  const context = {
    parsed: { limit: 10 },
    journal: { newest: async () => entries },
    print: (_value: unknown, text: string) => (printed = text),
  } as unknown as OperatorContext;
  await runJournalCommand(context);
  return printed;
}

const entry = (target: string, note?: string): JournalRecord => ({
  id: "1-0",
  at: "2026-12-06T01:02:03.456Z",
  action: "dead-letter.discard",
  target,
  ...(note === undefined ? {} : { note }),
  result: "discarded",
  via: "cli",
});

describe("sluice journal's table", () => {
  it("cuts a target and its note at 80, never within an emoji", async () => {
    // "abc (note: " is 11 units: the 80th is the first half of the 35th emoji.
    const text = await table([entry("abc", "😀".repeat(60))]);
    expect(text).to.not.match(/\p{Cs}/u);
    expect(text).to.include(`abc (note: ${"😀".repeat(34)} `);
    expect(text).to.not.include("😀".repeat(35));
  });

  it("keeps 80 units of a plain target", async () => {
    const text = await table([entry("x".repeat(100))]);
    expect(text).to.include("x".repeat(80));
    expect(text).to.not.include("x".repeat(81));
  });
});
