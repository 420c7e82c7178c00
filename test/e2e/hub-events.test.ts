// The event hub end to end on the real broker, Redis and HTTPS: two clients register listeners
// (a registration sent again is the same listener), each hears only of its own messages, once,
// and a removed listener hears nothing more.

import { expect } from "chai";
import * as amqplib from "amqplib";
import { randomBytes } from "node:crypto";
import { callbackTopology } from "../../response-worker/callback-schedule";
import { verifyWebhook } from "../../response-worker/webhook-signature";
import {
  CallbackReceiver,
  testCertificate,
  type ReceivedCall,
} from "../integration/callback-receiver";
import { AMQP_URL, call, eventually } from "../support/harness";
import { metrics } from "../../shared/observability/metrics";
import { CallbackStack } from "./callback-stack";
import { HubListeners } from "../../shared/store/hub-listeners";
import pino from "pino";

const SECRET = `whsec_${randomBytes(32).toString("base64")}`;
const ALICE = "EE/GOV/70000001/alice";
const BOB = "EE/COM/70000002/bob";

/** sluice_callback_deliveries_total{outcome} of this process (the stack runs in it). */
async function deliveries(outcome: string): Promise<number> {
  const { values } = await metrics.callbackDeliveries.get();
  return values.find((v) => v.labels.outcome === outcome)?.value ?? 0;
}

