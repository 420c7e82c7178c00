// The OpenAPI documents Sluice serves (`/openapi/<serviceCode>`) against what its routes answer:
// a consumer generates its client from them, so every status an operation answers is one the
// document declares for it (or its `default`), a JSON body matches the declared schema, and each
// declared header the answer carries (Location, Retry-After, X-Road-Id, X-Sluice-*) matches its
// schema; a header of Sluice's own making the answer carries is one the document names. Each
// operation is called as a client would: valid, refused, waiting, asynchronous, repeated.

import { expect } from "chai";
import Ajv2020 from "ajv/dist/2020";
import addFormats from "ajv-formats";
import { randomUUID } from "node:crypto";
import net from "node:net";
import {
  call as plainCall,
  eventually,
  Harness,
  TEST_CLIENT,
  type HttpAnswer,
} from "../support/harness";
import { startXroadSim } from "../../xroad-sim/xroad-sim";
import { BackendPauses } from "../../shared/operator/backend-pauses";
import { redisKeys } from "../../shared/protocol/redis-keys";

/* eslint-disable @typescript-eslint/no-explicit-any */
type Doc = Record<string, any>;

/** The provider subsystem Sluice's services are registered for. */
const PROVIDER = "EE/GOV/70000002/sluice";

/** The consumer direction's X-Road client, named by the service `relay`. */
const CONSUMER = "EE/GOV/70000001/sluice-consumer";

/** The headers of Sluice's own making that a document must name when an answer carries them. */
const OWN_HEADERS = [
  "x-road-id",
  "x-sluice-id",
  "x-sluice-state",
  "location",
  "retry-after",
  "preference-applied",
];

