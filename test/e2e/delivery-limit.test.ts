// A request the broker dead-letters on its own (redelivered past its delivery limit, as when
// every attempt crashes its worker) still reaches an outcome: `failed`, readable by its caller.

import { expect } from "chai";
import * as amqplib from "amqplib";
import { DELIVERY_LIMIT } from "../../shared/broker/topology";
import { topologyNames } from "../../shared/protocol/names";
import { requestCodec, responseCodec } from "../../shared/protocol/codec";
import { RESPONSES_ROUTING_KEY } from "../../shared/protocol/names";
import { metaOfRequest } from "../../shared/store/transaction-store";
import {
  AMQP_URL,
  call,
  eventually,
  Harness,
  type SluiceProcess,
  untilState,
  START_TIMEOUT_MS,
} from "../support/harness";
import { responseMessage } from "../support/messages";
import { freshConnectionPerFetch } from "../support/fresh-connections";

/** Service file (REST, answered by ack) on the sim. */
const CONFIG = {
  services: { file: { protocols: ["rest"], reply: { mode: "ack" }, backend: "sim" } },
  backends: { sim: { translator: "rest-json" } },
};

/** A submission to service file that `adapter` accepted: its message id. */
async function accepted(adapter: SluiceProcess): Promise<string> {
  const answer = await call(`${adapter.url}/rest/file`, { body: "{}" });
  expect(answer.status).to.equal(202);
  return answer.json.id as string;
}

/** Consumes `queue` and never finishes a message: every delivery is handed back, and counted. */
async function handingBack(
  channel: amqplib.Channel,
  queue: string,
): Promise<{ deliveries: number }> {
  const seen = { deliveries: 0 };
  await channel.consume(queue, (message) => {
    if (!message) return;
    seen.deliveries++;
    channel.nack(message, false, true);
  });
  return seen;
}

