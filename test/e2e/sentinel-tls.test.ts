// Redis through Sentinel over TLS: a private redis-server with a TLS port only and three private
// sentinels with TLS ports only watching it, their certificates issued by a test CA, all
// requiring a client certificate from it (mutual TLS). The roles run with a `redis-sentinel://`
// URL and the CA and a client certificate in `redisTls`, which turns TLS on to the sentinels and
// to the master they name; a sentinel whose certificate comes from another CA stops the start.

import { expect } from "chai";
import { AMQP_URL, Harness, call, eventually, untilState } from "../support/harness";
import type { TestPki } from "../support/test-pki";
import { freePort, type PrivateRedis, type PrivateSentinels } from "./ops-support";
import { TlsServers } from "./tls-servers";

describe("Redis through Sentinel over TLS (private TLS sentinels and master)", function () {
  this.timeout(60_000);
  let servers: TlsServers | undefined;
  let pki: TestPki;
  let master: PrivateRedis | undefined;
  let sentinels: PrivateSentinels | undefined;
  let untrusted: PrivateSentinels | undefined;

  before(async function () {
    this.timeout(120_000);
    // The servers' certificate is valid for 127.0.0.1 alone, the address the sentinels name
    // the master by.
    servers = new TlsServers();
    pki = servers.pki;
    master = await servers.redis();
    sentinels = await servers.sentinels(master, "sluice-tls");
    // A sentinel as an attacker could stand up: a certificate of the same name from another CA.
    const forged = pki.otherCa.issue("forged-sentinel", { san: "IP:127.0.0.1" });
    untrusted = await servers.sentinels(master, "sluice-tls", {
      ports: [await freePort()],
      tls: { certFile: forged.certFile, keyFile: forged.keyFile },
    });
  });

  after(async function () {
    this.timeout(60_000);
    await servers?.remove();
  });

  /** What the first sentinel knows of the master: its `SENTINEL MASTER` fields, asked over TLS. */
  async function masterAsSeen(): Promise<Record<string, string>> {
    const stdout = await servers!.redisCli(sentinels!.ports[0], "sentinel", "master", "sluice-tls");
    const lines = stdout.trim().split("\n");
    return Object.fromEntries(lines.flatMap((_, i) => (i % 2 ? [] : [[lines[i], lines[i + 1]]])));
  }

  const config = {
    services: {
      echo: { protocols: ["rest"], reply: { mode: "ack" }, backend: "sim" },
      lookup: { protocols: ["rest"], reply: { mode: "sync", wait: "10s" }, backend: "sim" },
    },
    backends: { sim: { translator: "rest-json" } },
  };

  describe("with the test CA and a client certificate in redisTls", function () {
    const env = async () => ({ AMQP_URL, REDIS_URL: sentinels!.url });
    const harness = Harness.suite({
      config: () => {
        const client = pki.ca.issue("sluice-client");
        const redisTls = { ca: pki.ca.certFile, cert: client.certFile, key: client.keyFile };
        return { ...config, redisUrl: sentinels!.url, redisTls };
      },
      roles: [
        { role: "adapter", env },
        { role: "worker", env },
        { role: "response-worker", env },
      ],
    });
    const { roles } = harness;

    it("each role reaches the master through the sentinels: a REST message is accepted (202) and completed", async () => {
      expect(harness.compiledConfig.redisUrl).to.match(/^redis-sentinel:\/\//);
      // The sentinels reach the master and each other over TLS too: it is up, and they agree.
      const seen = await eventually(
        async () => {
          const fields = await masterAsSeen();
          return fields.flags === "master" && fields["num-other-sentinels"] === "2"
            ? fields
            : undefined;
        },
        30_000,
        "the sentinels to see the master and each other",
      );
      expect(seen.port).to.equal(String(master!.port));
      const answer = await call(`${roles.adapter.url}/rest/echo`, {
        body: JSON.stringify({ name: "Mari" }),
      });
      expect(answer.status).to.equal(202);
      const done = await untilState(roles.adapter, answer.json.id as string, ["completed"], 30_000);
      expect(done.json.state).to.equal("completed");
    });

    it("a sync call is answered, its wake carried by the master's publish over TLS", async () => {
      const answer = await call(`${roles.adapter.url}/rest/lookup`, {
        body: JSON.stringify({ q: 1 }),
      });
      expect(answer.status).to.equal(200);
      expect(answer.json.received).to.deep.equal({ q: 1 });
    });

    it("a sentinel whose certificate another CA issued: the role does not start, the sentinel named", async () => {
      const started = await harness.spawn("worker", { AMQP_URL, REDIS_URL: untrusted!.url }).then(
        (proc) => proc,
        (error: Error) => error,
      );
      if (!(started instanceof Error)) {
        await started.stop("SIGKILL");
        expect.fail("the worker started");
      }
      const sentinel = `127.0.0.1:${untrusted!.ports[0]}`;
      expect(started.message).to.include(`Redis at redis-sentinel://${sentinel}/sluice-tls`);
      expect(started.message).to.include(`(sentinel ${sentinel}): its TLS certificate was refused`);
      expect(started.message).to.include("redisTls.ca");
      expect(started.message).not.to.include("Connection is closed");
    });
  });
});
