// A response worker that stood still (SIGSTOP, a long GC pause, a starved CPU) past a callback's
// deadline while the receiver's 2xx, given in time, waited in its socket: the callback counts as
// delivered, not as timed out and sent again. The stall is a busy loop, which holds this whole
// process (the receiver here included) as a stopped response worker is held.

import { expect } from "chai";
import { randomBytes, randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { performance } from "node:perf_hooks";
import pino from "pino";
import { Broker } from "../../shared/broker/amqp";
import { SafeHttp } from "../../shared/delivery/safe-http";
import { ParkedAttempts } from "../../shared/store/parked-attempts";
import type { CallbackJob } from "../../shared/protocol/callback-job";
import { CallbackDeliverer, type Settlement } from "../../response-worker/callback-deliverer";
import { declareCallbackTopology } from "../../response-worker/callback-schedule";
import { CallbackSender, type AttemptResult } from "../../response-worker/callback-sender";
import { AMQP_URL } from "../support/harness";
import { callbackQueuesPerTest } from "../support/callback-queues";
import { STALL_TIMINGS, standStill } from "../support/stand-still";

const { timeoutMs, answerMs, pastDeadlineMs } = STALL_TIMINGS;

type Answer = (req: IncomingMessage, res: ServerResponse) => void;

const SECRET = `whsec_${randomBytes(32).toString("base64")}`;

describe("a callback answered in time, read by a response worker that stood still past its deadline", function () {
  let server: Server;
  let url: string;
  let answer: Answer;
  let received = 0;
  const clients: SafeHttp[] = [];

  before(async () => {
    server = createServer((req, res) => {
      req.resume();
      req.on("end", () => {
        received += 1;
        answer(req, res);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/cb`;
  });

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((client) => client.close()));
  });

  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  /** A client with its connection open, so the post under test is only the exchange. */
  async function warmClient(): Promise<SafeHttp> {
    const client = new SafeHttp({ allowPrivate: true, timeoutMs });
    clients.push(client);
    answer = (_req, res) => res.writeHead(204).end();
    expect((await client.post(url, {}, "{}")).outcome).to.equal("delivered");
    received = 0;
    return client;
  }

  /**
   * Answers `status` with `body` after `afterMs`, then stands still until `pastMs` after the
   * post's deadline. The stall runs in the loop's check phase: when it ends, the loop's timers
   * run before the next poll reads the answer from the socket.
   */
  function answerThenStall(
    deadlineAt: number,
    {
      status = 204,
      body = "",
      afterMs = answerMs,
      pastMs = pastDeadlineMs,
      beforeDeadlineMs,
    }: {
      status?: number;
      body?: string;
      afterMs?: number;
      pastMs?: number;
      beforeDeadlineMs?: number;
    } = {},
  ): Answer {
    return (_req, res) => {
      // Timed from the deadline itself when the answer is to come just before it: timed from
      // the request's arrival, a loaded machine's delay in getting it here moved the answer
      // past the deadline (a clean-clone CI failure), and the test failed for the machine.
      const inMs =
        beforeDeadlineMs === undefined
          ? afterMs
          : Math.max(0, deadlineAt - beforeDeadlineMs - performance.now());
      setTimeout(
        () =>
          setImmediate(() => {
            res.writeHead(status, { "content-type": "text/plain" }).end(body);
            standStill(deadlineAt + pastMs);
          }),
        inMs,
      );
    };
  }

  it("counts the callback delivered, also when the stall ends just past the deadline", async () => {
    const client = await warmClient();
    for (const pastMs of [pastDeadlineMs, 5]) {
      answer = answerThenStall(performance.now() + timeoutMs, { pastMs });
      const result = await client.post(url, { "content-type": "application/json" }, "{}");
      expect(result).to.deep.equal({ outcome: "delivered", status: 204 });
    }
    expect(received).to.equal(2);
  });

  it("counts it delivered when the answer came in the last moments before the deadline", async () => {
    const client = await warmClient();
    answer = answerThenStall(performance.now() + timeoutMs, { beforeDeadlineMs: 100 });
    const result = await client.post(url, {}, "{}");
    expect(result).to.deep.equal({ outcome: "delivered", status: 204 });
    expect(received).to.equal(1);
  });

  it("reads a 2xx whose body takes many reads, sent before the stall", async () => {
    const client = await warmClient();
    answer = answerThenStall(performance.now() + timeoutMs, {
      status: 200,
      body: "a".repeat(4 * 1024 * 1024),
    });
    const result = await client.post(url, {}, "{}");
    expect(result).to.deep.equal({ outcome: "delivered", status: 200 });
    expect(received).to.equal(1);
  });

  it("counts an X-Road callback delivered: the security server's 2xx is read as a receiver's", async () => {
    const http = await warmClient();
    const sender = new CallbackSender({
      secrets: [SECRET],
      policy: { allow: ["xroad:EE/GOV/"], allowHttp: false, allowPrivate: false, xroad: true },
      http,
      // This server stands in for the security server: the attempt is the same post of it.
      xroad: { securityServerUrl: new URL(url).origin, client: "EE/GOV/70000009/sluice", http },
    });
    let path = "";
    const stall = answerThenStall(performance.now() + timeoutMs, { status: 200, body: "{}" });
    answer = (req, res) => {
      path = req.url ?? "";
      stall(req, res);
    };
    const result = await sender.send({
      webhookId: "msg_stalled",
      messageId: randomUUID(),
      target: "xroad:EE/GOV/70000001/callbacks/resultReady",
      body: "{}",
    });
    expect(result).to.deep.equal({ outcome: "delivered", status: 200 });
    expect(path).to.equal("/r1/EE/GOV/70000001/callbacks/resultReady");
    expect(received).to.equal(1);
  });

  it("still times out a receiver that never answers", async () => {
    const client = await warmClient();
    answer = () => {
      // Holds the request open: the deadline must end the post.
    };
    const result = await client.post(url, {}, "{}");
    expect(result.outcome).to.equal("retry");
    expect(result).to.have.nested.property("failure.kind", "timeout");
  });
});

describe("a callback delivery whose receiver answered in time, by a response worker that stood still (real broker, Redis)", function () {
  const queues = callbackQueuesPerTest();
  const { cleanups } = queues;
  let server: Server;
  let url: string;
  /** The webhook-id of every request the receiver took. */
  const received: string[] = [];

  /** The receiver's answer to its `n`th request (from 0): the stall's by default, see below. */
  let answerNth: (n: number, res: ServerResponse) => void;

  /**
   * Answers within `answerMs` of its arrival, then holds the process past the deadline of an
   * attempt posted a moment before it.
   */
  const answerThenStandStill = (res: ServerResponse) => {
    const deadlineAt = performance.now() + timeoutMs;
    setTimeout(
      () =>
        setImmediate(() => {
          res.writeHead(204).end();
          standStill(deadlineAt + pastDeadlineMs);
        }),
      answerMs,
    );
  };

  before(async () => {
    server = createServer((req, res) => {
      req.resume();
      req.on("end", () => {
        received.push(String(req.headers["webhook-id"]));
        answerNth(received.length - 1, res);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/cb`;
  });

  beforeEach(() => {
    received.length = 0;
    // The first attempt stands still past its deadline; the others are answered at once.
    answerNth = (n, res) => (n === 0 ? answerThenStandStill(res) : res.writeHead(204).end());
  });

  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  const waitFor = async (what: string, done: () => boolean | Promise<boolean>) => {
    for (let i = 0; i < 600 && !(await done()); i++) await new Promise((r) => setTimeout(r, 50));
    expect(await done(), what).to.equal(true);
  };

  /**
   * A CallbackDeliverer as the response worker runs it, attempts set apart after `afterMs`
   * (`parking.afterMs`, 1 s by default) included, with what it reports and a way to hand it a
   * callback.
   */
  async function responseWorker(afterMs?: number) {
    const broker = await Broker.connect(AMQP_URL, pino({ level: "silent" }));
    const channel = broker.channel(queues.topology.delivery, (ch) =>
      declareCallbackTopology(ch, queues.topology),
    );
    await channel.waitForConnect();
    const http = new SafeHttp({ allowPrivate: true, timeoutMs });
    const attempts: Array<{ outcome: AttemptResult["outcome"]; next: string }> = [];
    const settled: Settlement[] = [];
    /** The deliverer's gauge of attempts set apart, every value it was told. */
    const setApart: number[] = [];
    const deliverer = new CallbackDeliverer({
      broker,
      channel,
      topology: queues.topology,
      sender: new CallbackSender({
        secrets: [SECRET],
        policy: { allow: [url], allowHttp: true, allowPrivate: true, xroad: false },
        http,
      }),
      parking: {
        marks: new ParkedAttempts(queues.redis, queues.prefix, 60_000),
        attemptTimeoutMs: timeoutMs,
        afterMs,
        onCount: (count) => void setApart.push(count),
      },
      onAttempt: (_job: CallbackJob, result, next) =>
        void attempts.push({ outcome: result.outcome, next }),
      onSettled: (_job, settlement) => void settled.push(settlement),
    });
    await deliverer.start();
    cleanups.push(async () => {
      await deliverer.stop();
      await channel.close().catch(() => undefined);
      await broker.close().catch(() => undefined);
      await http.destroy();
    });

    const deliver = async (webhookId: string) => {
      await deliverer.enqueue({
        webhookId,
        messageId: randomUUID(),
        target: url,
        payload: JSON.stringify({ id: "m-1", state: "completed" }),
      });
    };
    return { deliverer, deliver, attempts, settled, setApart };
  }

  it("is settled delivered after one attempt, not set apart: no retry, no copy, the receiver called once and not taken as slow", async () => {
    // The stall outlasts the second an attempt runs before it is set apart too, and that wait's
    // timer fires before the answer is read; the attempt, answered in time, must not be set
    // apart (a copy published) nor its receiver taken as slow.
    const { deliverer, deliver, attempts, settled, setApart } = await responseWorker();
    const webhookId = `msg_${randomUUID()}`;
    await deliver(webhookId);
    await waitFor("the delivery settled", () => settled.length === 1);
    // Anything set apart would have ended by now, and its copy come back and gone.
    await waitFor(
      "nothing left on the queues",
      async () =>
        setApart.at(-1) !== 1 &&
        (await queues.depths()) === 0 &&
        (await queues.redis.keys(`${queues.prefix}sluice:*`)).length === 0,
    );
    expect(setApart, "the stalled attempt set apart").to.deep.equal([]);
    // A receiver taken as slow has its next attempt set apart at once, however soon it answers;
    // this one answers the next at once, within the second.
    const next = `msg_${randomUUID()}`;
    await deliver(next);
    await waitFor("the next delivery settled", () => settled.length === 2);
    await deliverer.stop();
    expect(setApart, "the next attempt set apart: its receiver was taken as slow").to.deep.equal(
      [],
    );
    expect(attempts).to.deep.equal([
      { outcome: "delivered", next: "settled" },
      { outcome: "delivered", next: "settled" },
    ]);
    expect(settled.map((s) => ({ outcome: s.outcome, attempts: s.attempts }))).to.deep.equal([
      { outcome: "delivered", attempts: 1 },
      { outcome: "delivered", attempts: 1 },
    ]);
    expect(received).to.deep.equal([webhookId, next]);
  });

  it("takes a receiver that was slow as not slow any more once it answered in time, a stall of the worker notwithstanding", async () => {
    const afterMs = 300;
    // The first attempt is answered well after `afterMs` (and well within its timeout): set
    // apart, its receiver taken as slow. The second is answered in time, the worker standing
    // still past `afterMs` before it reads the answer; the third at once.
    answerNth = (n, res) => {
      if (n === 0) setTimeout(() => res.writeHead(204).end(), afterMs + 600);
      else if (n === 1) answerThenStandStill(res);
      else res.writeHead(204).end();
    };
    const { deliverer, deliver, attempts, settled, setApart } = await responseWorker(afterMs);
    const ids = [0, 1, 2].map(() => `msg_${randomUUID()}`);
    await deliver(ids[0]);
    await waitFor("the slow delivery settled", () => settled.length === 1);
    // Its set-apart count is let go after it settles.
    await waitFor("the slow attempt no longer set apart", () => setApart.length === 2);
    expect(setApart, "the slow attempt set apart").to.deep.equal([1, 0]);
    // A receiver slow lately has its next attempt set apart at once, whenever it answers.
    await deliver(ids[1]);
    await waitFor("the stalled delivery settled", () => settled.length === 2);
    await waitFor("the stalled attempt's copy gone", () => setApart.at(-1) === 0);
    const before = setApart.length;
    await deliver(ids[2]);
    await waitFor("the third delivery settled", () => settled.length === 3);
    await waitFor(
      "nothing left on the queues",
      async () =>
        setApart.at(-1) === 0 &&
        (await queues.depths()) === 0 &&
        (await queues.redis.keys(`${queues.prefix}sluice:*`)).length === 0,
    );
    await deliverer.stop();
    expect(
      setApart.slice(before),
      "the third attempt set apart: its receiver was still taken as slow",
    ).to.deep.equal([]);
    expect(attempts.map((a) => a.outcome)).to.deep.equal(["delivered", "delivered", "delivered"]);
    expect(settled.map((s) => s.attempts)).to.deep.equal([1, 1, 1]);
    expect(received).to.deep.equal(ids);
  });
});
