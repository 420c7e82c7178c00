// RabbitMQ over `amqps://` and Redis over `rediss://`: a private RabbitMQ node with a TLS
// listener only and a private redis-server with a TLS port only, their certificates issued by a
// test CA that Node trusts through NODE_EXTRA_CA_CERTS. The three roles run through them.

import { expect } from "chai";
import { Harness, call, untilState } from "../support/harness";
import { createTestPki, type TestPki } from "../support/test-pki";
import { PrivateRabbit, PrivateRedis } from "./ops-support";

describe("RabbitMQ and Redis over TLS (private amqps:// node, rediss:// server)", function () {
  this.timeout(60_000);
  let pki: TestPki;
  let rabbit: PrivateRabbit | undefined;
  let redis: PrivateRedis | undefined;

  before(async function () {
    // A node boots in seconds on an idle machine, in a minute or more on a loaded one.
    this.timeout(300_000);
    pki = createTestPki();
    // Valid for 127.0.0.1 alone: `localhost` in a URL is a name the certificate does not hold.
    const server = pki.ca.issue("server", { san: "IP:127.0.0.1" });
    const tls = { certFile: server.certFile, keyFile: server.keyFile, caFile: pki.ca.certFile };
    redis = await PrivateRedis.start({ tls });
    rabbit = await PrivateRabbit.start({ tls });
  });

  after(async function () {
    this.timeout(120_000);
    await rabbit?.remove();
    await redis?.remove();
    pki?.cleanup();
  });

  const config = {
    services: {
      echo: { protocols: ["rest"], reply: { mode: "ack" }, backend: "sim" },
      lookup: { protocols: ["rest"], reply: { mode: "sync", wait: "10s" }, backend: "sim" },
    },
    backends: { sim: { translator: "rest-json" } },
  };

  describe("with the test CA in NODE_EXTRA_CA_CERTS", function () {
    const env = async () => ({
      AMQP_URL: rabbit!.url,
      REDIS_URL: redis!.url,
      NODE_EXTRA_CA_CERTS: pki.ca.certFile,
    });
    const harness = Harness.suite({
      config,
      roles: [
        { role: "adapter", env },
        { role: "worker", env },
        { role: "response-worker", env },
      ],
    });
    const { roles } = harness;

    it("each role connects over TLS: a REST message is accepted (202) and completed", async () => {
      for (const role of ["adapter", "worker", "response-worker"]) {
        const connected = roles[role].lines.find((line) => line.msg === "connected to RabbitMQ");
        expect(connected?.broker, role).to.include(`amqps://guest:***@127.0.0.1:${rabbit!.port}`);
      }
      const answer = await call(`${roles.adapter.url}/rest/echo`, {
        body: JSON.stringify({ name: "Mari" }),
      });
      expect(answer.status).to.equal(202);
      const done = await untilState(roles.adapter, answer.json.id as string, ["completed"], 30_000);
      expect(done.json.state).to.equal("completed");
    });

    it("a sync call is answered through the TLS broker and Redis", async () => {
      const answer = await call(`${roles.adapter.url}/rest/lookup`, {
        body: JSON.stringify({ q: 1 }),
      });
      expect(answer.status).to.equal(200);
      expect(answer.json.received).to.deep.equal({ q: 1 });
    });
  });
});