describe("event hub end to end (two clients)", function () {
  this.timeout(30_000);
  const stack = new CallbackStack(testCertificate().cert);
  let receiver: CallbackReceiver;
  const listenerIds: Record<string, string> = {};

  before(async () => {
    receiver = await CallbackReceiver.start({ tls: true });
    await stack.start({
      services: {
        lookup: { protocols: ["rest"], reply: { mode: "ack" }, backend: "sim" },
        other: { protocols: ["rest"], reply: { mode: "ack" }, backend: "sim" },
      },
      backends: { sim: { translator: "rest-json", retry: { attempts: 2, backoff: ["1s"] } } },
      callbacks: {
        allow: [`https://127.0.0.1:${receiver.port}/events/`],
        allowPrivate: true,
        secret: SECRET,
        backoff: ["300ms", "600ms"],
        // Longer than any test here: an attempt left hanging ends when the test releases it.
        timeout: "60s",
      },
    });
  });
  after(async () => {
    await receiver.close();
    await stack.cleanup();
  });

  const send = async (client: string, service = "lookup") => {
    const answer = await call(`${stack.adapterUrl}/rest/${service}`, { body: "{}", client });
    expect(answer.status).to.equal(202);
    return answer.json.id as string;
  };
  const completed = (client: string, id: string) =>
    eventually(async () => {
      const s = await call(`${stack.adapterUrl}/messages/${id}`, { client });
      return s.json.state === "completed" ? true : undefined;
    });
  const eventsAt = (path: string): ReceivedCall[] =>
    receiver.calls.filter((c) => c.path === `/events/${path}`);
  const correlations = (path: string) =>
    eventsAt(path).map((c) => JSON.parse(c.body).correlationId as string);

  const register = (client: string, path: string, hub = "/hub") =>
    call(`${stack.adapterUrl}${hub}`, {
      client,
      body: JSON.stringify({
        callback: `https://127.0.0.1:${receiver.port}/events/${path}`,
        query: "eventType=MessageStateChangeEvent&service=lookup",
      }),
    });

  it("registers one listener per client", async () => {
    for (const [client, path] of [
      [ALICE, "alice"],
      [BOB, "bob"],
    ]) {
      const answer = await register(client, path);
      expect(answer.status).to.equal(201);
      expect(answer.json.query).to.equal("eventType=MessageStateChangeEvent&service=lookup");
      listenerIds[path] = answer.json.id;
    }
  });

  it("answers a registration sent again (its answer lost) with the same listener, on either path", async () => {
    // A second listener would hear every event a second time.
    for (const hub of ["/hub", "/rest/messages/hub"]) {
      const again = await register(ALICE, "alice", hub);
      expect(again.status).to.equal(201);
      expect(again.json).to.deep.equal({
        id: listenerIds.alice,
        callback: `https://127.0.0.1:${receiver.port}/events/alice`,
        query: "eventType=MessageStateChangeEvent&service=lookup",
      });
      expect(again.headers.get("location")).to.equal(`${hub}/${listenerIds.alice}`);
    }
    // Another client's identical callback and query is a listener of its own (removed again,
    // so Bob's events do not reach Alice's receiver below).
    const bobs = await register(BOB, "alice");
    expect(bobs.status).to.equal(201);
    expect(bobs.json.id).to.not.be.oneOf([listenerIds.alice, listenerIds.bob]);
    const removed = await call(`${stack.adapterUrl}/hub/${bobs.json.id}`, {
      method: "DELETE",
      client: BOB,
    });
    expect(removed.status).to.equal(204);
  });

  it("sends each client signed events about its own messages only", async () => {
    const aliceId = await send(ALICE);
    const bobId = await send(BOB);
    await receiver.waitForCalls(2, 15_000);
    await eventually(async () =>
      eventsAt("alice").length >= 1 && eventsAt("bob").length >= 1 ? true : undefined,
    );
    expect(correlations("alice")).to.deep.equal([aliceId]);
    expect(correlations("bob")).to.deep.equal([bobId]);
    const [event] = eventsAt("alice");
    expect(verifyWebhook(SECRET, event.headers, event.body)).to.deep.equal({ valid: true });
    const body = JSON.parse(event.body);
    expect(body).to.include({ eventType: "MessageStateChangeEvent", correlationId: aliceId });
    expect(body.eventId).to.be.a("string");
    expect(Number.isNaN(Date.parse(body.eventTime))).to.equal(false);
    expect(body.event.message).to.deep.include({
      id: aliceId,
      service: "lookup",
      state: "completed",
    });
  });

  it("names the message's client in what another client aims at a receiver, so the receiver can refuse it", async () => {
    // One secret signs every client's deliveries and the allowlist is the operator's, so Bob
    // can aim a callback and a listener at Alice's receiver, under an X-Road id Alice used:
    // both arrive validly signed. Only the client the document names tells them from Alice's.
    const xroadId = `shared-${randomBytes(4).toString("hex")}`;
    const target = `https://127.0.0.1:${receiver.port}/events/alice-own`;
    const listener = await call(`${stack.adapterUrl}/hub`, {
      client: BOB,
      body: JSON.stringify({ callback: target, query: "service=lookup&state=completed" }),
    });
    expect(listener.status).to.equal(201);
    try {
      const ids: Record<string, string> = {};
      for (const [client, headers] of [
        [ALICE, { "X-Road-Id": xroadId }],
        [BOB, { "X-Road-Id": xroadId, Prefer: "respond-async", "X-Callback-Url": target }],
      ] as const) {
        const answer = await call(`${stack.adapterUrl}/rest/lookup`, {
          body: "{}",
          client,
          headers,
        });
        expect(answer.status).to.equal(202);
        ids[client] = answer.json.id as string;
      }
      expect(ids[BOB]).to.not.equal(ids[ALICE]);
      const delivered = () =>
        eventsAt("alice-own").map((c) => {
          const body = JSON.parse(c.body);
          return {
            signed: verifyWebhook(SECRET, c.headers, c.body).valid,
            doc: body.event?.message ?? body,
          };
        });
      // Bob's callback and Bob's hub event, each about Bob's message.
      await eventually(async () => (delivered().length >= 2 ? true : undefined));
      for (const { signed, doc } of delivered()) {
        expect(signed).to.equal(true);
        expect(doc).to.include({ id: ids[BOB], xroadId, client: BOB });
      }
      // Alice reads her own message, which names her.
      await completed(ALICE, ids[ALICE]);
      const own = await call(`${stack.adapterUrl}/messages/${ids[ALICE]}`, { client: ALICE });
      expect(own.json).to.include({ client: ALICE, xroadId });
    } finally {
      await call(`${stack.adapterUrl}/hub/${listener.json.id}`, { method: "DELETE", client: BOB });
    }
  });

  it("filters by the listener's query", async () => {
    const before = receiver.calls.length;
    const id = await send(ALICE, "other");
    const marker = await send(BOB);
    await completed(ALICE, id);
    await eventually(async () => (correlations("bob").includes(marker) ? true : undefined));
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(receiver.calls.slice(before).map((c) => c.path)).to.deep.equal(["/events/bob"]);
  });

  it("lets only the owner remove a listener, after which it hears nothing", async () => {
    const byBob = await call(`${stack.adapterUrl}/hub/${listenerIds.alice}`, {
      method: "DELETE",
      client: BOB,
    });
    expect(byBob.status).to.equal(404);
    const byAlice = await call(`${stack.adapterUrl}/hub/${listenerIds.alice}`, {
      method: "DELETE",
      client: ALICE,
    });
    expect(byAlice.status).to.equal(204);

    const aliceEvents = eventsAt("alice").length;
    const aliceId = await send(ALICE);
    const bobId = await send(BOB);
    await completed(ALICE, aliceId);
    await eventually(async () => (correlations("bob").includes(bobId) ? true : undefined));
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(eventsAt("alice")).to.have.length(aliceEvents);
  });

  it("stops retrying the events of a listener removed meanwhile", async () => {
    const registered = await call(`${stack.adapterUrl}/hub`, {
      client: ALICE,
      body: JSON.stringify({
        callback: `https://127.0.0.1:${receiver.port}/events/retried`,
        query: "eventType=MessageStateChangeEvent&service=other&state=completed",
      }),
    });
    expect(registered.status).to.equal(201);
    const listenerId = registered.json.id as string;
    // The first attempt hangs until the listener is gone, then fails: the retry comes after
    // the removal. An attempt left to time out instead (2 s) was retried 300 ms later, and a
    // loaded machine took longer than that to remove the listener, so the retry reached it.
    receiver.respond = (c) => (c.path === "/events/retried" ? "hang" : { status: 204 });
    await send(ALICE, "other");
    await eventually(async () => (eventsAt("retried").length >= 1 ? true : undefined));
    const failedBefore = await deliveries("failed");
    const goneBefore = await deliveries("gone");
    const removed = await call(`${stack.adapterUrl}/hub/${listenerId}`, {
      method: "DELETE",
      client: ALICE,
    });
    expect(removed.status).to.equal(204);
    expect(receiver.held, "the first attempt, still hanging").to.equal(1);
    receiver.release({ status: 503 });

    // The event's delivery ends for good (callbacks.dead says why) without another attempt.
    const topology = callbackTopology(stack.config.prefix, stack.config.callbacks.backoffMs);
    const connection = await amqplib.connect(AMQP_URL);
    try {
      const channel = await connection.createChannel();
      const record = await eventually(async () => {
        for (;;) {
          const message = await channel.get(topology.dead, { noAck: true });
          if (message === false) return undefined;
          const dead = JSON.parse(message.content.toString("utf8"));
          if (dead.job?.listenerId === listenerId) return dead;
        }
      }, 20_000);
      expect(record.outcome).to.equal("refused");
      expect(record.failure.message).to.contain("listener was removed");
      expect(record.attempts).to.equal(2);
    } finally {
      await connection.close();
    }
    expect(eventsAt("retried")).to.have.length(1);
    // Its client unsubscribed; no receiver failed: counted as gone, as a 410 is, so the
    // failing-deliveries alert (docs/operations.md) does not fire.
    expect(await deliveries("failed")).to.equal(failedBefore);
    expect(await deliveries("gone")).to.equal(goneBefore + 1);
  });
});

