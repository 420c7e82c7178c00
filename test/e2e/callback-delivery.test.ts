// Callbacks end to end on the real broker, Redis and HTTPS: a receiver that is down while the
// response worker restarts still gets its signed callback, and the message's delivery state
// follows what became of the final callback.

import { expect } from "chai";
import http from "node:http";
import { randomBytes } from "node:crypto";
import * as amqplib from "amqplib";
import { callbackQueues, callbackTopology } from "../../response-worker/callback-schedule";
import { callbackJobCodec } from "../../shared/protocol/codec";
import { metrics } from "../../shared/observability/metrics";
import { verifyWebhook } from "../../response-worker/webhook-signature";
import { CallbackReceiver, testCertificate } from "../integration/callback-receiver";
import { AMQP_URL, call, eventually } from "../support/harness";
import { CallbackStack } from "./callback-stack";
import { startXroadSim, type XroadSim } from "../../xroad-sim/xroad-sim";
import { refusingPeer, type RefusingPeer } from "../support/refusing-peer";
import { freePort } from "./ops-support";

const SECRET = `whsec_${randomBytes(32).toString("base64")}`;
const CLIENT = "EE/GOV/70000001/case-app";

describe("callbacks end to end (receiver down across a response-worker restart)", function () {
  this.timeout(30_000);
  const stack = new CallbackStack(testCertificate().cert);
  let receiver: CallbackReceiver | null = null;
  let port = 0;

  before(async () => {
    // The receiver's port, the same across its restarts: the callback target stays the same.
    port = await freePort();
    await stack.start({
      services: {
        notify: { protocols: ["rest"], reply: { mode: "callback" }, backend: "sim" },
      },
      backends: { sim: { translator: "rest-json", retry: { attempts: 2, backoff: ["1s"] } } },
      callbacks: {
        allow: [`https://127.0.0.1:${port}/hooks/`],
        allowPrivate: true,
        secret: SECRET,
        backoff: ["300ms", "600ms", "600ms", "600ms", "600ms", "600ms", "600ms", "600ms"],
      },
    });
  });
  after(async () => {
    await receiver?.close();
    await stack.cleanup();
  });

  const submit = (path: string) =>
    call(`${stack.adapterUrl}/rest/notify`, {
      body: JSON.stringify({ case: 42 }),
      client: CLIENT,
      headers: {
        Prefer: "respond-async",
        "X-Callback-Url": `https://127.0.0.1:${port}/hooks/${path}`,
      },
    });
  const retries = async () =>
    (await metrics.callbackDeliveries.get()).values.find((v) => v.labels.outcome === "retry")
      ?.value ?? 0;
  /** Callback jobs waiting in the delivery queue, a delay queue or a step-aside queue. */
  const jobsInBroker = async () => {
    const topology = callbackTopology(stack.config.prefix, stack.config.callbacks.backoffMs);
    const connection = await amqplib.connect(AMQP_URL);
    try {
      const channel = await connection.createChannel();
      let count = 0;
      for (const queue of callbackQueues(topology).filter((q) => q !== topology.dead)) {
        count += (await channel.checkQueue(queue)).messageCount;
      }
      return count;
    } finally {
      await connection.close();
    }
  };
  const status = (id: string) => call(`${stack.adapterUrl}/messages/${id}`, { client: CLIENT });

  it("refuses a callback target outside the allowlist before accepting anything", async () => {
    const answer = await call(`${stack.adapterUrl}/rest/notify`, {
      body: "{}",
      client: CLIENT,
      headers: { Prefer: "respond-async", "X-Callback-Url": "https://127.0.0.1:1/elsewhere" },
    });
    expect(answer.status).to.equal(400);
    expect(answer.json.type).to.equal("InvalidCallback");
  });

  it("refuses an X-Callback-Url given twice: its lines are not joined into a target neither named", async () => {
    // Node joins repeated lines with ", ": `…/hooks/a` and `b` were the target `…/hooks/a,%20b`.
    const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const request = http.request(
        `${stack.adapterUrl}/rest/notify`,
        {
          method: "POST",
          headers: {
            "Content-Type": "application/json",
            "X-Road-Client": CLIENT,
            Prefer: "respond-async",
            "X-Callback-Url": [`https://127.0.0.1:${port}/hooks/a`, "b"],
          },
        },
        (response) => {
          let body = "";
          response.setEncoding("utf8");
          response.on("data", (chunk: string) => (body += chunk));
          response.on("end", () => resolve({ status: response.statusCode ?? 0, body }));
        },
      );
      request.on("error", reject);
      request.end("{}");
    });
    expect(answer.status, answer.body).to.equal(400);
    expect(JSON.parse(answer.body)).to.include({
      type: "InvalidCallback",
      message: "the X-Callback-Url header must appear once",
    });
  });

  it("delivers the signed status document after the receiver comes back", async () => {
    const retriedBefore = await retries();
    const answer = await submit("case");
    expect(answer.status).to.equal(202);
    const id = answer.json.id as string;

    // The backend answered and the first attempts failed: the delivery is still pending.
    await eventually(async () =>
      (await status(id)).json.state === "completed" ? true : undefined,
    );
    await eventually(async () => ((await retries()) >= retriedBefore + 2 ? true : undefined));
    expect((await status(id)).json.delivery).to.equal("pending");

    // The response worker goes away while the job waits in the broker, the receiver comes back,
    // and a new response worker takes the job up.
    await stack.stopBack();
    expect(await jobsInBroker()).to.equal(1);
    receiver = await CallbackReceiver.start({ tls: true, port });
    await stack.startBack();

    const [callback] = await receiver.waitForCalls(1, 15_000);
    expect(callback.method).to.equal("POST");
    expect(callback.path).to.equal("/hooks/case");
    expect(verifyWebhook(SECRET, callback.headers, callback.body)).to.deep.equal({ valid: true });
    expect(callback.headers["webhook-id"]).to.equal(`msg_${id}.1`);
    const document = JSON.parse(callback.body);
    expect(document).to.deep.include({ id, service: "notify", state: "completed" });
    expect(document.responses).to.have.length(1);
    expect(document.responses[0]).to.include({ seq: 1, final: true, status: 200 });
    expect(document.responses[0].body.received).to.deep.equal({ case: 42 });

    const settled = await eventually(async () => {
      const s = await status(id);
      return s.json.delivery === "delivered" ? s : undefined;
    });
    expect(settled.json.history.map((h: { state: string }) => h.state)).to.include("delivered");
  });

  it("marks the delivery failed when the receiver answers 410 Gone, and stops", async () => {
    receiver!.calls.length = 0;
    receiver!.respond = () => ({ status: 410 });
    const id = (await submit("gone")).json.id as string;
    await eventually(async () =>
      (await status(id)).json.delivery === "delivery_failed" ? true : undefined,
    );
    await new Promise((resolve) => setTimeout(resolve, 800));
    expect(receiver!.calls.filter((c) => c.path === "/hooks/gone")).to.have.length(1);
    expect((await status(id)).json.state).to.equal("completed");
  });

  it("settles delivered when another copy of the final callback is delivered after one gave up", async () => {
    receiver!.calls.length = 0;
    receiver!.respond = () => ({ status: 410 });
    const id = (await submit("copies")).json.id as string;
    await eventually(async () =>
      (await status(id)).json.delivery === "delivery_failed" ? true : undefined,
    );
    const [first] = receiver!.calls.filter((c) => c.path === "/hooks/copies");
    // A second copy of the same job, as the broker hands out again after a reconnect: the
    // receiver takes it.
    receiver!.respond = () => ({ status: 204 });
    const topology = callbackTopology(stack.config.prefix, stack.config.callbacks.backoffMs);
    const connection = await amqplib.connect(AMQP_URL);
    try {
      const channel = await connection.createConfirmChannel();
      channel.sendToQueue(
        topology.delivery,
        callbackJobCodec.encode({
          webhookId: String(first.headers["webhook-id"]),
          messageId: id,
          target: `https://127.0.0.1:${port}/hooks/copies`,
          attempt: 1,
          payload: first.body,
          settlesDelivery: true,
          enqueuedAt: Date.now(),
        }),
        { persistent: true },
      );
      await channel.waitForConfirms();
    } finally {
      await connection.close();
    }
    await eventually(async () =>
      (await status(id)).json.delivery === "delivered" ? true : undefined,
    );
    expect(receiver!.calls.filter((c) => c.path === "/hooks/copies")).to.have.length(2);
  });
});

