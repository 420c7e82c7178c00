import { expect } from "chai";
import { randomBytes, randomUUID } from "node:crypto";
import type { ChannelWrapper } from "amqp-connection-manager";
import pino from "pino";
import { Broker } from "../../shared/broker/amqp";
import { SafeHttp } from "../../shared/delivery/safe-http";
import {
  CallbackDeliverer,
  type Parking,
  type Settlement,
} from "../../response-worker/callback-deliverer";
import type { CallbackJob } from "../../shared/protocol/callback-job";
import { declareCallbackTopology } from "../../response-worker/callback-schedule";
import { CallbackSender } from "../../response-worker/callback-sender";
import { ParkedAttempts } from "../../shared/store/parked-attempts";
import { CallbackReceiver } from "./callback-receiver";
import { AMQP_URL } from "../support/harness";
import { callbackQueuesPerTest } from "../support/callback-queues";

const SECRET = `whsec_${randomBytes(32).toString("base64")}`;

/**
 * Slow attempts set apart from the response worker's prefetch: receivers that hang, more of
 * them than its slots, no longer hold every delivery for their `timeout`.
 */
describe("slow callback attempts set apart from the prefetch (real broker, Redis, HTTPS)", () => {
  const queues = callbackQueuesPerTest();
  const { cleanups } = queues;

  async function receivers(count: number): Promise<CallbackReceiver[]> {
    const started = await Promise.all(
      Array.from({ length: count }, () => CallbackReceiver.start({ tls: true })),
    );
    cleanups.push(async () => {
      for (const receiver of started) {
        receiver.release();
        await receiver.close();
      }
    });
    return started;
  }

  /** A deliverer on its own broker connection, so a test can cut it off as a crash would. */
  async function deliverer(
    allow: string[],
    ca: string,
    options: {
      attemptTimeoutMs: number;
      settled: Array<{ job: CallbackJob; s: Settlement }>;
      maxBytes?: number;
    },
  ): Promise<{ deliverer: CallbackDeliverer; broker: Broker; parking: Parking }> {
    const broker = await Broker.connect(AMQP_URL, pino({ level: "silent" }));
    const channel: ChannelWrapper = broker.channel(queues.topology.delivery, (ch) =>
      declareCallbackTopology(ch, queues.topology),
    );
    await channel.waitForConnect();
    // Attempts are not cut short by a timeout in these tests: the receivers decide.
    const http = new SafeHttp({ allowPrivate: true, ca, timeoutMs: 120_000 });
    const parking: Parking = {
      marks: new ParkedAttempts(queues.redis, queues.prefix, 60_000),
      attemptTimeoutMs: options.attemptTimeoutMs,
      afterMs: 200,
      ...(options.maxBytes === undefined ? {} : { maxBytes: options.maxBytes }),
    };
    const made = new CallbackDeliverer({
      broker,
      channel,
      topology: queues.topology,
      prefetch: 8,
      maxPerTarget: 2,
      sender: new CallbackSender({
        secrets: [SECRET],
        policy: { allow, allowHttp: false, allowPrivate: true, xroad: false },
        http,
      }),
      parking,
      onSettled: (job, s) => void options.settled.push({ job, s }),
    });
    await made.start();
    cleanups.push(async () => {
      await made.stop();
      await channel.close().catch(() => undefined);
      await broker.close().catch(() => undefined);
      await http.destroy();
    });
    return { deliverer: made, broker, parking };
  }

  const job = (target: string) => ({
    webhookId: `msg_${randomUUID()}`,
    messageId: randomUUID(),
    target,
    payload: JSON.stringify({ id: "m-1", state: "completed" }),
  });

  const waitFor = async (what: string, done: () => boolean | Promise<boolean>) => {
    for (let i = 0; i < 600 && !(await done()); i++) await new Promise((r) => setTimeout(r, 50));
    expect(await done(), what).to.equal(true);
  };

  /** Copies of attempts set apart, waiting in the step-aside queue. */
  const copies = async () =>
    (await queues.adminChannel.checkQueue(queues.topology.aside[0].queue)).messageCount;

  it("receivers hanging on every slot hold none: another's callbacks are delivered while they hang, and each of theirs once when they answer", async () => {
    const [healthy, ...hanging] = await receivers(5);
    for (const receiver of hanging) receiver.respond = () => "hang";
    const settled: Array<{ job: CallbackJob; s: Settlement }> = [];
    const { deliverer: d } = await deliverer(
      [healthy, ...hanging].map((r) => r.url("/")),
      healthy.ca,
      { attemptTimeoutMs: 1_000, settled },
    );
    // Four receivers, two slots each: without setting their attempts apart they hold all 8.
    for (const receiver of hanging) {
      for (let i = 0; i < 4; i++) await d.enqueue(job(receiver.url(`/hang/${i}`)));
    }
    await waitFor("every hanging receiver holds its two slots", () =>
      hanging.every((r) => r.held === 2),
    );
    for (let i = 0; i < 3; i++) await d.enqueue(job(healthy.url(`/fast/${i}`)));
    await waitFor("the healthy receiver's callbacks delivered", () => settled.length === 3);
    expect(
      hanging.map((r) => r.held),
      "still hanging, none timed out",
    ).to.deep.equal([2, 2, 2, 2]);
    expect(hanging.map((r) => r.calls.length)).to.deep.equal([2, 2, 2, 2]);

    for (const receiver of hanging) {
      receiver.respond = () => ({ status: 204 });
      receiver.release();
    }
    await waitFor("every delivery settled", () => settled.length === 19);
    expect(settled.every(({ s }) => s.outcome === "delivered" && s.attempts === 1)).to.equal(true);
    // The copies kept while the attempts hung come back and are dropped, their marks with them.
    await waitFor(
      "the copies came back and were dropped",
      async () =>
        (await queues.depths()) === 0 &&
        (await queues.redis.keys(`${queues.prefix}sluice:*`)).length === 0,
    );
    for (const receiver of hanging) {
      const ids = receiver.calls.map((c) => c.headers["webhook-id"]);
      expect(ids, "each delivery sent once").to.have.length(4);
      expect(new Set(ids).size).to.equal(4);
    }
    expect(healthy.calls).to.have.length(3);
  });

  it("an attempt set apart that fails is retried once, by its retry and not by its copy", async () => {
    const [receiver] = await receivers(1);
    receiver.respond = () => "hang";
    const settled: Array<{ job: CallbackJob; s: Settlement }> = [];
    const { deliverer: d } = await deliverer([receiver.url("/")], receiver.ca, {
      attemptTimeoutMs: 300,
      settled,
    });
    const lone = job(receiver.url("/flaky"));
    await d.enqueue(lone);
    await waitFor("the attempt hangs", () => receiver.held === 1);
    await waitFor("its copy is on the queues", async () => (await copies()) === 1);
    receiver.respond = () => ({ status: 204 });
    receiver.release({ status: 503 });
    await waitFor("delivered by the retry", () => settled.length === 1);
    expect(settled[0].s).to.deep.include({ outcome: "delivered", attempts: 2 });
    await waitFor(
      "the copy came back and was dropped",
      async () =>
        (await queues.depths()) === 0 &&
        (await queues.redis.keys(`${queues.prefix}sluice:*`)).length === 0,
    );
    expect(receiver.calls.map((c) => c.headers["webhook-id"])).to.deep.equal([
      lone.webhookId,
      lone.webhookId,
    ]);
    expect(settled).to.have.length(1);
  });

  it("an attempt set apart whose worker is cut off before it ends is made again from its copy, the same attempt", async () => {
    const [receiver] = await receivers(1);
    receiver.respond = () => "hang";
    const firstSettled: Array<{ job: CallbackJob; s: Settlement }> = [];
    const first = await deliverer([receiver.url("/")], receiver.ca, {
      attemptTimeoutMs: 500,
      settled: firstSettled,
    });
    const lone = job(receiver.url("/once"));
    await first.deliverer.enqueue(lone);
    await waitFor("the attempt hangs", () => receiver.held === 1);
    await waitFor("its copy is on the queues and the delivery acknowledged", async () => {
      const delivery = await queues.adminChannel.checkQueue(queues.topology.delivery);
      return (await copies()) + delivery.messageCount === 1 && delivery.consumerCount === 1;
    });
    // As a crash would: its broker connection gone, its attempt never answered.
    await first.broker.close();

    const settled: Array<{ job: CallbackJob; s: Settlement }> = [];
    receiver.respond = () => ({ status: 204 });
    await deliverer([receiver.url("/")], receiver.ca, { attemptTimeoutMs: 500, settled });
    await waitFor("made again from the copy", () => settled.length === 1);
    expect(settled[0].s).to.deep.include({ outcome: "delivered", attempts: 1 });
    expect(settled[0].job.webhookId).to.equal(lone.webhookId);
    expect(settled[0].job.parkedCopy, "settled as the job, not as a copy").to.equal(undefined);
    expect(receiver.calls.map((c) => c.headers["webhook-id"])).to.deep.equal([
      lone.webhookId,
      lone.webhookId,
    ]);
    expect(firstSettled).to.have.length(0);
  });

  it("another run of an attempt set apart here is dropped: the attempt under way and its copy stand for it", async () => {
    const [receiver] = await receivers(1);
    receiver.respond = () => "hang";
    const settled: Array<{ job: CallbackJob; s: Settlement }> = [];
    const { deliverer: d } = await deliverer([receiver.url("/")], receiver.ca, {
      attemptTimeoutMs: 500,
      settled,
    });
    const lone = job(receiver.url("/twice"));
    await d.enqueue(lone);
    await waitFor("set apart", async () => receiver.held === 1 && (await copies()) === 1);
    // The same delivery enqueued again (a response handed over twice), while its slot is free.
    await d.enqueue(lone);
    await waitFor("the second run taken off the queue", async () => {
      return (await queues.adminChannel.checkQueue(queues.topology.delivery)).messageCount === 0;
    });
    receiver.respond = () => ({ status: 204 });
    receiver.release();
    await waitFor("settled", () => settled.length >= 1);
    await waitFor(
      "the copy came back and was dropped",
      async () =>
        (await queues.depths()) === 0 &&
        (await queues.redis.keys(`${queues.prefix}sluice:*`)).length === 0,
    );
    expect(receiver.calls.map((c) => c.headers["webhook-id"])).to.deep.equal([lone.webhookId]);
    expect(settled).to.have.length(1);
  });

  it("a receiver that had an attempt set apart has its next ones set apart at once", async () => {
    const [receiver] = await receivers(1);
    receiver.respond = () => "hang";
    const settled: Array<{ job: CallbackJob; s: Settlement }> = [];
    const { deliverer: d, parking } = await deliverer([receiver.url("/")], receiver.ca, {
      attemptTimeoutMs: 500,
      settled,
    });
    await d.enqueue(job(receiver.url("/slow/1")));
    await waitFor("the first set apart after its wait", async () => (await copies()) === 1);
    // Another receiver's attempt would now hold its delivery for ten minutes first.
    parking.afterMs = 600_000;
    await d.enqueue(job(receiver.url("/slow/2")));
    await waitFor("the second set apart at once", async () => (await copies()) === 2);
    expect(receiver.held).to.equal(2);

    // Recovered: one attempt answered in time (set apart at once all the same) ends it.
    let parks = 0;
    let last = 2;
    parking.onCount = (count) => {
      if (count > last) parks += 1;
      last = count;
    };
    // Neither of the two hanging ends it: the first is answered past its wait, and the second
    // (whose wait is the ten minutes above) is answered 410, settled but not delivered. The
    // wait is long from here on, so the third's answer is in time however slow the machine.
    parking.afterMs = 30_000;
    receiver.release({ status: 410 });
    await waitFor("both settled", () => settled.length === 2);
    // The third hangs until it is set apart: an answer already there when a stalled worker
    // looks is read first, and it would not be set apart at all.
    await d.enqueue(job(receiver.url("/again/3")));
    await waitFor("the third set apart at once", () => parks === 1 && receiver.held === 1);
    receiver.respond = () => ({ status: 204 });
    receiver.release();
    await waitFor("the third delivered", () => settled.length === 3);
    await d.enqueue(job(receiver.url("/again/4")));
    await waitFor("the fourth delivered", () => settled.length === 4);
    expect(parks, "set apart after the receiver recovered").to.equal(1);
  });

  it("past the byte budget a slow attempt holds its delivery, as without setting apart", async () => {
    const [slow, healthy] = await receivers(2);
    slow.respond = () => "hang";
    const settled: Array<{ job: CallbackJob; s: Settlement }> = [];
    const counts: number[] = [];
    const { deliverer: d, parking } = await deliverer([slow.url("/"), healthy.url("/")], slow.ca, {
      attemptTimeoutMs: 500,
      settled,
      maxBytes: 10,
    });
    parking.onCount = (count) => counts.push(count);
    await d.enqueue(job(slow.url("/big")));
    await waitFor("the attempt hangs", () => slow.held === 1);
    // Past its wait to be set apart, and then some.
    await new Promise((resolve) => setTimeout(resolve, 3 * 200));
    await d.enqueue(job(healthy.url("/fast")));
    await waitFor("another receiver's callback delivered", () => settled.length === 1);
    expect(await copies(), "copies queued").to.equal(0);
    expect(counts, "attempts set apart").to.deep.equal([]);
    const delivery = await queues.adminChannel.checkQueue(queues.topology.delivery);
    expect(delivery.messageCount, "the slow job held, not queued again").to.equal(0);
  });
});
