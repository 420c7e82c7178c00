// A replay whose publisher dies between its claim and the broker's confirm: the CLI replaying
// a dead letter is killed while its publish is on the way (an AMQP proxy swallows the publish,
// so it never reaches the broker). The replay must not stay `accepted` for ever: the next
// request to replay that dead letter sends it under the same id once nobody is publishing it,
// and it is processed once.

import type { ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { expect } from "chai";
import {
  AMQP_URL,
  call,
  eventually,
  Harness,
  type SluiceProcess,
  type CallOptions,
} from "../support/harness";
import { proxyTo, viaProxy, type ClientFilter } from "../support/tcp-proxy";
import { spawn } from "../support/spawned-children";

const BIN = path.resolve(__dirname, "..", "..", "..", "bin", "sluice.js");

/**
 * Passes an AMQP client's frames through until its first `basic.publish`; from then on nothing
 * more of that connection reaches the broker. Counts what it swallowed in `seen.publishes`.
 */
function publishSwallower(seen: { publishes: number }): ClientFilter {
  let pending = Buffer.alloc(0);
  let headerSeen = false;
  let cut = false;
  return (chunk) => {
    if (cut) return Buffer.alloc(0);
    pending = Buffer.concat([pending, chunk]);
    const pass: Buffer[] = [];
    // Whole frames only, so a publish is recognised before any of it is passed on.
    if (!headerSeen) {
      if (pending.length < 8) return Buffer.alloc(0);
      pass.push(pending.subarray(0, 8));
      pending = pending.subarray(8);
      headerSeen = true;
    }
    while (pending.length >= 7) {
      const size = pending.readUInt32BE(3);
      if (pending.length < size + 8) break;
      const frame = pending.subarray(0, size + 8);
      if (
        frame[0] === 1 &&
        size >= 4 &&
        frame.readUInt16BE(7) === 60 &&
        frame.readUInt16BE(9) === 40
      ) {
        cut = true;
        seen.publishes += 1;
        break;
      }
      pass.push(frame);
      pending = pending.subarray(size + 8);
    }
    return Buffer.concat(pass);
  };
}

describe("a replay whose publisher was killed before the broker's confirm", function () {
  this.timeout(90_000);
  const harness = new Harness();
  const swallowed = { publishes: 0 };
  const proxy = proxyTo(AMQP_URL, () => publishSwallower(swallowed));
  let sluice: SluiceProcess;
  let cli: ChildProcess | null = null;
  let cliConfig = "";

  before(async () => {
    await harness.startSim({ latencyMs: 0 });
    const config = {
      services: { orders: { protocols: ["rest"], reply: { mode: "ack" }, backend: "flaky" } },
      backends: { flaky: { retry: { attempts: 1, backoff: ["100ms"] } } },
    };
    harness.writeConfig(config);
    // The CLI reaches the broker through the proxy; everything else is the same deployment.
    const amqpUrl = viaProxy(AMQP_URL, await proxy.listen());
    cliConfig = path.join(harness.dir, "cli.json");
    const shared = JSON.parse(readFileSync(harness.configFile, "utf8")) as Record<string, unknown>;
    writeFileSync(cliConfig, JSON.stringify({ ...shared, amqpUrl }));
    sluice = await harness.spawn("all");
  });
  after(async () => {
    cli?.kill("SIGKILL");
    await proxy.close();
    await harness.cleanup();
  });

  const admin = (route: string, options?: CallOptions) => harness.admin(sluice, route, options);
  const status = async (id: string) => (await call(`${sluice.url}/messages/${id}`)).json;

  it("is sent again under the same id by the next replay, once, and completes", async () => {
    await harness.sim.update({ errorRate: 1 });
    const submitted = await call(`${sluice.url}/rest/orders/orders`, {
      body: JSON.stringify({ order: 1 }),
      headers: { "X-Road-Id": randomUUID() },
    });
    expect(submitted.status).to.equal(202);
    const original = submitted.json.id as string;
    await eventually(
      async () =>
        (await admin(`/admin/dead-letters/${original}`)).status === 200 ? true : undefined,
      20_000,
      "the dead letter",
    );
    await harness.sim.update({ errorRate: 0 });

    // The CLI claims the replay in Redis, then its publish is swallowed: killed now, it dies
    // between the claim and the confirm.
    cli = spawn(
      process.execPath,
      [BIN, "dead-letters", "replay", original, "--config", cliConfig],
      {
        env: { ...process.env, LOG_LEVEL: "warn" },
        stdio: "ignore",
      },
    );
    const exitedEarly = new Promise<never>((_, reject) =>
      cli!.once("exit", (code) =>
        reject(new Error(`the CLI exited (${code}) before it was killed`)),
      ),
    );
    const replayId = await Promise.race([
      exitedEarly,
      eventually(
        async () => {
          const entry = (await admin(`/admin/dead-letters/${original}`)).json;
          return entry.replayedAs && swallowed.publishes > 0
            ? (entry.replayedAs as string)
            : undefined;
        },
        30_000,
        "the CLI to claim the replay and publish it",
      ),
    ]);
    cli.removeAllListeners("exit");
    cli.kill("SIGKILL");
    exitedEarly.catch(() => undefined);

    expect((await status(replayId)).state).to.equal("accepted");
    // Right after the claim nobody may send it again: its publisher could still be at it.
    const soon = await admin(`/admin/dead-letters/${original}/replay`, { method: "POST" });
    expect(soon.json).to.include({ result: "already", replayedAs: replayId });

    // Once the claim's publishing mark expired (publish timeout + grace, Redis's clock), the
    // next request takes the replay over.
    const resumed = await eventually(
      async () => {
        const answer = await admin(`/admin/dead-letters/${original}/replay`, { method: "POST" });
        return answer.json.result === "already" ? undefined : answer.json;
      },
      40_000,
      "the replay to be taken over",
    );
    expect(resumed).to.include({ result: "replayed", replayedAs: replayId, resumed: true });

    const done = await eventually(async () => {
      const doc = await status(replayId);
      return doc.state === "accepted" || doc.state === "processing" ? undefined : doc;
    }, 20_000);
    expect(done).to.include({ state: "completed", replayOf: original });
    // The original's failed call, then the replay's one call with the original's key.
    expect(harness.sim.calls({ id: original }).map((c) => c.status)).to.deep.equal([500, 200]);

    // Confirmed now: asked again, nothing is sent.
    const after = await admin(`/admin/dead-letters/${original}/replay`, { method: "POST" });
    expect(after.json).to.include({ result: "already", replayedAs: replayId });
    expect(after.json).to.not.have.property("resumed");
  });
});
