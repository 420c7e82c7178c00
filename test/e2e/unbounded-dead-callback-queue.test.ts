// An upgrade onto a broker whose callbacks.dead an earlier release declared without a bound
// (a quorum queue with no x-max-length): the broker refuses the bounded declaration, so the
// response worker uses the queue as it is, gets ready and warns once with the policy that
// bounds it; that policy, run as the warning gives it, does bound the queue.

import { expect } from "chai";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import * as amqplib from "amqplib";
import { callbackTopology } from "../../response-worker/callback-schedule";
import { AMQP_URL, call, eventually, Harness, type SluiceProcess } from "../support/harness";

const run = promisify(execFile);

describe("an upgrade with an unbounded callbacks.dead of an earlier release", function () {
  this.timeout(90_000);
  const harness = new Harness();
  const topology = callbackTopology(harness.prefix, [1_000]);
  // The policy the warning names, under the test's prefix as every installation's is: it
  // replaces no other installation's policy on the broker.
  const policy = `${harness.prefix}sluice-callbacks-dead`;
  let connection: amqplib.ChannelModel;
  let sluice: SluiceProcess;

  const depth = async () => {
    const channel = await connection.createChannel();
    const { messageCount } = await channel.checkQueue(topology.dead);
    await channel.close();
    return messageCount;
  };
  const publish = async (bodies: string[]) => {
    const channel = await connection.createConfirmChannel();
    for (const body of bodies)
      channel.sendToQueue(topology.dead, Buffer.from(body), { persistent: true });
    await channel.waitForConfirms();
    await channel.close();
  };
  const warnings = () =>
    sluice.lines.filter((line) => String(line.msg).includes("exists without the bound"));

  before(async () => {
    harness.writeConfig({
      services: { s: { protocols: ["rest"], backend: "b" } },
      backends: { b: { translator: "rest-json", url: "http://127.0.0.1:1" } },
      callbacks: { backoff: ["1s"], deadMaxLength: 3 },
      retention: "1h",
    });
    // callbacks.dead as the previous release declared it, holding its records.
    connection = await amqplib.connect(AMQP_URL);
    const channel = await connection.createChannel();
    await channel.assertQueue(topology.dead, {
      durable: true,
      arguments: { "x-queue-type": "quorum" },
    });
    await channel.close();
    await publish(["old-1", "old-2", "old-3", "old-4"]);
    sluice = await harness.spawn("response-worker");
  });

  after(async () => {
    await run("rabbitmqctl", ["clear_policy", policy]).catch(() => undefined);
    await connection?.close().catch(() => undefined);
    await harness.cleanup();
  });

  it("is ready, keeps the queue and its records, and warns once with the policy", async () => {
    expect((await call(`${sluice.adminUrl}/readyz`, { client: null })).status).to.equal(200);
    const lines = warnings();
    expect(lines).to.have.length(1);
    expect(lines[0]).to.include({
      level: "warn",
      queue: topology.dead,
      maxLength: 3,
      ttlMs: 3_600_000,
    });
    expect(String(lines[0].msg)).to.include("rabbitmqctl set_policy");
    expect(await depth()).to.equal(4);
    expect(sluice.child.exitCode).to.equal(null);
    expect(sluice.stderr()).to.equal("");
  });

  it("is bounded by the policy the warning gives", async () => {
    const command = /rabbitmqctl set_policy --apply-to queues (\S+) '([^']+)' '([^']+)'/.exec(
      String(warnings()[0].msg),
    );
    expect(command, "the policy command").to.not.equal(null);
    const [, name, pattern, definition] = command!;
    expect(name).to.equal(policy);
    expect(JSON.parse(definition)).to.deep.equal({
      "max-length": 3,
      overflow: "drop-head",
      "message-ttl": 3_600_000,
    });
    await run("rabbitmqctl", ["set_policy", "--apply-to", "queues", policy, pattern, definition]);
    // The broker applies a policy shortly after taking it; new records then push out the oldest.
    let n = 0;
    await eventually(
      async () => {
        await publish([`new-${++n}`]);
        return (await depth()) === 3 ? true : undefined;
      },
      20_000,
      "the policy's bound",
    );
    await publish(["newest"]);
    expect(await depth()).to.equal(3);
    const channel = await connection.createChannel();
    const bodies: string[] = [];
    for (let m = await channel.get(topology.dead); m; m = await channel.get(topology.dead)) {
      bodies.push(m.content.toString());
      channel.ack(m);
    }
    await channel.close();
    expect(bodies[bodies.length - 1]).to.equal("newest");
    expect(bodies).to.not.include("old-1");
  });
});
