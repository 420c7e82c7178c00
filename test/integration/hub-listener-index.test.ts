import { expect } from "chai";
import { randomUUID } from "node:crypto";
import Redis from "ioredis";
import { HubListeners, type HubListener } from "../../shared/store/hub-listeners";
import { selectHubListeners } from "../../shared/operator/hub-listener-selection";
import { redisKeys } from "../../shared/protocol/redis-keys";
import { REDIS_URL } from "../support/harness";

const ALICE = "EE/GOV/70000001/alice";
const BOB = "EE/COM/70000002/bob";

/** A connection that counts the SCAN commands sent through it. */
function countingScans(redis: Redis): { scans: () => number } {
  let scans = 0;
  const scan = redis.scan.bind(redis) as (...args: unknown[]) => Promise<[string, string[]]>;
  (redis as unknown as { scan: (...args: unknown[]) => Promise<[string, string[]]> }).scan = (
    ...args
  ) => {
    scans += 1;
    return scan(...args);
  };
  return { scans: () => scans };
}

describe("listing every client's hub listeners from an index (real Redis)", () => {
  let prefix: string;
  let redis: Redis;
  let listeners: HubListeners;
  let counter: { scans: () => number };
  const ids = (found: HubListener[]) => found.map((l) => l.id).sort();

  beforeEach(async () => {
    prefix = `t-${randomUUID().slice(0, 8)}.`;
    redis = new Redis(REDIS_URL);
    counter = countingScans(redis);
    listeners = new HubListeners(redis, prefix);
  });
  afterEach(async () => {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  });

  it("lists with and without a client, and walks the keyspace only on the first listing", async () => {
    const a1 = await listeners.add(ALICE, "https://hooks.example.org/a1", "");
    const a2 = await listeners.add(ALICE, "https://hooks.example.org/a2", "state=completed");
    const b1 = await listeners.add(BOB, "https://hooks.example.org/b1", "");
    expect(await redis.smembers(redisKeys(prefix).hubClients)).to.have.members([ALICE, BOB]);

    expect(ids(await selectHubListeners(listeners, {}, 100))).to.deep.equal(ids([a1, a2, b1]));
    const scansAfterFirst = counter.scans();
    expect(ids(await selectHubListeners(listeners, { client: BOB }, 100))).to.deep.equal([b1.id]);
    expect(ids(await selectHubListeners(listeners, {}, 100))).to.deep.equal(ids([a1, a2, b1]));
    expect(
      ids(await selectHubListeners(listeners, { receiver: "https://hooks.example.org" }, 100)),
    ).to.deep.equal(ids([a1, a2, b1]));
    // Unrelated keys do not slow the listing: it no longer walks them.
    expect(counter.scans()).to.equal(scansAfterFirst);
  });

  it("drops a client from the index with its last listener, by its client or an operator", async () => {
    const a1 = await listeners.add(ALICE, "https://hooks.example.org/a1", "");
    const a2 = await listeners.add(ALICE, "https://hooks.example.org/a2", "");
    const b1 = await listeners.add(BOB, "https://hooks.example.org/b1", "");
    const index = redisKeys(prefix).hubClients;

    expect(await listeners.remove(a1.id, ALICE)).to.equal(true);
    expect(await redis.smembers(index)).to.have.members([ALICE, BOB]);
    expect(ids(await listeners.all())).to.deep.equal(ids([a2, b1]));

    expect(await listeners.remove(a2.id, ALICE)).to.equal(true);
    expect(await listeners.removeAny(b1.id)).to.not.equal(null);
    expect(await redis.smembers(index)).to.deep.equal([]);
    expect(await listeners.all()).to.deep.equal([]);

    // A client that registers again is listed again.
    const again = await listeners.add(ALICE, "https://hooks.example.org/a1", "");
    expect(ids(await listeners.all())).to.deep.equal([again.id]);
  });

  it("finds listeners an earlier release registered (no index) once, then reads the index", async () => {
    // As the release before the index stored them: listener, client set, registration.
    const keys = redisKeys(prefix);
    const legacy: HubListener = {
      id: randomUUID(),
      client: ALICE,
      callback: "https://hooks.example.org/legacy",
      query: "",
      createdAt: 1,
    };
    await redis
      .multi()
      .set(keys.hubListener(legacy.id), JSON.stringify(legacy))
      .sadd(keys.hubClient(ALICE), legacy.id)
      .set(keys.hubRegistration(ALICE, legacy.callback, legacy.query), JSON.stringify(legacy))
      .exec();
    const fresh = await listeners.add(BOB, "https://hooks.example.org/b1", "");

    expect(ids(await listeners.all())).to.deep.equal(ids([legacy, fresh]));
    expect(await redis.exists(keys.hubClientsBuilt)).to.equal(1);
    const scans = counter.scans();
    expect(scans).to.be.greaterThan(0);

    // One registered by an earlier release after the walk: listed once its client registers
    // again (the same registration answers the same listener and indexes its client).
    const late: HubListener = { ...legacy, id: randomUUID(), client: "EE/GOV/1/late" };
    await redis
      .multi()
      .set(keys.hubListener(late.id), JSON.stringify(late))
      .sadd(keys.hubClient(late.client), late.id)
      .set(keys.hubRegistration(late.client, late.callback, late.query), JSON.stringify(late))
      .exec();
    expect(ids(await listeners.all())).to.deep.equal(ids([legacy, fresh]));
    expect((await listeners.add(late.client, late.callback, late.query)).id).to.equal(late.id);
    expect(ids(await listeners.all())).to.deep.equal(ids([legacy, fresh, late]));
    expect(counter.scans()).to.equal(scans);
  });

  it("drops an indexed client whose listeners an earlier release removed", async () => {
    const a1 = await listeners.add(ALICE, "https://hooks.example.org/a1", "");
    const keys = redisKeys(prefix);
    // The earlier release's removal: listener and its id gone, the index untouched.
    await redis.multi().del(keys.hubListener(a1.id)).srem(keys.hubClient(ALICE), a1.id).exec();
    expect(await listeners.all()).to.deep.equal([]);
    expect(await redis.smembers(keys.hubClients)).to.deep.equal([]);
  });

  it("lists even when dropping a client left without listeners fails (no unhandled rejection)", async () => {
    const a1 = await listeners.add(ALICE, "https://hooks.example.org/a1", "");
    const b1 = await listeners.add(BOB, "https://hooks.example.org/b1", "");
    const keys = redisKeys(prefix);
    await redis.multi().del(keys.hubListener(a1.id)).srem(keys.hubClient(ALICE), a1.id).exec();
    (redis as unknown as { sluiceHubUnindex: () => Promise<number> }).sluiceHubUnindex = () =>
      Promise.reject(new Error("Connection is closed."));
    const unhandled: unknown[] = [];
    const note = (reason: unknown) => unhandled.push(reason);
    process.on("unhandledRejection", note);
    try {
      expect(ids(await listeners.all())).to.deep.equal([b1.id]);
      await new Promise((resolve) => setImmediate(resolve));
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      process.off("unhandledRejection", note);
    }
    expect(unhandled).to.deep.equal([]);
  });
});
