// A Redis that stops answering without closing the connection (a partition without resets, a
// frozen server), seen by one role through a stalled proxy. The adapter: a status read, a
// submission and a cancel each get 503 with Retry-After instead of waiting for as long as Redis
// is silent (SOAP: the Server.Unavailable fault), at once and with nothing sent to Redis once
// the heartbeat noticed, after their own command's deadline before it did; and once Redis
// answers again the commands it was sent meanwhile run late without leaving anything wrong
// behind: the caller's retry of the submission is one new message, called once. A worker and a
// response worker: the wait fails and the message is tried again.

import { expect } from "chai";
import { randomBytes, randomUUID } from "node:crypto";
import { childElements, directText, parseXml, type XmlElement } from "../../adapter/soap/safe-xml";
import { redisKeys } from "../../shared/protocol/redis-keys";
import { fixture, testQueryService } from "../fixtures/xroad-soap/outcomes";
import { call, eventually, Harness, REDIS_URL } from "../support/harness";
import { proxyTo, viaProxy } from "../support/tcp-proxy";
import { freshConnectionPerFetch } from "../support/fresh-connections";

const CLIENT = "EE/GOV/70000001/case-app";

/** simple.query of the X-Road fixtures (testQuery, from EE/BUSINESS/consumer) as `xroadId`. */
const soapQuery = (xroadId: string): string =>
  fixture("simple.query")
    .toString("utf8")
    .replace(/<xroad:id>[^<]*<\/xroad:id>/, `<xroad:id>${xroadId}</xroad:id>`);

/** The SOAP status operation (the status service's code, `messages`) for message `id`. */
const soapStatusQuery = (xroadId: string, id: string): string =>
  soapQuery(xroadId)
    .replace(
      "<id:serviceCode>testQuery</id:serviceCode>",
      "<id:serviceCode>messages</id:serviceCode>",
    )
    .replace(/<ns1:testQuery[\s\S]*<\/ns1:testQuery>/, `<messages><id>${id}</id></messages>`);

interface SoapAnswer {
  status: number;
  headers: Headers;
  text: string;
  /** The single Body element. */
  body: XmlElement;
}

async function postSoap(url: string, envelope: string): Promise<SoapAnswer> {
  const response = await fetch(`${url}/soap`, {
    method: "POST",
    headers: { "Content-Type": "text/xml; charset=utf-8" },
    body: envelope,
  });
  const text = await response.text();
  const body = childElements(parseXml(text)).find((e) => e.local === "Body") as XmlElement;
  return { status: response.status, headers: response.headers, text, body: childElements(body)[0] };
}

/** The text of `element`'s child `local`, or undefined when it has none. */
function childText(element: XmlElement, local: string): string | undefined {
  const found = childElements(element).find((e) => e.local === local);
  return found && directText(found);
}

