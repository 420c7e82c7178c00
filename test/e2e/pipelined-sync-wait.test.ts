// Two sync requests pipelined on one connection, the second waiting for its backend past the
// bound a kept-alive connection may go without a next request (keepAliveTimeout +
// headersTimeout + 2 s, shared/protocol/silent-connections.ts). Node hands the adapter the
// second request before the first one's answer is sent, so that answer's end is no pause
// between requests: the connection stays open and both answers arrive.

import net from "node:net";
import { expect } from "chai";
import { Harness } from "../support/harness";

const CLIENT = "EE/GOV/70000001/pipeliner";
/** Past the bound between requests: the adapter's 5 s keep-alive, 1 s headers, 2 s slack. */
const SECOND_LATENCY_MS = 11_000;

interface Answer {
  status: number;
  head: string;
  body: string;
}

/** The answers read so far from `data`, and what is left of it (an answer not complete yet). */
function parseAnswers(data: Buffer): { answers: Answer[]; rest: Buffer } {
  const answers: Answer[] = [];
  let rest = data;
  for (;;) {
    const end = rest.indexOf("\r\n\r\n");
    if (end < 0) break;
    const head = rest.subarray(0, end).toString("latin1");
    const length = /^content-length:\s*(\d+)\s*$/im.exec(head);
    if (!length) throw new Error(`an answer without Content-Length:\n${head}`);
    const bodyEnd = end + 4 + Number(length[1]);
    if (rest.length < bodyEnd) break;
    answers.push({
      status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1]),
      head,
      body: rest.subarray(end + 4, bodyEnd).toString("utf8"),
    });
    rest = rest.subarray(bodyEnd);
  }
  return { answers, rest };
}

function request(marker: string, headers: Record<string, string>): string {
  const body = JSON.stringify({ marker });
  const lines = [
    "POST /rest/echo HTTP/1.1",
    "Host: 127.0.0.1",
    `X-Road-Client: ${CLIENT}`,
    `X-Road-Id: pipelined-${marker}`,
    "Content-Type: application/json",
    `Content-Length: ${Buffer.byteLength(body)}`,
    ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`),
  ];
  return `${lines.join("\r\n")}\r\n\r\n${body}`;
}

describe("sync requests pipelined on one connection, the second waiting past the bound between requests", function () {
  this.timeout(90_000);
  const harness = Harness.suite({
    config: {
      adapter: { port: 0, headersTimeout: "1s" },
      services: {
        echo: { protocols: ["rest"], reply: { mode: "sync", wait: "30s" }, backend: "sim" },
      },
      backends: { sim: { translator: "rest-json", maxInFlight: 4, timeout: "30s" } },
    },
    roles: [{ role: "all", as: "sluice" }],
  });
  const { roles } = harness;

  it("keeps the connection open until the second answer, and delivers both", async () => {
    const socket = net.connect(Number(new URL(roles.sluice.url).port), "127.0.0.1");
    socket.on("error", () => undefined);
    let received: Buffer = Buffer.alloc(0);
    const answers: Answer[] = [];
    const done = new Promise<void>((resolve) => {
      socket.on("data", (chunk: Buffer) => {
        const parsed = parseAnswers(Buffer.concat([received, chunk]));
        answers.push(...parsed.answers);
        received = parsed.rest;
        if (answers.length === 2) resolve();
      });
      // Closed before both answers: the check below says which one is missing.
      socket.once("close", () => resolve());
    });
    socket.write(
      request("first", {}) + request("second", { "X-Sim-Latency": String(SECOND_LATENCY_MS) }),
    );
    await done;
    socket.destroy();

    expect(answers.map((a) => a.status)).to.deep.equal([200, 200]);
    // legacy-sim echoes the body it received.
    expect(JSON.parse(answers[0].body).received).to.deep.equal({ marker: "first" });
    expect(JSON.parse(answers[1].body).received).to.deep.equal({ marker: "second" });
  });
});

describe("a request pipelined behind a sync wait whose body is not sent in time", function () {
  this.timeout(90_000);
  const harness = Harness.suite({
    config: {
      // The cut request's deadline passes while the first one still waits for its backend.
      adapter: { port: 0, headersTimeout: "1s", requestTimeout: "2s" },
      services: {
        echo: { protocols: ["rest"], reply: { mode: "sync", wait: "30s" }, backend: "sim" },
      },
      backends: { sim: { translator: "rest-json", maxInFlight: 4, timeout: "30s" } },
    },
    roles: [{ role: "all", as: "sluice" }],
  });
  const { roles } = harness;

  it("sends the first request's answer, then the 408, where the 408 was written at once and the answer lost", async () => {
    const socket = net.connect(Number(new URL(roles.sluice.url).port), "127.0.0.1");
    socket.on("error", () => undefined);
    let received: Buffer = Buffer.alloc(0);
    const done = new Promise<void>((resolve) => {
      socket.on("data", (chunk: Buffer) => {
        received = Buffer.concat([received, chunk]);
      });
      socket.once("close", () => resolve());
    });
    // The second request's head is read whole (Node makes a request of it at once); of its body
    // only 2 bytes of 10 come, and the first one's backend answers well past its deadline.
    socket.write(
      request("first", { "X-Sim-Latency": "8000" }) +
        "POST /rest/echo HTTP/1.1\r\nHost: 127.0.0.1\r\n" +
        `X-Road-Client: ${CLIENT}\r\nX-Road-Id: pipelined-cut\r\n` +
        "Content-Type: application/json\r\nContent-Length: 10\r\n\r\n{}",
    );
    await done;
    const { answers } = parseAnswers(received);

    expect(
      answers.map((a) => a.status),
      received.toString("latin1"),
    ).to.deep.equal([200, 408]);
    expect(JSON.parse(answers[0].body).received).to.deep.equal({ marker: "first" });
    expect(answers[1].head).to.match(/\r\nX-Road-Id: pipelined-cut\r\n/);
    expect(JSON.parse(answers[1].body)).to.include({ type: "InvalidRequest" });
  });
});
