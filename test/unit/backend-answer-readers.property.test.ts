// Property tests of the worker's readers of a backend's HTTP answer: the rest-json translator
// (status, headers and body read through its pool, X-Multiple-Responses) and interpretSoapAnswer
// (the soap translator's, and through it xroad-soap's). For any status, Content-Type, headers
// and body (invalid UTF-8, byte-order marks, huge numbers, deep nesting, empty): the reader
// returns answers the worker accepts as a message's responses, or throws one of the outcomes of
// the translator interface (worker/translators/translator.ts), never a TypeError; a rejection or
// transient failure carries a response the worker accepts too; and maxResponseBytes holds. The
// backend is a stand-in that hands over the generated answer. Seeded and bounded:
// test/support/property-runs.ts, docs/testing.md.

import { Readable } from "node:stream";
import { expect } from "chai";
import fc from "fast-check";
import { answerProblem } from "../../shared/protocol/codec";
import { responsesProblem } from "../../shared/protocol/envelope";
import {
  BackendRedirectError,
  BackendRejectedError,
  BackendUnavailableError,
  SluiceError,
  type BackendResponse,
} from "../../shared/protocol/errors";
import type { RequestMessage } from "../../shared/protocol/envelope";
import { RETRY_AFTER_CAP_MS } from "../../shared/protocol/retry-after";
import { isTransient, RestJsonTranslator } from "../../worker/translators/rest-json";
import { interpretSoapAnswer } from "../../worker/translators/soap";
import { check, propertyParameters } from "../support/property-runs";

const status = fc.oneof(
  fc.integer({ min: 100, max: 999 }),
  fc.constantFrom(200, 201, 204, 206, 299, 301, 304, 400, 404, 408, 409, 429, 500, 503, 599),
);

/** A header value as undici hands one over: it refuses control characters on the wire. */
const wireValue = (maxLength: number) =>
  fc.string({
    unit: fc.oneof(
      fc.constant("\t"),
      fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)),
      fc.integer({ min: 0x80, max: 0xff }).map((c) => String.fromCharCode(c)),
    ),
    maxLength,
  });

const contentType = fc.option(
  fc.oneof(
    fc.constantFrom(
      "application/json",
      "application/json; charset=utf-8",
      'application/json; charset="UTF-8"',
      "application/problem+json",
      "text/plain; charset=iso-8859-1",
      "text/xml",
      "text/xml; charset=utf-16",
      "application/soap+xml; charset=windows-1252",
      "application/octet-stream",
      "multipart/related; boundary=b; type=text/xml",
      "",
      " ",
      "text/plain\u00e9",
      "application/json; charset=",
    ),
    wireValue(40),
  ),
  { nil: undefined },
);

const bom = fc.constantFrom(
  Buffer.alloc(0),
  Buffer.from([0xef, 0xbb, 0xbf]),
  Buffer.from([0xff, 0xfe]),
  Buffer.from([0xfe, 0xff]),
);

/** Bodies: JSON (large numbers, deep nesting, the multiple-responses shape), text, raw bytes. */
const body = fc
  .tuple(
    bom,
    fc.oneof(
      fc.json({ maxDepth: 3 }).map((t) => Buffer.from(t)),
      fc.uint8Array({ maxLength: 80 }).map((b) => Buffer.from(b)),
      fc.string({ maxLength: 80 }).map((s) => Buffer.from(s)),
      fc
        .constantFrom(
          "",
          "[".repeat(3000),
          `{"a":${"[".repeat(200)}${"]".repeat(200)}}`,
          '{"n":12345678901234567890}',
          '{"n":1e400}',
          "\uD800",
          '{"responses":[]}',
          '{"responses":null}',
          '{"responses":[{"body":"x"},{"status":201,"body":"eA==","bodyEncoding":"base64"}]}',
          '{"responses":[{"status":101,"body":"x"}]}',
          '{"responses":[{"status":200,"contentType":"a\\r\\nb","body":"x"}]}',
          '{"responses":[{"status":"200","body":"x"}]}',
          '{"responses":[{"body":"x","bodyEncoding":"base64"}]}',
          '{"responses":[{"body":{"nested":true}}]}',
          '{"responses":[{"body":"x","headers":{"a":1}}]}',
          '{"responses":[{"body":"x","contentType":null}]}',
          '{"responses":[{"body":"x","__proto__":{"status":1}}]}',
          '{"responses":[1,2]}',
          '{"responses":"x"}',
        )
        .map((t) => Buffer.from(t)),
      fc.constant(Buffer.from([0xc3, 0x28, 0xa0, 0xa1, 0xf0, 0x28, 0x8c, 0xbc])),
    ),
  )
  .map(([b, rest]) => Buffer.concat([b, rest]));

