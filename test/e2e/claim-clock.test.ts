// A worker claims a message for the length of its backend call by Redis's clock, not its own:
// a second worker whose machine clock runs an hour ahead (faketime) gets the message again
// while the first is still calling the backend (the first's broker connection was cut), and
// must leave it alone, not take the claim over and call the backend a second time.

import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { randomUUID } from "node:crypto";
import { expect } from "chai";
import { AMQP_URL, call, eventually, Harness, type SluiceProcess } from "../support/harness";
import { TcpProxy, viaProxy } from "../support/tcp-proxy";

describe("a claim and a worker whose clock is an hour ahead", function () {
  this.timeout(240_000);
  const harness = new Harness();
  const broker = new URL(AMQP_URL);
  const proxy = new TcpProxy({ host: broker.hostname, port: Number(broker.port || 5672) });
  let adapter: SluiceProcess;

  before(async () => {
    await harness.startSim({ latencyMs: 0 });
    harness.writeConfig({
      services: { orders: { protocols: ["rest"], reply: { mode: "ack" }, backend: "slow" } },
      // The first worker's call must outlast the second worker's start and its redelivery, which
      // take many seconds on a loaded machine: a call timed out first ends the message, and the
      // second worker then has no claim to leave alone.
      backends: { slow: { translator: "rest-json", timeout: "90s", retry: { attempts: 1 } } },
    });
    await harness.spawn("response-worker");
    adapter = await harness.spawn("adapter");
  });
  after(async () => {
    await proxy.close();
    await harness.cleanup();
  });

  /** Spawns a worker with another configuration file, then restores the harness's own. */
  async function spawnWorker(
    configFile: string,
    env: Record<string, string> = {},
  ): Promise<SluiceProcess> {
    const ownConfig = harness.configFile;
    harness.configFile = configFile;
    try {
      return await harness.spawn("worker", env);
    } finally {
      harness.configFile = ownConfig;
    }
  }

  it("leaves a live claim alone, and the backend is called once", async () => {
    // The first worker reaches the broker through the proxy, so its connection can be cut.
    const firstConfig = path.join(harness.dir, "first-worker.json");
    const shared = JSON.parse(readFileSync(harness.configFile, "utf8")) as Record<string, unknown>;
    writeFileSync(
      firstConfig,
      JSON.stringify({ ...shared, amqpUrl: viaProxy(AMQP_URL, await proxy.listen()) }),
    );
    await spawnWorker(firstConfig);

    harness.sim.update({ paused: true });
    const submitted = await call(`${adapter.url}/rest/orders/orders`, {
      body: JSON.stringify({ order: 1 }),
      headers: { "X-Road-Id": randomUUID() },
    });
    expect(submitted.status).to.equal(202);
    const id = submitted.json.id as string;
    const status = async () => (await call(`${adapter.url}/messages/${id}`)).json;
    // Claimed by the first worker, whose call now waits in the paused backend.
    await eventually(async () => ((await status()).state === "processing" ? true : undefined));

    // libfaketime preloaded into the worker itself, not the faketime command: that one runs
    // the program as its child, which would outlive the harness's kill of faketime.
    const second = await spawnWorker(harness.configFile, {
      LD_PRELOAD: libfaketime(),
      FAKETIME: "+3600s",
    });
    const itsClock = Date.parse(String(second.lines.find((line) => line.time)?.time));
    expect(itsClock - Date.now(), "the second worker's clock").to.be.greaterThan(3_000_000);

    // The first worker loses its broker connection (and cannot come back yet): the broker
    // hands the message, still being called, to the second worker.
    proxy.refuse(true);
    proxy.cut();
    // Taking the claim over would call the (paused) backend and log nothing until it answers.
    await eventually(
      async () =>
        second.lines.find(
          (line) =>
            line.id === id && line.msg === "claimed by another worker; parked until its claim ends",
        ),
      60_000,
      "the second worker to leave the message to the first",
    );

    proxy.refuse(false);
    harness.sim.update({ paused: false });
    const done = await eventually(
      async () => {
        const doc = await status();
        return doc.state === "completed" ? doc : undefined;
      },
      60_000,
      "the message to complete",
    );
    expect(done.responses).to.have.length(1);
    expect(harness.sim.calls({ id }).length).to.equal(1);
  });
});

/** Debian's libfaketime (package faketime, installed by deploy/install-tools.sh). */
function libfaketime(): string {
  const found = readdirSync("/usr/lib")
    .map((dir) => path.join("/usr/lib", dir, "faketime", "libfaketime.so.1"))
    .find((file) => existsSync(file));
  if (!found)
    throw new Error("libfaketime is missing: run deploy/install-tools.sh (npm test does)");
  return found;
}
