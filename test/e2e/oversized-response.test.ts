// A backend's answer larger, as a response message, than the broker takes (amqpMaxMessageSize):
// the call fails once, without retry, with the reason for the operator, instead of the broker
// closing the worker's channel over the message on every try.

import { expect } from "chai";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { call, eventually, Harness, type SluiceProcess, untilState } from "../support/harness";

describe("a backend answer larger than a response message may be (amqpMaxMessageSize)", function () {
  this.timeout(90_000);
  const harness = new Harness();
  let sluice: SluiceProcess;
  let backend: http.Server;

  before(async () => {
    // Answers /control-N with N control characters (6 bytes each JSON-escaped) and /text-N
    // with N letters, as text/plain.
    backend = http.createServer((req, res) => {
      req.resume();
      req.on("end", () => {
        const [, kind, count] = /\/(control|text)-(\d+)$/.exec(req.url ?? "") ?? [];
        if (!kind) {
          res.writeHead(404).end();
          return;
        }
        res.writeHead(200, { "content-type": "text/plain; charset=utf-8" });
        res.end((kind === "control" ? "\u0001" : "a").repeat(Number(count)));
      });
    });
    await new Promise<void>((resolve) => backend.listen(0, "127.0.0.1", resolve));
    const port = (backend.address() as AddressInfo).port;
    harness.writeConfig({
      amqpMaxMessageSize: "64kb",
      services: { lookup: { protocols: ["rest"], reply: { mode: "ack" }, backend: "stub" } },
      backends: { stub: { translator: "rest-json", url: `http://127.0.0.1:${port}` } },
    });
    sluice = await harness.spawn("all");
  });
  after(async () => {
    await harness.cleanup();
    await new Promise((resolve) => backend.close(resolve));
  });

  it("10 000 control characters (60 KB JSON-escaped) under a 64 KiB bound: failed at once, BackendFailed, the reason dead-lettered", async () => {
    const accepted = await call(`${sluice.url}/rest/lookup/control-10000`);
    expect(accepted.status, accepted.text).to.equal(202);
    const id = accepted.json.id as string;
    const settled = await untilState(sluice, id, ["completed", "failed", "rejected"], 30_000);
    expect(settled.json.state, settled.text.slice(0, 500)).to.equal("failed");
    expect(settled.json.error.code).to.equal("BackendFailed");
    expect(
      sluice.output.some((line) => line.includes(id) && line.includes("amqpMaxMessageSize")),
    ).to.equal(true);
    const deadLetter = await eventually(async () => {
      const answer = await call(`${sluice.adminUrl}/admin/dead-letters/${id}`, {
        client: null,
        headers: harness.adminHeaders(),
      });
      return answer.status === 200 ? answer : undefined;
    });
    expect(deadLetter.json).to.include({ id, reason: "translator_error" });
    expect(deadLetter.json.error).to.match(
      /more than a response message carries under amqpMaxMessageSize of 65536 bytes/,
    );
  });

  it("25 000 letters, over the quick bound but not the exact size: completed with the whole body", async () => {
    const accepted = await call(`${sluice.url}/rest/lookup/text-25000`);
    expect(accepted.status, accepted.text).to.equal(202);
    const id = accepted.json.id as string;
    const settled = await untilState(sluice, id, ["completed", "failed", "rejected"], 30_000);
    expect(settled.json.state, settled.text.slice(0, 500)).to.equal("completed");
    expect(settled.json.responses).to.have.length(1);
    expect(settled.json.responses[0].body).to.equal("a".repeat(25_000));
  });
});