describe("receivers of one client (callbacks.clients) end to end", function () {
  this.timeout(60_000);
  const stack = new CallbackStack(testCertificate().cert);
  let receiver: CallbackReceiver;
  const at = (path: string) => `https://127.0.0.1:${receiver.port}/events/${path}`;

  before(async () => {
    receiver = await CallbackReceiver.start({ tls: true });
    await stack.start({
      services: {
        notify: { protocols: ["rest"], reply: { mode: "callback" }, backend: "sim" },
      },
      backends: { sim: { translator: "rest-json", retry: { attempts: 2, backoff: ["1s"] } } },
      callbacks: {
        // Every receiver under /events/ is everyone's, except Alice's own.
        allow: [`https://127.0.0.1:${receiver.port}/events/`],
        clients: { [ALICE]: [at("alice")] },
        allowPrivate: true,
        secret: SECRET,
        backoff: ["300ms", "600ms"],
        timeout: "2s",
      },
    });
  });
  after(async () => {
    await receiver.close();
    await stack.cleanup();
  });

  const submit = (client: string, path: string) =>
    call(`${stack.adapterUrl}/rest/notify`, {
      body: "{}",
      client,
      headers: { Prefer: "respond-async", "X-Callback-Url": at(path) },
    });
  const listen = (client: string, path: string) =>
    call(`${stack.adapterUrl}/hub`, { client, body: JSON.stringify({ callback: at(path) }) });
  const delivery = (client: string, id: string, state: string) =>
    eventually(async () => {
      const s = await call(`${stack.adapterUrl}/messages/${id}`, { client });
      return s.json.delivery === state ? true : undefined;
    });
  const bodiesAt = (path: string) =>
    receiver.calls.filter((c) => c.path === `/events/${path}`).map((c) => JSON.parse(c.body));

  it("refuses Bob a callback and a hub listener at Alice's receiver, naming no other client", async () => {
    for (const answer of [await submit(BOB, "alice"), await listen(BOB, "alice")]) {
      expect(answer.status).to.equal(400);
      expect(answer.json.type).to.equal("InvalidCallback");
      expect(answer.json.message).to.equal(`the callback URL is not allowed for client ${BOB}`);
      expect(JSON.stringify(answer.json)).not.to.include("70000001");
    }
    // The general list still serves Bob, beside Alice's receiver.
    expect((await listen(BOB, "bob")).status).to.equal(201);
  });

  it("refuses Bob Alice's receiver in spellings the general list admits and a receiver reads as hers", async () => {
    // Percent-encoded, upper case, a path parameter, a trailing dot: each is under /events/
    // as written, and each is /events/alice to a receiver that decodes, folds case or drops
    // parameters as servlet containers do.
    for (const path of ["%61lice", "ALICE", "alice;v=1", "alice./x"]) {
      for (const answer of [await submit(BOB, path), await listen(BOB, path)]) {
        expect(answer.status, path).to.equal(400);
        expect(answer.json.message, path).to.equal(
          `the callback URL is not allowed for client ${BOB}`,
        );
      }
    }
    expect(bodiesAt("%61lice")).to.deep.equal([]);
  });

  it("accepts Alice's callback and listener at her receiver, and delivers them there", async () => {
    expect((await listen(ALICE, "alice")).status).to.equal(201);
    const answer = await submit(ALICE, "alice");
    expect(answer.status).to.equal(202);
    await delivery(ALICE, answer.json.id, "delivered");
    const callbacks = bodiesAt("alice").filter((b) => b.id === answer.json.id);
    expect(callbacks.map((b) => b.client)).to.deep.equal([ALICE]);
    expect(
      bodiesAt("alice").every((b) => (b.event?.message?.client ?? b.client) === ALICE),
    ).to.equal(true);
  });

  it("refuses at delivery a receiver given to Alice after Bob's message named it", async () => {
    // The response worker stops; Bob names a receiver still everyone's, Alice the same one.
    await stack.stopBack();
    const bobs = await submit(BOB, "later");
    const alices = await submit(ALICE, "later");
    expect([bobs.status, alices.status]).to.deep.equal([202, 202]);
    // It starts again with a configuration that gives that receiver to Alice.
    const { callbacks } = stack.config;
    stack.config = {
      ...stack.config,
      callbacks: {
        ...callbacks,
        clients: { ...callbacks.clients, [ALICE]: [at("alice"), at("later")] },
      },
    };
    await stack.startBack();
    await delivery(ALICE, alices.json.id, "delivered");
    await delivery(BOB, bobs.json.id, "delivery_failed");
    const ids = bodiesAt("later")
      .filter((b) => b.id !== undefined)
      .map((b) => b.id as string);
    expect(ids).to.include(alices.json.id);
    expect(ids).not.to.include(bobs.json.id);
    expect(
      bodiesAt("later").every((b) => (b.event?.message?.client ?? b.client) === ALICE),
    ).to.equal(true);
  });

  it("refuses at delivery the events of Bob's listener at a receiver given to Alice after it was registered, and removes the listener", async () => {
    const registered = await listen(BOB, "early");
    expect(registered.status).to.equal(201);
    // The response worker starts again with a configuration that gives that receiver to
    // Alice, in a spelling other than the listener's.
    await stack.stopBack();
    const { callbacks } = stack.config;
    stack.config = {
      ...stack.config,
      callbacks: {
        ...callbacks,
        clients: { ...callbacks.clients, [ALICE]: [...callbacks.clients[ALICE], at("EARLY/")] },
      },
    };
    await stack.startBack();
    const failedBefore = await deliveries("failed");
    const bobs = await submit(BOB, "bob");
    expect(bobs.status).to.equal(202);
    await delivery(BOB, bobs.json.id, "delivered");
    // Its completed event is refused (a dead callback whose failure says why), never sent.
    await eventually(async () => ((await deliveries("failed")) > failedBefore ? true : undefined));
    expect(bodiesAt("early")).to.deep.equal([]);
    // Kept, it would make every later event of Bob's a dead callback: removed, as one whose
    // receiver answered 410 is, and Bob's own DELETE of it answers as after such a removal.
    const listeners = new HubListeners(stack.backRuntime.redis, stack.config.prefix);
    const id = registered.json.id as string;
    await eventually(async () => ((await listeners.get(id)) === null ? true : undefined));
    const removal = await call(`${stack.adapterUrl}/hub/${id}`, { client: BOB, method: "DELETE" });
    expect(removal.status).to.equal(204);
  });
});

