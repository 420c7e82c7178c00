// A role whose start fails after amqpTls and redisTls were read (Redis or RabbitMQ unreachable)
// must not leave those blocks among the ones SIGHUP reads again: the process that goes on (a
// test runner, a supervisor retrying in-process) would read and report files nobody uses.

import { expect } from "chai";
import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import pino from "pino";
import type { SluiceConfig } from "../../shared/config/config";
import { reloadAllTls } from "../../shared/config/tls-files";
import { startRuntime } from "../../shared/runtime/runtime";
import { closedPort } from "../support/closed-port";
import { createTestPki, type TestPki } from "../support/test-pki";

describe("a start that fails after amqpTls and redisTls were read", function () {
  this.timeout(30_000);
  let pki: TestPki;
  let dir = "";
  before(() => {
    pki = createTestPki();
    dir = mkdtempSync(path.join(tmpdir(), "sluice-start-tls-"));
  });
  after(() => {
    pki?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it("leaves neither block to SIGHUP's reload", async () => {
    const ca = path.join(dir, "broker-ca.crt");
    copyFileSync(pki.ca.certFile, ca);
    const tls = { ca: [ca], cert: null, key: null };
    const port = await closedPort();
    const config = {
      redisUrl: `rediss://127.0.0.1:${port}`,
      amqpUrls: [`amqps://127.0.0.1:${port}`],
      amqpTls: tls,
      redisTls: tls,
    } as unknown as SluiceConfig;
    const failed = await startRuntime(config, pino({ level: "silent" }), 0).then(
      () => null,
      (error: Error) => error,
    );
    expect(failed?.message).to.include(`Redis at rediss://127.0.0.1:${port}`);
    // Read again, a block still registered would fail on the file now gone and say so.
    rmSync(ca);
    const problems = reloadAllTls().filter((problem) => problem.includes(ca));
    expect(problems).to.deep.equal([]);
  });
});
