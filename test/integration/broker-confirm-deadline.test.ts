// The broker's confirm deadline (`adapter.publishTimeout`, a channel's confirm timeout) against
// the process's own event-loop lag, on the real RabbitMQ: a publish the broker confirmed in time
// is confirmed however long the process was busy before sending it or reading its confirm; a
// broker that stays silent (a stalled proxy) still fails the publish at its deadline. A publish
// that failed so is never sent afterwards; one waiting for its channel to open again still is.
// And what the caller sees: the adapter answers 202, not 503 Busy, for a message the broker
// confirmed while the adapter's loop was blocked past the deadline.

import { randomUUID } from "node:crypto";
import { expect } from "chai";
import type { ChannelWrapper } from "amqp-connection-manager";
import type { ConfirmChannel, ConsumeMessage } from "amqplib";
import pino from "pino";
import { Broker } from "../../shared/broker/amqp";
import { TURNS_BEFORE_COUNT } from "../../shared/broker/confirm-deadline";
import { SluiceError } from "../../shared/protocol/errors";
import { startAdapter, type AdapterRole } from "../../adapter/adapter-role";
import { loadConfig } from "../../shared/config/config";
import { startRuntime, type Runtime } from "../../shared/runtime/runtime";
import { drainRoles } from "../../shared/runtime/shutdown-deadline";
import { AMQP_URL, call, Harness } from "../support/harness";
import { busy, turns } from "../support/event-loop";
import { proxyTo, viaProxy, type TcpProxy } from "../support/tcp-proxy";
import { threadedProxyTo, type ThreadedProxy } from "../support/threaded-proxy";

const log = pino({ level: "silent" });
const DEADLINE_MS = 1_000;

/** Keeps the event loop busy (as parsing many request bodies does) for well past the deadline. */
function busyPastDeadline(): void {
  busy(2.5 * DEADLINE_MS);
}

/**
 * Blocks the loop in the check phase `turns` turns after a publish made in this turn: amqplib
 * hands its frames to the socket from an immediate it schedules on the next tick (turn 0), and
 * the socket, corked per turn, sends them at the next check phase (turn 1). So at 0 the frames
 * wait in the socket, and at 1 they have just left: the broker confirms while the loop is busy.
 */
function busyAfterPublish(turns: 0 | 1): Promise<void> {
  return new Promise((resolve) =>
    process.nextTick(() => {
      const next = (left: number) =>
        setImmediate(() => {
          if (left > 0) {
            next(left - 1);
            return;
          }
          busyPastDeadline();
          resolve();
        });
      next(turns);
    }),
  );
}

/** How a publish ended: "confirmed", or the code it failed with. */
function outcome(publish: Promise<void>): Promise<string> {
  return publish.then(
    () => "confirmed",
    (error: unknown) => (error instanceof SluiceError ? error.code : String(error)),
  );
}

