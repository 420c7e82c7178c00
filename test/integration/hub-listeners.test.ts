import { expect } from "chai";
import { randomUUID } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import Koa from "koa";
import Router from "@koa/router";
import Redis from "ioredis";
import pino from "pino";
import { hubRoutes } from "../../adapter/hub-route";
import { SluiceError } from "../../shared/protocol/errors";
import {
  HubListeners,
  matchesHubFilter,
  parseHubQuery,
  type HubListener,
} from "../../shared/store/hub-listeners";
import type { StatusDocument } from "../../shared/store/status-document";
import { listenersFor, messageStateChangeEvent } from "../../response-worker/hub-events";
import { redisKeys } from "../../shared/protocol/redis-keys";
import { withCutRedis } from "../support/cut-redis";
import { eventually, REDIS_URL } from "../support/harness";
import type { AnswerCutter } from "../support/tcp-proxy";
import { freshConnectionPerFetch } from "../support/fresh-connections";

const ALICE = "EE/GOV/70000001/alice";
const BOB = "EE/COM/70000002/bob";

function document(overrides: Partial<StatusDocument> = {}): StatusDocument {
  return {
    id: randomUUID(),
    client: ALICE,
    xroadId: null,
    service: "testQuery",
    state: "completed",
    delivery: "pending",
    createdAt: new Date().toISOString(),
    updatedAt: new Date().toISOString(),
    history: [],
    responses: [],
    error: null,
    ...overrides,
  };
}

describe("hub queries", () => {
  it("parses keys, comma lists and repeated keys, in both spellings", () => {
    expect(parseHubQuery("")).to.deep.equal({});
    expect(parseHubQuery(undefined)).to.deep.equal({});
    expect(
      parseHubQuery(
        "eventType=MessageStateChangeEvent&service=a,b&state=completed&event.message.state=failed",
      ),
    ).to.deep.equal({
      eventType: ["MessageStateChangeEvent"],
      service: ["a", "b"],
      state: ["completed", "failed"],
    });
  });

  it("refuses what could never match, with a clear message", () => {
    const refusal = (query: unknown) => {
      try {
        parseHubQuery(query);
      } catch (error) {
        expect(error).to.be.instanceOf(SluiceError);
        expect((error as SluiceError).code).to.equal("InvalidRequest");
        return (error as Error).message;
      }
      throw new Error("expected a refusal");
    };
    expect(refusal("colour=red")).to.match(/not one of eventType, service, state/);
    expect(refusal("eventType=OrderCreateEvent")).to.match(/unknown eventType/);
    expect(refusal("state=done")).to.match(/unknown state/);
    expect(refusal("service=")).to.match(/no value/);
    expect(refusal(42)).to.match(/string/);
  });

  it("matches an event only when every given key admits it", () => {
    const event = { eventType: "MessageStateChangeEvent", service: "a", state: "completed" };
    expect(matchesHubFilter({}, event)).to.equal(true);
    expect(matchesHubFilter({ service: ["a", "b"], state: ["completed"] }, event)).to.equal(true);
    expect(matchesHubFilter({ service: ["b"] }, event)).to.equal(false);
    expect(matchesHubFilter({ state: ["failed"] }, event)).to.equal(false);
  });

  it("sends a client's event only to that client's matching listeners", () => {
    const listener = (client: string, query: string): HubListener => ({
      id: randomUUID(),
      client,
      callback: "https://x.example/",
      query,
      createdAt: 0,
    });
    const all = [
      listener(ALICE, ""),
      listener(ALICE, "state=failed"),
      listener(ALICE, "service=testQuery&state=completed"),
      listener(BOB, ""),
      listener(ALICE, "broken=query"),
    ];
    const event = messageStateChangeEvent("e-1", document());
    expect(event).to.deep.include({
      eventId: "e-1",
      eventType: "MessageStateChangeEvent",
      correlationId: event.event.message.id,
    });
    expect(listenersFor(all, ALICE, event).map((l) => l.id)).to.deep.equal([all[0].id, all[2].id]);
    expect(listenersFor(all, BOB, event).map((l) => l.id)).to.deep.equal([all[3].id]);
  });
});