describe("a hub listener whose receiver the configuration no longer admits, end to end", function () {
  this.timeout(60_000);
  const stack = new CallbackStack(testCertificate().cert);
  let receiver: CallbackReceiver;
  const at = (path: string) => `https://127.0.0.1:${receiver.port}/events/${path}`;

  before(async () => {
    receiver = await CallbackReceiver.start({ tls: true });
    await stack.start({
      services: { lookup: { protocols: ["rest"], reply: { mode: "ack" }, backend: "sim" } },
      backends: { sim: { translator: "rest-json", retry: { attempts: 2, backoff: ["1s"] } } },
      callbacks: {
        allow: [`https://127.0.0.1:${receiver.port}/events/`],
        allowPrivate: true,
        secret: SECRET,
        backoff: ["300ms", "600ms"],
        timeout: "2s",
      },
    });
  });
  after(async () => {
    await receiver.close();
    await stack.cleanup();
  });

  const completed = async (client: string) => {
    const answer = await call(`${stack.adapterUrl}/rest/lookup`, { body: "{}", client });
    expect(answer.status).to.equal(202);
    const id = answer.json.id as string;
    await eventually(async () => {
      const s = await call(`${stack.adapterUrl}/messages/${id}`, { client });
      return s.json.state === "completed" ? true : undefined;
    });
    return id;
  };
  const correlationsAt = (path: string) =>
    receiver.calls
      .filter((c) => c.path === `/events/${path}`)
      .map((c) => JSON.parse(c.body).correlationId as string);
  const restartBackWithAllow = async (allow: string[]) => {
    await stack.stopBack();
    stack.config = { ...stack.config, callbacks: { ...stack.config.callbacks, allow } };
    await stack.startBack();
  };

  it("keeps it, counts its refused events apart from failures with no dead callback, and it hears again once admitted", async () => {
    const registered = await call(`${stack.adapterUrl}/hub`, {
      client: BOB,
      body: JSON.stringify({ callback: at("old") }),
    });
    expect(registered.status).to.equal(201);
    const id = registered.json.id as string;
    // The response worker starts again with a configuration whose allowlist no longer holds
    // the receiver (the adapter still runs on the old one, as in a rollout).
    const lines: Array<{ msg: string; listener?: string; reason?: string }> = [];
    stack.log = pino(
      { level: "warn" },
      { write: (line: string) => void lines.push(JSON.parse(line)) },
    );
    await restartBackWithAllow([at("new/")]);
    const refusedBefore = await deliveries("refused");
    const failedBefore = await deliveries("failed");
    await completed(BOB);
    await completed(BOB);
    await eventually(async () =>
      (await deliveries("refused")) >= refusedBefore + 2 ? true : undefined,
    );
    // Two events refused, one warning for the listener, saying why.
    const warnings = lines.filter((l) => l.msg.includes("refused by the configuration"));
    expect(warnings.map((l) => [l.listener, l.reason])).to.deep.equal([
      [id, "the callback URL does not match any allowed callback prefix"],
    ]);
    const listeners = new HubListeners(stack.backRuntime.redis, stack.config.prefix);
    expect(await listeners.get(id)).to.include({ id, client: BOB });
    // Stopped, the response worker has settled every attempt it made.
    await stack.stopBack();
    expect(correlationsAt("old")).to.deep.equal([]);
    // Not a failure the alert counts, and no record in callbacks.dead.
    expect(await deliveries("failed")).to.equal(failedBefore);
    const topology = callbackTopology(stack.config.prefix, stack.config.callbacks.backoffMs);
    const connection = await amqplib.connect(AMQP_URL);
    try {
      const channel = await connection.createChannel();
      const records: unknown[] = [];
      for (;;) {
        const message = await channel.get(topology.dead, { noAck: true });
        if (message === false) break;
        records.push(JSON.parse(message.content.toString("utf8")));
      }
      expect(records.filter((r) => (r as CallbackRecord).job?.listenerId === id)).to.deep.equal([]);
    } finally {
      await connection.close();
    }
    // The entry put back (a rollout undone), the listener hears its client's next message
    // without registering again.
    await restartBackWithAllow([`https://127.0.0.1:${receiver.port}/events/`]);
    const next = await completed(BOB);
    await eventually(async () => (correlationsAt("old").includes(next) ? true : undefined));
  });
});

interface CallbackRecord {
  job?: { listenerId?: string };
}
