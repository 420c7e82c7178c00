// The protocol codec reads every message of version 1 (fixtures captured from Sluice 0.1.0's
// encoders), writes the current version, and refuses what it cannot read with a reason.

import { expect } from "chai";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import {
  callbackJobCodec,
  encodeRequest,
  requestCodec,
  responseCodec,
  stateNoticeCodec,
  wakeCodec,
  wakeHead,
  type Codec,
} from "../../shared/protocol/codec";
import type { WakeMessage } from "../../shared/protocol/wake-message";

const FIXTURES = path.resolve(__dirname, "..", "..", "..", "test", "fixtures", "protocol");

const CODECS: Record<string, Codec<object>> = {
  request: requestCodec,
  response: responseCodec,
  "state-notice": stateNoticeCodec,
  wake: wakeCodec,
  "callback-job": callbackJobCodec,
};

describe("protocol codec", () => {
  const fixtures = readdirSync(FIXTURES).filter((name) => name.endsWith(".json"));

  it("has a fixture of every kind", () => {
    const kinds = new Set(
      fixtures.map((name) => JSON.parse(readFileSync(path.join(FIXTURES, name), "utf8")).kind),
    );
    expect([...kinds].sort()).to.deep.equal(Object.keys(CODECS).sort());
  });

  for (const name of fixtures) {
    it(`reads ${name} as version 1, exactly as written`, () => {
      const fixture = JSON.parse(readFileSync(path.join(FIXTURES, name), "utf8"));
      const codec = CODECS[fixture.kind];
      const decoded = codec.decode(Buffer.from(fixture.content));
      expect(decoded, JSON.stringify(decoded)).to.deep.include({ ok: true, version: 1 });
      expect(decoded.ok && decoded.message).to.deep.equal(JSON.parse(fixture.content));
    });

    it(`writes ${name}'s message as version ${CODECS[JSON.parse(readFileSync(path.join(FIXTURES, name), "utf8")).kind].version} and reads it back`, () => {
      const fixture = JSON.parse(readFileSync(path.join(FIXTURES, name), "utf8"));
      const codec = CODECS[fixture.kind];
      const message = JSON.parse(fixture.content);
      const encoded = codec.encode(message);
      expect(JSON.parse(encoded.toString()).version).to.equal(codec.version);
      const decoded = codec.decode(encoded);
      expect(decoded.ok && decoded.message).to.deep.equal(message);
      expect(decoded.ok && decoded.version).to.equal(codec.version);
    });
  }

  it("writes its own version even over a version field the message object still carries", () => {
    const fixture = JSON.parse(readFileSync(path.join(FIXTURES, "wake-v1.json"), "utf8"));
    const message = { ...JSON.parse(fixture.content), version: 1 };
    const decoded = wakeCodec.decode(wakeCodec.encode(message));
    expect(decoded.ok && decoded.version).to.equal(wakeCodec.version);
    expect(JSON.parse(wakeCodec.encode({} as never).toString())).to.deep.equal({
      version: wakeCodec.version,
    });
  });

  it("refuses what is not JSON, not an object, or not the kind's shape, saying where", () => {
    const request = JSON.parse(
      JSON.parse(readFileSync(path.join(FIXTURES, "request-rest-v1.json"), "utf8")).content,
    );
    const cases: Array<[string, string]> = [
      ["{", "the request is not JSON"],
      ["[1]", "the request is not a JSON object"],
      [JSON.stringify({ ...request, id: 7 }), "request.id is not a string"],
      [
        JSON.stringify({ ...request, protocol: "ftp" }),
        "request.protocol is not one of rest, soap",
      ],
      [
        JSON.stringify({ ...request, xroadHeaders: { a: 1 } }),
        "request.xroadHeaders.a is not a string",
      ],
      [JSON.stringify({ ...request, version: 0 }), "the request's version is not valid"],
    ];
    for (const [text, error] of cases) {
      expect(requestCodec.decode(Buffer.from(text)), text).to.deep.equal({
        ok: false,
        reason: "unreadable",
        error,
      });
    }
  });

  it("reads a hub event's job that shares its payload by key, and refuses a key not a string", () => {
    const job = {
      webhookId: "evt_m.1.l",
      messageId: "m",
      target: "https://r/",
      attempt: 1,
      enqueuedAt: 0,
    };
    const shared = { ...job, sharedPayload: "m.1", listenerId: "l" };
    const decoded = callbackJobCodec.decode(callbackJobCodec.encode(shared));
    expect(decoded).to.deep.include({ ok: true, message: shared });
    expect(
      callbackJobCodec.decode(Buffer.from(JSON.stringify({ ...job, sharedPayload: 1 }))),
    ).to.deep.equal({
      ok: false,
      reason: "unreadable",
      error: "callback job.sharedPayload is not a string",
    });
  });

  it("refuses a version newer than it reads, as unsupported_version", () => {
    const response = {
      id: "x",
      seq: 1,
      final: true,
      outcome: "completed",
      status: 200,
      contentType: "a/b",
      body: "",
      producedAt: 1,
    };
    const decoded = responseCodec.decode(Buffer.from(JSON.stringify({ ...response, version: 3 })));
    expect(decoded).to.deep.equal({
      ok: false,
      reason: "unsupported_version",
      error: "response version 3 (this release reads 1 to 2)",
    });
  });

  it("lets fields it does not know through (a later release may add optional fields)", () => {
    const notice = { kind: "state", id: "x", state: "cancelled", at: 5, extra: { a: 1 } };
    const decoded = stateNoticeCodec.decode(Buffer.from(JSON.stringify({ ...notice, version: 2 })));
    expect(decoded.ok && decoded.message).to.deep.equal(notice);
  });

  it("a wake written as its head, the stored response and a brace reads as the encoded wake", () => {
    const wake: WakeMessage = {
      id: "m-1",
      state: "failed",
      response: {
        seq: 1,
        final: true,
        status: 502,
        contentType: "application/json",
        body: '{"a":"\\u00e4 \\"q\\""}',
        bodyEncoding: "utf8",
        outcome: "failed",
        producedAt: 7,
      },
      error: { code: "BackendFailed", message: "no" },
    };
    const assembled = wakeHead(wake) + JSON.stringify(wake.response) + "}";
    expect(wakeCodec.decode(Buffer.from(assembled))).to.deep.equal(
      wakeCodec.decode(wakeCodec.encode(wake)),
    );
    expect(wakeCodec.decode(Buffer.from(assembled)).ok).to.equal(true);
  });

  it("a request encoded from its record's JSON and the route's fields reads as the whole message", () => {
    const meta = {
      id: "m-2",
      xroadId: "ü-1",
      service: "svc",
      backend: "legacy",
      client: "EE/GOV/a",
      protocol: "rest" as const,
      replyMode: "ack" as const,
      owner: null,
      callback: "https://cb.example.org/ä",
      createdAt: 7,
      expiresAt: null,
    };
    const request = {
      method: "POST",
      path: "/p",
      query: "a=ö",
      xroadHeaders: { "x-road-client": "EE/GOV/a" },
      headers: { accept: "*/*" },
      contentType: "application/json",
      body: '{"a":"\\u00e4 \\"q\\" €"}',
      bodyEncoding: "utf8" as const,
    };
    const encoded = encodeRequest(JSON.stringify(meta), request);
    const decoded = requestCodec.decode(encoded);
    expect(decoded).to.deep.equal(
      requestCodec.decode(requestCodec.encode({ ...meta, ...request })),
    );
    expect(decoded.ok && decoded.version).to.equal(requestCodec.version);
    expect(decoded.ok && decoded.message).to.deep.equal({ ...meta, ...request });
  });
});