describe("a silent Redis (adapter's connection stalled, not closed)", function () {
  freshConnectionPerFetch();
  this.timeout(60_000);
  const proxy = proxyTo(REDIS_URL);
  const harness = Harness.suite({
    sim: { latencyMs: 0 },
    config: {
      // Short, so the test does not wait long; the default is documented in configuration.md.
      redisCommandTimeout: "300ms",
      services: {
        order: { protocols: ["rest"], reply: { mode: "ack" }, backend: "sim" },
        parked: { protocols: ["rest"], reply: { mode: "ack" }, backend: "held" },
        // SOAP, parked too: its messages stay accepted, for the status operation to read.
        testQuery: testQueryService("held", { mode: "ack" }),
      },
      backends: { sim: { translator: "rest-json" }, held: {} },
      // A secret turns the event hub on; nothing here is ever delivered.
      callbacks: {
        allow: ["https://127.0.0.1:9/events/"],
        allowPrivate: true,
        secret: `whsec_${randomBytes(32).toString("base64")}`,
      },
    },
    roles: [
      // No worker for "held": its messages stay accepted, to be cancelled.
      { role: "worker", args: ["--backends", "sim"] },
      "response-worker",
      {
        role: "adapter",
        env: async () => ({ REDIS_URL: viaProxy(REDIS_URL, await proxy.listen()) }),
      },
    ],
  });
  const { roles } = harness;
  const keys = redisKeys(harness.prefix);
  const redis = harness.redis();
  // Each test starts from a heartbeat that says Redis answers: one still silent from a test
  // before would refuse its set-up, or pass for the moment a test means to ask in.
  afterEach(async () => {
    proxy.refuse(false);
    proxy.heal();
    await readinessTurns(200, "the heartbeat to find Redis answering again");
  });
  after(() => proxy.close());

  const submit = (service: string, xroadId: string) =>
    call(`${roles.adapter.url}/rest/${service}/orders`, {
      body: JSON.stringify({ order: 1 }),
      headers: { "X-Road-Id": xroadId },
    });
  const status = (id: string) => call(`${roles.adapter.url}/messages/${id}`);
  const settled = (id: string) =>
    eventually(
      async () => {
        const answer = await status(id);
        return answer.status === 200 && answer.json.state === "completed" ? answer : undefined;
      },
      20_000,
      `message ${id} to complete`,
    );
  const readiness = () => call(`${roles.adapter.adminUrl}/readyz`, { client: null });
  /** Waits for /readyz to answer `status`: the heartbeat's word on Redis, as an operator sees it. */
  const readinessTurns = (status: 200 | 503, what: string) =>
    eventually(
      async () => {
        const answer = await readiness();
        return answer.status === status ? answer : undefined;
      },
      20_000,
      what,
    );
  /**
   * Waits for the adapter's last write about an accepted message, its confirm mark (sent after
   * the answer, not waited for): caught by a stall, it would pass for a command of the request
   * under test.
   */
  const confirmMarked = (id: string) =>
    eventually(
      async () => ((await redis.hget(keys.tx(id), "published")) === "1" ? true : undefined),
      20_000,
      `message ${id}'s confirm mark`,
    );
  const unavailable = (answer: Awaited<ReturnType<typeof call>>) => {
    expect(answer.status, answer.text).to.equal(503);
    expect(answer.json.type).to.equal("Unavailable");
    expect(Number(answer.headers.get("retry-after"))).to.be.greaterThan(0);
  };

  /** The records (not refused markers) Redis holds for this client's X-Road id. */
  async function recordsOf(xroadId: string): Promise<Array<Record<string, string>>> {
    const found: Array<Record<string, string>> = [];
    for (const key of await redis.keys(keys.tx("*"))) {
      // A record's companions (`:responses`, `:told`) are not records.
      if (key.slice(keys.tx("").length).includes(":")) continue;
      const record = await redis.hgetall(key);
      if (record.meta && (JSON.parse(record.meta) as { xroadId: string }).xroadId === xroadId) {
        found.push(record);
      }
    }
    return found;
  }

  it("readiness says Redis is not answering, and submissions are refused before any wait, until it answers", async () => {
    expect((await readiness()).status).to.equal(200);
    proxy.stall();
    // The connection still says "ready": a PING that goes unanswered tells.
    const notReady = await readinessTurns(503, "readiness to fail");
    expect(JSON.stringify(notReady.json.reasons)).to.include("not answering");
    // Refused by the intake's admission, with no create sent to the silent Redis.
    // Judged by the submission's own X-Road id, not a count of what was held: the heartbeat's
    // PINGs go on meanwhile.
    const xroadId = randomUUID();
    unavailable(await submit("order", xroadId));
    expect(
      proxy.heldIncludes(xroadId),
      "a create sent to Redis for the refused submission",
    ).to.equal(false);
    proxy.heal();
    await readinessTurns(200, "readiness once Redis answers");
  });

  it("once the heartbeat finds Redis silent, status reads, cancels and the hub are refused as submissions are, and the operator's lookup and cancel too, with nothing sent to Redis", async () => {
    const accepted = await submit("parked", randomUUID());
    expect(accepted.status).to.equal(202);
    const id = accepted.json.id as string;
    const hubBody = (path: string) =>
      JSON.stringify({ callback: `https://127.0.0.1:9/events/${path}`, query: "" });
    const registered = await call(`${roles.adapter.url}/hub`, { body: hubBody("kept") });
    expect(registered.status, registered.text).to.equal(201);
    const hubId = registered.json.id as string;
    await confirmMarked(id);

    proxy.stall();
    await readinessTurns(503, "the heartbeat to find Redis silent");
    const refusedSubmission = await submit("order", randomUUID());
    unavailable(refusedSubmission);
    const asSubmissions = (what: string, answer: Awaited<ReturnType<typeof call>>) => {
      unavailable(answer);
      expect(answer.json, what).to.deep.equal(refusedSubmission.json);
      expect(answer.headers.get("retry-after"), what).to.equal(
        refusedSubmission.headers.get("retry-after"),
      );
    };
    asSubmissions("status read", await status(id));
    asSubmissions(
      "status read (status service)",
      await call(`${roles.adapter.url}/rest/messages/${id}`),
    );
    asSubmissions(
      "cancel",
      await call(`${roles.adapter.url}/messages/${id}`, { method: "DELETE" }),
    );
    asSubmissions(
      "cancel (status service)",
      await call(`${roles.adapter.url}/rest/messages/${id}`, { method: "DELETE" }),
    );
    asSubmissions(
      "hub registration",
      await call(`${roles.adapter.url}/hub`, { body: hubBody("new") }),
    );
    asSubmissions(
      "hub removal",
      await call(`${roles.adapter.url}/hub/${hubId}`, { method: "DELETE" }),
    );
    // The operator's lookup and cancel of the message likewise (in the admin port's words).
    for (const method of ["GET", "DELETE"]) {
      const operator = await call(`${roles.adapter.adminUrl}/admin/messages/${id}`, {
        method,
        client: null,
        headers: harness.adminHeaders(),
      });
      expect(operator.status, `operator ${method}: ${operator.text}`).to.equal(503);
      expect(operator.json).to.include({ type: "Unavailable" });
      expect(operator.json.message).to.include("not answering");
      expect(Number(operator.headers.get("retry-after"))).to.be.greaterThan(0);
    }
    // Refused before any command: none of them reached the stalled connection.
    expect(proxy.heldIncludes(id), "a command about the message sent to Redis").to.equal(false);
    expect(proxy.heldIncludes(hubId), "a command about the listener sent to Redis").to.equal(false);
    expect(proxy.heldIncludes("events/new"), "a registration sent to Redis").to.equal(false);

    proxy.heal();
    const cancelled = await eventually(async () => {
      const answer = await call(`${roles.adapter.url}/messages/${id}`, { method: "DELETE" });
      return answer.status === 503 ? undefined : answer;
    });
    expect(cancelled.status, cancelled.text).to.equal(200);
    expect(cancelled.json).to.include({ id, state: "cancelled" });
    const removed = await call(`${roles.adapter.url}/hub/${hubId}`, { method: "DELETE" });
    expect(removed.status, removed.text).to.equal(204);
  });

  it("once the heartbeat finds Redis silent, a SOAP submission and the SOAP status operation get the Server.Unavailable fault at once, with nothing sent to Redis", async () => {
    const accepted = await postSoap(roles.adapter.url, soapQuery(randomUUID()));
    expect(accepted.status, accepted.text).to.equal(200);
    const id = childText(accepted.body, "id") as string;
    expect(id).to.be.a("string");
    await confirmMarked(id);

    proxy.stall();
    await readinessTurns(503, "the heartbeat to find Redis silent");
    // The contract's fault for a gateway that cannot reach its store: 503, Retry-After both as
    // a header and in the detail.
    const storeUnavailable = (what: string, answer: SoapAnswer) => {
      expect(answer.status, `${what}: ${answer.text}`).to.equal(503);
      expect(answer.body.local, what).to.equal("Fault");
      expect(childText(answer.body, "faultcode"), what).to.equal("Server.Unavailable");
      expect(childText(answer.body, "faultstring"), what).to.equal("transaction store unavailable");
      const retryAfter = answer.headers.get("retry-after");
      expect(Number(retryAfter), what).to.be.greaterThan(0);
      const detail = childElements(answer.body).find((e) => e.local === "detail") as XmlElement;
      expect(childText(detail, "retryAfter"), what).to.equal(retryAfter);
    };
    const xroadId = randomUUID();
    storeUnavailable("SOAP submission", await postSoap(roles.adapter.url, soapQuery(xroadId)));
    expect(
      proxy.heldIncludes(xroadId),
      "a create sent to Redis for the refused SOAP submission",
    ).to.equal(false);
    const statusQuery = () => postSoap(roles.adapter.url, soapStatusQuery(randomUUID(), id));
    storeUnavailable("SOAP status operation", await statusQuery());
    expect(proxy.heldIncludes(id), "a read of the message sent to Redis").to.equal(false);

    proxy.heal();
    // The same operation reads the message once Redis answers: it was refused for the store alone.
    const answered = await eventually(async () => {
      const answer = await statusQuery();
      return answer.status === 503 ? undefined : answer;
    });
    expect(answered.status, answered.text).to.equal(200);
    expect(answered.body.local).to.equal("messagesResponse");
    expect(childText(answered.body, "id")).to.equal(id);
    expect(childText(answered.body, "state")).to.equal("accepted");
  });

  /**
   * Two moments of a silence, each tested on purpose. Straight after Redis fell silent the
   * heartbeat does not know yet (a PING must go unanswered for redisCommandTimeout first): a
   * request sends its command and waits out that deadline. Once /readyz says Redis is not
   * answering, a request is refused at once and sends nothing.
   */
  const MOMENTS = [
    {
      title: "asked before the heartbeat notices (its command waits out redisCommandTimeout)",
      noticed: false,
    },
    { title: "asked once the heartbeat noticed (/readyz 503: refused at once)", noticed: true },
  ];
  async function fallSilent(id: string, noticed: boolean): Promise<void> {
    await confirmMarked(id);
    proxy.stall();
    if (noticed) await readinessTurns(503, "the heartbeat to find Redis silent");
  }
  /**
   * Once the heartbeat noticed, nothing about `id` may reach Redis. Before it notices, the
   * request's command is sent if the adapter takes it within redisCommandTimeout of the
   * silence; on a loaded machine it may take longer and be refused at once like the noticed
   * case, with the same answer, so which of the two paths it took is not asserted.
   */
  function sentToRedis(id: string, noticed: boolean): void {
    if (!noticed) return;
    expect(
      proxy.heldIncludes(id),
      "a command about the message sent to Redis once the heartbeat had noticed",
    ).to.equal(false);
  }

  for (const { title, noticed } of MOMENTS) {
    it(`a status read ${title}: 503 with Retry-After, and the status once Redis answers`, async () => {
      const accepted = await submit("order", randomUUID());
      expect(accepted.status).to.equal(202);
      const id = accepted.json.id as string;
      await settled(id);

      await fallSilent(id, noticed);
      unavailable(await status(id));
      sentToRedis(id, noticed);
      proxy.heal();
      expect((await settled(id)).json.id).to.equal(id);
    });

    it(`a cancel ${title}: 503, and its retry once Redis answers cancels`, async () => {
      const accepted = await submit("parked", randomUUID());
      expect(accepted.status).to.equal(202);
      const id = accepted.json.id as string;

      await fallSilent(id, noticed);
      unavailable(await call(`${roles.adapter.url}/messages/${id}`, { method: "DELETE" }));
      sentToRedis(id, noticed);
      proxy.heal();
      const cancelled = await eventually(async () => {
        const answer = await call(`${roles.adapter.url}/messages/${id}`, { method: "DELETE" });
        return answer.status === 503 ? undefined : answer;
      });
      expect(cancelled.status, cancelled.text).to.equal(200);
      expect(cancelled.json).to.include({ id, state: "cancelled" });
      expect(harness.sim.calls().filter((c) => c.id === id)).to.have.length(0);
    });

    it(`the operator's cancel ${title}: 503 with Retry-After, and its retry once Redis answers cancels`, async () => {
      const accepted = await submit("parked", randomUUID());
      expect(accepted.status).to.equal(202);
      const id = accepted.json.id as string;
      const operatorCancel = () =>
        call(`${roles.adapter.adminUrl}/admin/messages/${id}`, {
          method: "DELETE",
          client: null,
          headers: harness.adminHeaders(),
        });

      await fallSilent(id, noticed);
      const refused = await operatorCancel();
      expect(refused.status, refused.text).to.equal(503);
      expect(refused.json.type).to.equal("Unavailable");
      expect(Number(refused.headers.get("retry-after"))).to.be.greaterThan(0);
      sentToRedis(id, noticed);
      proxy.heal();
      const cancelled = await eventually(async () => {
        const answer = await operatorCancel();
        return answer.status === 503 ? undefined : answer;
      });
      expect(cancelled.status, cancelled.text).to.equal(200);
      expect(cancelled.json).to.include({ id, state: "cancelled" });
    });
  }

  it("a submission answers 503, and its retry once Redis answers is one new message, called once", async () => {
    const xroadId = randomUUID();
    proxy.stall();
    unavailable(await submit("order", xroadId));
    // Redis now gets the create it was sent, late, and what the adapter sent after it.
    proxy.heal();

    const retried = await submit("order", xroadId);
    expect(retried.status, retried.text).to.equal(202);
    const id = retried.json.id as string;
    await settled(id);
    const calls = harness.sim.calls().filter((c) => c.id === id);
    expect(calls).to.have.length(1);
    // The refused submission left no record behind: not one its retry was a duplicate of
    // (published by adoption, under the refused id), and none left accepted for ever.
    const records = await recordsOf(xroadId);
    expect(records).to.have.length(1);
    expect(JSON.parse(records[0].meta).id).to.equal(id);
    expect(records[0]).to.not.have.property("adoptedBy");
    expect(await redis.get(keys.dedup(CLIENT, "order", xroadId))).to.equal(id);
  });

  it("the operator's lookup and dead-letter list answer 503 with Retry-After, not 500, and again once Redis answers", async () => {
    const accepted = await submit("parked", randomUUID());
    expect(accepted.status).to.equal(202);
    const id = accepted.json.id as string;
    const operator = (path: string) =>
      call(`${roles.adapter.adminUrl}${path}`, { client: null, headers: harness.adminHeaders() });
    const paths = [`/admin/messages/${id}`, "/admin/dead-letters?limit=5"];
    const refusedAs503 = async (path: string) => {
      const logged = roles.adapter.output.length;
      const refused = await operator(path);
      expect(refused.status, `${path}: ${refused.text}`).to.equal(503);
      expect(refused.json.type).to.equal("Unavailable");
      expect(refused.text).not.to.match(/\n\s+at /);
      expect(Number(refused.headers.get("retry-after"))).to.be.greaterThan(0);
      // One warning, no error and no stack. The line may reach the pipe after the answer; a
      // line logged before the warning (an error) would reach it before.
      const linesOf = () =>
        roles.adapter.output.slice(logged).filter((line) => line.includes(path.split("?")[0]));
      const lines = await eventually(async () => (linesOf().length > 0 ? linesOf() : undefined));
      expect(lines, lines.join("\n")).to.have.length(1);
      expect(JSON.parse(lines[0])).to.include({ level: "warn", msg: "admin request unavailable" });
    };

    proxy.stall();
    for (const path of paths) await refusedAs503(path);
    proxy.heal();
    // A cut connection (ioredis reconnecting, no offline queue) is refused the same way.
    proxy.refuse(true);
    proxy.cut();
    for (const path of paths) await refusedAs503(path);
    proxy.refuse(false);
    for (const path of paths) {
      const answered = await eventually(async () => {
        const answer = await operator(path);
        return answer.status === 503 ? undefined : answer;
      });
      expect(answered.status, `${path}: ${answered.text}`).to.equal(200);
    }
  });
});

