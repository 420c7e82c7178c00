// A response worker that stood still (SIGSTOP, a long GC pause, a starved CPU) past a callback's
// deadline while the receiver's 2xx, given in time, waited in its socket: the callback counts as
// delivered, not as timed out and sent again. The stall is a busy loop, which holds this whole
// process (the receiver here included) as a stopped response worker is held.

import { expect } from "chai";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { performance } from "node:perf_hooks";
import { SafeHttp } from "../../shared/delivery/safe-http";
import { STALL_TIMINGS, standStill } from "../support/stand-still";

const { timeoutMs, answerMs, pastDeadlineMs } = STALL_TIMINGS;

type Answer = (req: IncomingMessage, res: ServerResponse) => void;

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
    { status = 204, body = "", afterMs = answerMs, pastMs = pastDeadlineMs } = {},
  ): Answer {
    return (_req, res) => {
      setTimeout(
        () =>
          setImmediate(() => {
            res.writeHead(status, { "content-type": "text/plain" }).end(body);
            standStill(deadlineAt + pastMs);
          }),
        afterMs,
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
    answer = answerThenStall(performance.now() + timeoutMs, { afterMs: timeoutMs - 20 });
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