describe("broker confirm deadline and event-loop lag (adapter.publishTimeout)", function () {
  this.timeout(60_000);
  const queue = `t-${randomUUID().slice(0, 8)}.confirm-deadline`;
  let broker: Broker;
  let proxy: TcpProxy | undefined;

  /** A publisher channel on `on` whose confirms have `deadlineMs`, declaring the test's queue. */
  async function publisher(on: Broker, deadlineMs = DEADLINE_MS): Promise<ChannelWrapper> {
    const channel = on.channel(
      `confirm-deadline-${randomUUID().slice(0, 8)}`,
      async (ch) => {
        await ch.assertQueue(queue, { durable: false });
      },
      deadlineMs,
    );
    await channel.waitForConnect();
    return channel;
  }

  /** A broker connection through a fresh proxy (kept in `proxy`, closed after each test). */
  async function proxied(): Promise<Broker> {
    proxy = proxyTo(AMQP_URL);
    return Broker.connect(viaProxy(AMQP_URL, await proxy.listen()), log);
  }

  /** Messages ready in the test's queue, emptied. */
  async function drained(): Promise<number> {
    const channel = await broker.probeChannel();
    try {
      return (await channel.purgeQueue(queue)).messageCount;
    } finally {
      await channel.close().catch(() => undefined);
    }
  }

  before(async () => {
    broker = await Broker.connect(AMQP_URL, log);
  });
  afterEach(async () => {
    await proxy?.close();
    proxy = undefined;
    await drained();
  });
  after(async () => {
    const channel = await broker.probeChannel();
    await channel.deleteQueue(queue).catch(() => undefined);
    await channel.close().catch(() => undefined);
    await broker.close();
  });

  it("a confirm that arrives while the loop is busy past the deadline is read, not counted as silence", async () => {
    // The proxy relays on a thread of its own: the confirm reaches this process while its loop
    // is blocked, and waits there unread until the loop is free.
    const threaded = await threadedProxyTo(AMQP_URL);
    const via = await Broker.connect(viaProxy(AMQP_URL, threaded.port), log);
    try {
      const channel = await publisher(via);
      await threaded.stall();
      const publish = outcome(via.publish(channel, "", queue, Buffer.from("confirmed late")));
      // The frames have left and the deadline's count has started; the broker has nothing yet.
      await turns(TURNS_BEFORE_COUNT + 1);
      threaded.heal();
      busyPastDeadline();
      expect(await publish).to.equal("confirmed");
      await channel.close();
    } finally {
      await via.close();
      await threaded.close();
    }
  });

  it("a busy turn while the frames wait to leave does not count toward the deadline", async () => {
    const channel = await publisher(broker);
    const publish = outcome(broker.publish(channel, "", queue, Buffer.from("waiting")));
    await busyAfterPublish(0);
    expect(await publish).to.equal("confirmed");
    await channel.close();
  });

  it("a busy turn right after the frames left does not count toward the deadline", async () => {
    const channel = await publisher(broker);
    const publish = outcome(broker.publish(channel, "", queue, Buffer.from("sent")));
    await busyAfterPublish(1);
    expect(await publish).to.equal("confirmed");
    await channel.close();
  });

  it("a publish the busy process had not yet sent gets its whole deadline once sent", async () => {
    const channel = await publisher(broker);
    const publish = outcome(broker.publish(channel, "", queue, Buffer.from("not yet sent")));
    busyPastDeadline();
    expect(await publish).to.equal("confirmed");
    await channel.close();
  });

  it("a silent broker still fails the publish at its deadline, and it is not sent again", async () => {
    const via = await proxied();
    try {
      const channel = await publisher(via);
      proxy!.stall();
      expect(await outcome(via.publish(channel, "", queue, Buffer.from("unheard")))).to.equal(
        "Busy",
      );
      // The connection breaks (what the stall held is lost) and comes back: the publish that
      // timed out is not sent again behind the caller who was told it failed.
      const down = new Promise((resolve) => via.once("disconnect", resolve));
      const up = new Promise((resolve) => via.once("connect", resolve));
      proxy!.cut();
      await down;
      proxy!.heal();
      await up;
      await channel.waitForConnect();
      expect(await outcome(via.publish(channel, "", queue, Buffer.from("marker")))).to.equal(
        "confirmed",
      );
      expect(await drained(), "messages in the queue").to.equal(1);
      await channel.close();
    } finally {
      await via.close();
    }
  });

  describe("a publish made while its channel is closed (opened again after 1 s)", () => {
    /** A channel with `deadlineMs` that the broker has just closed (the connection stays up). */
    async function closedChannel(deadlineMs: number): Promise<ChannelWrapper> {
      let current: ConfirmChannel | undefined;
      const channel = broker.channel(
        `confirm-deadline-${randomUUID().slice(0, 8)}`,
        async (ch) => {
          await ch.assertQueue(queue, { durable: false });
          current = ch;
        },
        deadlineMs,
      );
      await channel.waitForConnect();
      // An ack the broker does not know: it closes the channel.
      const closed = new Promise((resolve) => current!.once("close", resolve));
      current!.ack({ fields: { deliveryTag: 999 } } as ConsumeMessage);
      await closed;
      return channel;
    }

    it("is sent on the new channel and confirmed within its deadline", async () => {
      const channel = await closedChannel(20_000);
      expect(await outcome(broker.publish(channel, "", queue, Buffer.from("queued")))).to.equal(
        "confirmed",
      );
      expect(await drained(), "messages in the queue").to.equal(1);
      await channel.close();
    });

    it("past its deadline fails and is never sent, not even on the new channel", async () => {
      const channel = await closedChannel(200);
      expect(await outcome(broker.publish(channel, "", queue, Buffer.from("given up")))).to.equal(
        "Busy",
      );
      expect(channel.queueLength(), "publishes still queued").to.equal(0);
      await channel.waitForConnect();
      expect(await outcome(broker.publish(channel, "", queue, Buffer.from("marker")))).to.equal(
        "confirmed",
      );
      expect(await drained(), "messages in the queue").to.equal(1);
      await channel.close();
    });
  });
});

describe("the adapter's answer when its loop was busy past the confirm deadline", function () {
  this.timeout(60_000);
  const harness = new Harness();
  let threaded: ThreadedProxy;
  let runtime: Runtime | null = null;
  let adapter: AdapterRole | null = null;

  before(async () => {
    threaded = await threadedProxyTo(AMQP_URL);
    const config = loadConfig(
      harness.writeConfig({
        adapter: { port: 0, publishTimeout: "1s" },
        services: { order: { protocols: ["rest"], reply: { mode: "ack" }, backend: "b" } },
        backends: { b: { url: "http://127.0.0.1:9", translator: "rest-json" } },
      }),
    );
    // The adapter alone reaches the broker through the proxy on its own thread.
    config.amqpUrls = [viaProxy(AMQP_URL, threaded.port)];
    runtime = await startRuntime(config, log, 0);
    adapter = await startAdapter(runtime);
  });
  after(async () => {
    if (adapter) await drainRoles([adapter], 2_000);
    await runtime?.close();
    await threaded.close();
    await harness.cleanup();
  });

  it("is 202 for a message the broker confirmed while the adapter was busy, not 503 Busy", async () => {
    const broker = runtime!.broker;
    const publish = broker.publish.bind(broker);
    let armed = true;
    // Once the submission's publish has left and its deadline's count started, the confirm is
    // let through while the adapter's loop is blocked for longer than the deadline.
    broker.publish = (...args) => {
      const published = publish(...args);
      if (armed) {
        armed = false;
        void turns(TURNS_BEFORE_COUNT + 1).then(() => {
          threaded.heal();
          busyPastDeadline();
        });
      }
      return published;
    };
    await threaded.stall();
    const answer = await call(`http://127.0.0.1:${adapter!.port}/rest/order`, {
      body: JSON.stringify({ n: 1 }),
    });
    expect(answer.status, answer.text).to.equal(202);
    expect(armed, "the submission was published").to.equal(false);
  });
});
