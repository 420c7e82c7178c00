// An upgrade with messages in flight: messages of the previous protocol version (the fixtures
// captured from Sluice 0.1.0's encoders) waiting in the queues are processed by the roles of
// this release, and messages it cannot read are dead-lettered with their reason while the
// consumers keep running.

import { expect } from "chai";
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";
import * as amqplib from "amqplib";
import { declareAllBackends } from "../../shared/broker/topology";
import { callbackTopology, declareCallbackTopology } from "../../response-worker/callback-schedule";
import { topologyNames, HEADERS } from "../../shared/protocol/names";
import { redisKeys } from "../../shared/protocol/redis-keys";
import { CallbackReceiver } from "../integration/callback-receiver";
import { AMQP_URL, call, eventually, Harness } from "../support/harness";
import { transactionMeta } from "../support/messages";

const FIXTURES = path.resolve(__dirname, "..", "..", "..", "test", "fixtures", "protocol");

interface Fixture {
  exchange: string;
  routingKey: string;
  properties: amqplib.Options.Publish;
  content: string;
}

function fixture(name: string): Fixture {
  return JSON.parse(readFileSync(path.join(FIXTURES, name), "utf8")) as Fixture;
}

/**
 * The fixture as it was written, with its message ids replaced by fresh ones (so runs never
 * meet) and, for requests, its clock times moved to now (the fixtures' expiry has passed).
 * The shape, and the absence of a version, is untouched.
 */
function relabel(text: string, ids: Record<string, string>): string {
  let out = text;
  for (const [from, to] of Object.entries(ids)) out = out.split(from).join(to);
  return out
    .replace(/"createdAt":\d+/, `"createdAt":${Date.now()}`)
    .replace(/"expiresAt":\d+/, `"expiresAt":${Date.now() + 3_600_000}`);
}

const FIXTURE_ID = (n: number) => `0b7f1a2e-1111-4c1d-9a2b-00000000000${n}`;

