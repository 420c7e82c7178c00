// A queue setting changed under a running installation (queue.maxLength here): the broker
// refuses the role's declaration (PRECONDITION_FAILED) and the role waits, not ready. Its
// readiness must name the refusal, which is what the operator has to act on
// (docs/operations.md, "Changing queue settings"), not say the topology is "not checked yet".

import { randomUUID } from "node:crypto";
import amqplib from "amqplib";
import { expect } from "chai";
import pino from "pino";
import { Broker } from "../../shared/broker/amqp";
import { QueueMonitor } from "../../shared/broker/queue-monitor";
import { declareAllBackends } from "../../shared/broker/topology";
import { compileConfig } from "../../shared/config/config";
import { topologyNames } from "../../shared/protocol/names";
import { AMQP_URL, deletePrefix } from "../support/harness";

const log = pino({ level: "silent" });

describe("a declaration the broker refuses (real RabbitMQ)", function () {
  this.timeout(30_000);
  const prefix = `t-${randomUUID().slice(0, 8)}.`;
  const rawConfig = (maxLength: number) => ({
    prefix,
    services: { s: { protocols: ["rest"], reply: { mode: "ack" }, backend: "b" } },
    backends: {
      b: {
        url: "http://127.0.0.1:9",
        translator: "rest-json",
        queue: { highWater: 10, maxLength },
      },
    },
  });
  const names = topologyNames(prefix);
  let broker: Broker;

  before(async () => {
    // The installation as it runs: its queues declared with maxLength 1000.
    const connection = await amqplib.connect(AMQP_URL);
    const channel = await connection.createConfirmChannel();
    await declareAllBackends(channel, compileConfig(rawConfig(1000), "."), names);
    await connection.close();
    broker = await Broker.connect([AMQP_URL], log);
  });

  after(async () => {
    await broker.close();
    await deletePrefix(prefix, rawConfig(1000));
  });

  it("is named in the readiness reason, with the queue and the argument", async () => {
    const changed = compileConfig(rawConfig(999), ".");
    const monitor = new QueueMonitor(broker, changed, names, log);
    expect(monitor.topologyProblem()).to.equal("not checked yet");
    const publisher = broker.channel("t.publisher", async (channel) =>
      declareAllBackends(channel, changed, names),
    );
    // The refusal arrives with the broker's answer to the declaration.
    while (broker.setupFailure() === null) await new Promise((r) => setTimeout(r, 20));
    const problem = monitor.topologyProblem()!;
    expect(problem).to.match(/^declaring the topology failed on t\.publisher: /);
    expect(problem).to.include("PRECONDITION_FAILED");
    expect(problem).to.include(`x-max-length' for queue '${prefix}requests.b'`);
    await publisher.close();
  });
});
