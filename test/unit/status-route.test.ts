// What the status route's answers tell caches: a status document is its client's alone.

import { expect } from "chai";
import http from "node:http";
import { Socket } from "node:net";
import Koa, { type Context } from "koa";
import pino from "pino";
import { cancelRoute, statusRoute, type StatusRouteDeps } from "../../adapter/status-route";
import type { Transaction, TransactionStore } from "../../shared/store/transaction-store";
import { metrics } from "../../shared/observability/metrics";
import { TEST_CLIENT, transactionMeta } from "../support/messages";

const tx: Transaction = {
  ...transactionMeta({ client: TEST_CLIENT }),
  state: "completed",
  delivery: "delivered",
  updatedAt: Date.now(),
  history: [],
  responses: [],
  error: null,
  processedAt: Date.now(),
  published: true,
  replayOf: null,
  replayedAs: null,
};

const deps: StatusRouteDeps = {
  store: {
    get: async (id: string) => (id === tx.id ? tx : null),
    // A completed message can no longer be cancelled.
    transition: async () => ({ result: "conflict", previous: "completed", unreached: [] }),
  } as unknown as TransactionStore,
  log: pino({ level: "silent" }),
  pollAfter: () => 1,
};

/** A Koa context for `method /messages/<id>` from `client`, on no connection. */
function contextFor(
  method: string,
  id: string,
  client: string,
): Context & { params: { id: string } } {
  const req = new http.IncomingMessage(new Socket());
  req.method = method;
  req.url = `/messages/${id}`;
  req.headers = { "x-road-client": client };
  req.rawHeaders = ["X-Road-Client", client];
  req.complete = true;
  const ctx = new Koa().createContext(req, new http.ServerResponse(req));
  return Object.assign(ctx, { params: { id } });
}

describe("status route caching", () => {
  for (const [what, method, id, client, status] of [
    ["the owner's status document", "GET", tx.id, TEST_CLIENT, 200],
    ["another client's 404", "GET", tx.id, "EE/GOV/2/other", 404],
    ["an unknown id's 404", "GET", "not-an-id", TEST_CLIENT, 404],
    ["a cancel's conflict", "DELETE", tx.id, TEST_CLIENT, 409],
  ] as const) {
    it(`${what} may not be stored by any cache`, async () => {
      const ctx = contextFor(method, id, client);
      const route = method === "GET" ? statusRoute(deps) : cancelRoute(deps);
      await route(ctx);
      expect(ctx.status).to.equal(status);
      expect(ctx.response.get("Cache-Control")).to.equal("no-store");
    });
  }
});

describe("status route metrics", () => {
  it("counts reads under the label it is given (the app passes xroad.statusService)", async () => {
    // A service may be called "messages" when the status service has another name: its counts
    // are its own, not mixed with the status reads'.
    const label = "t-status-route";
    const count = async (outcome: string) =>
      (await metrics.requests.get()).values.find(
        (v) => v.labels.service === label && v.labels.outcome === outcome,
      )?.value ?? 0;
    const before = [await count("status"), await count("invalid")];
    await statusRoute(deps, label)(contextFor("GET", tx.id, TEST_CLIENT));
    await statusRoute(deps, label)(contextFor("GET", "not-an-id", TEST_CLIENT));
    expect([await count("status"), await count("invalid")]).to.deep.equal([
      before[0] + 1,
      before[1] + 1,
    ]);
  });
});
