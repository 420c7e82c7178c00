// The cancel route over a real Redis whose connection fails at the worst moments: before the
// cancel ran (503, nothing changed) and after it ran but before it was answered (503, yet
// cancelled). Either way the client's retry is told the truth: 200 with the cancelled document.
// A record expiring between its read and the cancel is a 404, as any unknown message.

import { expect } from "chai";
import { once } from "node:events";
import { randomUUID } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import Router from "@koa/router";
import Redis from "ioredis";
import Koa from "koa";
import pino from "pino";
import { cancelRoute } from "../../adapter/status-route";
import { createRedis, whenReady } from "../../shared/store/redis";
import { TransactionStore } from "../../shared/store/transaction-store";
import { call, REDIS_URL } from "../support/harness";
import { transactionMeta } from "../support/messages";
import { proxyTo, type TcpProxy, viaProxy } from "../support/tcp-proxy";

const CLIENT = "EE/GOV/70000001/alice";

type Step = "transition" | "read after the cancel" | "record gone before the transition";

/**
 * A store whose Redis connection goes down (or whose record expires) just before the step a
 * test names.
 */
class FailingStore extends TransactionStore {
  private failBefore: Step | null = null;
  private cancelled = false;

  failAt(step: Step | null): void {
    this.failBefore = step;
    this.cancelled = false;
  }

  constructor(
    redis: Redis,
    prefix: string,
    private readonly outage: () => Promise<void>,
    private readonly direct: Redis,
  ) {
    super(redis, prefix, 60_000);
  }

  override async transition(...args: Parameters<TransactionStore["transition"]>) {
    if (this.failBefore === "transition") await this.outage();
    if (this.failBefore === "record gone before the transition") {
      await this.direct.del(this.key(args[0]));
    }
    const done = await super.transition(...args);
    this.cancelled = done.result === "ok";
    return done;
  }

  override async get(id: string) {
    if (this.failBefore === "read after the cancel" && this.cancelled) await this.outage();
    return super.get(id);
  }
}

describe("cancel route when Redis fails mid-request (real Redis through a proxy)", () => {
  const prefix = `t-${randomUUID().slice(0, 8)}.`;
  let redis: Redis;
  let store: TransactionStore;
  let proxy: TcpProxy;
  let proxied: Redis;
  let failing: FailingStore;
  let server: http.Server;
  let base: string;

  before(async () => {
    redis = new Redis(REDIS_URL);
    store = new TransactionStore(redis, prefix, 60_000);
    proxy = proxyTo(REDIS_URL);
    proxied = createRedis(
      viaProxy(REDIS_URL, await proxy.listen()),
      pino({ level: "silent" }),
      "cancel-route-test",
    );
    await whenReady(proxied);
    // The connection breaks and stays down: the route's next command fails at once.
    failing = new FailingStore(
      proxied,
      prefix,
      async () => {
        proxy.refuse(true);
        const closed = once(proxied, "close");
        proxy.cut();
        await closed;
      },
      redis,
    );
    const app = new Koa();
    const router = new Router();
    router.delete(
      "/messages/:id",
      cancelRoute({ store: failing, log: pino({ level: "silent" }), pollAfter: () => 1 }),
    );
    app.use(router.routes());
    server = http.createServer(app.callback());
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    proxied.disconnect();
    await proxy.close();
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  });

  async function accepted(): Promise<string> {
    const meta = transactionMeta({ client: CLIENT });
    await store.create(meta);
    return meta.id;
  }

  const cancel = (id: string) =>
    call(`${base}/messages/${id}`, { method: "DELETE", client: CLIENT });

  async function restored(): Promise<void> {
    failing.failAt(null);
    proxy.refuse(false);
    await whenReady(proxied);
  }

  it("Redis gone before the cancel ran: 503 with Retry-After, nothing changed; the retry cancels", async () => {
    const id = await accepted();
    failing.failAt("transition");
    const refused = await cancel(id);
    expect(refused.status).to.equal(503);
    expect(refused.json.type).to.equal("Unavailable");
    expect(refused.headers.get("retry-after")).to.equal("5");
    expect((await store.get(id))?.state).to.equal("accepted");

    await restored();
    const retried = await cancel(id);
    expect(retried.status).to.equal(200);
    expect(retried.json).to.deep.include({ id, state: "cancelled" });
  });

  it("Redis gone after the cancel ran: 503, and the retry answers as the cancel would have", async () => {
    const id = await accepted();
    failing.failAt("read after the cancel");
    const lost = await cancel(id);
    expect(lost.status).to.equal(503);
    expect(lost.json.type).to.equal("Unavailable");
    expect((await store.get(id))?.state, "the cancel ran").to.equal("cancelled");

    await restored();
    const retried = await cancel(id);
    expect(retried.status).to.equal(200);
    expect(retried.json).to.deep.include({ id, state: "cancelled" });
    expect(retried.json.error).to.deep.equal({
      code: "Cancelled",
      message: "cancelled by the client",
    });
    expect(retried.json.history.map((h: { state: string }) => h.state)).to.deep.equal([
      "accepted",
      "cancelled",
    ]);
  });

  it("the record expiring between its read and the cancel: 404, as any unknown message", async () => {
    const id = await accepted();
    failing.failAt("record gone before the transition");
    const gone = await cancel(id);
    failing.failAt(null);
    expect(gone.status).to.equal(404);
    expect(gone.json.type).to.equal("NotFound");
    expect(gone.json.message).to.equal("no such message");
  });
});