describe("an upgrade with version 1 messages waiting in the queues", function () {
  this.timeout(90_000);
  let receiver: CallbackReceiver;
  let receiverUrl: string;
  const harness = Harness.suite({
    config: async () => {
      // A callback receiver that records what it gets.
      receiver = await CallbackReceiver.start({ tls: false });
      receiverUrl = receiver.url("/hooks/");
      return {
        services: {
          personLookup: { protocols: ["rest"], reply: { mode: "ack" }, backend: "registry" },
        },
        backends: {
          registry: { translator: "rest-json", retry: { attempts: 3, backoff: ["1s"] } },
        },
        callbacks: {
          allow: [receiverUrl],
          allowHttp: true,
          allowPrivate: true,
          secret: "whsec_dXBncmFkZS13aXRoLW1lc3NhZ2VzLWluLWZsaWdodA==",
        },
      };
    },
    seed: seedPreviousRelease,
    roles: [{ role: "all", as: "sluice" }],
  });
  const { roles } = harness;
  const names = topologyNames(harness.prefix);
  const redis = harness.redis();
  const store = harness.store(60_000);
  let connection: amqplib.ChannelModel;
  let channel: amqplib.ConfirmChannel;
  const rest = randomUUID();
  const retried = randomUUID();
  const answered = randomUUID();
  const later = randomUUID();
  const notified = randomUUID();
  const v1Accepted = randomUUID();
  const beforeXroadId = `upgrade-${randomUUID()}`;
  // What the receiver got, as webhook id and body.
  const hooks = () =>
    receiver.calls.map((c) => ({ webhookId: String(c.headers["webhook-id"]), body: c.body }));

  const publish = async (
    exchange: string,
    routingKey: string,
    content: string,
    properties = {},
  ) => {
    channel.publish(exchange, routingKey, Buffer.from(content), {
      persistent: true,
      ...properties,
    });
    await channel.waitForConfirms();
  };

  /** What the previous release left: its queues, and messages and records in them. */
  async function seedPreviousRelease(): Promise<void> {
    connection = await amqplib.connect(AMQP_URL);
    channel = await connection.createConfirmChannel();
    // The queues as the previous release left them; declared the same way by every release.
    await declareAllBackends(channel, harness.compiledConfig, names);
    const callbackQueues = callbackTopology(
      harness.prefix,
      harness.compiledConfig.callbacks.backoffMs,
    );
    await declareCallbackTopology(channel, callbackQueues);

    // Waiting before the new roles start: two requests (one in a retry tier) ...
    const request = fixture("request-rest-v1.json");
    await publish(
      names.requestsExchange,
      "registry",
      relabel(request.content, { [FIXTURE_ID(1)]: rest, "rest-1": randomUUID() }),
      { ...request.properties, messageId: rest },
    );
    const retry = fixture("request-retry-v1.json");
    await publish(
      "",
      names.retryQueue("registry", 1_000),
      relabel(retry.content, { [FIXTURE_ID(3)]: retried }),
      { ...retry.properties, messageId: retried },
    );
    // ... a state notice and the final response of a message the previous worker answered ...
    await store.rebuild(
      transactionMeta({
        id: answered,
        service: "personLookup",
        backend: "registry",
        client: "EE/BUSINESS/consumer/app",
      }),
    );
    for (const name of ["state-notice-v1.json", "response-completed-v1.json"]) {
      const { routingKey, content, properties } = fixture(name);
      await publish(
        names.responsesExchange,
        routingKey,
        content.split(FIXTURE_ID(1)).join(answered),
        properties,
      );
    }
    // ... a callback job ...
    const job = fixture("callback-job-v1.json");
    await publish(
      "",
      callbackQueues.delivery,
      job.content
        .split(FIXTURE_ID(1))
        .join(notified)
        .replace("https://receiver.example/hook", `${receiverUrl}hook`),
      job.properties,
    );
    // ... and messages this release cannot read: not JSON, a request without its service, and
    // a response of a version newer than it knows.
    await publish(names.requestsExchange, "registry", "this is not JSON");
    const partial = JSON.parse(relabel(request.content, { [FIXTURE_ID(1)]: randomUUID() }));
    delete partial.service;
    await publish(names.requestsExchange, "registry", JSON.stringify(partial));
    await publish(
      names.responsesExchange,
      "responses",
      JSON.stringify({
        ...JSON.parse(fixture("response-completed-v1.json").content),
        id: randomUUID(),
        version: 99,
      }),
    );

    // ... and a message 0.1.0 accepted and completed, as its create script wrote it: the record
    // and a de-duplication key of (client, X-Road id), without the service.
    const keys = redisKeys(harness.prefix);
    const now = Date.now();
    const v1Client = "EE/BUSINESS/consumer/app";
    await redis.hset(keys.tx(v1Accepted), {
      meta: JSON.stringify(
        transactionMeta({
          id: v1Accepted,
          xroadId: beforeXroadId,
          service: "personLookup",
          backend: "registry",
          client: v1Client,
          createdAt: now,
        }),
      ),
      state: "completed",
      delivery: "pending",
      updatedAt: String(now),
      history: ["accepted", "processing", "completed"]
        .map((state) => JSON.stringify({ state, at: now }))
        .join(","),
    });
    await redis.pexpire(keys.tx(v1Accepted), 60_000);
    await redis.set(keys.dedupV1(v1Client, beforeXroadId), v1Accepted, "PX", 60_000);
  }

  after(async () => {
    await receiver?.close();
    await connection?.close().catch(() => undefined);
  });

  it("processes the waiting version 1 requests: the backend is called once for each", async () => {
    for (const id of [rest, retried]) {
      const tx = await eventually(
        async () => {
          const found = await store.get(id);
          return found?.state === "completed" ? found : undefined;
        },
        30_000,
        `${id} completed`,
      );
      expect(tx.service).to.equal("personLookup");
      expect(harness.sim.calls().filter((call) => call.id === id)).to.have.length(1);
    }
  });

  it("answers a resubmission of a message 0.1.0 accepted as its duplicate (same id), not anew", async () => {
    const resubmit = () =>
      call(`${roles.sluice.url}/rest/personLookup`, {
        client: "EE/BUSINESS/consumer/app",
        headers: { "X-Road-Id": beforeXroadId },
        body: JSON.stringify({ personCode: "37702211234" }),
      });
    for (const answer of [await resubmit(), await resubmit()]) {
      expect(answer.status, answer.text).to.equal(202);
      expect(answer.headers.get("x-sluice-id")).to.equal(v1Accepted);
      expect(answer.headers.get("location")).to.equal(`/messages/${v1Accepted}`);
    }
    expect(
      harness.sim.calls().filter((c) => c.path === "/persons" && c.id === v1Accepted),
    ).to.have.length(0);
  });

  it("stores the waiting version 1 response", async () => {
    const tx = await eventually(async () => {
      const found = await store.get(answered);
      return found?.state === "completed" ? found : undefined;
    });
    expect(tx.responses).to.have.length(1);
    expect(tx.responses[0].body).to.equal('{"name":"Mari"}');
  });

  it("delivers the waiting version 1 callback job", async () => {
    await eventually(async () => (hooks().length > 0 ? true : undefined), 20_000, "the callback");
    expect(hooks()[0]).to.deep.equal({ webhookId: `msg_${notified}.1`, body: '{"id":"x"}' });
  });

  it("dead-letters what it cannot read, with the reason, and keeps consuming", async () => {
    const reasons: Array<{ reason: unknown; from: unknown; error: unknown }> = [];
    await eventually(
      async () => {
        const message = await channel.get(names.deadLetterQueue, { noAck: true });
        if (message) {
          const headers = message.properties.headers ?? {};
          reasons.push({
            reason: headers[HEADERS.reason],
            from: headers[HEADERS.backend],
            error: headers[HEADERS.error],
          });
        }
        return reasons.length >= 3 ? true : undefined;
      },
      30_000,
      "three dead letters",
    );
    expect(reasons).to.deep.include({
      reason: "unreadable",
      from: "registry",
      error: "the request is not JSON",
    });
    expect(reasons).to.deep.include({
      reason: "unreadable",
      from: "registry",
      error: "request.service is not a string",
    });
    expect(reasons.map((r) => r.reason)).to.include("unsupported_version");

    // The same consumers go on with the next message.
    const request = fixture("request-rest-v1.json");
    await publish(
      names.requestsExchange,
      "registry",
      relabel(request.content, { [FIXTURE_ID(1)]: later, "rest-1": randomUUID() }),
      { messageId: later },
    );
    await eventually(
      async () => ((await store.get(later))?.state === "completed" ? true : undefined),
      20_000,
      "a later request completed",
    );
    expect(roles.sluice.child.exitCode).to.equal(null);
    expect(roles.sluice.stderr()).to.equal("");
  });
});
