// An upgrade onto a broker whose dead-letter.watch an earlier release declared without a
// delivery limit of its own: the broker refuses the declaration with the limit, so each role
// uses the queue as it is, gets ready and warns once with the policy that gives the limit; that
// policy, run as the warning gives it, applies to the queue.

import { expect } from "chai";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import * as amqplib from "amqplib";
import { topologyNames } from "../../shared/protocol/names";
import { AMQP_URL, call, eventually, Harness, type SluiceProcess } from "../support/harness";

const run = promisify(execFile);

/** The watch queue as releases before its delivery limit declared it. */
const EARLIER = { "x-queue-type": "quorum", "x-max-length": 100_000, "x-overflow": "drop-head" };

describe("an upgrade with a dead-letter watch queue of an earlier release", function () {
  this.timeout(90_000);
  const harness = new Harness();
  const watch = topologyNames(harness.prefix).deadLetterWatchQueue;
  // The policy is named for the test's prefix, so it touches no other queue on the broker.
  const policy = `${harness.prefix}dead-letter-watch`;
  let connection: amqplib.ChannelModel;
  let sluice: SluiceProcess;

  const warnings = () =>
    sluice.lines.filter((line) => String(line.msg).includes("exists without its delivery limit"));

  before(async () => {
    await harness.startSim();
    harness.writeConfig({
      services: { s: { protocols: ["rest"], backend: "b" } },
      backends: { b: { translator: "rest-json" } },
    });
    connection = await amqplib.connect(AMQP_URL);
    const channel = await connection.createChannel();
    await channel.assertQueue(watch, { durable: true, arguments: EARLIER });
    await channel.close();
    // Adapter, worker and response worker: each declares the whole topology.
    sluice = await harness.spawn("all");
  });

  after(async () => {
    await run("rabbitmqctl", ["clear_policy", policy]).catch(() => undefined);
    await connection?.close().catch(() => undefined);
    await harness.cleanup();
  });

  it("is ready, keeps the queue as it was declared, and warns once with the policy", async () => {
    expect((await call(`${sluice.adminUrl}/readyz`, { client: null })).status).to.equal(200);
    const lines = warnings();
    expect(lines).to.have.length(1);
    expect(lines[0]).to.include({ level: "warn", queue: watch, deliveryLimit: 10_000 });
    const channel = await connection.createChannel();
    await channel.assertQueue(watch, { durable: true, arguments: EARLIER });
    await channel.close();
    expect(sluice.child.exitCode).to.equal(null);
    expect(sluice.stderr()).to.equal("");
  });

  it("gets the limit from the policy the warning gives", async () => {
    const command =
      /rabbitmqctl set_policy --apply-to queues --priority 10 (\S+) '([^']+)' '([^']+)'/.exec(
        String(warnings()[0].msg),
      );
    expect(command, "the policy command").to.not.equal(null);
    const [, , pattern, definition] = command!;
    expect(JSON.parse(definition)).to.deep.equal({ "delivery-limit": 10_000 });
    await run("rabbitmqctl", ["set_policy", "--apply-to", "queues", policy, pattern, definition]);
    await eventually(
      async () => {
        const { stdout } = await run("rabbitmqctl", ["list_queues", "-q", "name", "policy"]);
        return stdout.split("\n").some((line) => line.trim() === `${watch}\t${policy}`)
          ? true
          : undefined;
      },
      20_000,
      "the policy on the watch queue",
    );
  });
});
