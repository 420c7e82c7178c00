// Property tests of the readers of a callback receiver's answer: SafeHttp.post (the status, the
// Retry-After and the bounded body read) and readXroadError (a security server's X-Road-Error for
// an xroad: target). For any status, Retry-After and body: classified as docs/callbacks.md says
// (2xx delivered, 410 gone, an X-Road refusal rejected, anything else retried), never a throw,
// and the body never read past maxResponseBytes. The connection pool is replaced by a stand-in
// that hands over the generated answer. Seeded and bounded: test/support/property-runs.ts,
// docs/testing.md.

import { expect } from "chai";
import fc from "fast-check";
import { SafeHttp, classifyStatus, type PostResult } from "../../shared/delivery/safe-http";
import { RETRY_AFTER_CAP_MS } from "../../shared/protocol/retry-after";
import { classifyXroadError } from "../../shared/protocol/xroad-error-code";
import { readXroadError } from "../../response-worker/callback-sender";
import { check, propertyParameters } from "../support/property-runs";

const NOW = Date.UTC(2026, 3, 19, 12, 0, 0);

/** Any status a socket can carry, the ones with a meaning of their own more often. */
const status = fc.oneof(
  fc.integer({ min: 0, max: 999 }),
  fc.constantFrom(200, 201, 204, 299, 300, 302, 304, 400, 404, 408, 410, 429, 500, 503, 599),
);

const retryAfterValue = fc.oneof(
  fc.nat({ max: 1_000_000 }).map(String),
  fc.constantFrom(
    "0",
    "  120  ",
    "-1",
    "1.5",
    "99999999999999999999999999",
    "9".repeat(400),
    "Sun, 19 Apr 2026 12:00:30 GMT",
    "Sun, 06 Nov 1994 08:49:37 GMT",
    "Sunday, 19-Apr-26 13:00:00 GMT",
    "Sun Apr 19 14:00:00 2026",
    "Fri, 31 Dec 9999 23:59:59 GMT",
    "tomorrow",
    "",
    "\u0000",
    "１２",
  ),
  fc.string({ maxLength: 40 }),
);

const retryAfter = fc.option(
  fc.oneof(retryAfterValue, fc.array(retryAfterValue, { minLength: 0, maxLength: 3 })),
  { nil: undefined },
);

const XROAD_CODES = [
  "Server.ClientProxy.AccessDenied",
  "Server.ServerProxy.UnknownService",
  "Client.InvalidRequest",
  "Server.ClientProxy.NetworkError",
  "Server.ServerProxy.ServiceFailed.InvalidSoap",
  "Server.ServerProxy.ServiceFailed.AccessDenied",
  "InternalError",
  "OutdatedGlobalConf",
  " ",
  "",
];

const xroadError = fc.option(
  fc.oneof(
    fc.constantFrom(...XROAD_CODES),
    fc.string({ maxLength: 30 }),
    fc.array(fc.constantFrom(...XROAD_CODES), { maxLength: 3 }),
  ),
  { nil: undefined },
);

/** Bodies: nothing, text, invalid UTF-8, an X-Road error document, deep nesting, large. */
const bodyChunks = fc.array(
  fc.oneof(
    fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b)),
    fc.string({ maxLength: 64 }).map((s) => Buffer.from(s)),
    fc.constantFrom(
      Buffer.from('{"type":"Server.ClientProxy.AccessDenied","message":"no\\u0000 access"}'),
      Buffer.from("[".repeat(5000)),
      Buffer.from([0xef, 0xbb, 0xbf]),
      Buffer.from([0xf0, 0x9f]),
      Buffer.alloc(5000, 0x61),
    ),
  ),
  { maxLength: 8 },
);

/** A body that counts what is taken from it, and whether it was cut off. */
function countedBody(chunks: Buffer[], breakOff: boolean) {
  const taken: number[] = [];
  let destroyed = false;
  return {
    taken,
    destroyed: () => destroyed,
    body: {
      destroy() {
        destroyed = true;
      },
      async *[Symbol.asyncIterator]() {
        for (const chunk of chunks) {
          if (destroyed) return;
          taken.push(chunk.length);
          yield chunk;
        }
        if (breakOff)
          throw Object.assign(new Error("other side closed"), { code: "UND_ERR_SOCKET" });
      },
    },
  };
}

