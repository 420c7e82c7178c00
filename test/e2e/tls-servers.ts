// Private servers with TLS for the tests that run Sluice over `amqps://`, `rediss://` and
// Sentinel with TLS: a test PKI, one server certificate from its CA valid for 127.0.0.1 alone
// (the address the URLs and the sentinels name), and private RabbitMQ nodes, redis-servers and
// sentinels listening with TLS only and, unless told otherwise, requiring a client certificate
// from the test CA (mutual TLS). `remove()` stops every one it started, removes their data and
// the PKI.

import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { createTestPki, type KeyPair, type TestPki } from "../support/test-pki";
import {
  PrivateRabbit,
  PrivateRedis,
  PrivateSentinels,
  type PrivateRedisOptions,
  type ServerTls,
} from "./ops-support";

const run = promisify(execFile);

export class TlsServers {
  readonly pki: TestPki = createTestPki();
  /** The servers' certificate: the test CA's, valid for `IP:127.0.0.1` alone. */
  readonly server: KeyPair = this.pki.ca.issue("server", { san: "IP:127.0.0.1" });
  private readonly rabbits: PrivateRabbit[] = [];
  private readonly redises: PrivateRedis[] = [];
  private readonly sentinelSets: PrivateSentinels[] = [];
  private reader: KeyPair | undefined;

  /**
   * The servers' TLS: `server`, clients asked for a certificate the test CA issued; `changes`
   * replace any of these (another CA file for clients, another certificate, none asked for).
   */
  tls(changes: Partial<ServerTls> = {}): ServerTls {
    return {
      certFile: this.server.certFile,
      keyFile: this.server.keyFile,
      caFile: this.pki.ca.certFile,
      clientCertRequired: true,
      ...changes,
    };
  }

  /** A redis-server with a TLS port only (`rediss://`). */
  async redis(
    options: Omit<PrivateRedisOptions, "tls"> = {},
    tls: Partial<ServerTls> = {},
  ): Promise<PrivateRedis> {
    const redis = await PrivateRedis.start({ ...options, tls: this.tls(tls) });
    this.redises.push(redis);
    return redis;
  }

  /** A RabbitMQ node with a TLS listener only (`amqps://`). */
  async rabbit(tls: Partial<ServerTls> = {}): Promise<PrivateRabbit> {
    const rabbit = await PrivateRabbit.start({ tls: this.tls(tls) });
    this.rabbits.push(rabbit);
    return rabbit;
  }

  /** Sentinels with TLS ports only watching `master` (three, or one on each of `ports`). */
  async sentinels(
    master: PrivateRedis,
    masterName: string,
    options: { ports?: number[]; tls?: Partial<ServerTls> } = {},
  ): Promise<PrivateSentinels> {
    const sentinels = await PrivateSentinels.start(
      master,
      masterName,
      options.ports,
      this.tls(options.tls),
    );
    this.sentinelSets.push(sentinels);
    return sentinels;
  }

  /** Runs redis-cli against the server or sentinel on `port`, with a client certificate. */
  async redisCli(port: number, ...args: string[]): Promise<string> {
    this.reader ??= this.pki.ca.issue("redis-cli");
    const { stdout } = await run("redis-cli", [
      ...["--tls", "--cacert", this.pki.ca.certFile],
      ...["--cert", this.reader.certFile, "--key", this.reader.keyFile],
      ...["-h", "127.0.0.1", "-p", String(port), ...args],
    ]);
    return stdout;
  }

  /** Stops every sentinel, node and server started here, removes their data and the PKI. */
  async remove(): Promise<void> {
    for (const sentinels of this.sentinelSets) await sentinels.stop();
    for (const rabbit of this.rabbits) await rabbit.remove();
    for (const redis of this.redises) await redis.remove();
    this.pki.cleanup();
  }
}
