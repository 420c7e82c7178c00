// A whole response-worker process (in `sluice all`) whose callback queue is gone and cannot be
// declared again (the broker refuses it: here the process's broker user lost the right to
// configure that queue) when a callback-mode message completes: the enqueue of its callback
// fails, so the response is not acknowledged and the delivery stays `pending`; once the queue
// can be declared again the same response enqueues the callback, which is delivered once. In a
// whole process the enqueue fails for want of a confirm more than by a return: the broker
// cancels the delivery queue's consumer, whose consume again closes the channel the jobs are
// published on (test/integration/callback-delivery.test.ts has the return at the deliverer).

import { expect } from "chai";
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { promisify } from "node:util";
import * as amqplib from "amqplib";
import { topologyNames } from "../../shared/protocol/names";
import { CallbackReceiver } from "../integration/callback-receiver";
import { AMQP_URL, call, eventually, Harness, type SluiceProcess } from "../support/harness";

const run = promisify(execFile);
const CLIENT = "EE/GOV/70000001/case-app";

describe("a callback whose queue the broker refuses, through a whole response worker", function () {
  this.timeout(120_000);
  const harness = new Harness();
  const names = topologyNames(harness.prefix);
  // A broker user of this test's own, so that only its process loses a permission.
  const user = `${harness.prefix}sluice`;
  const password = randomBytes(12).toString("hex");
  let connection: amqplib.ChannelModel;
  let receiver: CallbackReceiver;
  let sluice: SluiceProcess;
  let id = "";

  const permit = (configure: string) =>
    run("rabbitmqctl", ["set_permissions", "-p", "/", user, configure, ".*", ".*"]);
  const status = async () =>
    (await call(`${sluice.url}/messages/${id}`, { client: CLIENT })).json as {
      state: string;
      delivery: string;
    };
  /** What `responses` holds: [ready, unacknowledged]. */
  const responsesQueue = async (): Promise<[number, number]> => {
    const { stdout } = await run("rabbitmqctl", [
      "list_queues",
      "-q",
      "--no-table-headers",
      "name",
      "messages_ready",
      "messages_unacknowledged",
    ]);
    const line = stdout.split("\n").find((l) => l.split("\t")[0] === names.responsesQueue);
    const [, ready, unacked] = (line ?? "").split("\t");
    return [Number(ready), Number(unacked)];
  };

  before(async () => {
    await run("rabbitmqctl", ["add_user", user, password]);
    await permit(".*");
    receiver = await CallbackReceiver.start({ tls: false });
    await harness.startSim();
    harness.writeConfig({
      services: { s: { protocols: ["rest"], reply: { mode: "callback" }, backend: "b" } },
      backends: { b: { translator: "rest-json" } },
      callbacks: {
        allow: [receiver.url("/hooks/")],
        allowHttp: true,
        allowPrivate: true,
        secret: `whsec_${randomBytes(32).toString("base64")}`,
      },
    });
    const url = new URL(AMQP_URL);
    url.username = encodeURIComponent(user);
    url.password = password;
    sluice = await harness.spawn("all", { AMQP_URL: url.toString() });
    connection = await amqplib.connect(AMQP_URL);
  });
  after(async () => {
    await connection?.close().catch(() => undefined);
    await receiver?.close();
    await harness.cleanup();
    await run("rabbitmqctl", ["delete_user", user]).catch(() => undefined);
  });

  it("keeps the response unacknowledged and the delivery pending while no queue takes the callback", async () => {
    // Every queue but the callback queue may still be declared.
    const escaped = names.callbacksQueue.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    await permit(`^(?!${escaped}$).*`);
    const channel = await connection.createChannel();
    await channel.deleteQueue(names.callbacksQueue);
    await channel.close();
    const accepted = await call(`${sluice.url}/rest/s`, {
      body: JSON.stringify({ case: 1 }),
      client: CLIENT,
      headers: { Prefer: "respond-async", "X-Callback-Url": receiver.url("/hooks/1") },
    });
    expect(accepted.status).to.equal(202);
    id = (accepted.json as { id: string }).id;
    await eventually(
      async () =>
        sluice.lines.some((line) => line.msg === "work interrupted; trying again")
          ? true
          : undefined,
      60_000,
      "a failed enqueue of the callback",
    );
    expect(await status()).to.include({ state: "completed", delivery: "pending" });
    // Held by the response worker between tries; for a moment around each failed try (its
    // channel closed, the response given back and delivered again) the broker may count it
    // as neither ready nor held, so the count is read until it settles, not once.
    let seen: [number, number] = [0, 0];
    await eventually(
      async () => ((seen = await responsesQueue()).join() === "0,1" ? true : undefined),
      30_000,
      "the response held unacknowledged",
    ).catch((error: Error) => {
      throw new Error(`${error.message}; last [ready, unacknowledged]: ${seen.join(", ")}`);
    });
    expect(await status()).to.include({ state: "completed", delivery: "pending" });
    expect(receiver.calls).to.have.length(0);
  });

  it("delivers the callback once the queue can be declared again", async () => {
    await permit(".*");
    await eventually(
      async () => ((await status()).delivery === "delivered" ? true : undefined),
      90_000,
      "the callback delivered",
    );
    expect(receiver.calls.map((c) => c.path)).to.deep.equal(["/hooks/1"]);
    await eventually(
      async () => ((await responsesQueue()).join() === "0,0" ? true : undefined),
      20_000,
      "the response acknowledged",
    );
    expect(sluice.child.exitCode).to.equal(null);
  });
});
