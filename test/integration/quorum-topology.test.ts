// Every durable queue Sluice declares is a quorum queue (replicated on a RabbitMQ cluster):
// requests, retry tiers, responses, dead letters and the callback queues. Checked as a client
// can: the declarations are recorded, and each queue redeclared with the same arguments but as
// classic is refused by the broker (PRECONDITION_FAILED on x-queue-type). Only the adapter's
// reply queue (exclusive, transient wake messages) is classic.

import { randomUUID } from "node:crypto";
import { expect } from "chai";
import amqplib from "amqplib";
import { compileConfig } from "../../shared/config/config";
import { declareAllBackends } from "../../shared/broker/topology";
import { topologyNames, type TopologyNames } from "../../shared/protocol/names";
import {
  callbackQueues,
  callbackTopology,
  declareCallbackTopology,
} from "../../response-worker/callback-schedule";
import { AMQP_URL, deletePrefix } from "../support/harness";

describe("queue types (RabbitMQ): every durable queue is a quorum queue", () => {
  const prefix = `t-${randomUUID().slice(0, 8)}.`;
  const rawConfig = {
    prefix,
    services: { s: { protocols: ["rest"], backend: "b" } },
    backends: {
      b: { translator: "rest-json", url: "http://127.0.0.1:1", retry: { backoff: ["1s", "5s"] } },
    },
    callbacks: { backoff: ["1s", "1m"] },
  };
  const config = compileConfig(rawConfig, ".");
  const names: TopologyNames = topologyNames(prefix);
  const callbacks = callbackTopology(prefix, config.callbacks.backoffMs);
  const queues = [
    names.requestsQueue("b"),
    ...config.backends.b.retry.backoffMs.map((ms) => names.retryQueue("b", ms)),
    names.responsesQueue,
    names.deadLetterQueue,
    names.deadLetterWatchQueue,
    ...callbackQueues(callbacks),
  ];
  let connection: amqplib.ChannelModel;
  const declared = new Map<string, amqplib.Options.AssertQueue>();

  before(async () => {
    connection = await amqplib.connect(AMQP_URL);
    const real = await connection.createConfirmChannel();
    // The real channel, recording every queue declaration on the way.
    const channel = new Proxy(real, {
      get(target, key, receiver) {
        if (key === "assertQueue")
          return (queue: string, options: amqplib.Options.AssertQueue = {}) => {
            declared.set(queue, options);
            return target.assertQueue(queue, options);
          };
        const value = Reflect.get(target, key, receiver);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    await declareAllBackends(channel, config, names);
    await declareCallbackTopology(channel, callbacks);
    // Declaring twice is idempotent (every role does it on each reconnect).
    await declareAllBackends(channel, config, names);
    await declareCallbackTopology(channel, callbacks);
    await real.close();
  });

  after(async () => {
    await connection.close();
    await deletePrefix(prefix, rawConfig);
  });

  it("declares each of them durable with x-queue-type quorum", () => {
    expect([...declared.keys()].sort()).to.deep.equal([...queues].sort());
    for (const [queue, options] of declared) {
      expect(options.durable, queue).to.equal(true);
      expect(options.arguments?.["x-queue-type"], queue).to.equal("quorum");
    }
  });

  it("the broker holds each as a quorum queue: redeclared as classic, it is refused", async () => {
    expect(queues).to.have.length(15);
    for (const queue of queues) {
      const channel = await connection.createChannel();
      let refusal: Error | null = null;
      channel.on("error", (error: Error) => (refusal = error));
      try {
        const options = declared.get(queue)!;
        await channel.assertQueue(queue, {
          ...options,
          arguments: { ...options.arguments, "x-queue-type": "classic" },
        });
      } catch (error) {
        refusal = error as Error;
      }
      expect(refusal, queue).to.not.equal(null);
      expect(refusal!.message, queue).to.match(
        /inequivalent arg 'x-queue-type'.*current is 'quorum'/,
      );
      await channel.close().catch(() => undefined);
    }
  });
});