describe("a request dead-lettered by the broker", function () {
  freshConnectionPerFetch();
  // "is answered by the worker" alone waits up to 51 s (two 10 s waits, 1 s, 30 s).
  this.timeout(90_000);
  const harness = Harness.suite({ config: CONFIG, roles: ["response-worker", "adapter"] });
  const { roles } = harness;

  it("the watch queue and the callback queues have depth gauges on /metrics", async () => {
    const text = await eventually(async () => {
      const body = await (await fetch(`${roles["response-worker"].adminUrl}/metrics`)).text();
      return body.includes(`queue="${harness.prefix}callbacks"`) ? body : undefined;
    });
    for (const queue of [
      "dead-letter.watch",
      "callbacks",
      "callbacks.dead",
      "callbacks.delay.5000ms",
    ]) {
      expect(text).to.include(`sluice_queue_depth_messages{queue="${harness.prefix}${queue}"}`);
    }
  });

  it("becomes failed after its delivery limit", async () => {
    const id = await accepted(roles.adapter);

    // A consumer that never finishes the message: every delivery is handed back.
    const connection = await amqplib.connect(AMQP_URL);
    try {
      const channel = await connection.createChannel();
      const seen = await handingBack(channel, topologyNames(harness.prefix).requestsQueue("sim"));
      const status = await untilState(roles.adapter, id, ["failed"], 30_000, "failed");
      expect(seen.deliveries).to.be.greaterThan(DELIVERY_LIMIT);
      expect(status.json.error.message).to.include("delivery_limit");
      expect(status.json.responses).to.have.length(1);
    } finally {
      await connection.close();
    }
  });

  it("becomes failed after its delivery limit when Redis lost its record meanwhile", async () => {
    const id = await accepted(roles.adapter);
    // Redis restarted without its data: this message's record is gone.
    const store = harness.store(86_400_000);
    await harness.redis().del(store.key(id));
    const connection = await amqplib.connect(AMQP_URL);
    try {
      const channel = await connection.createChannel();
      await handingBack(channel, topologyNames(harness.prefix).requestsQueue("sim"));
      // The request carries what the record needs: its outcome writes it again.
      const status = await untilState(roles.adapter, id, ["failed"], 30_000, "failed");
      expect(status.json.error.message).to.include("delivery_limit");
    } finally {
      await connection.close();
    }
  });

  it("is answered by the worker still calling for it, not failed over its head", async () => {
    // The broker gave up on the request (its deliveries kept being handed back, the channel
    // of the worker calling for it lost) while that worker lives, holds the claim and is
    // about to record the backend's answer.
    const id = await accepted(roles.adapter);
    const names = topologyNames(harness.prefix);
    const store = harness.store(86_400_000);
    const connection = await amqplib.connect(AMQP_URL);
    try {
      const claim = await store.transition(id, ["accepted"], "processing", { claimMs: 60_000 });
      expect(claim.result).to.equal("ok");
      const channel = await connection.createConfirmChannel();
      const delivery = await eventually(async () => {
        const got = await channel.get(names.requestsQueue("sim"));
        return got === false ? undefined : got;
      });
      // The copy the broker dead-letters: what it carries, with the broker's x-death.
      channel.publish(names.deadLetterExchange, "sim", delivery.content, {
        ...delivery.properties,
        headers: {
          "x-death": [{ queue: names.requestsQueue("sim"), reason: "delivery_limit", count: 1 }],
        },
      });
      await channel.waitForConfirms();
      channel.ack(delivery);
      // The watch has it in hand, then the worker's answer comes.
      await eventually(async () => {
        const queue = await channel.checkQueue(names.deadLetterWatchQueue);
        return queue.messageCount === 0 || undefined;
      });
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      const request = requestCodec.decode(delivery.content);
      if (!request.ok) throw new Error("request not readable");
      const response = responseMessage(id, {
        body: '{"done":true}',
        bodyEncoding: "utf8",
        error: null,
        meta: metaOfRequest(request.message),
      });
      expect(await store.recordAnswer(id, { responses: [response], deadLetter: null })).to.equal(
        "ok",
      );
      channel.publish(
        names.responsesExchange,
        RESPONSES_ROUTING_KEY,
        responseCodec.encode(response),
        { messageId: `${id}.1`, contentType: "application/json", persistent: true },
      );
      await channel.waitForConfirms();
      const status = await untilState(
        roles.adapter,
        id,
        ["completed", "failed"],
        30_000,
        "an outcome",
      );
      expect(status.json.state).to.equal("completed");
      expect(status.json.responses[0].body).to.deep.equal({ done: true });
    } finally {
      await connection.close();
    }
  });
});

describe("a response dead-lettered by the broker", function () {
  // Two waits of up to 30 s and a response worker's start in the test.
  this.timeout(START_TIMEOUT_MS + 90_000);
  const harness = Harness.suite({ config: CONFIG, roles: ["adapter", "worker"] });
  const { roles } = harness;

  it("is stored all the same: the message ends with the backend's answer", async () => {
    // Response handling that never finishes (a response worker crashing on it, or a long Redis
    // outage handing it back): every delivery of the responses queue is handed back.
    const connection = await amqplib.connect(AMQP_URL);
    let id = "";
    try {
      const channel = await connection.createChannel();
      const seen = await handingBack(channel, topologyNames(harness.prefix).responsesQueue);
      id = await accepted(roles.adapter);
      await eventually(
        async () => {
          const queue = await channel.checkQueue(topologyNames(harness.prefix).responsesQueue);
          return seen.deliveries > DELIVERY_LIMIT && queue.messageCount === 0 ? true : undefined;
        },
        30_000,
        "the response dead-lettered",
      );
    } finally {
      await connection.close();
    }
    // Nothing the backend answered is lost with it: a response worker stores the outcome.
    await harness.spawn("response-worker");
    const status = await untilState(roles.adapter, id, ["completed"], 30_000, "completed");
    expect(status.json.responses).to.have.length(1);
    expect(status.json.responses[0].final).to.equal(true);
  });
});
