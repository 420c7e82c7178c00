// Outbound TLS without a CA in the configuration: a backend with no `tls.ca`, a callback
// receiver and a hub listener's receiver are verified against Node's trusted CAs, which
// NODE_EXTRA_CA_CERTS in the role's
// environment extends. Each server's certificate comes from a test CA; the role that calls it
// runs as a real process, once without NODE_EXTRA_CA_CERTS (the call fails as a certificate
// error, handled as the docs say) and once with it naming the test CA (the call succeeds).

import { expect } from "chai";
import * as amqplib from "amqplib";
import { randomBytes } from "node:crypto";
import { callbackTopology } from "../../response-worker/callback-schedule";
import { CallbackReceiver } from "../integration/callback-receiver";
import { AMQP_URL, Harness, call, eventually, untilState } from "../support/harness";
import { createTestPki, type TestPki } from "../support/test-pki";

/** What `callbacks.dead` keeps of a hub event given up on. */
interface DeadEvent {
  outcome: string;
  attempts: number;
  failure: unknown;
  job?: { listenerId?: string };
}

/** A certificate error for a server certificate whose issuer is not trusted. */
const UNTRUSTED = /UNABLE_TO_VERIFY_LEAF_SIGNATURE|unable to verify the first certificate/;

describe("outbound TLS against Node's trusted CAs (NODE_EXTRA_CA_CERTS)", function () {
  this.timeout(60_000);
  let pki: TestPki;

  before(() => {
    pki = createTestPki();
  });
  after(() => pki?.cleanup());

  // The runner's own NODE_EXTRA_CA_CERTS, if any, must not reach the roles that run without.
  const withoutExtraCas = { NODE_EXTRA_CA_CERTS: "" };
  const withTestCa = () => ({ NODE_EXTRA_CA_CERTS: pki.ca.certFile });

  /** A callback receiver over https://, its certificate issued by the test CA as `name`. */
  const httpsReceiver = (name: string): Promise<CallbackReceiver> => {
    const server = pki.ca.issue(name);
    return CallbackReceiver.start({
      tls: true,
      certificate: { cert: server.cert, key: server.key },
    });
  };
  /** Callbacks to `receiver` alone: loopback is refused unless allowed; https only (no allowHttp). */
  const callbacksTo = (receiver: CallbackReceiver, secret: string) => ({
    allow: [receiver.url("/")],
    allowPrivate: true,
    secret,
    backoff: ["200ms"],
  });

  describe("a backend over https:// without tls.ca (docs/translators.md: a TLS failure is retried, then failed)", function () {
    const harness = Harness.suite({
      sim: false,
      config: async (h) => {
        const server = pki.ca.issue("backend");
        await h.startSim({ latencyMs: 0, tls: { cert: server.cert, key: server.key } });
        return {
          services: {
            echo: { protocols: ["rest"], reply: { mode: "ack" }, backend: "sim" },
          },
          // No `tls` block: the worker verifies the backend with Node's CAs alone.
          backends: {
            sim: { translator: "rest-json", retry: { attempts: 2, backoff: ["200ms"] } },
          },
        };
      },
      roles: ["adapter", "response-worker"],
    });
    const { roles } = harness;

    const submit = async (): Promise<string> => {
      const answer = await call(`${roles.adapter.url}/rest/echo`, {
        body: JSON.stringify({ name: "Mari" }),
      });
      expect(answer.status).to.equal(202);
      return answer.json.id as string;
    };

    it("a worker without NODE_EXTRA_CA_CERTS: every attempt fails on the certificate, the message ends failed and dead-lettered", async () => {
      expect(harness.sim.url).to.match(/^https:\/\//);
      const worker = await harness.spawn("worker", withoutExtraCas);
      try {
        const id = await submit();
        const failed = await untilState(roles.adapter, id, ["completed", "failed"], 30_000);
        expect(failed.json.state).to.equal("failed");
        expect(JSON.stringify(failed.json.error)).to.match(UNTRUSTED);
        // Retried: both attempts made, neither reached the backend's HTTP.
        expect(harness.sim.calls()).to.have.length(0);
        const deadLetter = await eventually(async () => {
          const listed = await harness.admin(roles.adapter, `/admin/dead-letters/${id}`);
          return listed.status === 200 ? listed.json : undefined;
        });
        expect(deadLetter.reason).to.equal("retries_exhausted");
        expect(Number(deadLetter.attempts)).to.equal(2);
      } finally {
        await worker.stop();
      }
    });

    it("a worker with NODE_EXTRA_CA_CERTS naming the test CA: the call succeeds", async () => {
      const worker = await harness.spawn("worker", withTestCa());
      try {
        const id = await submit();
        const done = await untilState(roles.adapter, id, ["completed", "failed"], 30_000);
        expect(done.json.state).to.equal("completed");
        expect(harness.sim.calls()).to.have.length(1);
      } finally {
        await worker.stop();
      }
    });
  });

  describe("a callback receiver over https:// (docs/callbacks.md: the system's CAs, plus NODE_EXTRA_CA_CERTS)", function () {
    const secret = `whsec_${randomBytes(32).toString("base64")}`;
    let receiver: CallbackReceiver;
    const harness = Harness.suite({
      config: async () => {
        receiver = await httpsReceiver("receiver");
        return {
          services: {
            notify: { protocols: ["rest"], reply: { mode: "callback" }, backend: "sim" },
          },
          backends: { sim: { translator: "rest-json" } },
          callbacks: callbacksTo(receiver, secret),
        };
      },
      roles: ["adapter", "worker"],
    });
    const { roles } = harness;
    after(() => receiver?.close());

    const submit = async (path: string): Promise<string> => {
      const answer = await call(`${roles.adapter.url}/rest/notify`, {
        body: JSON.stringify({ case: 42 }),
        headers: { Prefer: "respond-async", "X-Callback-Url": receiver.url(path) },
      });
      expect(answer.status).to.equal(202);
      return answer.json.id as string;
    };
    const delivery = (id: string, states: string[]) =>
      eventually(
        async () => {
          const answer = await call(`${roles.adapter.url}/messages/${id}`);
          return states.includes(answer.json?.delivery) ? answer.json : undefined;
        },
        30_000,
        `delivery of ${id} ${states.join(" or ")}`,
      );

    it("a response worker without NODE_EXTRA_CA_CERTS: the delivery fails on the certificate, is retried, and ends delivery_failed", async () => {
      const responseWorker = await harness.spawn("response-worker", withoutExtraCas);
      try {
        const id = await submit("/untrusted");
        const status = await delivery(id, ["delivered", "delivery_failed"]);
        expect(status.state).to.equal("completed");
        expect(status.delivery).to.equal("delivery_failed");
        expect(receiver.calls).to.have.length(0);
        const dead = await eventually(async () => {
          const listed = await harness.admin(roles.adapter, "/admin/dead-callbacks");
          const items = (listed.json?.deadCallbacks ?? []) as Array<Record<string, unknown>>;
          return items.find((item) => item.id === id);
        });
        expect(dead).to.include({ reason: "exhausted", attempts: 2 });
        expect(JSON.stringify(dead)).to.match(UNTRUSTED);
      } finally {
        await responseWorker.stop();
      }
    });

    it("a response worker with NODE_EXTRA_CA_CERTS naming the test CA: the callback is delivered", async () => {
      const responseWorker = await harness.spawn("response-worker", withTestCa());
      try {
        const id = await submit("/trusted");
        const status = await delivery(id, ["delivered", "delivery_failed"]);
        expect(status.delivery).to.equal("delivered");
        const [received] = receiver.calls.filter((c) => c.path === "/trusted");
        expect(JSON.parse(received.body).id).to.equal(id);
      } finally {
        await responseWorker.stop();
      }
    });
  });
  describe("a hub listener's receiver over https:// (docs/callbacks.md: events are delivered as callbacks are)", function () {
    const secret = `whsec_${randomBytes(32).toString("base64")}`;
    const ALICE = "EE/GOV/70000001/alice";
    const BOB = "EE/COM/70000002/bob";
    let receiver: CallbackReceiver;
    const harness = Harness.suite({
      config: async () => {
        receiver = await httpsReceiver("hub-receiver");
        return {
          services: {
            orders: { protocols: ["rest"], reply: { mode: "ack" }, backend: "sim" },
          },
          backends: { sim: { translator: "rest-json" } },
          callbacks: callbacksTo(receiver, secret),
        };
      },
      roles: ["adapter", "worker"],
    });
    const { roles } = harness;
    after(() => receiver?.close());

    /** Registers a listener of `client` at `path` for its messages' completion alone; its id. */
    const listen = async (client: string, path: string): Promise<string> => {
      const answer = await call(`${roles.adapter.url}/hub`, {
        client,
        body: JSON.stringify({ callback: receiver.url(path), query: "state=completed" }),
      });
      expect(answer.status, answer.text).to.equal(201);
      return answer.json.id as string;
    };
    /** The record `callbacks.dead` keeps of a given-up event of `listenerId` (its only copy). */
    const deadEvent = async (listenerId: string): Promise<DeadEvent> => {
      const { prefix, callbacks } = harness.compiledConfig;
      const topology = callbackTopology(prefix, callbacks.backoffMs);
      const connection = await amqplib.connect(AMQP_URL);
      try {
        const channel = await connection.createChannel();
        return await eventually(
          async () => {
            for (;;) {
              const message = await channel.get(topology.dead, { noAck: true });
              if (message === false) return undefined;
              const dead = JSON.parse(message.content.toString("utf8")) as DeadEvent;
              if (dead.job?.listenerId === listenerId) return dead;
            }
          },
          30_000,
          `the event of listener ${listenerId} given up on`,
        );
      } finally {
        await connection.close();
      }
    };
    const submit = async (client: string): Promise<string> => {
      const answer = await call(`${roles.adapter.url}/rest/orders`, { client, body: "{}" });
      expect(answer.status).to.equal(202);
      return answer.json.id as string;
    };

    it("a response worker without NODE_EXTRA_CA_CERTS: the event fails on the certificate, is retried, and nothing reaches the receiver", async () => {
      const listenerId = await listen(ALICE, "/events/untrusted");
      const responseWorker = await harness.spawn("response-worker", withoutExtraCas);
      try {
        const id = await submit(ALICE);
        const dead = await deadEvent(listenerId);
        expect(dead.outcome).to.equal("exhausted");
        expect(dead.attempts).to.equal(2);
        expect(JSON.stringify(dead.failure)).to.match(UNTRUSTED);
        expect(JSON.stringify(dead.job)).to.include(id);
        expect(receiver.calls).to.have.length(0);
      } finally {
        await responseWorker.stop();
      }
    });

    it("a response worker with NODE_EXTRA_CA_CERTS naming the test CA: the event is delivered", async () => {
      await listen(BOB, "/events/trusted");
      const responseWorker = await harness.spawn("response-worker", withTestCa());
      try {
        const id = await submit(BOB);
        const received = await eventually(
          async () =>
            receiver.calls.find(
              (c) => c.path === "/events/trusted" && JSON.parse(c.body).correlationId === id,
            ),
          30_000,
          `the event of ${id} at the receiver`,
        );
        expect(JSON.parse(received.body).event.message.state).to.equal("completed");
      } finally {
        await responseWorker.stop();
      }
    });
  });
});
