// `amqpTls` and `redisTls` read again on SIGHUP: a private RabbitMQ node with a TLS listener
// only and a private redis-server with a TLS port only, both requiring a client certificate.
// The three roles start with a client certificate from the test CA; a broken file at SIGHUP keeps
// it; then a certificate from a second CA replaces it on SIGHUP. The connections that are up keep
// the first certificate; after Redis is restarted trusting the second CA alone, and RabbitMQ has
// closed every connection, each role reconnects with the second one (RabbitMQ names it) and a
// message goes through.

import { expect } from "chai";
import fs from "node:fs";
import path from "node:path";
import { Harness, call, eventually, untilState } from "../support/harness";
import type { KeyPair, TestPki } from "../support/test-pki";
import type { PrivateRabbit, PrivateRedis } from "./ops-support";
import { TlsServers } from "./tls-servers";

const ROLES = ["adapter", "worker", "response-worker"] as const;

describe("amqpTls and redisTls read again on SIGHUP (private amqps:// node, rediss:// server)", function () {
  this.timeout(120_000);
  let servers: TlsServers | undefined;
  let pki: TestPki;
  let first: KeyPair;
  let second: KeyPair;
  /** The CA redis-server checks clients against: the test CA first, then the second CA alone. */
  let redisClientCa: string;
  let rabbit: PrivateRabbit | undefined;
  let redis: PrivateRedis | undefined;

  before(async function () {
    // A node boots in seconds on an idle machine, in a minute or more on a loaded one.
    this.timeout(300_000);
    servers = new TlsServers();
    pki = servers.pki;
    first = pki.ca.issue("sluice-client-first");
    second = pki.otherCa.issue("sluice-client-second");
    redisClientCa = path.join(pki.dir, "redis-client-ca.pem");
    fs.copyFileSync(pki.ca.certFile, redisClientCa);
    // RabbitMQ takes both client certificates: it tells which one a connection presented.
    const rabbitClientCa = path.join(pki.dir, "rabbit-client-ca.pem");
    fs.writeFileSync(rabbitClientCa, pki.ca.cert + pki.otherCa.cert);
    // Append-only: a restart keeps the data, as a production Redis would.
    redis = await servers.redis({ appendonly: true }, { caFile: redisClientCa });
    rabbit = await servers.rabbit({ caFile: rabbitClientCa });
  });

  after(async function () {
    this.timeout(120_000);
    await servers?.remove();
  });

  const env = async () => ({ AMQP_URL: rabbit!.url, REDIS_URL: redis!.url });
  const harness = Harness.suite({
    config: () => {
      fs.copyFileSync(first.certFile, clientCert());
      fs.copyFileSync(first.keyFile, clientKey());
      const tls = { ca: pki.ca.certFile, cert: clientCert(), key: clientKey() };
      return {
        services: {
          echo: { protocols: ["rest"], reply: { mode: "ack" }, backend: "sim" },
          lookup: { protocols: ["rest"], reply: { mode: "sync", wait: "10s" }, backend: "sim" },
        },
        backends: { sim: { translator: "rest-json" } },
        amqpUrl: rabbit!.url,
        redisUrl: redis!.url,
        amqpTls: tls,
        redisTls: tls,
      };
    },
    roles: ROLES.map((role) => ({ role, env })),
  });
  const { roles } = harness;
  const clientCert = () => path.join(harness.dir, "client.crt");
  const clientKey = () => path.join(harness.dir, "client.key");

  /** The subject of the client certificate of every connection RabbitMQ holds now. */
  async function rabbitClients(): Promise<string[]> {
    const out = await rabbit!.ctl("list_connections", "peer_cert_subject");
    return out.split("\n").filter((line) => line.includes("CN="));
  }

  /** Sends SIGHUP to every role and waits until each has logged `msg` once more. */
  async function sighup(msg: string): Promise<Array<Record<string, unknown>>> {
    const before = ROLES.map((role) => roles[role].lines.filter((l) => l.msg === msg).length);
    for (const role of ROLES) roles[role].child.kill("SIGHUP");
    return Promise.all(
      ROLES.map((role, i) =>
        eventually(
          async () => roles[role].lines.filter((l) => l.msg === msg)[before[i]],
          10_000,
          msg,
        ),
      ),
    );
  }

  /** Every role reconnected to RabbitMQ with a certificate of `cn`, and Redis answers them. */
  async function reconnectedWith(cn: string): Promise<void> {
    await rabbit!.ctl("close_all_connections", "certificate rotation test");
    await redis!.stop();
    await redis!.resume();
    const clients = await eventually(
      async () => {
        const now = await rabbitClients();
        return now.length >= ROLES.length && now.every((s) => s.includes(`CN=${cn}`))
          ? now
          : undefined;
      },
      60_000,
      `every role connected to RabbitMQ as ${cn}`,
    );
    expect(clients.length).to.be.at.least(ROLES.length);
    const answer = await eventually(
      async () => {
        const tried = await call(`${roles.adapter.url}/rest/echo`, {
          body: JSON.stringify({ name: "Mari" }),
        });
        return tried.status === 202 ? tried : undefined;
      },
      60_000,
      "a message accepted",
    );
    const done = await untilState(roles.adapter, answer.json.id as string, ["completed"], 60_000);
    expect(done.json.state).to.equal("completed");
    // The sync answer's wake comes over the subscriber, a connection of its own to Redis.
    const sync = await eventually(
      async () => {
        const tried = await call(`${roles.adapter.url}/rest/lookup`, {
          body: JSON.stringify({ q: 1 }),
        });
        return tried.status === 200 ? tried : undefined;
      },
      60_000,
      "a sync call answered",
    );
    expect(sync.json.received).to.deep.equal({ q: 1 });
  }

  it("a broken certificate file at SIGHUP keeps the previous certificate, and says so", async () => {
    expect(await rabbitClients()).to.have.length.of.at.least(ROLES.length);
    fs.writeFileSync(clientCert(), first.cert.slice(0, 100));
    const failed = await sighup("certificate reload failed; the previous certificates stay in use");
    for (const line of failed) {
      expect(line.level).to.equal("error");
      const problems = (line.problems as string[]).join("\n");
      expect(problems).to.include(`amqpTls.cert: certificate file ${clientCert()}`);
      expect(problems).to.include(`redisTls.cert: certificate file ${clientCert()}`);
    }
    await reconnectedWith("sluice-client-first");
  });

  it("a new certificate at SIGHUP: connections up keep theirs, the next ones present the new", async () => {
    fs.copyFileSync(second.certFile, clientCert());
    fs.copyFileSync(second.keyFile, clientKey());
    await sighup("certificates reloaded");
    // Nothing was dropped: in-flight work goes on over the connections made before.
    const kept = await rabbitClients();
    expect(kept).to.have.length.of.at.least(ROLES.length);
    for (const subject of kept) expect(subject).to.include("CN=sluice-client-first");
    // Redis now takes the second CA's certificates alone: the first one would be refused.
    fs.copyFileSync(pki.otherCa.certFile, redisClientCa);
    await reconnectedWith("sluice-client-second");
  });
});
