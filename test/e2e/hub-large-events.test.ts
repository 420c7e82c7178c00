// A large hub event going to several listeners, end to end on the real broker, Redis and
// HTTPS: its JSON is kept once in Redis and each listener's job carries only its key, so the
// broker does not hold a copy per listener; every listener still receives the whole event,
// signed, at every attempt, and the copy in Redis goes once the last listener's delivery settled.

import { expect } from "chai";
import { randomBytes } from "node:crypto";
import { verifyWebhook } from "../../response-worker/webhook-signature";
import { callbackTopology } from "../../response-worker/callback-schedule";
import { call, eventually } from "../support/harness";
import { CallbackStack } from "./callback-stack";

const SECRET = `whsec_${randomBytes(32).toString("base64")}`;
const CAROL = "EE/GOV/70000003/carol";
const PATHS = ["/events/carol-1", "/events/carol-2", "/events/carol-3"];

describe("a large hub event for several listeners", function () {
  this.timeout(60_000);
  const suite = CallbackStack.suite((receiver) => ({
    services: { lookup: { protocols: ["rest"], reply: { mode: "ack" }, backend: "sim" } },
    backends: { sim: { translator: "rest-json" } },
    callbacks: {
      allow: [`https://127.0.0.1:${receiver.port}/events/`],
      allowPrivate: true,
      secret: SECRET,
      backoff: ["300ms"],
      timeout: "30s", // the receiver holds the events while the test looks at the queues
    },
  }));

  it("is kept once in Redis, its jobs carry its key, and every listener hears all of it", async () => {
    const { stack, receiver } = suite;
    for (const path of PATHS) {
      const registered = await call(`${stack.adapterUrl}/hub`, {
        client: CAROL,
        body: JSON.stringify({
          callback: `https://127.0.0.1:${receiver.port}${path}`,
          query: "eventType=MessageStateChangeEvent&service=lookup&state=completed",
        }),
      });
      expect(registered.status).to.equal(201);
    }
    // What the response worker publishes, as the broker takes it.
    const { broker } = stack.backRuntime;
    const published: Array<{ queue: string; content: Buffer }> = [];
    const publish = broker.publish.bind(broker);
    broker.publish = (channel, exchange, queue, content, options) => {
      published.push({ queue, content });
      return publish(channel, exchange, queue, content, options);
    };
    receiver.respond = () => "hang";

    // The legacy system's answer echoes the body: the completed event is over 100 KB.
    const padding = "x".repeat(100_000);
    const sent = await call(`${stack.adapterUrl}/rest/lookup`, {
      client: CAROL,
      body: JSON.stringify({ padding }),
    });
    expect(sent.status).to.equal(202);
    const id = sent.json.id as string;
    await eventually(async () => (receiver.held === 3 ? true : undefined), 20_000);

    const topology = callbackTopology(stack.config.prefix, stack.config.callbacks.backoffMs);
    const jobs = published
      .filter((p) => p.queue === topology.delivery)
      .map((p) => ({ bytes: p.content.length, job: JSON.parse(p.content.toString("utf8")) }))
      .filter(({ job }) => job.messageId === id);
    expect(jobs).to.have.length(3);
    for (const { bytes, job } of jobs) {
      expect(job).to.not.have.property("payload");
      expect(job.sharedPayload).to.be.a("string");
      expect(bytes).to.be.below(2_048);
    }
    const redis = stack.harness.redis();
    const [key, ...others] = await redis.keys(`${stack.config.prefix}sluice:event-payload:${id}.*`);
    expect(others).to.deep.equal([]);
    // The event's JSON and the three listeners still to settle.
    expect(await redis.hlen(key)).to.equal(4);

    // Each first attempt fails; the retry reads the event from Redis again.
    receiver.respond = () => ({ status: 204 });
    receiver.release({ status: 500 });
    await eventually(async () => (receiver.calls.length === 6 ? true : undefined), 20_000);
    const calls = receiver.calls.filter((c) => PATHS.includes(c.path));
    expect(calls.map((c) => c.path).sort()).to.deep.equal([...PATHS, ...PATHS].sort());
    for (const c of calls) {
      expect(verifyWebhook(SECRET, c.headers, c.body)).to.deep.equal({ valid: true });
      const event = JSON.parse(c.body);
      expect(event.correlationId).to.equal(id);
      expect(event.event.message.state).to.equal("completed");
      expect(JSON.stringify(event.event.message.responses)).to.contain(padding);
    }
    expect(new Set(calls.map((c) => c.body)).size).to.equal(1);
    expect(new Set(calls.map((c) => c.headers["webhook-id"])).size).to.equal(3);
    expect(receiver.calls).to.have.length(6);
    await eventually(async () => ((await redis.exists(key)) === 0 ? true : undefined), 20_000);
  });
});
