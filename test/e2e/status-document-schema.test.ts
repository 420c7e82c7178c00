// The status service's OpenAPI document (`/openapi/messages`) describes the status document a
// caller reads: every field an answer holds is a property of its StatusDocument schema, so a
// client generated from the document (the one a security server registers) reads them all. The
// fields that appear only sometimes are the ones checked here: a backend's own headers on a
// response, and the link between a replayed dead letter and its replay (docs/operator.md).

import { expect } from "chai";
import { call, eventually, Harness } from "../support/harness";

type Schema = { properties?: Record<string, Schema>; items?: Schema };

describe("status document: every field is in the status service's OpenAPI schema (e2e)", function () {
  this.timeout(60_000);
  const harness = Harness.suite({
    sim: { latencyMs: 0 },
    config: {
      services: { orders: { protocols: ["rest"], reply: { mode: "ack" }, backend: "flaky" } },
      backends: { flaky: { retry: { attempts: 2, backoff: ["100ms"] } } },
    },
    roles: [{ role: "all", as: "sluice" }],
  });
  const { roles } = harness;

  const status = async (id: string) =>
    (await call(`${roles.sluice.url}/messages/${id}`)).json as Record<string, unknown>;
  const settled = (id: string) =>
    eventually(
      async () => {
        const doc = await status(id);
        return ["completed", "failed"].includes(doc.state as string) ? doc : undefined;
      },
      20_000,
      `message ${id} to settle`,
    );
  /** The paths of fields in `value` that `schema` does not name. */
  const unnamed = (value: unknown, schema: Schema, at: string): string[] => {
    if (Array.isArray(value) && schema.items)
      return value.flatMap((item, i) => unnamed(item, schema.items!, `${at}/${i}`));
    if (typeof value !== "object" || value === null || !schema.properties) return [];
    return Object.entries(value).flatMap(([key, inner]) =>
      key in schema.properties!
        ? // A response's body is the backend's own: its fields are not Sluice's to describe.
          key === "body" || key === "headers"
          ? []
          : unnamed(inner, schema.properties![key], `${at}/${key}`)
        : [`${at}/${key}`],
    );
  };

  it("a replayed dead letter and its replay, whose answer carries the backend's headers", async () => {
    // Both calls of the original fail (the same Idempotency-Key); the replay's, with the
    // original's key, succeeds and carries the backend's ETag.
    const accepted = await call(`${roles.sluice.url}/rest/orders/o`, {
      body: JSON.stringify({ order: 1 }),
      headers: { "X-Sim-Fail-Times": "2", "X-Sim-Headers": JSON.stringify({ etag: '"v1"' }) },
    });
    expect(accepted.status, accepted.text).to.equal(202);
    const original = accepted.json.id as string;
    expect((await settled(original)).state).to.equal("failed");
    const replayed = await eventually(async () => {
      const answer = await harness.admin(roles.sluice, `/admin/dead-letters/${original}/replay`, {
        method: "POST",
      });
      return answer.status === 200 ? answer.json : undefined;
    });
    const replay = replayed.replayedAs as string;
    const done = await settled(replay);
    expect(done.state).to.equal("completed");
    expect(done.replayOf).to.equal(original);
    const responses = done.responses as Array<{ headers?: Record<string, unknown> }>;
    expect(responses[0].headers).to.include({ etag: '"v1"' });
    const first = await status(original);
    expect(first.replayedAs).to.equal(replay);

    const doc = (await (await fetch(`${roles.sluice.url}/openapi/messages`)).json()) as {
      components: { schemas: { StatusDocument: Schema } };
    };
    const schema = doc.components.schemas.StatusDocument;
    expect(unnamed(first, schema, "")).to.deep.equal([]);
    expect(unnamed(done, schema, "")).to.deep.equal([]);
  });
});
