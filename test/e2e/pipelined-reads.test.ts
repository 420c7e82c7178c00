// A caller that pipelines many reads of a large status record on one connection and reads no
// answer: each request waits for the answer before it to be sent, so one record at a time is
// read and held, and the rest end with the connection when the answer deadline cuts it. All
// were read from Redis and held as answers at once before (hundreds of megabytes for a few
// kilobytes of requests, and Redis's output buffer with them).

import { expect } from "chai";
import net from "node:net";
import { call, eventually, Harness } from "../support/harness";

const CLIENT = "EE/GOV/70000001/reader";

describe("pipelined reads of a large record on a connection that reads nothing", function () {
  this.timeout(90_000);
  const harness = Harness.suite({
    config: {
      adapter: { port: 0, requestTimeout: "2s", headersTimeout: "2s" },
      services: {
        big: { protocols: ["rest"], reply: { mode: "ack" }, backend: "sim", maxBodySize: "2mb" },
      },
      backends: { sim: { translator: "rest-json" } },
    },
    roles: [{ role: "all", as: "sluice" }],
  });
  const { roles } = harness;

  /** Access lines of the pipelined reads. */
  const readLines = () =>
    roles.sluice.lines.filter((l) => l.msg === "request" && l.xroadId === "pipelined");

  it("handles one read at a time: the others wait for the answer before them and end with the connection", async () => {
    // legacy-sim echoes the body it received: the record holds about 1 MB (legacy-sim takes bodies up to 1 MB).
    const answer = await call(`${roles.sluice.url}/rest/big`, {
      client: CLIENT,
      body: JSON.stringify({ blob: "x".repeat(950_000) }),
    });
    expect(answer.status).to.equal(202);
    const id = answer.json.id as string;
    await eventually(async () => {
      const status = await call(`${roles.sluice.url}/messages/${id}`, { client: CLIENT });
      return status.json?.state === "completed" ? true : undefined;
    }, 30_000);

    const reads = 30;
    const socket = net.connect(Number(new URL(roles.sluice.url).port), "127.0.0.1");
    socket.on("error", () => undefined);
    socket.pause(); // reads nothing
    socket.write(
      `GET /messages/${id} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Road-Client: ${CLIENT}\r\nX-Road-Id: pipelined\r\n\r\n`.repeat(
        reads,
      ),
    );

    // The answer deadline closes the connection; every request gets its access line, handled
    // or not. (This side, reading nothing, never sees the close: it is destroyed after.)
    const lines = await eventually(
      async () => (readLines().length === reads ? readLines() : undefined),
      60_000,
      `${reads} access lines`,
    ).finally(() => socket.destroy());
    const answered = lines.filter((l) => l.status === 200).length;
    // The first is answered (and stalls); a few more may pass while the kernel takes what the
    // caller does not read. Handled all at once, every one was answered 200.
    expect(answered).to.be.at.least(1);
    expect(answered).to.be.below(reads / 3);
  });
});