const HEADER_VALUES = fc.oneof(
  wireValue(30),
  fc.constantFrom(
    "true",
    " TRUE ",
    "false",
    "120",
    "Sun, 06 Nov 1994 08:49:37 GMT",
    "1".repeat(300),
  ),
);

const headers = fc.record(
  {
    "content-length": fc.oneof(
      fc.nat({ max: 100_000 }).map(String),
      fc.constantFrom("abc", "-1", "1e9", ""),
    ),
    "retry-after": fc.oneof(HEADER_VALUES, fc.array(HEADER_VALUES, { maxLength: 2 })),
    "x-multiple-responses": HEADER_VALUES,
    location: HEADER_VALUES,
    etag: HEADER_VALUES,
    "cache-control": HEADER_VALUES,
    "set-cookie": fc.array(HEADER_VALUES, { maxLength: 2 }),
    "x-custom": HEADER_VALUES,
  },
  { requiredKeys: [] },
);

const methods = fc.constantFrom("GET", "POST", "HEAD", "DELETE", "put");

function request(method: string): RequestMessage {
  return {
    id: "m-1",
    service: "svc",
    backend: "legacy",
    client: "EE/GOV/1/sub",
    protocol: "rest",
    replyMode: "status",
    method,
    path: "/things",
    query: "",
    xroadHeaders: {},
    contentType: null,
    body: "",
    bodyEncoding: "utf8",
    createdAt: 0,
    expiresAt: null,
  } as unknown as RequestMessage;
}

/** Whether `error` is one of the outcomes of the translator interface. */
function expectOutcome(error: unknown): void {
  expect(error, String((error as Error)?.stack ?? error)).to.be.instanceOf(SluiceError);
  if (error instanceof BackendRejectedError) {
    expect(answerProblem(error.response, "rejection")).to.equal(null);
  } else if (error instanceof BackendUnavailableError) {
    if (error.response != null) expect(answerProblem(error.response, "failure")).to.equal(null);
    const after = error.retryAfterMs;
    if (after !== undefined && after !== null) expect(after).to.be.within(0, RETRY_AFTER_CAP_MS);
  } else if (!(error instanceof BackendRedirectError)) {
    // Any other SluiceError must say the call is not to be retried: the answer is unusable.
    expect((error as SluiceError).code).to.equal("BackendFailed");
  }
}

function expectAnswers(answers: BackendResponse[]): void {
  expect(answers).to.be.an("array").with.length.above(0);
  answers.forEach((a, i) => expect(answerProblem(a, `answer[${i}]`)).to.equal(null));
  expect(responsesProblem(answers)).to.equal("");
}

/** A rest-json translator whose backend answers with the generated answer. */
function restJson(limit: number, answer: { statusCode: number; headers: object; body: Readable }) {
  const translator = new RestJsonTranslator({
    name: "legacy",
    url: "http://127.0.0.1:9/base",
    timeoutMs: 60_000,
    options: { maxResponseBytes: limit },
  });
  const pool = (translator as unknown as { pool: { current: { request(): unknown } } }).pool;
  Object.defineProperty(pool, "current", { value: { request: () => Promise.resolve(answer) } });
  return translator;
}

