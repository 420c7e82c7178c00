// Property test of the status document's round trip through the record in Redis: whatever the
// adapter writes (create) and the response worker adds (addResponse), with odd strings in every
// field (any Unicode, lone surrogates, control characters, long values), read back (get) gives
// the document of what was written, the same after JSON's round trip, and the OpenAPI schema of
// the status document (adapter/openapi.ts) accepts it. Against the real Redis, under a prefix of
// its own removed afterwards. Seeded and bounded: test/support/property-runs.ts, docs/testing.md.

import { randomUUID } from "node:crypto";
import { expect } from "chai";
import fc from "fast-check";
import Ajv from "ajv";
import addFormats from "ajv-formats";
import Redis from "ioredis";
import { statusServiceOpenApi } from "../../adapter/openapi";
import type { ResponseMessage } from "../../shared/protocol/envelope";
import { statusDocument } from "../../shared/store/status-document";
import { TransactionStore, type TransactionMeta } from "../../shared/store/transaction-store";
import { REDIS_URL } from "../support/harness";
import { transactionMeta } from "../support/messages";
import { propertyParameters } from "../support/property-runs";

/** Strings as a caller or backend could make them: any code unit, long ones now and then. */
const odd = fc.oneof(
  { weight: 4, arbitrary: fc.string({ unit: "binary", maxLength: 20 }) },
  {
    weight: 2,
    arbitrary: fc.string({
      unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)),
      maxLength: 10,
    }),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      "\u0000",
      "\uD800",
      "a\uDC00b",
      "\uFEFF",
      "\u2028\u2029",
      "\r\n",
      "x".repeat(20_000),
      "é".repeat(3000),
    ),
  },
);

const YEAR_9999 = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

const meta = fc.record({
  xroadId: fc.option(odd),
  service: odd,
  client: odd,
  createdAt: fc.integer({ min: 0, max: YEAR_9999 }),
});

const response = fc.record({
  status: fc.integer({ min: 200, max: 599 }),
  contentType: fc.oneof(
    fc.constantFrom("application/json", "text/plain", "application/problem+json", ""),
    fc.string({ unit: "binary-ascii", maxLength: 20 }),
  ),
  body: fc.oneof(
    odd,
    fc.json({ maxDepth: 3 }),
    fc.constantFrom('{"n":12345678901234567890}', "[".repeat(300), '"\\ud800"', "{}"),
  ),
  base64: fc.boolean(),
  headers: fc.option(
    fc.dictionary(
      fc.constantFrom("etag", "location", "x-a", "set-cookie"),
      fc.oneof(
        fc.string({ unit: "binary", maxLength: 10 }),
        fc.array(fc.string({ maxLength: 5 }), { maxLength: 2 }),
      ),
    ),
    { nil: undefined },
  ),
  error: fc.option(
    fc.record({ code: fc.constantFrom("BackendFailed", "BackendRejected"), message: odd }),
  ),
});

describe("status document round trip (properties, real Redis)", () => {
  const prefix = `t-${randomUUID().slice(0, 8)}.`;
  const redis = new Redis(REDIS_URL);
  const store = new TransactionStore(redis, prefix, 60_000);
  const ajv = new Ajv({ strict: false, allErrors: true });
  addFormats(ajv);
  const openapi = statusServiceOpenApi(
    "status",
    "http://127.0.0.1:9/r1/X/GOV/1/s/status",
    true,
  ) as {
    components: { schemas: Record<string, object> };
  };
  const validate = ajv.compile({
    ...openapi.components.schemas.StatusDocument,
    components: openapi.components,
  });

  after(async () => {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length) await redis.del(...keys);
    redis.disconnect();
  });

  it("what is written reads back as the same document, which the schema accepts", async () => {
    await fc.assert(
      fc.asyncProperty(meta, response, async (fields, answer) => {
        const written: TransactionMeta = transactionMeta(fields);
        expect(await store.create(written)).to.deep.equal({ created: true });
        const body = answer.base64 ? Buffer.from(answer.body).toString("base64") : answer.body;
        const message: ResponseMessage = {
          id: written.id,
          seq: 0,
          final: true,
          outcome: answer.error ? "failed" : "completed",
          status: answer.status,
          contentType: answer.contentType,
          body,
          ...(answer.base64 ? { bodyEncoding: "base64" as const } : {}),
          ...(answer.headers ? { headers: answer.headers } : {}),
          ...(answer.error ? { error: answer.error } : {}),
          producedAt: fields.createdAt,
        };
        expect((await store.addResponse(message)).result).to.equal("ok");

        const tx = await store.get(written.id);
        expect(tx).to.not.equal(null);
        const doc = statusDocument(tx!);
        expect(doc.id).to.equal(written.id);
        expect(doc.client).to.equal(written.client);
        expect(doc.service).to.equal(written.service);
        expect(doc.xroadId).to.equal(written.xroadId);
        expect(doc.createdAt).to.equal(new Date(written.createdAt).toISOString());
        expect(doc.responses).to.have.length(1);
        const [read] = doc.responses;
        expect(read.status).to.equal(answer.status);
        expect(read.contentType).to.equal(answer.contentType);
        // No headers and an empty set of them are the same: none.
        const sent =
          answer.headers && Object.keys(answer.headers).length > 0 ? answer.headers : undefined;
        expect(read.headers).to.deep.equal(sent);
        if (answer.base64) {
          expect(read).to.include({ body, bodyEncoding: "base64" });
        } else if (read.body === body) {
          // Text, or JSON embedded as its text (too deep, a number a double does not hold).
          expect(read).to.not.have.property("bodyEncoding");
        } else {
          // JSON embedded as JSON: only for a JSON type, and exactly what the text says.
          expect(answer.contentType).to.match(/^application\/(?:[\w.+-]+\+)?json\b/i);
          expect(read.body).to.deep.equal(JSON.parse(body));
        }
        if (answer.error) expect(doc.error).to.deep.include(answer.error);
        // What a reader gets is JSON: it reads back the same.
        expect(JSON.parse(JSON.stringify(doc))).to.deep.equal(doc);
        expect(validate(doc), JSON.stringify(validate.errors)).to.equal(true);
      }),
      propertyParameters(60),
    );
  });
});