/** The hub routes on a real HTTP server, over `listeners`. */
async function hubServer(
  listeners: HubListeners,
  lookups: string[] = [],
  logLines: Array<Record<string, unknown>> = [],
): Promise<{ base: string; close(): Promise<void> }> {
  const app = new Koa();
  const router = new Router();
  hubRoutes({
    listeners,
    callbackPolicy: {
      allow: ["https://hooks.example.org/", "https://localhost/", "https://*.corp.example.org/"],
      allowHttp: false,
      allowPrivate: false,
      xroad: false,
    },
    lookup: async (host) => {
      lookups.push(host);
      if (host === "missing.corp.example.org") {
        throw Object.assign(new Error("no such host"), { code: "ENOTFOUND" });
      }
      if (host === "db.corp.example.org") return ["10.0.0.5"];
      return host === "localhost" ? ["127.0.0.1"] : ["93.184.216.34"];
    },
    statusService: "messages",
  })(
    router,
    pino({ level: "info" }, { write: (line: string) => void logLines.push(JSON.parse(line)) }),
  );
  app.use(router.routes());
  const server = http.createServer(app.callback());
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

async function hubRequest(
  base: string,
  method: string,
  path: string,
  client: string | null,
  body?: unknown,
  contentType = "application/json",
  extraHeaders: Record<string, string> = {},
) {
  const headers: Record<string, string> = { ...extraHeaders };
  if (client !== null) headers["X-Road-Client"] = client;
  if (body !== undefined) headers["Content-Type"] = contentType;
  const res = await fetch(base + path, {
    method,
    headers,
    body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : null };
}

describe("hub listeners in Redis and the hub routes (real Redis, real HTTP)", () => {
  freshConnectionPerFetch();
  const prefix = `t-${randomUUID().slice(0, 8)}.`;
  let redis: Redis;
  let listeners: HubListeners;
  let hub: Awaited<ReturnType<typeof hubServer>>;
  const lookups: string[] = [];
  const logLines: Array<Record<string, unknown>> = [];

  const request = (
    method: string,
    path: string,
    client: string | null,
    body?: unknown,
    contentType?: string,
    headers?: Record<string, string>,
  ) => hubRequest(hub.base, method, path, client, body, contentType, headers);

  before(async () => {
    redis = new Redis(REDIS_URL);
    listeners = new HubListeners(redis, prefix, 3);
    hub = await hubServer(listeners, lookups, logLines);
  });
  after(async () => {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
    await hub.close();
  });

  it("registers a listener: 201 with id, callback and query, stored for the client", async () => {
    const res = await request("POST", "/hub", ALICE, {
      callback: "https://hooks.example.org/alice",
      query: "eventType=MessageStateChangeEvent&state=completed",
    });
    expect(res.status).to.equal(201);
    expect(res.body).to.have.keys("id", "callback", "query");
    expect(res.body).to.deep.include({
      callback: "https://hooks.example.org/alice",
      query: "eventType=MessageStateChangeEvent&state=completed",
    });
    expect(res.headers.get("location")).to.equal(`/hub/${res.body.id}`);
    const stored = await listeners.forClient(ALICE);
    expect(stored.map((l) => l.id)).to.deep.equal([res.body.id]);
    expect(await listeners.forClient(BOB)).to.deep.equal([]);
  });

  it("a listener registered through a security server hears nothing of the consumer direction's messages of its client id", async () => {
    const carol = "EE/GOV/70000003/carol";
    const registration = { callback: "https://hooks.example.org/carol", query: "" };
    const local = await request("POST", "/hub", carol, registration);
    const viaXroad = await request("POST", "/rest/messages/hub", carol, registration, undefined, {
      "X-Road-Request-Id": "req-carol-1",
    });
    expect(local.status).to.equal(201);
    expect(viaXroad.status).to.equal(201);
    // Not the local system's listener handed back as the same registration.
    expect(viaXroad.body.id).to.not.equal(local.body.id);
    expect(viaXroad.body).to.have.keys("id", "callback", "query");
    const stored = await listeners.forClient(carol);
    const event = messageStateChangeEvent("e-2", document({ client: carol }));
    const ids = (consumerDirection: boolean) =>
      listenersFor(stored, carol, event, consumerDirection)
        .map((l) => l.id)
        .sort();
    expect(ids(true)).to.deep.equal([local.body.id]);
    expect(ids(false)).to.deep.equal([local.body.id, viaXroad.body.id].sort());
    // Sent again through the security server: the same listener, still marked.
    const again = await request("POST", "/rest/messages/hub", carol, registration, undefined, {
      "X-Road-Request-Id": "req-carol-2",
    });
    expect(again.body.id).to.equal(viaXroad.body.id);
    expect(
      (
        await request(
          "DELETE",
          `/rest/messages/hub/${viaXroad.body.id}`,
          carol,
          undefined,
          undefined,
          {
            "X-Road-Request-Id": "req-carol-3",
          },
        )
      ).status,
    ).to.equal(204);
    expect((await request("DELETE", `/hub/${local.body.id}`, carol)).status).to.equal(204);
    expect(await listeners.forClient(carol)).to.deep.equal([]);
  });

  it("removes a listener only by a DELETE that came the way it was registered: through a security server or not", async () => {
    const dave = "EE/GOV/70000004/dave";
    const registration = { callback: "https://hooks.example.org/dave", query: "" };
    const viaXroadHeaders = { "X-Road-Request-Id": "req-dave" };
    const local = await request("POST", "/hub", dave, registration);
    const viaXroad = await request(
      "POST",
      "/rest/messages/hub",
      dave,
      registration,
      undefined,
      viaXroadHeaders,
    );
    const unknown = await request("DELETE", `/hub/${randomUUID()}`, dave);
    const removeLocally = (id: string) => request("DELETE", `/hub/${id}`, dave);
    const removeViaXroad = (id: string) =>
      request("DELETE", `/rest/messages/hub/${id}`, dave, undefined, undefined, viaXroadHeaders);
    // Each direction's DELETE of the other's listener: as for an id that does not exist.
    for (const answer of [
      await removeLocally(viaXroad.body.id),
      await removeViaXroad(local.body.id),
      await request("DELETE", `/rest/messages/hub/${local.body.id}`, dave, undefined, undefined, {
        "X-Road-Request-Id": "req-dave-2",
        "X-Road-Service": "EE/GOV/70000001/sluice/messages",
      }),
    ]) {
      expect(answer.status).to.equal(404);
      expect(answer.body).to.deep.equal(unknown.body);
    }
    expect((await listeners.forClient(dave)).map((l) => l.id).sort()).to.deep.equal(
      [local.body.id, viaXroad.body.id].sort(),
    );
    expect((await removeViaXroad(viaXroad.body.id)).status).to.equal(204);
    expect((await removeLocally(local.body.id)).status).to.equal(204);
    // Repeated, each is done in its own direction only.
    expect((await removeViaXroad(viaXroad.body.id)).status).to.equal(204);
    expect((await removeLocally(local.body.id)).status).to.equal(204);
    expect((await removeLocally(viaXroad.body.id)).status).to.equal(404);
    expect((await removeViaXroad(local.body.id)).status).to.equal(404);
    // Sluice's own removal (a 410) takes a listener in its own direction, whichever it is.
    const again = await request(
      "POST",
      "/rest/messages/hub",
      dave,
      registration,
      undefined,
      viaXroadHeaders,
    );
    expect(await listeners.discard((await listeners.get(again.body.id))!)).to.equal(true);
    expect((await removeViaXroad(again.body.id)).status).to.equal(204);
    expect(await listeners.forClient(dave)).to.deep.equal([]);
  });

  it("lets only the owning client remove a listener", async () => {
    const created = await request("POST", "/hub", ALICE, {
      callback: "https://hooks.example.org/a2",
    });
    expect(created.status).to.equal(201);
    expect(created.body.query).to.equal("");
    const id = created.body.id as string;
    const byBob = await request("DELETE", `/hub/${id}`, BOB);
    expect(byBob.status).to.equal(404);
    expect(byBob.body.type).to.equal("NotFound");
    expect((await listeners.get(id))?.client).to.equal(ALICE);
    expect((await request("DELETE", `/hub/${id}`, ALICE)).status).to.equal(204);
    expect(await listeners.get(id)).to.equal(null);
    // Repeated by its client (the first answer lost): done, as the first said. To anyone else
    // it is still an id that does not exist.
    expect((await request("DELETE", `/hub/${id}`, ALICE)).status).to.equal(204);
    const againByBob = await request("DELETE", `/hub/${id}`, BOB);
    expect(againByBob.status).to.equal(404);
    expect(againByBob.body).to.deep.equal(byBob.body);
    expect((await request("DELETE", `/hub/${randomUUID()}`, ALICE)).status).to.equal(404);
    expect((await request("DELETE", "/hub/not-a-uuid", ALICE)).status).to.equal(404);
  });

  it("answers its client's DELETE of a listener removed after a 410 with 204", async () => {
    const created = await request("POST", "/hub", ALICE, {
      callback: "https://hooks.example.org/gone",
    });
    expect(created.status).to.equal(201);
    const id = created.body.id as string;
    // What callback delivery does when the receiver answers 410.
    expect(await listeners.remove(id, ALICE)).to.equal(true);
    expect((await request("DELETE", `/hub/${id}`, BOB)).status).to.equal(404);
    expect((await request("DELETE", `/hub/${id}`, ALICE)).status).to.equal(204);
  });

  it("refuses callbacks outside the allowlist or resolving to private addresses", async () => {
    const outside = await request("POST", "/hub", ALICE, { callback: "https://evil.example/" });
    expect(outside.status).to.equal(400);
    expect(outside.body.type).to.equal("InvalidCallback");
    const local = await request("POST", "/hub", ALICE, { callback: "https://localhost/cb" });
    expect(local.status).to.equal(400);
    expect(local.body.message).to.equal("the callback URL is not an allowed callback target");
    expect(lookups).to.include("localhost");
    const literal = await request("POST", "/hub", ALICE, { callback: "https://169.254.169.254/" });
    expect(literal.status).to.equal(400);
  });

  it("answers a name of the provider's network alike whether it is private or does not exist, and logs which", async () => {
    const privateName = await request("POST", "/hub", ALICE, {
      callback: "https://db.corp.example.org/hooks",
    });
    const missingName = await request("POST", "/hub", ALICE, {
      callback: "https://missing.corp.example.org/hooks",
    });
    expect(privateName.status).to.equal(400);
    expect(missingName.status).to.equal(400);
    expect(privateName.body).to.deep.equal(missingName.body);
    expect(privateName.body.message).to.equal("the callback URL is not an allowed callback target");
    const refusals = logLines.filter((line) =>
      String(line.msg).startsWith("callback target refused"),
    );
    expect(refusals.map((line) => [line.client, line.host, line.reason])).to.deep.include.members([
      [ALICE, "db.corp.example.org", "resolves to 10.0.0.5, a private address"],
      [ALICE, "missing.corp.example.org", "does not resolve (ENOTFOUND)"],
    ]);
  });

  it("refuses bad registrations with the contract's error shape", async () => {
    expect(
      (await request("POST", "/hub", null, { callback: "https://hooks.example.org/" })).status,
    ).to.equal(400);
    const badQuery = await request("POST", "/hub", ALICE, {
      callback: "https://hooks.example.org/",
      query: "colour=red",
    });
    expect(badQuery.status).to.equal(400);
    expect(badQuery.body).to.deep.include({ type: "InvalidRequest", detail: null });
    expect((await request("POST", "/hub", ALICE, "{nope")).body.type).to.equal("InvalidJson");
    expect((await request("POST", "/hub", ALICE, [])).body.type).to.equal("InvalidRequest");
    expect((await request("POST", "/hub", ALICE, { query: "" })).body.type).to.equal(
      "InvalidCallback",
    );
    const text = await request("POST", "/hub", ALICE, "callback=x", "text/plain");
    expect(text.status).to.equal(415);
    const huge = await request("POST", "/hub", ALICE, {
      callback: "https://hooks.example.org/",
      pad: "x".repeat(20_000),
    });
    expect(huge.status).to.equal(413);
  });

  it("limits the listeners of one client; the same registration again is not another", async () => {
    const client = "EE/GOV/70000009/many";
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const answer = await request("POST", "/hub", client, {
        callback: `https://hooks.example.org/${i}`,
      });
      expect(answer.status).to.equal(201);
      ids.push(answer.body.id);
    }
    const over = await request("POST", "/hub", client, { callback: "https://hooks.example.org/" });
    expect(over.status).to.equal(409);
    expect(over.body.type).to.equal("Conflict");
    // At the limit, a registration it holds is still answered as when it was made.
    const again = await request("POST", "/hub", client, {
      callback: "https://hooks.example.org/1",
    });
    expect(again.status).to.equal(201);
    expect(again.body.id).to.equal(ids[1]);
  });

  it("limits the listeners of one client id in each direction apart: an X-Road client of the local system's id does not fill its limit", async () => {
    const client = "EE/GOV/70000012/shared";
    const viaXroad = { "X-Road-Request-Id": "req-shared" };
    const xroadIds: string[] = [];
    for (let i = 0; i < 3; i++) {
      const answer = await request(
        "POST",
        "/rest/messages/hub",
        client,
        { callback: `https://hooks.example.org/x${i}` },
        undefined,
        viaXroad,
      );
      expect(answer.status).to.equal(201);
      xroadIds.push(answer.body.id);
    }
    const xroadOver = await request(
      "POST",
      "/rest/messages/hub",
      client,
      { callback: "https://hooks.example.org/x" },
      undefined,
      viaXroad,
    );
    expect(xroadOver.status).to.equal(409);
    expect(xroadOver.body.message).to.match(/through a security server/);
    // The local system of the same id still holds a limit of its own.
    for (let i = 0; i < 3; i++) {
      const answer = await request("POST", "/hub", client, {
        callback: `https://hooks.example.org/l${i}`,
      });
      expect(answer.status).to.equal(201);
    }
    const localOver = await request("POST", "/hub", client, {
      callback: "https://hooks.example.org/l",
    });
    expect(localOver.status).to.equal(409);
    // A listener removed frees a place in its own direction only.
    expect(await listeners.removeAny(xroadIds[0])).to.not.equal(null);
    expect(
      (await request("POST", "/hub", client, { callback: "https://hooks.example.org/l" })).status,
    ).to.equal(409);
    const freed = await request(
      "POST",
      "/rest/messages/hub",
      client,
      { callback: "https://hooks.example.org/x" },
      undefined,
      viaXroad,
    );
    expect(freed.status).to.equal(201);
    expect(await listeners.forClient(client)).to.have.length(6);
  });

  it("holds the limit under concurrent registrations", async () => {
    const client = "EE/GOV/70000010/burst";
    const answers = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        request("POST", "/hub", client, { callback: `https://hooks.example.org/${i}` }),
      ),
    );
    expect(answers.filter((a) => a.status === 201)).to.have.length.at.most(3);
    expect(answers.filter((a) => a.status === 201)).to.have.length.at.least(1);
    expect(await listeners.forClient(client)).to.have.length.at.most(3);
  });

  it("answers the same registration, sent again or at once, with one listener and its id", async () => {
    const client = "EE/GOV/70000011/retry";
    const registration = {
      callback: "https://hooks.example.org/retry",
      query: "eventType=MessageStateChangeEvent&state=completed",
    };
    const answers = await Promise.all(
      Array.from({ length: 5 }, () => request("POST", "/hub", client, registration)),
    );
    const again = await request("POST", "/hub", client, registration);
    const [first] = answers;
    for (const answer of [...answers, again]) {
      expect(answer.status).to.equal(201);
      expect(answer.body).to.deep.equal(first.body);
      expect(answer.headers.get("location")).to.equal(`/hub/${first.body.id}`);
    }
    expect((await listeners.forClient(client)).map((l) => l.id)).to.deep.equal([first.body.id]);

    // Another query, or another callback, is another listener.
    const otherQuery = await request("POST", "/hub", client, { ...registration, query: "" });
    const otherCallback = await request("POST", "/hub", client, {
      ...registration,
      callback: "https://hooks.example.org/retry2",
    });
    expect(new Set([first.body.id, otherQuery.body.id, otherCallback.body.id]).size).to.equal(3);

    // Once removed, the registration is a new listener again.
    expect((await request("DELETE", `/hub/${first.body.id}`, client)).status).to.equal(204);
    const renewed = await request("POST", "/hub", client, registration);
    expect(renewed.status).to.equal(201);
    expect(renewed.body.id).to.not.equal(first.body.id);
    expect(await listeners.get(renewed.body.id)).to.deep.include(registration);
  });

  it("through the status service, registers and removes only when X-Road-Service names it", async () => {
    const client = "EE/GOV/70000013/via-xroad";
    const naming = (code: string) => ({ "X-Road-Service": `EE/GOV/70000002/sluice/${code}` });
    const registration = { callback: "https://hooks.example.org/via-xroad" };
    // A header naming a business service is inconsistent, as on the status service's status
    // and cancel (docs/semantics.md): refused, and nothing is registered.
    const other = await request(
      "POST",
      "/rest/messages/hub",
      client,
      registration,
      undefined,
      naming("personSearch"),
    );
    expect(other.status).to.equal(400);
    expect(other.body.type).to.equal("InconsistentHeaders");
    expect(await listeners.forClient(client)).to.deep.equal([]);

    const made = await request(
      "POST",
      "/rest/messages/hub",
      client,
      registration,
      undefined,
      naming("messages"),
    );
    expect(made.status).to.equal(201);
    const id = made.body.id as string;
    const path = `/rest/messages/hub/${id}`;
    const wrong = await request("DELETE", path, client, undefined, undefined, naming("order"));
    expect(wrong.status).to.equal(400);
    expect(wrong.body.type).to.equal("InconsistentHeaders");
    expect((await listeners.get(id))?.client).to.equal(client);
    expect(
      (await request("DELETE", path, client, undefined, undefined, naming("messages"))).status,
    ).to.equal(204);
    expect(await listeners.get(id)).to.equal(null);
  });

  it("replaces a registration whose listener went without it (removed by an earlier release)", async () => {
    const client = "EE/GOV/70000012/stale";
    const first = await listeners.add(client, "https://hooks.example.org/stale", "");
    const keys = redisKeys(prefix);
    await redis
      .multi()
      .del(keys.hubListener(first.id))
      .srem(keys.hubClient(client), first.id)
      .exec();
    const second = await listeners.add(client, "https://hooks.example.org/stale", "");
    expect(second.id).to.not.equal(first.id);
    expect((await listeners.forClient(client)).map((l) => l.id)).to.deep.equal([second.id]);
    // Removing the old id (an event job's 410, say) leaves the new registration alone.
    await listeners.remove(first.id, client);
    expect((await listeners.add(client, "https://hooks.example.org/stale", "")).id).to.equal(
      second.id,
    );
  });
});