/**
 * A role behind the stalled proxy (the other roles reach Redis directly): a message's wait for
 * Redis there fails and the message is tried again, and it completes, called once.
 */
function stalledRole(
  role: "worker" | "response-worker",
  backend: Record<string, unknown>,
  test: { title: string; waited: string },
) {
  describe(`a silent Redis (a ${role.replace("-", " ")}'s connection stalled, not closed)`, function () {
    freshConnectionPerFetch();
    this.timeout(60_000);
    const proxy = proxyTo(REDIS_URL);
    const harness = Harness.suite({
      sim: { latencyMs: 0 },
      config: {
        redisCommandTimeout: "300ms",
        services: { order: { protocols: ["rest"], reply: { mode: "ack" }, backend: "sim" } },
        backends: { sim: backend },
      },
      roles: [
        "adapter",
        role === "worker" ? "response-worker" : "worker",
        {
          role,
          as: "stalled",
          env: async () => ({ REDIS_URL: viaProxy(REDIS_URL, await proxy.listen()) }),
        },
      ],
    });
    const { roles } = harness;
    after(async () => {
      proxy.heal();
      await proxy.close();
    });

    it(test.title, async () => {
      proxy.stall();
      const accepted = await call(`${roles.adapter.url}/rest/order/orders`, { body: "{}" });
      expect(accepted.status).to.equal(202);
      const id = accepted.json.id as string;
      await eventually(
        async () =>
          roles.stalled.lines.some((line) => line.msg === "work interrupted; trying again") ||
          undefined,
        20_000,
        test.waited,
      );
      proxy.heal();
      await eventually(
        async () => {
          const answer = await call(`${roles.adapter.url}/messages/${id}`);
          return answer.json.state === "completed" || undefined;
        },
        40_000,
        `message ${id} to complete`,
      );
      expect(harness.sim.calls().filter((c) => c.id === id)).to.have.length(1);
    });
  });
}

// Its wait for Redis (the claim, with an in-flight slot) fails, and it tries again. A short
// backend timeout: a claim that Redis runs late lapses soon after.
stalledRole(
  "worker",
  { translator: "rest-json", timeout: "1s", retry: { backoff: ["200ms"] } },
  {
    title:
      "does not hold a message for as long as Redis is silent: its wait fails and it tries again, and the message is called once",
    waited: "the worker's Redis wait to fail",
  },
);

// Its wait for Redis (storing the response) fails, and it tries again.
stalledRole(
  "response-worker",
  { translator: "rest-json" },
  {
    title:
      "does not hold a response for as long as Redis is silent: its wait fails and it tries again, and the outcome is stored",
    waited: "the response worker's Redis wait to fail",
  },
);