describe("callbacks end to end to an X-Road service (xroad-sim as the security server)", function () {
  this.timeout(30_000);
  const stack = new CallbackStack(testCertificate().cert);
  let sim: XroadSim;
  let receiver: CallbackReceiver;
  let down: RefusingPeer;
  const DENIED = "EE/GOV/70000001/callbacks/denied";
  const DOWN = "EE/GOV/70000001/callbacks/down";

  before(async () => {
    receiver = await CallbackReceiver.start({ tls: false });
    down = await refusingPeer();
    const nowhere = down.url("/down");
    sim = await startXroadSim({
      services: {
        [DENIED]: { url: receiver.url("/hooks"), allowedClients: ["EE/GOV/70000002/other"] },
        [DOWN]: { url: nowhere },
      },
    });
    await stack.start({
      services: {
        notify: { protocols: ["rest"], reply: { mode: "callback" }, backend: "sim" },
      },
      backends: { sim: { translator: "rest-json" } },
      securityServer: { url: sim.url, client: "EE/GOV/70000009/sluice" },
      callbacks: {
        allow: ["xroad:EE/GOV/"],
        allowPrivate: true,
        secret: SECRET,
        backoff: ["300ms", "300ms", "300ms", "300ms", "300ms", "300ms"],
      },
    });
  });
  after(async () => {
    await stack.cleanup();
    await sim.close();
    await receiver.close();
    await down.close();
  });

  const submit = (target: string) =>
    call(`${stack.adapterUrl}/rest/notify`, {
      body: JSON.stringify({ case: 7 }),
      client: CLIENT,
      headers: { Prefer: "respond-async", "X-Callback-Url": `xroad:${target}` },
    });
  const status = (id: string) => call(`${stack.adapterUrl}/messages/${id}`, { client: CLIENT });
  const callsTo = (service: string) => sim.calls().filter((c) => c.service === service);

  it("stops at the security server's access denied: delivery_failed after one attempt, the reason recorded", async () => {
    const answer = await submit(DENIED);
    expect(answer.status).to.equal(202);
    const id = answer.json.id as string;
    await eventually(async () =>
      (await status(id)).json.delivery === "delivery_failed" ? true : undefined,
    );
    expect((await status(id)).json.state).to.equal("completed");
    expect(callsTo(DENIED).map((c) => c.error)).to.deep.equal(["Server.ServerProxy.AccessDenied"]);
    expect(receiver.calls).to.have.length(0);

    const topology = callbackTopology(stack.config.prefix, stack.config.callbacks.backoffMs);
    const connection = await amqplib.connect(AMQP_URL);
    try {
      const channel = await connection.createChannel();
      const dead = await channel.get(topology.dead, { noAck: true });
      expect(dead, "a record in callbacks.dead").to.not.equal(false);
      const record = JSON.parse((dead as amqplib.GetMessage).content.toString("utf8"));
      expect(record).to.deep.include({ outcome: "rejected", attempts: 1 });
      expect(record.job).to.include({ messageId: id, target: `xroad:${DENIED}` });
      expect(record.failure.kind).to.equal("xroad");
      expect(record.failure.message).to.match(/Server\.ServerProxy\.AccessDenied/);
    } finally {
      await connection.close();
    }
  });

  it("keeps trying a service the security server cannot reach", async () => {
    const id = (await submit(DOWN)).json.id as string;
    await eventually(async () => (callsTo(DOWN).length >= 3 ? true : undefined));
    expect(callsTo(DOWN).every((c) => /NetworkError/.test(c.error ?? ""))).to.equal(true);
    expect((await status(id)).json.delivery).to.equal("pending");
  });
});
