// A security server (or the remote provider behind it) that answers slowly, never, or too much,
// on real processes: the worker ends each call within the backend's timeout or its size bound,
// and the message reaches one outcome, once, with no call made past the backend's attempts.

import { expect } from "chai";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { gzipSync } from "node:zlib";
import { call, Harness, type SluiceProcess, untilState } from "../support/harness";

const CONSUMER = "EE/GOV/70000001/sluice-consumer";
const LOCAL_APP = "EE/GOV/70000001/case-app";
const TERMINAL = ["completed", "failed", "rejected", "expired", "cancelled"];
const MAX_RESPONSE_BYTES = 64 * 1024;
/** 16 MB of zeros, 16 KB compressed: read as it came, it is 16 KB, under the bound. */
const BOMB = gzipSync(Buffer.alloc(16 * 1024 * 1024));

/** The parts of a status document these tests read. */
interface Outcome {
  state: string;
  error: { code: string; message: string };
  responses: Array<{
    body: string;
    bodyEncoding?: BufferEncoding;
    headers: Record<string, string>;
  }>;
}

describe("Stalled and oversized answers in the consumer direction: one outcome, within the backend's timeout and bound", function () {
  this.timeout(90_000);
  const harness = new Harness();
  let sluice: SluiceProcess;
  let stub: http.Server;
  /** The calls the stub got, by the remote service's path. */
  const calls = new Map<string, number>();
  /** Drips still writing, stopped at the end. */
  const drips = new Set<NodeJS.Timeout>();

  before(async () => {
    stub = http.createServer((req, res) => {
      req.resume();
      req.on("end", () => {
        const kind = /\/r1\/EE\/GOV\/70000002\/registry\/([a-z-]+)/.exec(req.url ?? "")?.[1] ?? "";
        calls.set(kind, (calls.get(kind) ?? 0) + 1);
        const drip = (write: () => void) => {
          const timer = setInterval(write, 200);
          drips.add(timer);
          res.on("close", () => (clearInterval(timer), drips.delete(timer)));
        };
        switch (kind) {
          case "stalled-head":
            // Nothing at all: not even the status line.
            return;
          case "stalled-body":
            // The head, a promised length, a little of the body, then nothing.
            res.writeHead(200, { "content-type": "application/json", "content-length": "1000" });
            res.write('{"a":');
            return;
          case "dripping-body":
            // A byte every 200 ms, for ever, each under any idle timeout.
            res.writeHead(200, { "content-type": "application/json" });
            drip(() => res.write(" "));
            return;
          case "over-declared":
            res.writeHead(200, {
              "content-type": "application/json",
              "content-length": String(MAX_RESPONSE_BYTES * 4),
            });
            res.end(Buffer.alloc(MAX_RESPONSE_BYTES * 4, 0x20));
            return;
          case "over-chunked":
            // No length: chunks past the bound, and more for ever.
            res.writeHead(200, { "content-type": "application/json" });
            drip(() => res.write(Buffer.alloc(16 * 1024, 0x20)));
            return;
          case "gzip-bomb":
            res.writeHead(200, { "content-type": "application/json", "content-encoding": "gzip" });
            res.end(BOMB);
            return;
          case "odd-type":
            res.writeHead(200, { "content-type": 'multipart/x-mixed-replace; charset="x-none' });
            res.end("--\r\n\r\n\u00ff");
            return;
          default:
            res.writeHead(404).end();
        }
      });
    });
    await new Promise<void>((resolve) => stub.listen(0, "127.0.0.1", resolve));
    const stubUrl = `http://127.0.0.1:${(stub.address() as AddressInfo).port}`;
    const kinds = [
      "stalled-head",
      "stalled-body",
      "dripping-body",
      "over-declared",
      "over-chunked",
      "gzip-bomb",
      "odd-type",
    ];
    harness.writeConfig({
      securityServer: { url: stubUrl, client: CONSUMER },
      services: Object.fromEntries(
        kinds.map((kind) => [
          kind.replace(/-(.)/g, (_, c: string) => c.toUpperCase()),
          { protocols: ["rest"], reply: { mode: "ack" }, backend: kind },
        ]),
      ),
      backends: Object.fromEntries(
        kinds.map((kind) => [
          kind,
          {
            translator: "xroad-rest",
            service: `EE/GOV/70000002/registry/${kind}`,
            timeout: "2s",
            retry: { attempts: 2, backoff: ["200ms"] },
            options: { maxResponseBytes: MAX_RESPONSE_BYTES },
          },
        ]),
      ),
    });
    sluice = await harness.spawn("all");
  });

  after(async () => {
    for (const timer of drips) clearInterval(timer);
    await harness.cleanup();
    stub?.closeAllConnections();
    await new Promise((resolve) => stub?.close(resolve));
  });

  /** Sends one message to the local service for `kind` and waits for its one outcome. */
  async function outcomeOf(kind: string): Promise<Outcome> {
    const code = kind.replace(/-(.)/g, (_, c: string) => c.toUpperCase());
    const accepted = await call(`${sluice.url}/rest/${code}`, { client: LOCAL_APP, body: "{}" });
    expect(accepted.status, accepted.text).to.equal(202);
    const id = accepted.json.id as string;
    const settled = await untilState(sluice, id, TERMINAL, 60_000);
    // One outcome: a later look finds the same one, and no call beyond the backend's attempts.
    const again = await call(`${sluice.url}/messages/${id}`, { client: LOCAL_APP });
    expect(again.json.state).to.equal(settled.json.state);
    expect(calls.get(kind) ?? 0).to.be.within(1, 2);
    return settled.json as Outcome;
  }

  for (const kind of ["stalled-head", "stalled-body", "dripping-body"]) {
    it(`an answer ${kind.replace("-", " ")} ends failed by the backend's timeout, each try cut`, async () => {
      const doc = await outcomeOf(kind);
      expect(doc.state, JSON.stringify(doc)).to.equal("failed");
      expect(doc.error.message).to.match(/timed out|did not answer/);
      expect(calls.get(kind)).to.equal(2);
    });
  }

  for (const kind of ["over-declared", "over-chunked"]) {
    it(`an answer ${kind.replace("-", " ")} past maxResponseBytes ends failed, read no further`, async () => {
      const doc = await outcomeOf(kind);
      expect(doc.state, JSON.stringify(doc)).to.equal("failed");
      // Calling again would meet the same: once, and the reason stays with the operator (its
      // words may name the security server's host).
      expect(doc.error.code).to.equal("BackendFailed");
      expect(doc.error.message).to.contain("not retried");
      expect(calls.get(kind)).to.equal(1);
      // Nothing of the answer is kept: the worker's stand-in for none has an empty body.
      expect(doc.responses.map((r) => r.body)).to.deep.equal([""]);
    });
  }

  it("a gzip answer is kept as it came, compressed: the worker inflates no bomb", async () => {
    const doc = await outcomeOf("gzip-bomb");
    expect(doc.state, JSON.stringify(doc).slice(0, 500)).to.equal("completed");
    const body = Buffer.from(doc.responses[0].body, doc.responses[0].bodyEncoding ?? "utf8");
    expect(body.equals(BOMB)).to.equal(true);
    expect(doc.responses[0].headers["content-encoding"]).to.equal("gzip");
  });

  it("an answer of an odd Content-Type is kept as it came", async () => {
    const doc = await outcomeOf("odd-type");
    expect(doc.state, JSON.stringify(doc)).to.be.oneOf(["completed", "failed"]);
  });
});
