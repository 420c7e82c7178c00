// A message's history as the operator's look-up shows it (`sluice messages show`, the same
// document as GET /admin/messages/<id>): each state with the time the record says it was
// reached, against the real Redis the store writes it to.

import { randomUUID } from "node:crypto";
import { expect } from "chai";
import Redis from "ioredis";
import { parseOperatorArgs, runOperatorCommand } from "../../cli/operator-commands";
import { compileConfig } from "../../shared/config/config";
import { TransactionStore } from "../../shared/store/transaction-store";
import { REDIS_URL } from "../support/harness";
import { transactionMeta } from "../support/messages";

describe("a message's history in the operator's look-up (real Redis)", () => {
  const prefix = `t-${randomUUID().slice(0, 8)}.`;
  const config = compileConfig(
    {
      prefix,
      services: { svc: { protocols: ["rest"], reply: { mode: "ack" }, backend: "b" } },
      backends: { b: { url: "http://127.0.0.1:9", translator: "rest-json" } },
    },
    ".",
  );
  const redis = new Redis(REDIS_URL);
  const store = new TransactionStore(redis, prefix, config.retentionMs);

  after(async () => {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length) await redis.del(...keys);
    redis.disconnect();
  });

  async function show(id: string): Promise<{
    updatedAt: string;
    history: Array<{ state: string; at: string }>;
  }> {
    const parsed = parseOperatorArgs("messages", ["show", id, "--json"]);
    if (typeof parsed === "string") throw new Error(parsed);
    const printed: string[] = [];
    const code = await runOperatorCommand("messages", parsed, config, (text) => printed.push(text));
    expect(code).to.equal(0);
    return JSON.parse(printed.join("\n"));
  }

  it("shows when each state was reached: acceptance at the record's creation, later ones after it", async () => {
    // A creation time the test chooses, long before any change the store stamps itself.
    const createdAt = Date.parse("2021-03-04T05:06:07.089Z");
    const meta = transactionMeta({ createdAt });
    expect(await store.create(meta)).to.deep.equal({ created: true });
    expect((await store.transition(meta.id, ["accepted"], "processing")).result).to.equal("ok");
    expect(
      (
        await store.transition(meta.id, ["processing"], "failed", {
          error: { code: "BackendFailed", message: "backend b answered 500" },
        })
      ).result,
    ).to.equal("ok");

    const { history, updatedAt } = await show(meta.id);
    expect(history.map((entry) => entry.state)).to.deep.equal(["accepted", "processing", "failed"]);
    expect(history[0].at).to.equal("2021-03-04T05:06:07.089Z");
    for (const { at } of history) expect(new Date(at).toISOString()).to.equal(at);
    // Each change after the first at or after the one before it, and all after the creation.
    const times = history.map((entry) => Date.parse(entry.at));
    for (let i = 1; i < times.length; i++) {
      expect(times[i]).to.be.above(createdAt);
      expect(times[i]).to.be.at.least(times[i - 1]);
    }
    // The last change is the record's latest: its time is the document's updatedAt.
    expect(history.at(-1)!.at).to.equal(updatedAt);
  });
});
