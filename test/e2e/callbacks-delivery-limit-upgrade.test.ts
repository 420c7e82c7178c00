// An upgrade onto a broker whose callbacks queue an earlier release declared without a delivery
// limit of its own: the broker refuses the declaration with the limit, so the response worker
// uses the queue as it is, gets ready and warns once with the policy that gives the limit; that
// policy, run as the warning gives it, applies to the queue and to no other callback queue.

import { expect } from "chai";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import * as amqplib from "amqplib";
import { callbackTopology } from "../../response-worker/callback-schedule";
import { AMQP_URL, call, eventually, Harness, type SluiceProcess } from "../support/harness";

const run = promisify(execFile);

/** The callbacks queue as releases before its delivery limit declared it. */
const EARLIER = { "x-queue-type": "quorum" };

describe("an upgrade with a callbacks queue of an earlier release", function () {
  this.timeout(90_000);
  const harness = new Harness();
  const topology = callbackTopology(harness.prefix, [1_000]);
  // The policy is named for the test's prefix, so it touches no other queue on the broker.
  const policy = `${harness.prefix}callbacks`;
  let connection: amqplib.ChannelModel;
  let sluice: SluiceProcess;

  const warnings = () =>
    sluice.lines.filter((line) => String(line.msg).includes("exists without its delivery limit"));
  /** The policy each of this test's queues follows ("" for none). */
  const policies = async () => {
    const { stdout } = await run("rabbitmqctl", ["list_queues", "-q", "name", "policy"]);
    return new Map(
      stdout
        .split("\n")
        .map((line) => line.trim().split("\t"))
        .filter(([name]) => name.startsWith(harness.prefix))
        .map(([name, applied]) => [name, applied ?? ""]),
    );
  };

  before(async () => {
    harness.writeConfig({
      services: { s: { protocols: ["rest"], backend: "b" } },
      backends: { b: { translator: "rest-json", url: "http://127.0.0.1:1" } },
      callbacks: { backoff: ["1s"] },
    });
    connection = await amqplib.connect(AMQP_URL);
    const channel = await connection.createChannel();
    await channel.assertQueue(topology.delivery, { durable: true, arguments: EARLIER });
    await channel.close();
    sluice = await harness.spawn("response-worker");
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
    expect(lines[0]).to.include({
      level: "warn",
      queue: topology.delivery,
      deliveryLimit: 1_000_000,
    });
    const channel = await connection.createChannel();
    await channel.assertQueue(topology.delivery, { durable: true, arguments: EARLIER });
    await channel.close();
    expect(sluice.child.exitCode).to.equal(null);
    expect(sluice.stderr()).to.equal("");
  });

  it("gets the limit from the policy the warning gives, and no other callback queue does", async () => {
    const command =
      /rabbitmqctl set_policy --apply-to queues --priority 10 (\S+) '([^']+)' '([^']+)'/.exec(
        String(warnings()[0].msg),
      );
    expect(command, "the policy command").to.not.equal(null);
    const [, , pattern, definition] = command!;
    expect(JSON.parse(definition)).to.deep.equal({ "delivery-limit": 1_000_000 });
    await run("rabbitmqctl", ["set_policy", "--apply-to", "queues", policy, pattern, definition]);
    await eventually(
      async () => ((await policies()).get(topology.delivery) === policy ? true : undefined),
      20_000,
      "the policy on the callbacks queue",
    );
    const applied = await policies();
    for (const queue of [topology.dead, ...topology.tiers.map((tier) => tier.queue)]) {
      expect(applied.get(queue), queue).to.not.equal(policy);
    }
  });
});
