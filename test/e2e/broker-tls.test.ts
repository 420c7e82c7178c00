// RabbitMQ over `amqps://` and Redis over `rediss://`: a private RabbitMQ node with a TLS
// listener only and a private redis-server with a TLS port only, their certificates issued by a
// test CA, both requiring a client certificate from it (mutual TLS). The three roles run through
// them with the CA and a client certificate in `amqpTls` and `redisTls`, or with the client
// certificate there and the CA in NODE_EXTRA_CA_CERTS alone; a role without a client
// certificate, or given a server certificate from another CA (NODE_EXTRA_CA_CERTS), or one not
// naming the host of the URL, does not start.

import { expect } from "chai";
import {
  AMQP_URL,
  Harness,
  REDIS_URL,
  call,
  untilState,
  type SluiceProcess,
} from "../support/harness";
import type { TestPki } from "../support/test-pki";
import type { PrivateRabbit, PrivateRedis } from "./ops-support";
import { TlsServers } from "./tls-servers";

/** Each role connected to the TLS node at `port`, and a REST message is accepted and completed. */
async function connectedAndCompleted(
  roles: Record<string, SluiceProcess>,
  port: number,
): Promise<void> {
  for (const role of ["adapter", "worker", "response-worker"]) {
    const connected = roles[role].lines.find((line) => line.msg === "connected to RabbitMQ");
    expect(connected?.broker, role).to.include(`amqps://guest:[redacted]@127.0.0.1:${port}`);
  }
  const answer = await call(`${roles.adapter.url}/rest/echo`, {
    body: JSON.stringify({ name: "Mari" }),
  });
  expect(answer.status).to.equal(202);
  const done = await untilState(roles.adapter, answer.json.id as string, ["completed"], 30_000);
  expect(done.json.state).to.equal("completed");
}