describe("backend answer readers (properties)", () => {
  it("rest-json: any answer becomes responses the worker accepts or an outcome, within maxResponseBytes", async () => {
    await fc.assert(
      fc.asyncProperty(
        status,
        contentType,
        headers,
        body,
        methods,
        fc.integer({ min: 1, max: 2048 }),
        fc.boolean(),
        async (code, type, extra, bytes, method, limit, twice) => {
          const answerHeaders: Record<string, unknown> = { ...extra };
          if (type !== undefined)
            answerHeaders["content-type"] = twice ? [type, "text/plain"] : type;
          let pulled = 0;
          const stream = new Readable({
            read() {
              pulled++;
              this.push(pulled === 1 && bytes.length > 0 ? bytes : null);
            },
          });
          const translator = restJson(limit, {
            statusCode: code,
            headers: answerHeaders,
            body: stream,
          });
          try {
            const answers = await translator.call(request(method), {
              signal: new AbortController().signal,
              idempotencyKey: "k",
              attempt: 1,
            });
            // A 204's type is neither read nor passed on: its two lines are no guess. A transient
            // answer is retried, never taken.
            expect(
              twice && type !== undefined && code !== 204,
              "two Content-Type lines taken",
            ).to.equal(false);
            expectAnswers(answers);
            expect(code).to.be.within(200, 399);
            for (const a of answers) {
              const size =
                a.bodyEncoding === "base64"
                  ? Buffer.from(a.body, "base64").length
                  : Buffer.byteLength(a.body);
              expect(size).to.be.at.most(limit);
            }
          } catch (error) {
            expectOutcome(error);
            if (twice && type !== undefined && isTransient(code)) {
              // Retried whatever its body, which is neither read nor passed on with a guessed type.
              expect(error).to.be.instanceOf(BackendUnavailableError);
              expect((error as BackendUnavailableError).response).to.equal(undefined);
            } else if (twice && type !== undefined && code !== 204) {
              // Two Content-Type lines: which one the body is would be a guess, read or passed on.
              expect(error).to.not.be.instanceOf(BackendUnavailableError);
              expect((error as SluiceError).retryCall).to.equal(false);
              expect((error as Error).message).to.contain("2 Content-Type headers");
            } else if (isTransient(code)) {
              expect(error).to.be.instanceOf(BackendUnavailableError);
            } else if (code >= 400 && code < 500) {
              // A 4xx: rejected, or (over maxResponseBytes) failed: never retried.
              expect(error).to.not.be.instanceOf(BackendUnavailableError);
            }
          } finally {
            stream.destroy();
          }
        },
      ),
      propertyParameters(300),
    );
  });

  it("soap: any answer becomes a response the worker accepts or an outcome", () => {
    const ENVELOPES = [
      '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><r>ok</r></s:Body></s:Envelope>',
      '<?xml version="1.0" encoding="UTF-8"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body/></s:Envelope>',
      '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault><faultcode>s:Client.X</faultcode><faultstring>no</faultstring></s:Fault></s:Body></s:Envelope>',
      '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault><faultcode>s:Server</faultcode><faultstring>\uD83D\uDE00</faultstring></s:Fault></s:Body></s:Envelope>',
      '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><p:r/></s:Body></s:Envelope>',
      "",
    ];
    const part = (headers: string, content: string) => `--b\r\n${headers}\r\n\r\n${content}\r\n`;
    const MULTIPART = [
      `${part("Content-Type: text/xml", ENVELOPES[0])}${part("Content-Type: application/octet-stream\r\nContent-ID: <a>", "\u0000\u00ff")}--b--`,
      `${part("Content-Type: text/xml; charset=utf-16", ENVELOPES[2])}--b--`,
      `${part("Content-Type: application/json", "{}")}--b--`,
      `${part('Content-Type: application/xop+xml; type="text/xml"', ENVELOPES[1])}--b--`,
      "--b\r\n\r\n--b--",
      "--b--",
      `--b\r\nContent-Type: text/xml\r\n\r\n${ENVELOPES[0]}`,
    ];
    const soapType = fc.oneof(
      contentType,
      fc.constantFrom(
        "multipart/related; boundary=b; type=text/xml",
        'multipart/related; boundary="b"; type="application/xop+xml"; start-info="text/xml"',
        'multipart/related; boundary=b; start="<nope>"',
      ),
      fc.array(wireValue(20), { minLength: 2, maxLength: 2 }),
    );
    const soapBody = fc.oneof(
      fc.constantFrom(...MULTIPART).map((t) => Buffer.from(t)),
      fc
        .tuple(bom, fc.constantFrom(...ENVELOPES), fc.nat(), fc.string({ maxLength: 3 }))
        .map(([b, e, at, insert]) => {
          const i = e.length === 0 ? 0 : at % e.length;
          return Buffer.concat([b, Buffer.from(e.slice(0, i) + insert + e.slice(i))]);
        }),
      fc
        .tuple(bom, fc.constantFrom(...ENVELOPES))
        .map(([b, e]) => Buffer.concat([b, Buffer.from(e)])),
      body,
    );
    check(
      fc.property(status, soapType, headers, soapBody, (code, type, extra, bytes) => {
        const answerHeaders: Record<string, unknown> = { ...extra };
        if (type !== undefined) answerHeaders["content-type"] = type;
        let answer: BackendResponse;
        try {
          answer = interpretSoapAnswer(
            { status: code, headers: answerHeaders, data: bytes },
            "legacy",
            { maxResponseBytes: 100_000, rejectFaultCodes: new Set(["Custom"]) },
          );
        } catch (error) {
          expectOutcome(error);
          if (Array.isArray(type) && bytes.length > 0 && isTransient(code)) {
            // Retried by its status alone: its body is neither read nor passed on.
            expect(error).to.be.instanceOf(BackendUnavailableError);
            expect((error as BackendUnavailableError).response).to.equal(undefined);
          } else if (Array.isArray(type) && bytes.length > 0) {
            // Two Content-Type lines: which one the body is would be a guess, read by it.
            expect((error as SluiceError).retryCall).to.equal(false);
            expect((error as Error).message).to.contain("2 Content-Type headers");
          } else if (code >= 300 && code < 400) {
            expect(error).to.be.instanceOf(BackendRedirectError);
          }
          return;
        }
        // Without a body the type is not read: its two lines are no guess.
        if (bytes.length > 0) expect(type).not.to.be.an("array");
        expectAnswers([answer]);
        expect(code).to.be.within(200, 299);
      }),
      500,
    );
  });
});
