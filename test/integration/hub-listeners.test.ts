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

const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
const ALICE = "EE/GOV/70000001/alice";
const BOB = "EE/COM/70000002/bob";

function document(overrides: Partial<StatusDocument> = {}): StatusDocument {
  return {
    id: randomUUID(),
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

describe("hub listeners in Redis and the hub routes (real Redis, real HTTP)", () => {
  const prefix = `t-${randomUUID().slice(0, 8)}.`;
  let redis: Redis;
  let listeners: HubListeners;
  let server: http.Server;
  let base: string;
  const lookups: string[] = [];

  const request = async (
    method: string,
    path: string,
    client: string | null,
    body?: unknown,
    contentType = "application/json",
  ) => {
    const headers: Record<string, string> = {};
    if (client !== null) headers["X-Road-Client"] = client;
    if (body !== undefined) headers["Content-Type"] = contentType;
    const res = await fetch(base + path, {
      method,
      headers,
      body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : null };
  };

  before(async () => {
    redis = new Redis(REDIS_URL);
    listeners = new HubListeners(redis, prefix, 3);
    const app = new Koa();
    const router = new Router();
    hubRoutes({
      listeners,
      callbackPolicy: {
        allow: ["https://hooks.example.org/", "https://localhost/"],
        allowHttp: false,
        allowPrivate: false,
        xroad: false,
      },
      lookup: async (host) => {
        lookups.push(host);
        return host === "localhost" ? ["127.0.0.1"] : ["93.184.216.34"];
      },
    })(router, pino({ level: "silent" }));
    app.use(router.routes());
    server = http.createServer(app.callback());
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
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
    expect((await request("DELETE", `/hub/${id}`, ALICE)).status).to.equal(404);
    expect((await request("DELETE", "/hub/not-a-uuid", ALICE)).status).to.equal(404);
  });

  it("refuses callbacks outside the allowlist or resolving to private addresses", async () => {
    const outside = await request("POST", "/hub", ALICE, { callback: "https://evil.example/" });
    expect(outside.status).to.equal(400);
    expect(outside.body.type).to.equal("InvalidCallback");
    const local = await request("POST", "/hub", ALICE, { callback: "https://localhost/cb" });
    expect(local.status).to.equal(400);
    expect(local.body.message).to.match(/resolves to a loopback address/);
    expect(lookups).to.include("localhost");
    const literal = await request("POST", "/hub", ALICE, { callback: "https://169.254.169.254/" });
    expect(literal.status).to.equal(400);
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

  it("limits the listeners of one client", async () => {
    const client = "EE/GOV/70000009/many";
    for (let i = 0; i < 3; i++) {
      expect(
        (await request("POST", "/hub", client, { callback: "https://hooks.example.org/" })).status,
      ).to.equal(201);
    }
    const over = await request("POST", "/hub", client, { callback: "https://hooks.example.org/" });
    expect(over.status).to.equal(409);
    expect(over.body.type).to.equal("Conflict");
  });

  it("holds the limit under concurrent registrations", async () => {
    const client = "EE/GOV/70000010/burst";
    const answers = await Promise.all(
      Array.from({ length: 12 }, () =>
        request("POST", "/hub", client, { callback: "https://hooks.example.org/" }),
      ),
    );
    expect(answers.filter((a) => a.status === 201)).to.have.length.at.most(3);
    expect(answers.filter((a) => a.status === 201)).to.have.length.at.least(1);
    expect(await listeners.forClient(client)).to.have.length.at.most(3);
  });
});