describe("RabbitMQ and Redis over TLS (private amqps:// node, rediss:// server)", function () {
  this.timeout(60_000);
  let servers: TlsServers | undefined;
  let pki: TestPki;
  let rabbit: PrivateRabbit | undefined;
  let redis: PrivateRedis | undefined;

  before(async function () {
    // A node boots in seconds on an idle machine, in a minute or more on a loaded one.
    this.timeout(300_000);
    // The servers' certificate is valid for 127.0.0.1 alone: `localhost` in a URL is a name it
    // does not hold.
    servers = new TlsServers();
    pki = servers.pki;
    redis = await servers.redis();
    rabbit = await servers.rabbit();
  });

  after(async function () {
    this.timeout(120_000);
    await servers?.remove();
  });

  const config = {
    services: {
      echo: { protocols: ["rest"], reply: { mode: "ack" }, backend: "sim" },
      lookup: { protocols: ["rest"], reply: { mode: "sync", wait: "10s" }, backend: "sim" },
    },
    backends: { sim: { translator: "rest-json" } },
  };

  describe("with the test CA and a client certificate in amqpTls and redisTls", function () {
    // No NODE_EXTRA_CA_CERTS: the CA of the configuration alone verifies the servers. The URLs
    // are in the file too, where the certificates are checked against their scheme.
    const env = async () => ({ AMQP_URL: rabbit!.url, REDIS_URL: redis!.url });
    const harness = Harness.suite({
      config: () => {
        const client = pki.ca.issue("sluice-client");
        const tls = { ca: pki.ca.certFile, cert: client.certFile, key: client.keyFile };
        const urls = { amqpUrl: rabbit!.url, redisUrl: redis!.url };
        return { ...config, ...urls, amqpTls: tls, redisTls: tls };
      },
      roles: [
        { role: "adapter", env },
        { role: "worker", env },
        { role: "response-worker", env },
      ],
    });
    const { roles } = harness;

    it("each role connects over TLS: a REST message is accepted (202) and completed", async () => {
      await connectedAndCompleted(roles, rabbit!.port);
    });

    it("a sync call is answered through the TLS broker and Redis", async () => {
      const answer = await call(`${roles.adapter.url}/rest/lookup`, {
        body: JSON.stringify({ q: 1 }),
      });
      expect(answer.status).to.equal(200);
      expect(answer.json.received).to.deep.equal({ q: 1 });
    });
  });

  describe("with NODE_EXTRA_CA_CERTS and a client certificate, no ca in amqpTls and redisTls", function () {
    // The same node and server: their CA reaches the roles only through the environment, which
    // extends Node's trusted CAs; the blocks carry the client certificate the node requires.
    const env = async () => ({
      AMQP_URL: rabbit!.url,
      REDIS_URL: redis!.url,
      NODE_EXTRA_CA_CERTS: pki.ca.certFile,
    });
    const harness = Harness.suite({
      config: () => {
        const client = pki.ca.issue("sluice-client-env");
        const tls = { cert: client.certFile, key: client.keyFile };
        const urls = { amqpUrl: rabbit!.url, redisUrl: redis!.url };
        return { ...config, ...urls, amqpTls: tls, redisTls: tls };
      },
      roles: [
        { role: "adapter", env },
        { role: "worker", env },
        { role: "response-worker", env },
      ],
    });
    const { roles } = harness;

    it("each role connects over TLS: a REST message is accepted (202) and completed", async () => {
      expect(harness.compiledConfig.amqpTls?.ca).to.deep.equal([]);
      expect(harness.compiledConfig.redisTls?.ca).to.deep.equal([]);
      await connectedAndCompleted(roles, rabbit!.port);
    });

    it("the same blocks with NODE_EXTRA_CA_CERTS naming another CA: the role does not start", async () => {
      // A client certificate without `ca` still has the server verified, by Node's CAs.
      const started = await harness
        .spawn("worker", { ...(await env()), NODE_EXTRA_CA_CERTS: pki.otherCa.certFile })
        .then(
          (proc) => proc,
          (error: Error) => error,
        );
      if (!(started instanceof Error)) {
        await started.stop("SIGKILL");
        expect.fail("the worker started");
      }
      // Redis is the first connection a role opens, so it is the one named.
      expect(started.message).to.include(`Redis at rediss://127.0.0.1:${redis!.port}`);
      expect(started.message).to.include("its TLS certificate was refused");
    });
  });

  describe("a client certificate in amqpTls without ca, RabbitMQ's CA not in NODE_EXTRA_CA_CERTS", function () {
    // Redis is the shared plain one here, so RabbitMQ is the connection refused.
    const harness = Harness.suite({
      config: () => {
        const client = pki.ca.issue("sluice-client-untrusting");
        const amqpTls = { cert: client.certFile, key: client.keyFile };
        return { ...config, amqpUrl: rabbit!.url, amqpTls };
      },
    });

    it("the role does not start: the broker's certificate is still verified, by Node's CAs", async () => {
      const started = await harness
        .spawn("worker", {
          AMQP_URL: rabbit!.url,
          REDIS_URL,
          NODE_EXTRA_CA_CERTS: pki.otherCa.certFile,
        })
        .then(
          (proc) => proc,
          (error: Error) => error,
        );
      if (!(started instanceof Error)) {
        await started.stop("SIGKILL");
        expect.fail("the worker started");
      }
      expect(started.message).to.include(
        `RabbitMQ at amqps://guest:[redacted]@127.0.0.1:${rabbit!.port}`,
      );
      expect(started.message).to.include("its TLS certificate was refused");
    });
  });

  describe("without a client certificate, or with a certificate Node does not accept", function () {
    const harness = Harness.suite({ config });

    /** Starts a worker that must not start; returns what it printed. */
    async function refusedStart(env: Record<string, string>): Promise<string> {
      const started = await harness.spawn("worker", env).then(
        (proc) => proc,
        (error: Error) => error,
      );
      if (!(started instanceof Error)) {
        await started.stop("SIGKILL");
        expect.fail("the worker started");
      }
      return started.message;
    }

    it("RabbitMQ requiring a client certificate, none configured: the role does not start, amqpTls named", async () => {
      const printed = await refusedStart({
        AMQP_URL: rabbit!.url,
        REDIS_URL,
        NODE_EXTRA_CA_CERTS: pki.ca.certFile,
      });
      expect(printed).to.include(`RabbitMQ at amqps://guest:[redacted]@127.0.0.1:${rabbit!.port}`);
      expect(printed).to.include("it refused the TLS handshake over Sluice's client certificate");
      expect(printed).to.include("certificate required");
      expect(printed).to.include("amqpTls.cert and amqpTls.key");
    });

    it("Redis requiring a client certificate, none configured: the role does not start, redisTls named", async () => {
      const printed = await refusedStart({
        AMQP_URL,
        REDIS_URL: redis!.url,
        NODE_EXTRA_CA_CERTS: pki.ca.certFile,
      });
      expect(printed).to.include(`Redis at rediss://127.0.0.1:${redis!.port}`);
      expect(printed).to.include("it refused the TLS handshake over Sluice's client certificate");
      expect(printed).to.include("certificate required");
      expect(printed).to.include("redisTls.cert and redisTls.key");
    });

    it("RabbitMQ's certificate from a CA not trusted: the role does not start, the URL named without its password", async () => {
      const printed = await refusedStart({
        AMQP_URL: rabbit!.url,
        REDIS_URL,
        NODE_EXTRA_CA_CERTS: pki.otherCa.certFile,
      });
      expect(printed).to.include(`RabbitMQ at amqps://guest:[redacted]@127.0.0.1:${rabbit!.port}`);
      expect(printed).to.include("its TLS certificate was refused");
      expect(printed).to.include("NODE_EXTRA_CA_CERTS");
      expect(printed).not.to.include("guest:guest");
    });

    it("Redis's certificate from a CA not trusted: the role does not start, the URL named without its password", async () => {
      const url = `rediss://:tls-test-password@127.0.0.1:${redis!.port}`;
      const printed = await refusedStart({
        AMQP_URL,
        REDIS_URL: url,
        NODE_EXTRA_CA_CERTS: pki.otherCa.certFile,
      });
      expect(printed).to.include(`Redis at rediss://:[redacted]@127.0.0.1:${redis!.port}`);
      expect(printed).to.include("its TLS certificate was refused");
      expect(printed).to.include("NODE_EXTRA_CA_CERTS");
      expect(printed).not.to.include("tls-test-password");
    });

    it("a trusted certificate that does not name the URL's host is refused, RabbitMQ and Redis", async () => {
      const trusted = { NODE_EXTRA_CA_CERTS: pki.ca.certFile };
      const toRabbit = await refusedStart({
        ...trusted,
        AMQP_URL: `amqps://guest:guest@localhost:${rabbit!.port}`,
        REDIS_URL,
      });
      expect(toRabbit).to.include(`RabbitMQ at amqps://guest:[redacted]@localhost:${rabbit!.port}`);
      expect(toRabbit).to.include("its TLS certificate was refused");
      expect(toRabbit).to.match(/does not match certificate's altnames/);
      const toRedis = await refusedStart({
        ...trusted,
        AMQP_URL,
        REDIS_URL: `rediss://localhost:${redis!.port}`,
      });
      expect(toRedis).to.include(`Redis at rediss://localhost:${redis!.port}`);
      expect(toRedis).to.include("its TLS certificate was refused");
      expect(toRedis).to.match(/does not match certificate's altnames/);
    });
  });
});
