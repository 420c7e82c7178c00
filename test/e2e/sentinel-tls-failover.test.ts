// Redis through Sentinel over TLS, beyond the start: a private TLS master, its TLS replica and
// three TLS sentinels watching them, all requiring a client certificate from the test CA. The
// roles run with a `redis-sentinel://` URL and `redisTls`; the master is killed, the sentinels
// promote the replica (over TLS), and the roles go on with it: a message is accepted and
// completed and a sync call answered. Besides, a master whose certificate another CA issued,
// named by sentinels Sluice trusts, stops the start with the refusal named.

import { expect } from "chai";
import fs from "node:fs";
import path from "node:path";
import { AMQP_URL, Harness, call, eventually, untilState } from "../support/harness";
import type { TestPki } from "../support/test-pki";
import { freePort, type PrivateRedis, type PrivateSentinels } from "./ops-support";
import { TlsServers } from "./tls-servers";

describe("Redis through Sentinel over TLS: failover, and a master's certificate refused", function () {
  this.timeout(60_000);
  let servers: TlsServers | undefined;
  let pki: TestPki;
  let master: PrivateRedis | undefined;
  let replica: PrivateRedis | undefined;
  let sentinels: PrivateSentinels | undefined;
  let forgedMaster: PrivateRedis | undefined;
  let forgedSentinels: PrivateSentinels | undefined;

  before(async function () {
    this.timeout(120_000);
    servers = new TlsServers();
    pki = servers.pki;
    master = await servers.redis();
    replica = await servers.redis({ replicaOf: master });
    await eventually(
      async () => {
        const info = await servers!.redisCli(replica!.port, "info", "replication");
        return info.includes("master_link_status:up") ? true : undefined;
      },
      20_000,
      "the replica in sync over TLS",
    );
    sentinels = await servers.sentinels(master, "sluice-tls");
    // A master with a certificate of another CA, and a sentinel that trusts both CAs and so
    // names it: what Sluice is told to connect to is not what it trusts.
    const forged = pki.otherCa.issue("forged-master", { san: "IP:127.0.0.1" });
    forgedMaster = await servers.redis({}, { certFile: forged.certFile, keyFile: forged.keyFile });
    const bothCas = path.join(pki.dir, "both-cas.pem");
    fs.writeFileSync(bothCas, pki.ca.cert + pki.otherCa.cert);
    forgedSentinels = await servers.sentinels(forgedMaster, "sluice-forged", {
      ports: [await freePort()],
      tls: { caFile: bothCas },
    });
  });

  after(async function () {
    this.timeout(60_000);
    await servers?.remove();
  });

  /** The port of the master the first sentinel of `of` names now, asked over TLS. */
  async function masterPortSeen(of: PrivateSentinels): Promise<number> {
    const out = await servers!.redisCli(
      of.ports[0],
      "sentinel",
      "get-master-addr-by-name",
      of.masterName,
    );
    return Number(out.trim().split("\n")[1]);
  }

  const config = {
    services: {
      echo: { protocols: ["rest"], reply: { mode: "ack" }, backend: "sim" },
      lookup: { protocols: ["rest"], reply: { mode: "sync", wait: "10s" }, backend: "sim" },
    },
    backends: { sim: { translator: "rest-json" } },
  };

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

  /** A REST message accepted (202, once Redis is back for the adapter) and completed. */
  async function completes(timeoutMs: number): Promise<void> {
    const answer = await eventually(
      async () => {
        const tried = await call(`${roles.adapter.url}/rest/echo`, {
          body: JSON.stringify({ name: "Mari" }),
        });
        return tried.status === 202 ? tried : undefined;
      },
      timeoutMs,
      "a message accepted",
    );
    const done = await untilState(
      roles.adapter,
      answer.json.id as string,
      ["completed"],
      timeoutMs,
    );
    expect(done.json.state).to.equal("completed");
  }

  it("the master is killed: the sentinels promote the replica over TLS, and the roles go on with it", async () => {
    // The sentinels know the replica (reported by the master over TLS) before the master goes.
    await eventually(
      async () => {
        const out = await servers!.redisCli(
          sentinels!.ports[0],
          "sentinel",
          "replicas",
          "sluice-tls",
        );
        return out.includes(String(replica!.port)) ? true : undefined;
      },
      20_000,
      "the sentinels to know the replica",
    );
    await completes(30_000);
    await master!.stop();
    await eventually(
      async () => ((await masterPortSeen(sentinels!)) === replica!.port ? true : undefined),
      30_000,
      "the sentinels to promote the replica",
    );
    await completes(30_000);
    const sync = await eventually(
      async () => {
        const tried = await call(`${roles.adapter.url}/rest/lookup`, {
          body: JSON.stringify({ q: 1 }),
        });
        return tried.status === 200 ? tried : undefined;
      },
      30_000,
      "a sync call answered",
    );
    expect(sync.json.received).to.deep.equal({ q: 1 });
    // The roles wrote to the promoted replica: it is the master now.
    const info = await servers!.redisCli(replica!.port, "info", "replication");
    expect(info).to.include("role:master");
  });

  it("a master whose certificate another CA issued, named by trusted sentinels: the role does not start", async () => {
    expect(await masterPortSeen(forgedSentinels!))
      .to.be.a("number")
      .and.not.equal(0);
    const started = await harness
      .spawn("worker", { AMQP_URL, REDIS_URL: forgedSentinels!.url })
      .then(
        (proc) => proc,
        (error: Error) => error,
      );
    if (!(started instanceof Error)) {
      await started.stop("SIGKILL");
      expect.fail("the worker started");
    }
    // The master is named by the address the sentinels gave, which the URL does not hold.
    const master = `127.0.0.1:${forgedMaster!.port}`;
    expect(started.message).to.include(
      `Redis at ${forgedSentinels!.url} (master ${master}, as the sentinels name it): its TLS certificate was refused`,
    );
    expect(started.message).to.include("have the sentinels name the master by a host");
    // The sentinel was trusted: the refusal is not put on it.
    expect(started.message).not.to.include("(sentinel ");
  });
});
