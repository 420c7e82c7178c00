// What a response worker keeps of the callbacks it delivered, on the real broker and Redis with
// a real receiver: after attempts of every outcome (delivered at once, a 503 then delivered, a
// 4xx, a receiver not listening, one stalling past the timeout and set apart, one failing until
// the retries are used up) the attempts under way, the attempts set apart, the receivers' slots
// and the publishes awaiting their confirm are back to none, and no listener an attempt added
// stays on the broker's channel and connection or the HTTP client's pool.

import { subscribe, unsubscribe } from "node:diagnostics_channel";
import { EventEmitter } from "node:events";
import type { Socket } from "node:net";
import { randomBytes, randomUUID } from "node:crypto";
import { expect } from "chai";
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
import { closedPort } from "../support/closed-port";

const SECRET = `whsec_${randomBytes(32).toString("base64")}`;

/** Every listener on `emitter`, by event name (an object's own listeners, not its events). */
function listeners(emitter: EventEmitter): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const name of emitter.eventNames()) counts[String(name)] = emitter.listenerCount(name);
  return counts;
}

/** A private field, read as the operator's gauges would show it. */
function field<T>(owner: object, name: string): T {
  return (owner as Record<string, T>)[name];
}

describe("response worker: per-callback state returns to idle (real broker, Redis, HTTPS)", function () {
  this.timeout(90_000);
  const queues = callbackQueuesPerTest();
  const { cleanups } = queues;

  it("callbacks of every outcome leave no attempt, slot, parked attempt, pending publish or listener behind", async () => {
    const receiver = await CallbackReceiver.start({ tls: true });
    cleanups.push(async () => {
      receiver.release();
      await receiver.close();
    });
    const down = await closedPort();
    const flaky = new Set<string>();
    receiver.respond = (call) => {
      if (call.path.startsWith("/ok")) return { status: 204 };
      if (call.path.startsWith("/flaky")) {
        // 503 the first time, delivered the second.
        const id = String(call.headers["webhook-id"]);
        if (flaky.has(id)) return { status: 204 };
        flaky.add(id);
        return { status: 503 };
      }
      if (call.path.startsWith("/gone")) return { status: 410 };
      if (call.path.startsWith("/bad")) return { status: 400 };
      if (call.path.startsWith("/stall")) return "hang";
      return { status: 500 };
    };
    const broker = await Broker.connect(AMQP_URL, pino({ level: "silent" }));
    const channel: ChannelWrapper = broker.channel(queues.topology.delivery, (ch) =>
      declareCallbackTopology(ch, queues.topology),
    );
    await channel.waitForConnect();
    const http = new SafeHttp({ allowPrivate: true, ca: receiver.ca, timeoutMs: 600 });
    let setApart = 0;
    let mostSetApart = 0;
    const parking: Parking = {
      marks: new ParkedAttempts(queues.redis, queues.prefix, 60_000),
      attemptTimeoutMs: 600,
      afterMs: 100,
      onCount: (count) => {
        setApart = count;
        mostSetApart = Math.max(mostSetApart, count);
      },
    };
    const settled: Array<{ job: CallbackJob; s: Settlement }> = [];
    let inHand = 0;
    let mostInHand = 0;
    const deliverer = new CallbackDeliverer({
      broker,
      channel,
      topology: queues.topology,
      prefetch: 8,
      onInHand: (count) => {
        inHand = count;
        mostInHand = Math.max(mostInHand, count);
      },
      maxPerTarget: 4,
      sender: new CallbackSender({
        secrets: [SECRET],
        policy: {
          allow: [receiver.url("/"), `https://127.0.0.1:${down}/`],
          allowHttp: false,
          allowPrivate: true,
          xroad: false,
        },
        http,
      }),
      parking,
      onSettled: (job, s) => void settled.push({ job, s }),
    });
    await deliverer.start();
    cleanups.push(async () => {
      await deliverer.stop();
      await channel.close().catch(() => undefined);
      await broker.close().catch(() => undefined);
      await http.destroy();
    });

    // The HTTP client's connection pool: the one emitter it holds.
    const pool = Object.values(http).find((value) => value instanceof EventEmitter) as EventEmitter;
    expect(pool, "the HTTP client's pool").to.be.instanceOf(EventEmitter);
    const connection = field<EventEmitter>(broker, "connection");
    const idleListeners = () => ({
      pool: listeners(pool),
      channel: listeners(channel),
      connection: listeners(connection),
      broker: listeners(broker),
    });
    const state = () => ({
      inHand,
      setApart,
      parked: field<Map<string, number>>(deliverer, "parked").size,
      parkedBytes: field<number>(deliverer, "parkedBytes"),
      slots: field<Map<string, unknown>>(field<object>(deliverer, "slots"), "receivers").size,
      pendingPublishes: field<Map<string, unknown>>(broker, "pendingMandatory").size,
    });
    const idle = {
      inHand: 0,
      setApart: 0,
      parked: 0,
      parkedBytes: 0,
      slots: 0,
      pendingPublishes: 0,
    };
    const waitFor = async (what: string, done: () => boolean | Promise<boolean>) => {
      for (let i = 0; i < 1_200 && !(await done()); i++) {
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(await done(), what).to.equal(true);
    };
    const targets = [
      receiver.url("/ok"),
      receiver.url("/flaky"),
      receiver.url("/gone"),
      receiver.url("/bad"),
      receiver.url("/fail"),
      receiver.url("/stall"),
      `https://127.0.0.1:${down}/down`,
    ];
    const round = async (each: number) => {
      const before = settled.length;
      for (let i = 0; i < each; i++) {
        for (const target of targets) {
          await deliverer.enqueue({
            webhookId: `msg_${randomUUID()}`,
            messageId: randomUUID(),
            target: `${target}/${i}`,
            payload: JSON.stringify({ id: "m-1", state: "completed" }),
          });
        }
      }
      await waitFor(
        "every delivery settled",
        () => settled.length === before + each * targets.length,
      );
      // The copies of attempts set apart come back and are dropped, their marks with them.
      await waitFor(
        "the queues are empty and the marks gone",
        async () =>
          (await queues.depths()) === 0 &&
          (await queues.redis.keys(`${queues.prefix}sluice:*`)).length === 0,
      );
      await waitFor("the deliverer is idle", () => state().inHand === 0);
    };

    // Every listener on a socket of the pool each time it sends a callback: one kept per
    // callback would make the count grow with the callbacks a kept-alive socket carried.
    const sends = new Map<Socket, number[]>();
    const onSend = (message: unknown) => {
      const { socket } = message as { socket: Socket };
      const total = socket.eventNames().reduce((sum, name) => sum + socket.listenerCount(name), 0);
      sends.set(socket, [...(sends.get(socket) ?? []), total]);
    };
    subscribe("undici:client:sendHeaders", onSend);
    cleanups.push(async () => {
      unsubscribe("undici:client:sendHeaders", onSend);
    });

    const before = idleListeners();
    await round(2);
    const outcomes = new Set(settled.map(({ s }) => s.outcome));
    expect([...outcomes].sort()).to.deep.equal(["delivered", "exhausted", "gone"]);
    expect(mostSetApart, "the stalling receiver's attempts were set apart").to.be.above(0);
    // Not bounded by the prefetch from above: a job is counted out only after its ack, by when
    // the broker may already have sent the next delivery in its place.
    expect(mostInHand, "jobs held at once").to.be.at.least(2);
    expect(state()).to.deep.equal(idle);
    const slowAfterFirst = field<Map<string, number>>(deliverer, "slowReceivers").size;
    const afterFirst = idleListeners();
    await round(6);
    expect(state()).to.deep.equal(idle);
    // Receivers seen slow are kept a while (their next attempts are set apart at once), one
    // entry per receiver however many of their callbacks were set apart.
    expect(field<Map<string, number>>(deliverer, "slowReceivers").size).to.be.at.most(
      Math.max(slowAfterFirst, 1),
    );
    expect(idleListeners()).to.deep.equal(afterFirst);
    const reused = [...sends.values()].filter((counts) => counts.length >= 3);
    expect(reused, "kept-alive sockets carried several callbacks").to.have.length.above(0);
    // The first send of a socket finds the listeners of its connecting still on it.
    for (const counts of sends.values()) {
      expect(
        new Set(counts.slice(1)).size,
        `listeners at each send: ${counts.join(", ")}`,
      ).to.be.at.most(1);
    }
    // What an attempt adds to the long-lived emitters it takes off again (the pool's sockets
    // come and go with keep-alive, the pool's own listeners do not).
    expect(afterFirst.pool).to.deep.equal(before.pool);
    expect(afterFirst.channel).to.deep.equal(before.channel);
    expect(afterFirst.connection).to.deep.equal(before.connection);
    expect(afterFirst.broker).to.deep.equal(before.broker);
  });
});