/** A SafeHttp whose connection answers with `answer`, or throws it. */
function answering(limit: number, answer: unknown): SafeHttp {
  const http = new SafeHttp({ allowPrivate: true, maxResponseBytes: limit, timeoutMs: 60_000 });
  // The connection pool is the one field with a request method: replaced by the stand-in.
  type Pool = { close(): Promise<void>; request(): Promise<unknown> };
  const fields = http as unknown as Record<string, Pool | undefined>;
  const pool = Object.keys(fields).find((k) => typeof fields[k]?.request === "function");
  if (pool === undefined) throw new Error("SafeHttp holds no connection pool");
  void fields[pool]!.close();
  fields[pool] = {
    request: () => (answer instanceof Error ? Promise.reject(answer) : Promise.resolve(answer)),
    close: () => Promise.resolve(),
  };
  return http;
}

function expectRetryAfterInRange(result: PostResult): void {
  if (result.retryAfterMs === undefined) return;
  expect(Number.isFinite(result.retryAfterMs)).to.equal(true);
  expect(result.retryAfterMs).to.be.within(0, RETRY_AFTER_CAP_MS);
}

describe("callback answer readers (properties)", () => {
  it("classifyStatus: 2xx delivered, 410 gone, anything else retried with a bounded Retry-After", () => {
    check(
      fc.property(status, retryAfter, (code, after) => {
        const result = classifyStatus(code, after, NOW);
        expect(result.status).to.equal(code);
        if (code >= 200 && code < 300)
          expect(result).to.deep.equal({ outcome: "delivered", status: code });
        else if (code === 410) expect(result).to.deep.equal({ outcome: "gone", status: code });
        else {
          expect(result.outcome).to.equal("retry");
          expect(result.failure?.kind).to.equal(code >= 300 && code < 400 ? "redirect" : "status");
          expectRetryAfterInRange(result);
        }
      }),
      1000,
    );
  });

  it("post: never throws, classifies by the status, reads the body no further than its limit", async () => {
    await fc.assert(
      fc.asyncProperty(
        status,
        retryAfter,
        xroadError,
        bodyChunks,
        fc.integer({ min: 1, max: 4096 }),
        fc.boolean(),
        fc.boolean(),
        async (code, after, xroad, chunks, limit, breakOff, readsXroad) => {
          const counted = countedBody(chunks, breakOff);
          const headers: Record<string, string | string[] | undefined> = {};
          if (after !== undefined) headers["retry-after"] = after;
          if (xroad !== undefined) headers["x-road-error"] = xroad;
          const http = answering(limit, { statusCode: code, headers, body: counted.body });
          const result = await http.post(
            "https://receiver.example/hook",
            {},
            "{}",
            readsXroad ? readXroadError : undefined,
          );
          await http.close();
          // Never taken once the limit was reached: every chunk but the last came under it.
          const beforeLast = counted.taken.slice(0, -1).reduce((a, b) => a + b, 0);
          expect(beforeLast).to.be.below(limit);
          const total = counted.taken.reduce((a, b) => a + b, 0);
          if (total >= limit) expect(counted.destroyed()).to.equal(true);
          expectRetryAfterInRange(result);
          const ok = code >= 200 && code < 300;
          const raw = Array.isArray(xroad) ? xroad[xroad.length - 1] : xroad;
          const xroadCode = raw?.trim();
          if (!ok && readsXroad && xroadCode) {
            expect(result.failure?.kind).to.equal("xroad");
            expect(result.outcome).to.equal(
              classifyXroadError(xroadCode) === "reject" ? "rejected" : "retry",
            );
            expect(result.failure?.message.length).to.be.at.most(500);
            expect(result.failure?.message).to.not.match(/[\uD800-\uDFFF](?![\uDC00-\uDFFF])/);
          } else if (ok) expect(result.outcome).to.equal("delivered");
          else if (code === 410) expect(result.outcome).to.equal("gone");
          else expect(result.outcome).to.equal("retry");
          expect(result.status).to.equal(code);
        },
      ),
      propertyParameters(300),
    );
  });

  it("post: a connection that fails is a retry with a failure kind, never a throw", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(
          "ECONNREFUSED",
          "ENOTFOUND",
          "EAI_AGAIN",
          "UND_ERR_CONNECT_TIMEOUT",
          "ERR_SSL_WRONG_VERSION_NUMBER",
          "ECONNRESET",
          "",
        ),
        fc.string({ maxLength: 20 }),
        async (code, message) => {
          const http = answering(1024, Object.assign(new Error(message), code ? { code } : {}));
          const result = await http.post("https://receiver.example/hook", {}, "{}");
          await http.close();
          expect(result.outcome).to.equal("retry");
          expect(result.failure?.kind).to.be.a("string");
        },
      ),
      propertyParameters(100),
    );
  });
});