describe("hub registration whose answer was lost (real Redis through a proxy)", () => {
  freshConnectionPerFetch();
  const prefix = `t-${randomUUID().slice(0, 8)}.`;
  const registration = { callback: "https://hooks.example.org/lost", query: "" };
  let redis: Redis;

  before(() => {
    redis = new Redis(REDIS_URL);
  });
  after(async () => {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  });

  /**
   * The hub routes over a Redis connection through a proxy that cuts the reply to the next
   * registration: Redis ran it, the adapter did not hear. ioredis sends the command again once
   * it has reconnected; with `held` it cannot reconnect until `release`.
   */
  async function withLostReply(
    client: string,
    held: boolean,
    work: (base: string, release: () => void, cut: AnswerCutter) => Promise<void>,
  ): Promise<void> {
    await withCutRedis("hub-lost", { held }, async ({ redis: proxied, cut, release }) => {
      const hub = await hubServer(new HubListeners(proxied, prefix));
      try {
        // The client's set is written by every registration, however it is made.
        const clientKey = redisKeys(prefix).hubClient(client);
        cut.arm((command) => command.includes(clientKey));
        await work(hub.base, release, cut);
      } finally {
        await hub.close();
      }
    });
  }

  /**
   * Redis ran the registration whose reply was lost; once `release`d, the caller's retry is
   * answered with that listener, and there is no other.
   */
  async function expectRetryFindsIt(base: string, client: string, release: () => void) {
    const [made] = await new HubListeners(redis, prefix).forClient(client);
    expect(made, "Redis ran the registration").to.not.equal(undefined);
    release();
    const retried = await eventually(async () => {
      const answer = await hubRequest(base, "POST", "/hub", client, registration);
      return answer.status === 503 ? undefined : answer;
    });
    expect(retried.status).to.equal(201);
    expect(retried.body.id).to.equal(made.id);
    const all = await new HubListeners(redis, prefix).forClient(client);
    expect(all.map((l) => l.id)).to.deep.equal([made.id]);
  }

  it("a registration retried after its answer was lost (Redis ran it, the caller gave up) is the same listener", async () => {
    const client = "EE/GOV/70000013/lost";
    await withLostReply(client, true, async (base, release, cut) => {
      // The caller (a security server at its timeout, say) gives up while the adapter waits
      // for Redis's reply: it never learns the id, and sends the registration again.
      const gaveUp = new AbortController();
      const lost = fetch(`${base}/hub`, {
        method: "POST",
        headers: { "X-Road-Client": client, "Content-Type": "application/json" },
        body: JSON.stringify(registration),
        signal: gaveUp.signal,
      }).catch((error: unknown) => error);
      await eventually(async () => (cut.dropped === 1 ? true : undefined), 10_000, "the cut");
      gaveUp.abort();
      expect(await lost).to.be.instanceOf(Error);
      await expectRetryFindsIt(base, client, release);
    });
  });

  it("a registration Redis does not answer in time is a 503 with Retry-After, not a wait for as long as Redis is away", async () => {
    const client = "EE/GOV/70000015/unanswered";
    await withLostReply(client, true, async (base, release, cut) => {
      // The reply is lost and the client cannot reconnect: ioredis would hold the command
      // (to send it again) for as long as that lasts.
      const answer = await hubRequest(base, "POST", "/hub", client, registration);
      expect(cut.dropped, "the registration's reply was cut").to.equal(1);
      expect(answer.status).to.equal(503);
      expect(answer.body.type).to.equal("Unavailable");
      expect(Number(answer.headers.get("retry-after"))).to.be.greaterThan(0);
      // Sent again after the reconnect, the registration finds itself; the retry finds it too.
      await expectRetryFindsIt(base, client, release);
    });
  });

  it("a registration the Redis client sends again after a reconnect is still one listener", async () => {
    const client = "EE/GOV/70000014/resent";
    await withLostReply(client, false, async (base, _release, cut) => {
      const answer = await hubRequest(base, "POST", "/hub", client, registration);
      expect(cut.dropped, "the registration's reply was cut").to.equal(1);
      expect(answer.status).to.equal(201);
      const all = await new HubListeners(redis, prefix).forClient(client);
      expect(all.map((l) => l.id)).to.deep.equal([answer.body.id]);
    });
  });
});
