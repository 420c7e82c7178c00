// `sluice dead-letters replay` of a selection against the real broker and Redis: it replays no
// more than the backend's request queue can take below its high-water mark, counting what waits
// there already, and says which it skipped.

import { randomUUID } from "node:crypto";
import amqplib from "amqplib";
import { expect } from "chai";
import { parseOperatorArgs, runOperatorCommand } from "../../cli/operator-commands";
import { BackendPauses } from "../../shared/operator/backend-pauses";
import { whenReady } from "../../shared/store/redis";
import { oneBackendConfig, testScope } from "../support/broker-scope";
import { AMQP_URL } from "../support/harness";
import { recordDeadLetter, requestMessage } from "../support/messages";

describe("sluice dead-letters replay of a selection (real broker and Redis)", function () {
  this.timeout(30_000);
  const scope = testScope("replay-command-test", (prefix) =>
    oneBackendConfig(prefix, { queue: { highWater: 2, maxLength: 10 } }),
  );

  before(() => whenReady(scope.redis));
  after(() => scope.close());

  async function replayAll(): Promise<{
    replayed: Array<{ id: string; result: string }>;
    skipped: Array<{ id: string; reason: string }>;
  }> {
    const parsed = parseOperatorArgs("dead-letters", ["replay", "--all", "--json"]);
    if (typeof parsed === "string") throw new Error(parsed);
    const printed: string[] = [];
    const code = await runOperatorCommand("dead-letters", parsed, scope.config, (text) =>
      printed.push(text),
    );
    expect(code).to.equal(0);
    return JSON.parse(printed.join("\n"));
  }

  it("fills the queue up to its high-water mark, and replays nothing more while they wait", async () => {
    // Oldest first, by the times they carry: ids[0], then ids[1], then ids[2].
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      ids.push(
        await recordDeadLetter(scope.deadLetters, requestMessage(), { at: 1_700_000_000_000 + i }),
      );
    }
    const first = await replayAll();
    expect(first.replayed.map((r) => [r.id, r.result])).to.deep.equal([
      [ids[0], "replayed"],
      [ids[1], "replayed"],
    ]);
    expect(first.skipped.map((s) => s.id)).to.deep.equal([ids[2]]);
    expect(first.skipped[0].reason).to.include("high-water mark");

    // No worker runs: the two replays wait in the queue, which is at its mark.
    const second = await replayAll();
    expect(second.replayed).to.deep.equal([]);
    expect(second.skipped.map((s) => s.id)).to.deep.equal([ids[2]]);
  });

  it("counts the refused ones in a bulk run's last line, and exits 0 as the run went through", async () => {
    // Its backend was removed from the configuration: refused, whatever the queue holds.
    const client = `EE/GOV/${randomUUID()}/app`;
    const id = await recordDeadLetter(
      scope.deadLetters,
      requestMessage({ backend: "gone", client }),
    );
    const parsed = parseOperatorArgs("dead-letters", ["replay", "--client", client]);
    if (typeof parsed === "string") throw new Error(parsed);
    const printed: string[] = [];
    const code = await runOperatorCommand("dead-letters", parsed, scope.config, (text) =>
      printed.push(text),
    );
    expect(code).to.equal(0);
    // "0 replayed, 0 skipped" said the run found nothing to do.
    expect(printed.join("\n").split("\n")).to.deep.equal([
      `${id}: refused (Conflict): backend "gone" is not configured any more`,
      "0 replayed, 1 refused, 0 skipped",
    ]);
  });

  it("notes under a run's replays, and under a single one, that their backend is paused", async () => {
    // The first case's replays wait in the queue at its high-water mark: make room.
    const connection = await amqplib.connect(AMQP_URL);
    try {
      const channel = await connection.createChannel();
      await channel.purgeQueue(scope.names.requestsQueue("b"));
    } finally {
      await connection.close();
    }
    const pauses = new BackendPauses(scope.redis, scope.prefix);
    const { since } = await pauses.pause("b");
    try {
      const client = `EE/GOV/${randomUUID()}/app`;
      const ids = [
        await recordDeadLetter(scope.deadLetters, requestMessage({ client }), { at: 1 }),
        await recordDeadLetter(scope.deadLetters, requestMessage({ client }), { at: 2 }),
      ];
      const run = async (args: string[]) => {
        const parsed = parseOperatorArgs("dead-letters", args);
        if (typeof parsed === "string") throw new Error(parsed);
        const printed: string[] = [];
        await runOperatorCommand("dead-letters", parsed, scope.config, (text) =>
          printed.push(text),
        );
        return printed.join("\n").split("\n");
      };
      const one = await run(["replay", ids[0]]);
      expect(one[0]).to.match(new RegExp(`^${ids[0]}: replayed as `));
      expect(one.at(-1)).to.equal(
        `note: backend b is paused since ${new Date(since!).toISOString()}: the replay waits in its queue until it is resumed (sluice backends resume b --config FILE)`,
      );
      const dry = await run(["replay", "--client", client, "--dry-run"]);
      expect(dry.at(-1)).to.equal(
        "note: backend b is paused: 1 of these replays waits in its queue until it is resumed (sluice backends resume b --config FILE)",
      );
    } finally {
      await pauses.resume("b");
    }
  });

  it("answers a refused single replay with the error's type, as the admin port does", async () => {
    const run = async (args: string[]) => {
      const parsed = parseOperatorArgs("dead-letters", args);
      if (typeof parsed === "string") throw new Error(parsed);
      const printed: string[] = [];
      const code = await runOperatorCommand("dead-letters", parsed, scope.config, (text) =>
        printed.push(text),
      );
      return { code, text: printed.join("\n") };
    };
    const text = await run(["replay", "no-such-id"]);
    expect(text.code).to.equal(1);
    expect(text.text).to.equal("no-such-id: refused (NotFound): no such dead letter");
    const json = await run(["replay", "no-such-id", "--json"]);
    expect(json.code).to.equal(1);
    expect(JSON.parse(json.text)).to.include({
      id: "no-such-id",
      result: "refused",
      type: "NotFound",
      message: "no such dead letter",
    });
  });
});
