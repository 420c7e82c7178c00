// `crl` in `amqpTls` and `redisTls` on real servers: a private RabbitMQ node with a TLS listener
// only, a private redis-server with a TLS port only and one sentinel with a TLS port only
// watching it, all with one server certificate from the test CA and requiring a client
// certificate from it. Sluice is given one of two lists of that CA: one that revokes the
// servers' certificate, and one issued before it was revoked. With the first a role does not
// start, and says the certificate is revoked; with the second it connects. On SIGHUP the list
// that revokes it replaces the other: the connections that are up stay (docs/security.md,
// "Rotation"), the next one is refused and the role says why and stops being ready, until the
// list that admits it is back.

import { expect } from "chai";
import fs from "node:fs";
import path from "node:path";
import {
  AMQP_URL,
  Harness,
  REDIS_URL,
  call,
  eventually,
  untilState,
  type SluiceProcess,
} from "../support/harness";
import type { TestPki } from "../support/test-pki";
import {
  freePort,
  metricValue,
  type PrivateRabbit,
  type PrivateRedis,
  type PrivateSentinels,
} from "./ops-support";
import { TlsServers } from "./tls-servers";

const ROLES = ["adapter", "worker", "response-worker"] as const;

describe("revocation lists of RabbitMQ's and Redis's certificates (private TLS node, server, sentinel)", function () {
  this.timeout(120_000);
  let servers: TlsServers | undefined;
  let pki: TestPki;
  let rabbit: PrivateRabbit | undefined;
  let redis: PrivateRedis | undefined;
  let sentinel: PrivateSentinels | undefined;
  /** The CA's list from before the servers' certificate was revoked. */
  let admitting: string;
  /** The CA's list on which the servers' certificate is. */
  let revoking: string;

  before(async function () {
    // A node boots in seconds on an idle machine, in a minute or more on a loaded one.
    this.timeout(300_000);
    servers = new TlsServers();
    pki = servers.pki;
    admitting = pki.ca.crl(path.join(pki.dir, "admitting.crl"));
    pki.ca.revoke(servers.server);
    revoking = pki.ca.crl(path.join(pki.dir, "revoking.crl"));
    redis = await servers.redis();
    sentinel = await servers.sentinels(redis, "sluice-crl", { ports: [await freePort()] });
    rabbit = await servers.rabbit();
  });

  after(async function () {
    this.timeout(120_000);
    await servers?.remove();
  });

  const services = {
    services: {
      echo: { protocols: ["rest"], reply: { mode: "ack" }, backend: "sim" },
      lookup: { protocols: ["rest"], reply: { mode: "sync", wait: "10s" }, backend: "sim" },
    },
    backends: { sim: { translator: "rest-json" } },
  };

  /** The blocks' TLS: the test CA, a client certificate, and `crl`. */
  const tlsWith = (crl: string) => {
    const client = pki.ca.issue(`sluice-client-${path.basename(crl, ".crl")}`);
    return { ca: pki.ca.certFile, cert: client.certFile, key: client.keyFile, crl };
  };

  /** A REST message accepted (202) and completed through `adapter`. */
  async function completed(adapter: SluiceProcess): Promise<void> {
    const answer = await eventually(
      async () => {
        const tried = await call(`${adapter.url}/rest/echo`, {
          body: JSON.stringify({ name: "Mari" }),
        });
        return tried.status === 202 ? tried : undefined;
      },
      60_000,
      "a message accepted",
    );
    const done = await untilState(adapter, answer.json.id as string, ["completed"], 60_000);
    expect(done.json.state).to.equal("completed");
  }

  /**
   * A suite whose configuration names `url()` and the revoking list in `block` alone (the other
   * connection is the shared plain one), and that starts a worker which must not start.
   */
  function refusedStart(block: "amqpTls" | "redisTls", url: () => string): () => Promise<string> {
    const harness = Harness.suite({
      config: () => ({
        ...services,
        [block === "amqpTls" ? "amqpUrl" : "redisUrl"]: url(),
        [block]: tlsWith(revoking),
      }),
    });
    return async () => {
      const env =
        block === "amqpTls" ? { AMQP_URL: url(), REDIS_URL } : { AMQP_URL, REDIS_URL: url() };
      const started = await harness.spawn("worker", env).then(
        (proc) => proc,
        (error: Error) => error,
      );
      if (!(started instanceof Error)) {
        await started.stop("SIGKILL");
        expect.fail("the worker started");
      }
      return started.message;
    };
  }

  describe("RabbitMQ's certificate on the list in amqpTls.crl, at start", function () {
    const start = refusedStart("amqpTls", () => rabbit!.url);

    it("the role does not start, and says the certificate is revoked", async () => {
      const printed = await start();
      expect(printed).to.include(`RabbitMQ at amqps://guest:[redacted]@127.0.0.1:${rabbit!.port}`);
      expect(printed).to.include("certificate revoked");
      expect(printed).to.include("is on a revocation list in amqpTls.crl");
      expect(printed).not.to.include("NODE_EXTRA_CA_CERTS");
    });
  });

  describe("Redis's certificate on the list in redisTls.crl, at start", function () {
    const start = refusedStart("redisTls", () => redis!.url);

    it("the role does not start, and says the certificate is revoked", async () => {
      const printed = await start();
      expect(printed).to.include(`Redis at rediss://127.0.0.1:${redis!.port}`);
      expect(printed).to.include("certificate revoked");
      expect(printed).to.include("is on a revocation list in redisTls.crl");
      expect(printed).not.to.include("NODE_EXTRA_CA_CERTS");
    });
  });

  describe("a sentinel's certificate on the list in redisTls.crl, at start", function () {
    const start = refusedStart("redisTls", () => sentinel!.url);

    it("the role does not start, and names the sentinel and the revocation", async () => {
      const printed = await start();
      const at = `127.0.0.1:${sentinel!.ports[0]}`;
      expect(printed).to.include(`Redis at redis-sentinel://${at}/sluice-crl (sentinel ${at})`);
      expect(printed).to.include("certificate revoked");
      expect(printed).to.include("is on a revocation list in redisTls.crl");
    });
  });

  describe("a list that does not revoke it, replaced on SIGHUP by one that does", function () {
    const liveList = () => path.join(harness.dir, "ca.crl");
    const env = async () => ({ AMQP_URL: rabbit!.url, REDIS_URL: redis!.url });
    const harness = Harness.suite({
      config: () => {
        fs.copyFileSync(admitting, liveList());
        const tls = tlsWith(liveList());
        const urls = { amqpUrl: rabbit!.url, redisUrl: redis!.url };
        return { ...services, ...urls, amqpTls: tls, redisTls: tls };
      },
      roles: ROLES.map((role) => ({ role, env })),
    });
    const { roles } = harness;

    /** Copies `list` over the roles' file, sends SIGHUP, and waits until each says it read it. */
    async function reloadWith(list: string): Promise<void> {
      const msg = "certificates reloaded";
      const before = ROLES.map((role) => roles[role].lines.filter((l) => l.msg === msg).length);
      fs.copyFileSync(list, liveList());
      for (const role of ROLES) roles[role].child.kill("SIGHUP");
      await Promise.all(
        ROLES.map((role, i) =>
          eventually(
            async () => roles[role].lines.filter((l) => l.msg === msg)[before[i]],
            10_000,
            msg,
          ),
        ),
      );
    }

    const ready = async (proc: SluiceProcess) =>
      (await call(`${proc.adminUrl}/readyz`, { client: null })).status;

    it("each role connects to RabbitMQ and Redis, and a message is completed", async () => {
      for (const role of ROLES) {
        const connected = roles[role].lines.find((line) => line.msg === "connected to RabbitMQ");
        expect(connected?.broker, role).to.include(`127.0.0.1:${rabbit!.port}`);
      }
      await completed(roles.adapter);
    });

    it("a worker given the sentinel's URL reaches the master through it", async () => {
      const worker = await harness.spawn("worker", {
        AMQP_URL: rabbit!.url,
        REDIS_URL: sentinel!.url,
      });
      await worker.stop();
    });

    it("SIGHUP with the revoking list: open connections stay, the next ones are refused and named", async () => {
      await reloadWith(revoking);
      // Nothing was dropped: the work in flight goes on over the connections made before.
      await completed(roles.adapter);
      for (const role of ROLES) expect(await ready(roles[role]), role).to.equal(200);

      const seen = ROLES.map((role) => roles[role].lines.length);
      await rabbit!.ctl("close_all_connections", "revocation test");
      await redis!.stop();
      await redis!.resume();
      for (const [i, role] of ROLES.entries()) {
        const refused = (name: string) =>
          eventually(
            async () =>
              roles[role].lines
                .slice(seen[i])
                .find(
                  (l) =>
                    String(l.err ?? "").includes("certificate revoked") &&
                    String(l.msg).includes(name),
                ),
            60_000,
            `${role} to say ${name} refused the revoked certificate`,
          );
        for (const [name, block] of [
          ["RabbitMQ", "amqpTls"],
          ["Redis", "redisTls"],
        ]) {
          const line = await refused(name);
          expect(line.level, role).to.equal("warn");
          expect(line.why, role).to.include(`is on a revocation list in ${block}.crl`);
          // Counted by reason, for the alert that fires while open connections still carry on.
          const failures = await metricValue(
            roles[role].adminUrl,
            "sluice_dependency_connect_failures_total",
            { dependency: name.toLowerCase(), reason: "revoked_certificate" },
          );
          expect(failures, `${role}: ${name} refusals counted`).to.be.greaterThan(0);
        }
        expect(await ready(roles[role]), role).to.equal(503);
      }
      expect(await rabbit!.ctl("list_connections", "peer_cert_subject")).not.to.include("CN=");
    });

    it("SIGHUP with the admitting list again: each role reconnects, and a message is completed", async () => {
      await reloadWith(admitting);
      for (const role of ROLES) {
        await eventually(
          async () => ((await ready(roles[role])) === 200 ? true : undefined),
          60_000,
          `${role} ready again`,
        );
      }
      await completed(roles.adapter);
    });
  });
});
