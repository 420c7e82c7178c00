// `sluice dead-callbacks redeliver --all` stopped by Ctrl-C: as a bulk replay, it stops at its
// next dead callback and prints what it redelivered and what it skipped, exit 0. Without a
// handler the signal ended the process wherever it was, printing nothing, and could leave a
// redelivery claimed between its claim and the broker's confirm. Real broker and Redis.

import { randomUUID } from "node:crypto";
import { expect } from "chai";
import { parseOperatorArgs, runOperatorCommand } from "../../cli/operator-commands";
import pino from "pino";
import { DeadCallbacks } from "../../shared/operator/dead-callbacks";
import { OperatorJournal } from "../../shared/operator/operator-journal";
import { whenReady } from "../../shared/store/redis";
import {
  type BrokerSide,
  connectBroker,
  declareCallbacksQueue,
  testScope,
} from "../support/broker-scope";
import { eventually } from "../support/harness";
import { recordDeadCallback } from "../support/messages";

const silent = pino({ level: "silent" });

describe("sluice dead-callbacks redeliver interrupted (real broker and Redis)", function () {
  this.timeout(60_000);
  const scope = testScope("redeliver-command-test");
  const { prefix, names, redis, store } = scope;
  const deadCallbacks = new DeadCallbacks(redis, prefix, 60_000);
  let amqp: BrokerSide;

  before(async () => {
    await whenReady(redis);
    amqp = await connectBroker(scope, { declare: false });
    await declareCallbacksQueue(amqp, names);
  });
  after(async () => {
    await amqp?.close();
    await scope.close();
  });

  it("stops at its next dead callback on SIGINT and prints what it did, exit 0", async () => {
    const ids: string[] = [];
    for (let batch = 0; batch < 20; batch++) {
      ids.push(
        ...(await Promise.all(
          Array.from({ length: 100 }, async (_, i) => {
            const at = 1_700_000_000_000 + batch * 100 + i;
            return (await recordDeadCallback(store, deadCallbacks, { at })).id;
          }),
        )),
      );
    }
    const parsed = parseOperatorArgs("dead-callbacks", [
      "redeliver",
      "--all",
      "--limit",
      "3000",
      "--json",
    ]);
    if (typeof parsed === "string") throw new Error(parsed);
    const printed: string[] = [];
    const before = new Set(process.listeners("SIGINT"));
    const running = runOperatorCommand("dead-callbacks", parsed, scope.config, (text) =>
      printed.push(text),
    );
    // Once the first is sent, as an operator's Ctrl-C in the middle of the run.
    await eventually(async () =>
      (await store.get(ids[0]))?.delivery === "pending" ? true : undefined,
    );
    // The command's own SIGINT listener is called, as Ctrl-C would: emitting SIGINT on the
    // process also ran listeners other test files left in this mocha worker, and one of them
    // ended the worker with exit code 130 in clean-clone CI runs.
    const added = process.listeners("SIGINT").filter((listener) => !before.has(listener));
    expect(added, "the command listens for SIGINT").to.have.length(1);
    for (const listener of added) (listener as (signal: string) => void)("SIGINT");
    expect(await running).to.equal(0);
    const { redelivered, skipped } = JSON.parse(printed.join("\n")) as {
      redelivered: Array<{ id: string; result: string }>;
      skipped: Array<{ id: string; reason: string }>;
    };
    expect(redelivered.length).to.be.greaterThan(0);
    expect(skipped.length).to.be.greaterThan(0);
    expect(redelivered.length + skipped.length).to.equal(ids.length);
    for (const skip of skipped) expect(skip.reason).to.include("shutting down");
    // The journal says it was cut short, not `done` as if it had redelivered all it selected.
    const [entry] = await new OperatorJournal(redis, prefix, silent).newest(1);
    expect(entry).to.include({
      action: "dead-callback.redeliver-bulk",
      result: "stopped",
      error: "interrupted: the process was told to stop; ask again for the rest",
    });
    expect(entry.counts).to.include({ skipped: skipped.length });
  });

  it("counts the refused ones in a bulk run's last line, and exits 0 as a bulk replay does", async () => {
    const target = `https://cb.example.org/hooks/${randomUUID()}`;
    const { id } = await recordDeadCallback(store, deadCallbacks, { target });
    const parsed = parseOperatorArgs("dead-callbacks", ["redeliver", "--target", target]);
    if (typeof parsed === "string") throw new Error(parsed);
    const printed: string[] = [];
    // Its job is larger than the broker takes here: refused, and the run goes on.
    const small = { ...scope.config, amqpMaxMessageBytes: 64 };
    const code = await runOperatorCommand("dead-callbacks", parsed, small, (text) =>
      printed.push(text),
    );
    // It exited 1 here while a bulk replay with a refusal exited 0, and its last line left the
    // refusal out ("0 redelivered").
    expect(code).to.equal(0);
    const lines = printed.join("\n").split("\n");
    expect(lines[0]).to.match(new RegExp(`^${id}: refused`));
    expect(lines.at(-1)).to.equal("0 redelivered, 1 refused, 0 skipped");
  });

  it("answers a refused single redelivery with the error's type, as the admin port does", async () => {
    const parsed = parseOperatorArgs("dead-callbacks", ["redeliver", "no-such-id"]);
    if (typeof parsed === "string") throw new Error(parsed);
    const printed: string[] = [];
    const code = await runOperatorCommand("dead-callbacks", parsed, scope.config, (text) =>
      printed.push(text),
    );
    expect(code).to.equal(1);
    expect(printed.join("\n")).to.equal("no-such-id: refused (NotFound): no such dead callback");
  });
});
