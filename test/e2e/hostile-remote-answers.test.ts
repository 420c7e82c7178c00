// What a broken or hostile security server (or the remote provider behind it) may write back,
// byte for byte, on real processes: each message ends in one outcome with the calls its kind
// allows, nothing of the answer is echoed raw, and the process serves on without a stack trace.

import { expect } from "chai";
import net from "node:net";
import type { AddressInfo } from "node:net";
import { deflateSync, gzipSync } from "node:zlib";
import { call, Harness, type HttpAnswer, type SluiceProcess, untilState } from "../support/harness";
import { CONSUMER, LOCAL_APP, localSoapCall, TERMINAL } from "./consumer-support";

/** An HTTP/1.1 answer as bytes, with the head exactly as given (no checks of Node's). */
function raw(status: string, head: string[], body: Buffer | string = "", length = true): Buffer {
  const bytes = Buffer.isBuffer(body) ? body : Buffer.from(body, "utf8");
  const lines = [`HTTP/1.1 ${status}`, ...head];
  if (length) lines.push(`content-length: ${bytes.length}`);
  lines.push("connection: close", "", "");
  return Buffer.concat([Buffer.from(lines.join("\r\n"), "latin1"), bytes]);
}

/** A SOAP answer echoing the request's X-Road header, around `body`. */
function echoed(request: string, body: string): string {
  const header = /<SOAP-ENV:Header>[\s\S]*<\/SOAP-ENV:Header>/.exec(request)?.[0] ?? "";
  return `<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xrd="http://x-road.eu/xsd/xroad.xsd" xmlns:id="http://x-road.eu/xsd/identifiers">${header}<SOAP-ENV:Body>${body}</SOAP-ENV:Body></SOAP-ENV:Envelope>`;
}

const idOf = (head: string) => /x-road-id: *([^\r\n]*)/i.exec(head)?.[1] ?? "";

interface Case {
  soap: boolean;
  answer: (head: string, body: string) => Buffer;
  state: string;
  calls: number;
}

const CASES: Record<string, Case> = {
  // A bare CR would split the line in a reader that took it for a line end.
  crInHeader: {
    soap: false,
    answer: (h) => raw("200 OK", [`x-road-id: ${idOf(h)}`, "x-note: a\rset-cookie: s=1"], "{}"),
    state: "failed",
    calls: 1,
  },
  // Bytes past the declared length are not the answer.
  pastLength: {
    soap: false,
    answer: (h) =>
      Buffer.concat([
        raw("200 OK", [`x-road-id: ${idOf(h)}`, "content-length: 2"], "", false),
        Buffer.from("{}" + " ".repeat(200_000)),
      ]),
    state: "completed",
    calls: 1,
  },
  // RFC 9110 §8.6: a 304 may give the length of the representation it does not send; the answer
  // ends with its head (RFC 9112 §6.3), and the remote provider has served the call.
  notModifiedLength: {
    soap: false,
    answer: (h) =>
      raw(
        "304 Not Modified",
        [`x-road-id: ${idOf(h)}`, 'etag: "v1"', "content-length: 1234"],
        "",
        false,
      ),
    state: "completed",
    calls: 1,
  },
  // RFC 9112 §6.3: the same for a 204, whatever length it wrongly gives.
  noContentLength: {
    soap: false,
    answer: (h) => raw("204 No Content", [`x-road-id: ${idOf(h)}`, "content-length: 5"], "", false),
    state: "completed",
    calls: 1,
  },
  soapDoctype: {
    soap: true,
    answer: (_h, b) =>
      raw(
        "200 OK",
        ["content-type: text/xml"],
        `<!DOCTYPE x [<!ENTITY e "ha">]>${echoed(b, "<a>&e;</a>")}`,
      ),
    state: "failed",
    calls: 1,
  },
  soapUndeclaredEntity: {
    soap: true,
    answer: (_h, b) => raw("200 OK", ["content-type: text/xml"], echoed(b, "<a>&e;</a>")),
    state: "failed",
    calls: 1,
  },
  // A faultcode that is not well-formed is no AccessDenied: a 500 without a readable envelope.
  soapFaultControls: {
    soap: true,
    answer: () =>
      raw(
        "500 Server Error",
        ["content-type: text/xml"],
        `<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/"><SOAP-ENV:Body><SOAP-ENV:Fault><faultcode>Server.ServerProxy.AccessDenied</faultcode><faultstring>&#27;[31m level=error ${"y".repeat(20_000)}</faultstring></SOAP-ENV:Fault></SOAP-ENV:Body></SOAP-ENV:Envelope>`,
      ),
    state: "failed",
    calls: 2,
  },
  soapManyParts: {
    soap: true,
    answer: (_h, b) => {
      const parts = [
        `--B\r\ncontent-type: text/xml\r\ncontent-id: <r>\r\n\r\n${echoed(b, "<a/>")}\r\n`,
      ];
      for (let i = 0; i < 5000; i++) parts.push("--B\r\ncontent-type: text/plain\r\n\r\nx\r\n");
      parts.push("--B--\r\n");
      return raw(
        "200 OK",
        ['content-type: multipart/related; boundary="B"; type="text/xml"; start="<r>"'],
        parts.join(""),
      );
    },
    state: "failed",
    calls: 1,
  },
  // Sent although not asked for (Accept-Encoding: identity): read as it came, never inflated.
  soapDeflateBomb: {
    soap: true,
    answer: () =>
      raw(
        "200 OK",
        ["content-type: text/xml", "content-encoding: deflate"],
        deflateSync(Buffer.alloc(8 * 1024 * 1024)),
      ),
    state: "failed",
    calls: 1,
  },
  soapGzip: {
    soap: true,
    answer: (_h, b) =>
      raw(
        "200 OK",
        ["content-type: text/xml", "content-encoding: gzip"],
        gzipSync(echoed(b, "<a/>")),
      ),
    state: "failed",
    calls: 1,
  },
};

