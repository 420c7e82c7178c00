import { expect } from "chai";
import { replaceConnectionTls } from "../../shared/config/connection-tls";
import { socketOptions } from "../../shared/broker/amqp";
import { redisClient } from "../../shared/store/redis";
import { CLIENT_CIPHERS } from "../../shared/config/tls-files";

// SIGHUP puts new `amqpTls`/`redisTls` material into the options objects the clients were given
// at start: what each client reads at its next connect must then be the new material.
describe("amqpTls and redisTls read again for the next connection", () => {
  const old = {
    ca: [Buffer.from("ca-1")],
    crl: [Buffer.from("crl-1")],
    cert: Buffer.from("cert-1"),
    key: Buffer.from("key-1"),
    ciphers: CLIENT_CIPHERS,
  };
  const fresh = {
    ca: [Buffer.from("ca-2")],
    crl: [Buffer.from("crl-2")],
    cert: Buffer.from("cert-2"),
    key: Buffer.from("key-2"),
    ciphers: "ECDHE-RSA-AES128-SHA256",
  };

  it("replaces the material in the same object, dropping what the new files do not name", () => {
    const target = { ...old };
    replaceConnectionTls(target, fresh);
    expect(target).to.deep.equal(fresh);
    replaceConnectionTls(target, { ca: fresh.ca });
    expect(target).to.deep.equal({ ca: fresh.ca, ciphers: CLIENT_CIPHERS });
  });

  it("amqplib's copy of the socket options at a connect carries the material in place then", () => {
    const tls = { ...old };
    const options = socketOptions({ timeout: 5_000, noDelay: true }, tls);
    // amqplib copies the own enumerable keys at each connect (lib/connect.js, clone()).
    const atConnect = () => Object.fromEntries(Object.keys(options).map((k) => [k, options[k]]));
    expect(atConnect()).to.deep.equal({ timeout: 5_000, noDelay: true, ...old });
    replaceConnectionTls(tls, fresh);
    expect(atConnect()).to.deep.equal({ timeout: 5_000, noDelay: true, ...fresh });
  });

  it("without amqpTls the socket options carry Sluice's cipher list and no certificates", () => {
    expect(socketOptions({ timeout: 1, noDelay: true }, null)).to.deep.equal({
      timeout: 1,
      noDelay: true,
      ciphers: CLIENT_CIPHERS,
    });
  });

  it("a rediss:// client without redisTls offers Sluice's cipher list; a redis:// one no TLS", () => {
    const secure = redisClient("rediss://127.0.0.1:6380", { lazyConnect: true });
    const plain = redisClient("redis://127.0.0.1:6379", { lazyConnect: true });
    expect(secure.options.tls).to.deep.equal({ ciphers: CLIENT_CIPHERS });
    expect(plain.options.tls).to.equal(undefined);
    secure.disconnect();
    plain.disconnect();
  });

  it("a rediss:// client and its duplicates (subscribers) hold the object itself", () => {
    const tls = { ...old };
    const client = redisClient("rediss://127.0.0.1:6380", { lazyConnect: true }, tls);
    const subscriber = client.duplicate({ lazyConnect: true });
    replaceConnectionTls(tls, fresh);
    expect(client.options.tls).to.equal(tls);
    expect(subscriber.options.tls).to.equal(tls);
    expect(subscriber.options.tls).to.deep.equal(fresh);
    client.disconnect();
    subscriber.disconnect();
  });

  it("a Sentinel client holds it for the sentinels and for the master", () => {
    const tls = { ...old };
    const client = redisClient("redis-sentinel://s1:26379/mymaster", { lazyConnect: true }, tls);
    const subscriber = client.duplicate({ lazyConnect: true });
    replaceConnectionTls(tls, fresh);
    for (const each of [client, subscriber]) {
      expect(each.options.tls).to.equal(tls);
      expect(each.options.sentinelTLS).to.equal(tls);
    }
    client.disconnect();
    subscriber.disconnect();
  });
});
