// A submission answered 503 whose record could not be discarded (Redis silent when the adapter
// gave up on the broker's confirm): the adapter remembers its refusal for the confirm deadline
// and a second, then its resubmission is judged by the record, as on any other adapter. An
// adapter that nobody else submitted to meanwhile kept the refusal for ever, and answered the
// caller's every retry 503.

import { expect } from "chai";
import { randomUUID } from "node:crypto";
import { redisKeys } from "../../shared/protocol/redis-keys";
import { AMQP_URL, call, eventually, Harness, REDIS_URL, untilState } from "../support/harness";
import { confirmDropper, proxyTo, viaProxy } from "../support/tcp-proxy";

const CLIENT = "EE/GOV/70000001/case-app";

describe("a refused submission whose record stayed, on an otherwise idle adapter", function () {
  this.timeout(60_000);
  const confirms = confirmDropper();
  const broker = proxyTo(AMQP_URL, () => ({ server: confirms.server() }));
  const redisProxy = proxyTo(REDIS_URL);
  const harness = Harness.suite({
    sim: { latencyMs: 0 },
    config: {
      redisCommandTimeout: "300ms",
      // Not waited out for long: Redis falls silent as the confirm is dropped.
      adapter: { publishTimeout: "3s" },
      services: { order: { protocols: ["rest"], reply: { mode: "ack" }, backend: "sim" } },
      backends: { sim: { translator: "rest-json" } },
    },
    roles: [
      { role: "worker", args: ["--backends", "sim"] },
      "response-worker",
      {
        role: "adapter",
        env: async () => ({
          AMQP_URL: viaProxy(AMQP_URL, await broker.listen()),
          REDIS_URL: viaProxy(REDIS_URL, await redisProxy.listen()),
        }),
      },
    ],
  });
  const { roles } = harness;
  const redis = harness.redis();
  after(async () => {
    redisProxy.heal();
    await broker.close();
    await redisProxy.close();
  });

  it("answers the caller's retry by the record once the refusal's time is up", async () => {
    const xroadId = randomUUID();
    const submit = () =>
      call(`${roles.adapter.url}/rest/order`, {
        body: JSON.stringify({ order: 1 }),
        headers: { "X-Road-Id": xroadId },
      });
    const dedup = redisKeys(harness.prefix).dedup(CLIENT, "order", xroadId);
    // The record is written and the message published (its confirm is the one dropped); Redis
    // falls silent as the confirm is dropped, before the adapter gives up on it, so its discard
    // of the record cannot be done. Silenced as soon as the record was seen, Redis could hold
    // back the create's own answer on a loaded machine, and the adapter refused without
    // publishing; silenced once the test had seen the drop, a loaded machine could let the
    // confirm deadline (3 s) pass first, and the discard was done.
    confirms.arm(() => redisProxy.stall());
    const first = submit();
    await eventually(
      async () => (confirms.dropped === 1 ? true : undefined),
      10_000,
      "the message's confirm to be dropped",
    );
    const id = (await redis.get(dedup)) as string;
    expect(id, "the record's de-duplication key").to.be.a("string");
    const refused = await first;
    expect(refused.status, refused.text).to.equal(503);
    redisProxy.heal();
    // The broker had the message: a worker completes it, and the record tells so.
    const retried = await eventually(
      async () => {
        const answer = await submit();
        return answer.status === 202 ? answer : undefined;
      },
      20_000,
      "a retry accepted (the refusal kept for ever answers every retry 503)",
    );
    expect(retried.json.id).to.equal(id);
    await untilState(roles.adapter, id, ["completed"], 20_000, "the message to complete");
    expect(harness.sim.calls({ id })).to.have.length(1);
  });
});
