// What a backend sees of `maxInFlight` when a worker's slots are taken away under it (it was cut
// off from Redis past its lease), when workers run with different lease times, and when a call's
// slot is freed with its answer: open calls counted where the guard lets them out, on real Redis.

import { randomUUID } from "node:crypto";
import { expect } from "chai";
import Redis from "ioredis";
import pino from "pino";
import { compileConfig } from "../../shared/config/config";
import { compileServiceWindows } from "../../shared/config/service-windows";
import { BackendPauses } from "../../shared/operator/backend-pauses";
import { redisKeys } from "../../shared/protocol/redis-keys";
import { BackendGates } from "../../worker/backend-gates";
import {
  createBackendLimits,
  type BackendLimits,
  type CallPermit,
} from "../../worker/backend-guard";
import { oneBackendConfig } from "../support/broker-scope";
import { eventually, REDIS_URL } from "../support/harness";
import { requestMessage } from "../support/messages";
import { proxyTo, viaProxy, type TcpProxy } from "../support/tcp-proxy";

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const never = () => new AbortController().signal;

describe("in-flight slots taken away (real Redis)", function () {
  // The first test's two waits of 10 s, its leases running out and its rate tokens.
  this.timeout(60_000);
  const prefix = `t-${randomUUID().slice(0, 8)}.`;
  const key = redisKeys(prefix).inflight("b");
  const connections: Redis[] = [];
  const limits: BackendLimits[] = [];
  const proxies: TcpProxy[] = [];
  let redis: Redis;

  before(async () => {
    redis = await connect(REDIS_URL);
  });

  afterEach(async () => {
    await Promise.all(limits.splice(0).map((l) => l.close()));
    // Its clients first: they would keep reconnecting to a closed proxy.
    for (const client of connections.splice(1)) client.disconnect();
    await Promise.all(proxies.splice(0).map((p) => p.close()));
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
  });

  after(async () => {
    await redis.quit();
  });

  async function connect(url: string): Promise<Redis> {
    const client = new Redis(url, { lazyConnect: true });
    connections.push(client);
    await client.connect();
    return client;
  }

  /** A worker's limits of backend `b` over `client`, its warnings kept in `warnings`. */
  function worker(client: Redis, backend: Record<string, unknown>, warnings: object[] = []) {
    const config = compileConfig(oneBackendConfig(prefix, backend), ".").backends.b;
    const gates = new BackendGates(
      new Map([["b", compileServiceWindows([], "backends.b.windows").windows]]),
      new BackendPauses(client, prefix),
      pino({ level: "silent" }),
    );
    const log = pino(
      { level: "warn" },
      { write: (line: string) => warnings.push(JSON.parse(line)) },
    );
    const made = createBackendLimits({ redis: client, prefix, backend: config, gates, log });
    limits.push(made);
    return made;
  }

  /** A worker whose every Redis connection passes through a proxy the test can stall. */
  async function cutOffWorker(backend: Record<string, unknown>, warnings: object[] = []) {
    const proxy = proxyTo(REDIS_URL);
    proxies.push(proxy);
    const client = await connect(viaProxy(REDIS_URL, await proxy.listen()));
    return { proxy, client, limits: worker(client, backend, warnings) };
  }

  /** The calls open at the backend: from the guard letting one out until its slot is freed. */
  function backendSide() {
    const open = new Set<string>();
    let peak = 0;
    return {
      open,
      get peak() {
        return peak;
      },
      /** Waits as the worker does before the call, then counts the call open. */
      async call(name: string, permit: CallPermit): Promise<void> {
        await permit.beforeCall(never);
        open.add(name);
        peak = Math.max(peak, open.size);
      },
      async end(name: string, permit: CallPermit): Promise<void> {
        open.delete(name);
        await permit.release();
      },
    };
  }

  it("a worker cut off past its lease: its waiting call waits for a slot, its open call is put back", async () => {
    const max = 2;
    const backend = {
      maxInFlight: max,
      leaseTime: "1s",
      rate: { limit: 1, per: "1s", burst: 0 },
    };
    const warnings: Array<{ id?: string; msg?: string }> = [];
    const a = await cutOffWorker(backend, warnings);
    // The other worker's leases outlast the test: with a's 1 s, a second's stall of this process
    // let them run out too, and a's waiting call went out under a slot b had lost.
    const b = worker(await connect(REDIS_URL), { ...backend, leaseTime: "60s" });
    const side = backendSide();
    const [openRequest, waitingRequest] = [requestMessage(), requestMessage()];
    const a1 = await a.limits.guard(openRequest, never());
    const a2 = await a.limits.guard(waitingRequest, never());
    await side.call("a1", a1);
    // The next rate token is a second away: a2 waits for it while Redis is out of reach.
    let a2Sent = false;
    const a2Call = side.call("a2", a2).then(() => {
      a2Sent = true;
    });
    a.proxy.stall();
    // Another worker takes both slots once a's leases ran out, and calls under them.
    const b1 = await b.guard(requestMessage(), never());
    await side.call("b1", b1);
    const b2 = await b.guard(requestMessage(), never());
    await side.call("b2", b2);
    a.proxy.heal();

    // a1's call is open at the backend whatever Redis said: its renewal puts it back, and a2
    // waits for a slot like any newcomer instead of going out beside b1 and b2.
    const waitingKey = redisKeys(prefix).inflightWaiting("b");
    await eventually(
      async () =>
        a2Sent || (await redis.zscore(waitingKey, a2.slot!.token)) !== null ? true : undefined,
      10_000,
      "the waiting call sent or waiting for a slot",
    );
    expect(a2Sent, "a call went out under a slot taken away").to.equal(false);
    expect([...side.open].sort()).to.deep.equal(["a1", "b1", "b2"]);
    await eventually(
      async () => ((await redis.zscore(key, a1.slot!.token)) !== null ? true : undefined),
      10_000,
      "the open call's slot put back",
    );

    await side.end("b1", b1);
    await side.end("b2", b2);
    await a2Call;
    await side.end("a1", a1);
    await side.end("a2", a2);
    // Only the call the outage caught open is counted over maxInFlight (docs/worker-limits.md).
    expect(side.peak).to.equal(max + 1);
    const lossOf = (id: string) =>
      warnings.filter((w) => w.id === id).map((w) => (w.msg ?? "").split(";")[1]?.trim());
    expect(lossOf(openRequest.id)).to.deep.equal([
      "put back, so the backend may have more than maxInFlight calls open until this one ends",
    ]);
    expect(lossOf(waitingRequest.id)).to.deep.equal(["the call waits for a slot again"]);
  });

  it("two lease times on one backend: the set outlives the shorter lease under the longer one's call", async () => {
    const max = 2;
    const long = worker(await connect(REDIS_URL), { maxInFlight: max, leaseTime: "30s" });
    const short = worker(await connect(REDIS_URL), { maxInFlight: max, leaseTime: "1s" });
    const side = backendSide();
    const held = await long.guard(requestMessage(), never());
    await side.call("long", held);
    for (let i = 0; i < 3; i++) {
      const quick = await short.guard(requestMessage(), never());
      await side.call("quick", quick);
      await side.end("quick", quick);
    }
    // Past the short lease and its margin: the set must still count the long call.
    await sleep(2_500);
    // Taken under the long lease: under the short one, a second's stall of this process before
    // the next try freed it again, and the next was admitted with the long call still counted.
    const s1 = await long.guard(requestMessage(), never());
    await side.call("s1", s1);
    // One slot is left of two: the next newcomer waits (given up after its first try).
    const controller = new AbortController();
    const next = short.guard(requestMessage(), controller.signal);
    controller.abort();
    const admitted = await next.then(
      async (permit) => {
        await side.call("s2", permit);
        await side.end("s2", permit);
        return true;
      },
      () => false,
    );
    expect(admitted, "admitted beside two open calls").to.equal(false);
    expect(side.peak).to.equal(max);
    expect(await redis.zscore(key, held.slot!.token)).to.not.equal(null);
    await side.end("s1", s1);
    await side.end("long", held);
  });

  it("a slot freed by a script with its answer stays free: no renewal puts it back", async () => {
    // The answer's record frees the slot in its own round trip (`CallPermit.freeing`). A
    // renewal sent while that round trip was under way, of a call counted as open, ran after
    // the script and put the slot back for a whole lease with no call under it.
    // A lease of 6 s, so the script's ZREM (sent when the stall ends) comes while the slot is
    // still held: of a 1 s lease, 400 ms were left, and a loaded machine's stall let it run out.
    const a = await cutOffWorker({ maxInFlight: 1, leaseTime: "6s" });
    const side = backendSide();
    const permit = await a.limits.guard(requestMessage(), never());
    await side.call("a", permit);
    const { token } = permit.slot!;
    // The round trip is made to last longer than a renewal period (a third of the lease). The
    // renewal's timer is due before this sleep's, so a stall of the process delays both alike.
    a.proxy.stall();
    permit.freeing?.();
    const freeing = a.client.eval("return redis.call('ZREM', KEYS[1], ARGV[1])", 1, key, token);
    await sleep(3_000);
    a.proxy.heal();
    expect(await freeing).to.equal(1);
    permit.freed?.();
    // Every command the worker sent before this one has run.
    await a.client.ping();
    expect(await redis.zrange(key, 0, -1)).to.deep.equal([]);
  });
});