describe("OpenAPI documents: every answer is one its operation declares (e2e)", function () {
  this.timeout(60_000);
  const harness = Harness.suite({
    sim: { latencyMs: 0 },
    receiver: { secret: `whsec_${Buffer.alloc(32, 7).toString("base64")}` },
    config: {
      services: {
        orders: {
          protocols: ["rest"],
          reply: { mode: "ack" },
          backend: "sim",
          maxBodySize: "4kb",
          schema: {
            type: "object",
            required: ["item"],
            properties: { item: { type: "string" } },
          },
        },
        lookup: {
          protocols: ["rest"],
          reply: { mode: "sync" },
          backend: "sim",
          maxBodySize: "4kb",
        },
        // Its backend is paused from the start: what it takes stays pending, and one
        // message fills its queue, so the next is refused for backpressure.
        parked: { protocols: ["rest"], reply: { mode: "ack" }, backend: "held" },
        // The consumer direction: a local caller that sends no X-Road-Client is taken for the
        // service's client. Its backend is paused too: nothing reaches a security server.
        relay: {
          protocols: ["rest"],
          reply: { mode: "ack" },
          backend: "remote",
          client: CONSUMER,
        },
      },
      backends: {
        // A call past its timeout fails at once: a sync wait ends 504 Timeout.
        sim: { retry: { attempts: 1 }, timeout: "2s" },
        held: { translator: "rest-json", queue: { highWater: 1, maxLength: 1 } },
        remote: { translator: "xroad-rest", service: "EE/GOV/70000003/registry/lookup" },
      },
      securityServer: { url: "http://127.0.0.1:9", client: CONSUMER },
      shutdown: { grace: "100s" },
      // Deadlines short enough to see a request not sent whole refused (408); a Host named
      // neither here nor by an IP address is misdirected (421).
      adapter: {
        headersTimeout: "1s",
        requestTimeout: "2s",
        hosts: ["sluice.conformance.example"],
      },
      xroad: { provider: PROVIDER },
    },
    seed: async (harness) => {
      const pauses = new BackendPauses(harness.redis(), harness.prefix);
      await pauses.pause("held");
      await pauses.pause("remote");
    },
    roles: [{ role: "all", as: "sluice" }],
  });
  const { roles } = harness;
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats(ajv);
  const docs: Record<string, Doc> = {};
  /** What each answer broke of its document: "METHOD path status: what". */
  const mismatches: string[] = [];
  /** Every operation answered, with the statuses seen: "service METHOD path" -> statuses. */
  const seen = new Map<string, Set<number>>();

  /** The X-Road-Client each answer's request carried (null: none). */
  const sentClients = new WeakMap<HttpAnswer, string | null>();

  beforeEach(() => {
    mismatches.length = 0;
  });

  /** `call`, remembering the X-Road-Client sent, which `check` holds against the document. */
  async function call(url: string, options: Parameters<typeof plainCall>[1] = {}) {
    const answer = await plainCall(url, options);
    const header = options.headers?.["X-Road-Client"];
    sentClients.set(
      answer,
      options.client === null ? null : (header ?? options.client ?? TEST_CLIENT),
    );
    return answer;
  }

  before(async () => {
    for (const code of ["orders", "lookup", "parked", "relay", "messages"]) {
      docs[code] = (await call(`${roles.sluice.url}/openapi/${code}`)).json as Doc;
    }
  });

  /** Checks `answer` against the document of `code`, operation `method` at `path`. */
  function check(code: string, path: string, method: string, answer: HttpAnswer): void {
    const doc = docs[code];
    const where = `${code} ${method.toUpperCase()} ${path} ${answer.status}`;
    const statuses = seen.get(`${code} ${method} ${path}`) ?? new Set<number>();
    seen.set(`${code} ${method} ${path}`, statuses.add(answer.status));
    const operation = doc.paths[path]?.[method];
    if (!operation) {
      mismatches.push(`${where}: operation not described`);
      return;
    }
    checkClient(
      where,
      [...(doc.paths[path].parameters ?? []), ...(operation.parameters ?? [])],
      answer,
    );
    const response = operation.responses[String(answer.status)] ?? operation.responses.default;
    // `default` describes the backend's own answer to a waiting caller, which carries the
    // message's state: an answer of Sluice's own falls under it only by mistake.
    const ownAnswer =
      !operation.responses[String(answer.status)] && !answer.headers.has("x-sluice-state");
    if (!response || ownAnswer) {
      mismatches.push(`${where}: status not declared (${answer.text.slice(0, 200)})`);
      return;
    }
    const headers: Record<string, { schema?: object }> = response.headers ?? {};
    const declared = Object.keys(headers).map((name) => name.toLowerCase());
    for (const name of OWN_HEADERS) {
      if (answer.headers.has(name) && !declared.includes(name))
        mismatches.push(`${where}: header ${name} not declared`);
    }
    for (const [name, header] of Object.entries(headers)) {
      const value = answer.headers.get(name);
      if (value === null || !header.schema) continue;
      const typed = (header.schema as { type?: string }).type === "integer" ? Number(value) : value;
      if (!ajv.validate(header.schema, typed))
        mismatches.push(`${where}: header ${name}: ${value} ${ajv.errorsText()}`);
    }
    const type = (answer.headers.get("content-type") ?? "").split(";")[0].trim();
    const content = response.content as Record<string, { schema?: object }> | undefined;
    if (answer.text === "" || !content) return;
    const media = content[type] ?? content["*/*"];
    if (!media) {
      mismatches.push(`${where}: content type ${type} not declared`);
      return;
    }
    if (type === "application/json" && media.schema) {
      const valid = ajv.validate({ ...media.schema, components: doc.components }, answer.json);
      if (!valid)
        mismatches.push(`${where}: body ${ajv.errorsText()} in ${answer.text.slice(0, 200)}`);
    }
  }

  /**
   * The operation declares X-Road-Client as a header parameter, and the answer is a 400 exactly
   * when the client sent is one the declaration refuses (none where it is required, or one its
   * pattern does not take).
   */
  function checkClient(where: string, parameters: Doc[], answer: HttpAnswer): void {
    const declared = parameters.find((p) => p.in === "header" && p.name === "X-Road-Client");
    if (!declared) {
      mismatches.push(`${where}: X-Road-Client not declared`);
      return;
    }
    const sent = sentClients.get(answer);
    if (sent === undefined) return;
    const refused =
      sent === null ? declared.required === true : !ajv.validate(declared.schema, sent);
    const aboutClient = answer.status === 400 && /X-Road-Client/.test(answer.text);
    if (refused !== aboutClient)
      mismatches.push(
        `${where}: X-Road-Client ${sent} ${refused ? "taken" : "refused"}, the document says otherwise`,
      );
  }

  const rest = (code: string, sub: string) => `${roles.sluice.url}/rest/${code}${sub}`;

  it("business services: each method, valid, refused, waiting, asynchronous and repeated", async () => {
    for (const [code, sub, path] of [
      ["orders", "/item/7", "/{path}"],
      ["orders", "", "/"],
      ["lookup", "/item", "/{path}"],
    ] as const) {
      const url = rest(code, sub);
      const id = () => `conf-${randomUUID()}`;
      const cases: Array<[string, Parameters<typeof call>[1]]> = [
        ["post", { body: '{"item":"a"}', headers: { "X-Road-Id": id() } }],
        ["post", { body: '{"item":1}', headers: { "X-Road-Id": id() } }],
        ["post", { body: "{not json", headers: { "X-Road-Id": id() } }],
        ["post", { body: '{"item":"a"}', client: null, headers: { "X-Road-Id": id() } }],
        ["post", { body: '{"item":"a"}', client: "not-a-client", headers: { "X-Road-Id": id() } }],
        ["post", { body: '{"item":"a"}', headers: { "X-Road-Id": id(), Prefer: "respond-async" } }],
        ["post", { body: '{"item":"a"}', headers: { "X-Road-Id": id(), Prefer: "wait=10" } }],
        [
          "post",
          {
            body: '{"item":"a"}',
            headers: { "X-Road-Id": id(), Prefer: "wait=10", "X-Sim-Status": "404" },
          },
        ],
        [
          "post",
          {
            body: '{"item":"a"}',
            headers: { "X-Road-Id": id(), Prefer: "wait=10", "X-Sim-Status": "500" },
          },
        ],
        [
          "post",
          { body: JSON.stringify({ item: "x".repeat(8000) }), headers: { "X-Road-Id": id() } },
        ],
        [
          "post",
          { body: "<a/>", headers: { "X-Road-Id": id(), "Content-Type": "application/xml" } },
        ],
        ["post", { body: '{"item":"a"}', headers: { "X-Road-Id": id(), Prefer: "wait=nonsense" } }],
        ["put", { method: "PUT", body: '{"item":"a"}', headers: { "X-Road-Id": id() } }],
        ["patch", { method: "PATCH", body: '{"item":"a"}', headers: { "X-Road-Id": id() } }],
        ["get", { method: "GET", headers: { "X-Road-Id": id() } }],
        ["delete", { method: "DELETE", headers: { "X-Road-Id": id() } }],
        [
          "post",
          {
            body: '{"item":"a"}',
            headers: {
              "X-Road-Id": id(),
              Prefer: "respond-async",
              "X-Callback-Url": "https://elsewhere.example/",
            },
          },
        ],
        [
          "post",
          {
            body: '{"item":"a"}',
            headers: { "X-Road-Id": id(), "X-Road-Service": "EE/GOV/1/x/other" },
          },
        ],
        [
          "post",
          {
            body: '{"item":"a"}',
            headers: { "X-Road-Id": id(), "X-Sim-Latency": "3000", Prefer: "wait=1" },
          },
        ],
        ["head", { method: "HEAD", headers: { "X-Road-Id": id() } }],
        ["options", { method: "OPTIONS", headers: { "X-Road-Id": id() } }],
      ];
      for (const [method, options] of cases) check(code, path, method, await call(url, options));
      // The same X-Road id twice, with the same body and then another one.
      const again = id();
      for (const body of ['{"item":"a"}', '{"item":"a"}', '{"item":"b"}']) {
        check(code, path, "post", await call(url, { body, headers: { "X-Road-Id": again } }));
      }
    }
    expect(mismatches).to.deep.equal([]);
  });

  it("status service: a message's status and cancel, unknown ids, missing headers, the hub", async () => {
    const accepted = await call(rest("orders", "/x"), {
      body: '{"item":"a"}',
      headers: { "X-Road-Id": `conf-${randomUUID()}` },
    });
    expect(accepted.status, accepted.text).to.equal(202);
    const id = accepted.json.id as string;
    const status = (sub: string, options: Parameters<typeof call>[1] = {}) =>
      call(rest("messages", sub), {
        ...options,
        headers: { "X-Road-Id": `conf-${randomUUID()}`, ...options.headers },
      });
    check("messages", "/{id}", "get", await status(`/${id}`));
    await eventually(
      async () => ((await status(`/${id}`)).json.state === "completed" ? true : undefined),
      20_000,
      "the message to complete",
    );
    check("messages", "/{id}", "get", await status(`/${id}`));
    check("messages", "/{id}", "get", await status(`/${randomUUID()}`));
    check("messages", "/{id}", "head", await status(`/${id}`, { method: "HEAD" }));
    check("messages", "/{id}", "head", await status(`/${randomUUID()}`, { method: "HEAD" }));
    check("messages", "/{id}", "get", await status("/not-a-uuid"));
    check("messages", "/{id}", "get", await status(`/${id}`, { client: null }));
    check("messages", "/{id}", "get", await status(`/${id}`, { client: "EE/GOV/1/other" }));
    check("messages", "/{id}", "delete", await status(`/${id}`, { method: "DELETE" }));
    check("messages", "/{id}", "delete", await status(`/${randomUUID()}`, { method: "DELETE" }));
    check(
      "messages",
      "/{id}",
      "delete",
      await status(`/${id}`, { method: "DELETE", client: null }),
    );
    check("messages", "/{id}", "get", await status(`/${id}`, { method: "POST", body: "{}" }));

    // A message that has not reached the backend (it is paused) is cancelled; while it fills
    // the queue, the next one is refused for backpressure (503 Busy, Retry-After).
    const pending = await call(rest("parked", "/x"), {
      body: "{}",
      headers: { "X-Road-Id": `conf-${randomUUID()}` },
    });
    check("parked", "/{path}", "post", pending);
    expect(pending.status, pending.text).to.equal(202);
    const busy = await call(rest("parked", "/x"), {
      body: "{}",
      headers: { "X-Road-Id": `conf-${randomUUID()}` },
    });
    check("parked", "/{path}", "post", busy);
    expect(busy.status, busy.text).to.equal(503);
    expect(busy.json.type).to.equal("Busy");
    expect(busy.headers.get("retry-after")).to.match(/^\d+$/);
    const cancelled = await status(`/${pending.json.id}`, { method: "DELETE" });
    check("messages", "/{id}", "delete", cancelled);
    expect(cancelled.status, cancelled.text).to.equal(200);
    expect(cancelled.json.state).to.equal("cancelled");

    // A local caller of a consumer-direction service: without X-Road-Client it is the
    // service's client; a malformed one is refused as anywhere.
    const local = await call(rest("relay", "/person/1"), { body: "{}", client: null });
    check("relay", "/{path}", "post", local);
    expect(local.status, local.text).to.equal(202);
    const own = await status(`/${local.json.id}`, { client: CONSUMER });
    check("messages", "/{id}", "get", own);
    expect(own.status, own.text).to.equal(200);
    const unnamed = await status(`/${local.json.id}`, { client: null });
    check("messages", "/{id}", "get", unnamed);
    expect(unnamed.status, unnamed.text).to.equal(200);
    check("relay", "/{path}", "post", await call(rest("relay", "/p"), { body: "{}", client: "x" }));
    check("relay", "/", "get", await call(rest("relay", ""), { client: "EE/GOV/70000001/app" }));

    const callback = harness.receiver.url("/hooks/conformance");
    const registered = await status("/hub", { body: JSON.stringify({ callback }) });
    check("messages", "/hub", "post", registered);
    check("messages", "/hub", "post", await status("/hub", { body: JSON.stringify({ callback }) }));
    check("messages", "/hub", "post", await status("/hub", { body: '{"callback":"ftp://x"}' }));
    check("messages", "/hub", "post", await status("/hub", { body: "{" }));
    // A registration not in JSON (415), and one longer than a registration may be (413).
    const plain = await status("/hub", {
      body: JSON.stringify({ callback }),
      headers: { "Content-Type": "text/plain" },
    });
    expect(plain.status, plain.text).to.equal(415);
    check("messages", "/hub", "post", plain);
    const large = await status("/hub", {
      body: JSON.stringify({ callback, query: "x".repeat(17_000) }),
    });
    expect(large.status, large.text).to.equal(413);
    check("messages", "/hub", "post", large);
    check(
      "messages",
      "/hub",
      "post",
      await status("/hub", { body: JSON.stringify({ callback }), client: null }),
    );
    const hubId = registered.json?.id as string;
    check(
      "messages",
      "/hub/{hubId}",
      "delete",
      await status(`/hub/${hubId}`, { method: "DELETE" }),
    );
    check(
      "messages",
      "/hub/{hubId}",
      "delete",
      await status(`/hub/${hubId}`, { method: "DELETE" }),
    );
    check(
      "messages",
      "/hub/{hubId}",
      "delete",
      await status(`/hub/${randomUUID()}`, { method: "DELETE" }),
    );
    check(
      "messages",
      "/hub/{hubId}",
      "delete",
      await status(`/hub/${randomUUID()}`, { method: "DELETE", client: null }),
    );
    expect(mismatches).to.deep.equal([]);
  });

  it("through a security server: the service URL the document names, at /r1/<provider>/<serviceCode>/…", async () => {
    const provider = PROVIDER;
    // What the administrator registers: the description URL, and as service URL the document's
    // servers[0].url resolved against it.
    const registered = (code: string) => {
      const descriptionUrl = `${roles.sluice.url}/openapi/${code}`;
      return {
        url: new URL(docs[code].servers[0].url, descriptionUrl).href,
        descriptionUrl,
        type: "rest" as const,
      };
    };
    const sim = await startXroadSim({
      services: {
        [`${provider}/orders`]: registered("orders"),
        [`${provider}/messages`]: registered("messages"),
      },
    });
    try {
      const viaX = (path: string, options: Parameters<typeof call>[1] = {}) =>
        call(`${sim.url}/r1/${provider}/${path}`, {
          ...options,
          headers: { "X-Road-Id": `conf-${randomUUID()}`, ...options.headers },
        });
      const described = await viaX("getOpenAPI?serviceCode=orders");
      expect(described.status, described.text).to.equal(200);
      expect(Object.keys(described.json.paths)).to.deep.equal(Object.keys(docs.orders.paths));
      const accepted = await viaX("orders/item/7", { body: '{"item":"a"}' });
      check("orders", "/{path}", "post", accepted);
      expect(accepted.status, accepted.text).to.equal(202);
      check("orders", "/{path}", "post", await viaX("orders/item/7", { body: '{"item":1}' }));
      // The status resource, where the acknowledgement says the caller reaches it.
      const statusUrl = accepted.json.statusUrl as string;
      expect(statusUrl).to.equal(`/r1/${provider}/messages/${accepted.json.id}`);
      const status = await call(`${sim.url}${statusUrl}`, {
        headers: { "X-Road-Id": `conf-${randomUUID()}` },
      });
      check("messages", "/{id}", "get", status);
      expect(status.status, status.text).to.equal(200);
      check("messages", "/{id}", "get", await viaX(`messages/${randomUUID()}`));
      // The document beside the service, fetched through the path mapping: its servers[0].url,
      // resolved where it was served (OpenAPI 3.1, Server Object), is the service through X-Road.
      const besideUrl = `${sim.url}/r1/${provider}/orders/openapi.json`;
      const beside = await viaX("orders/openapi.json");
      expect(beside.status, beside.text).to.equal(200);
      const serviceUrl = new URL(beside.json.servers[0].url, besideUrl).href;
      expect(serviceUrl).to.equal(`${sim.url}/r1/${provider}/orders`);
      const throughBeside = await call(`${serviceUrl}/item/7`, {
        body: '{"item":"a"}',
        headers: { "X-Road-Id": `conf-${randomUUID()}` },
      });
      check("orders", "/{path}", "post", throughBeside);
      expect(throughBeside.status, throughBeside.text).to.equal(202);
    } finally {
      await sim.close();
    }
    expect(mismatches).to.deep.equal([]);
  });

  /**
   * Writes `head` (and `body`, unless null: the request then stalls until the adapter answers)
   * over a socket of its own, and reads the answer until the adapter closes the connection.
   */
  function rawCall(head: string, body: string | null = ""): Promise<HttpAnswer> {
    const port = Number(new URL(roles.sluice.url).port);
    return new Promise((resolve) => {
      const socket = net.connect({ port, host: "127.0.0.1" });
      let received = Buffer.alloc(0);
      socket.on("data", (chunk: Buffer) => (received = Buffer.concat([received, chunk])));
      let done = false;
      const finish = (): void => {
        if (done) return;
        done = true;
        const raw = received.toString("utf8");
        const split = raw.indexOf("\r\n\r\n");
        const lines = (split >= 0 ? raw.slice(0, split) : raw).split("\r\n");
        const headers = new Headers();
        for (const line of lines.slice(1)) {
          const colon = line.indexOf(":");
          if (colon > 0) headers.append(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
        }
        const text = split >= 0 ? raw.slice(split + 4) : "";
        let json: unknown = null;
        try {
          json = JSON.parse(text);
        } catch {
          json = null;
        }
        const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(raw)?.[1] ?? 0);
        resolve({ status, headers, text, json });
      };
      socket.on("error", finish);
      socket.on("close", finish);
      socket.once("connect", () => socket.write(body === null ? head : head + body));
    });
  }

  it("the refusals of a request as such and Sluice's own faults: 408, 414, 417, 421, 500, 504, the hub's 409", async () => {
    const head = (target: string, extra: string[] = [], host = "127.0.0.1") =>
      [
        `POST ${target} HTTP/1.1`,
        `Host: ${host}`,
        `X-Road-Client: ${TEST_CLIENT}`,
        `X-Road-Id: conf-${randomUUID()}`,
        "Content-Type: application/json",
        "Connection: close",
        ...extra,
        "",
        "",
      ].join("\r\n");
    const expectStatus = (answer: HttpAnswer, status: number, type: string) => {
      expect(answer.status, answer.text).to.equal(status);
      expect(answer.json?.type, answer.text).to.equal(type);
    };
    const item = '{"item":"a"}';
    const length = `Content-Length: ${item.length}`;
    for (const [code, target, path] of [
      ["orders", "/rest/orders/item/7", "/{path}"],
      ["lookup", "/rest/lookup/item", "/{path}"],
      ["messages", `/rest/messages/${randomUUID()}`, "/{id}"],
    ] as const) {
      const method = code === "messages" ? "get" : "post";
      const as = (h: string) => (code === "messages" ? h.replace(/^POST /, "GET ") : h);
      // A body that stops before its Content-Length: the request is never whole (408). The
      // status service reads no body, so there the head itself stops before its end.
      const slow =
        code === "messages"
          ? await rawCall(as(head(target)).slice(0, -2), null)
          : await rawCall(head(target, [length]), item.slice(0, 3));
      expectStatus(slow, 408, "InvalidRequest");
      check(code, path, method, slow);
      // A URL longer than the adapter reads (414).
      const long = await rawCall(as(head(`${target}?q=${"x".repeat(17_000)}`, [length])), item);
      expectStatus(long, 414, "InvalidRequest");
      check(code, path, method, long);
      // An expectation other than 100-continue (417).
      const expectation = await rawCall(as(head(target, [length, "Expect: 200-ok"])), item);
      expectStatus(expectation, 417, "InvalidHeader");
      check(code, path, method, expectation);
      // A Host the service port does not answer to (421).
      const misdirected = await rawCall(as(head(target, [length], "elsewhere.example")), item);
      expectStatus(misdirected, 421, "InvalidHeader");
      check(code, path, method, misdirected);
    }

    // A record in the store Sluice cannot read (a hand-edited or truncated meta): its status
    // is Sluice's own fault, 500 Internal, naming none of its details.
    const broken = randomUUID();
    await harness.redis().hset(redisKeys(harness.prefix).tx(broken), "meta", "{not json");
    const internal = await call(rest("messages", `/${broken}`), {
      headers: { "X-Road-Id": `conf-${randomUUID()}` },
    });
    expectStatus(internal, 500, "Internal");
    check("messages", "/{id}", "get", internal);

    // A sync wait whose backend call times out, with no retry left: 504 Timeout.
    for (const [code, prefer] of [
      ["orders", { Prefer: "wait=30" }],
      ["lookup", {}],
    ] as const) {
      const timedOut = await call(rest(code, "/item"), {
        body: item,
        headers: { "X-Road-Id": `conf-${randomUUID()}`, "X-Sim-Latency": "5000", ...prefer },
      });
      expectStatus(timedOut, 504, "Timeout");
      check(code, "/{path}", "post", timedOut);
    }

    // The hub: a client holding as many listeners as it may is refused the next (409).
    const client = `EE/GOV/70000001/conf-hub-${randomUUID().slice(0, 8)}`;
    const callback = harness.receiver.url("/hooks/conformance-limit");
    let refused: HttpAnswer | undefined;
    for (let i = 0; i < 200 && refused === undefined; i++) {
      const answer = await call(rest("messages", "/hub"), {
        client,
        body: JSON.stringify({ callback, query: `service=s${i}` }),
        headers: { "X-Road-Id": `conf-${randomUUID()}` },
      });
      if (answer.status !== 201) refused = answer;
    }
    expectStatus(refused!, 409, "Conflict");
    check("messages", "/hub", "post", refused!);
    expect(mismatches).to.deep.equal([]);
  });

  after(() => {
    // What was covered, for whoever reads the run.
    for (const [operation, statuses] of seen)
      console.log(`    ${operation}: ${[...statuses].sort().join(" ")}`);
  });
});
