import { expect } from "chai";
import { redisClient } from "../../shared/store/redis";

// What ioredis is given for `redisTls`: the client is made without connecting (lazyConnect).
describe("the Redis client's TLS (redisTls)", () => {
  const tls = { ca: [Buffer.from("ca")], cert: Buffer.from("cert"), key: Buffer.from("key") };

  it("gives a rediss:// client the CA and the client certificate", () => {
    const client = redisClient("rediss://127.0.0.1:6380", { lazyConnect: true }, tls);
    expect(client.options.tls).to.deep.equal(tls);
    client.disconnect();
  });

  it("turns TLS on to the sentinels and the master of a Sentinel URL, with the same files", () => {
    const client = redisClient("redis-sentinel://s1:26379/mymaster", { lazyConnect: true }, tls);
    expect(client.options.tls).to.deep.equal(tls);
    expect(client.options.sentinelTLS).to.deep.equal(tls);
    expect(client.options.enableTLSForSentinelMode).to.equal(true);
    client.disconnect();
  });

  it("leaves a Sentinel URL without redisTls without TLS", () => {
    const client = redisClient("redis-sentinel://s1:26379/mymaster", { lazyConnect: true });
    expect(client.options.tls).to.equal(undefined);
    expect(client.options.enableTLSForSentinelMode).to.not.equal(true);
    client.disconnect();
  });
});