describe("Hostile answers from the far side of the consumer direction: one outcome each, nothing echoed raw", function () {
  this.timeout(120_000);
  const harness = new Harness();
  let sluice: SluiceProcess;
  let stub: net.Server;
  const calls = new Map<string, number>();

  before(async () => {
    // A raw socket: Node's own server would refuse to write most of these answers.
    stub = net.createServer((socket) => {
      let got = Buffer.alloc(0);
      socket.on("error", () => {});
      socket.on("data", (chunk) => {
        got = Buffer.concat([got, chunk]);
        const end = got.indexOf("\r\n\r\n");
        if (end < 0) return;
        const head = got.subarray(0, end).toString("latin1");
        const length = Number(/content-length: *(\d+)/i.exec(head)?.[1] ?? 0);
        if (got.length < end + 4 + length) return;
        const body = got.subarray(end + 4, end + 4 + length).toString("utf8");
        const kind =
          /\/r1\/EE\/GOV\/70000002\/registry\/(\w+)/.exec(head)?.[1] ??
          /serviceCode>(\w+)</.exec(body)?.[1] ??
          "";
        calls.set(kind, (calls.get(kind) ?? 0) + 1);
        const answer = CASES[kind]?.answer(head, body);
        if (answer) socket.end(answer);
        else socket.destroy();
      });
    });
    await new Promise<void>((resolve) => stub.listen(0, "127.0.0.1", resolve));
    const url = `http://127.0.0.1:${(stub.address() as AddressInfo).port}`;
    const kinds = Object.entries(CASES);
    harness.writeConfig({
      securityServer: { url, client: CONSUMER },
      services: Object.fromEntries(
        kinds.map(([kind, c]) => [
          kind,
          { protocols: [c.soap ? "soap" : "rest"], reply: { mode: "ack" }, backend: kind },
        ]),
      ),
      backends: Object.fromEntries(
        kinds.map(([kind, c]) => [
          kind,
          {
            translator: c.soap ? "xroad-soap" : "xroad-rest",
            service: `EE/GOV/70000002/registry/${kind}`,
            timeout: "5s",
            retry: { attempts: 2, backoff: ["200ms"] },
            options: { maxResponseBytes: 64 * 1024 },
          },
        ]),
      ),
    });
    sluice = await harness.spawn("all");
  });

  after(async () => {
    await harness.cleanup();
    await new Promise((resolve) => stub?.close(resolve));
  });

  /** Sends one local call for `kind` and waits for its one outcome. */
  async function outcomeOf(kind: string, soap: boolean): Promise<HttpAnswer["json"]> {
    let id: string | undefined;
    if (soap) {
      const ack = await call(`${sluice.url}/soap`, {
        client: null,
        headers: { "content-type": "text/xml" },
        body: localSoapCall(kind, `local-${kind}`),
      });
      expect(ack.status, ack.text).to.equal(200);
      id = /<id>([0-9a-f-]{36})<\/id>/.exec(ack.text)?.[1];
    } else {
      const ack = await call(`${sluice.url}/rest/${kind}`, { client: LOCAL_APP, body: "{}" });
      expect(ack.status, ack.text).to.equal(202);
      id = ack.json.id as string;
    }
    expect(id, kind).to.be.a("string");
    const settled = await untilState(sluice, id as string, TERMINAL, 60_000);
    const again = await call(`${sluice.url}/messages/${id}`, { client: LOCAL_APP });
    expect(again.json.state).to.equal(settled.json.state);
    return settled.json;
  }

  for (const [kind, c] of Object.entries(CASES)) {
    it(`${kind}: ${c.state} after ${c.calls} call${c.calls > 1 ? "s" : ""}`, async () => {
      const doc = await outcomeOf(kind, c.soap);
      expect(doc.state, JSON.stringify(doc).slice(0, 500)).to.equal(c.state);
      expect(calls.get(kind)).to.equal(c.calls);
      if (c.state === "failed") expect(doc.error.code).to.equal("BackendFailed");
      if (kind === "notModifiedLength" || kind === "noContentLength") {
        const [answer] = doc.responses;
        expect(answer.status).to.equal(kind === "notModifiedLength" ? 304 : 204);
        expect(answer.body).to.equal("");
      }
      if (kind === "pastLength") {
        const [answer] = doc.responses;
        expect(Buffer.from(answer.body, answer.bodyEncoding ?? "utf8").toString()).to.equal("{}");
      }
      expect(JSON.stringify(doc)).not.to.contain("set-cookie");
    });
  }

  it("serves on after them all, with no stack trace and no raw control character in its log", async () => {
    const health = await call(`${sluice.adminUrl}/healthz`);
    expect(health.status).to.equal(200);
    const log = sluice.output.join("\n");
    expect(log).not.to.match(/\n\s+at /);
    expect(log.includes("\r"), "a raw CR in the log").to.equal(false);
    expect(log.includes("\u001b"), "a raw ESC in the log").to.equal(false);
    expect(sluice.stderr()).to.equal("");
  });
});
