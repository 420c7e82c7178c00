// Connection settings: several broker URLs (a cluster's nodes) and Redis through Sentinel, read
// from the configuration or the environment, with every problem named and no password shown.

import { expect } from "chai";
import { compileConfig } from "../../shared/config/config";
import { amqpUrls, redisTarget } from "../../shared/config/connection-urls";
import { hideUrlPassword } from "../../shared/observability/url-passwords";
import { amqpStartupError, redisStartupError } from "../../shared/runtime/startup-error";

const minimal = {
  services: { svc: { protocols: ["rest"], reply: { mode: "ack" }, backend: "b" } },
  backends: { b: { url: "http://127.0.0.1:9", translator: "rest-json" } },
};

function withEnv<T>(env: Record<string, string | undefined>, run: () => T): T {
  const saved = { ...process.env };
  try {
    for (const [key, value] of Object.entries(env)) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
    return run();
  } finally {
    process.env = saved;
  }
}

function problemsOf(raw: Record<string, unknown>, env: Record<string, string | undefined> = {}) {
  return withEnv({ AMQP_URL: undefined, REDIS_URL: undefined, ...env }, () => {
    try {
      compileConfig(raw, ".");
      return [];
    } catch (error) {
      return ((error as { problems?: string[] }).problems ?? [(error as Error).message]).filter(
        (p) => /amqp|redis/i.test(p),
      );
    }
  });
}

describe("broker URLs", () => {
  it("takes one URL, a comma-separated list, or a list in the file", () => {
    expect(amqpUrls("amqp://a:5672", "x").urls).to.deep.equal(["amqp://a:5672"]);
    expect(amqpUrls("amqp://a:5672, amqp://b:5672,amqps://c:5671", "x").urls).to.deep.equal([
      "amqp://a:5672",
      "amqp://b:5672",
      "amqps://c:5671",
    ]);
    const config = withEnv({ AMQP_URL: undefined }, () =>
      compileConfig({ ...minimal, amqpUrl: ["amqp://n1:5672", "amqp://n2:5672"] }, "."),
    );
    expect(config.amqpUrls).to.deep.equal(["amqp://n1:5672", "amqp://n2:5672"]);
  });

  it("AMQP_URL overrides the file and may list the nodes too", () => {
    const config = withEnv({ AMQP_URL: "amqp://u:p@n1:5672,amqp://u:p@n2:5672" }, () =>
      compileConfig({ ...minimal, amqpUrl: "amqp://ignored:5672" }, "."),
    );
    expect(config.amqpUrls).to.deep.equal(["amqp://u:p@n1:5672", "amqp://u:p@n2:5672"]);
  });

  it("names each URL that is not an AMQP URL, without its password", () => {
    expect(
      problemsOf({ ...minimal, amqpUrl: ["amqp://n1:5672", "http://u:secret@n2"] }),
    ).to.deep.equal(['config.amqpUrl: "http://u:[redacted]@n2" is not an amqp:// or amqps:// URL']);
    // An empty list is a shape error, reported by the configuration's schema.
    expect(problemsOf({ ...minimal, amqpUrl: [] })).to.deep.equal([
      "config.amqpUrl: must list at least 1",
    ]);
    expect(problemsOf(minimal, { AMQP_URL: "nonsense" })).to.deep.equal([
      "environment AMQP_URL: a value that does not begin with a scheme:// (not shown, as it may be a password or token) is not an amqp:// or amqps:// URL",
    ]);
  });

  it("names an AMQP URL whose host or port cannot be used", () => {
    const problems = problemsOf({
      ...minimal,
      amqpUrl: ["amqp://u:pw@n1:notaport", "amqp://n2:0"],
    });
    expect(problems).to.have.length(2);
    expect(problems[0]).to.match(
      /"amqp:\/\/u:\[redacted\]@n1:notaport" is not an amqp:\/\/ or amqps:\/\/ URL: its host or port/,
    );
    expect(problems[1]).to.include("port 0");
  });
});

describe("Redis through Sentinel", () => {
  it("reads the sentinels, the master name, the database and the passwords", () => {
    const target = redisTarget(
      "redis-sentinel://:s3cret@10.0.0.1:26379,10.0.0.2,[::1]:26380/mymaster/2?sentinelPassword=x",
    );
    expect(target.kind).to.equal("sentinel");
    if (target.kind !== "sentinel") return;
    expect(target.options).to.deep.include({
      name: "mymaster",
      db: 2,
      password: "s3cret",
      sentinelPassword: "x",
    });
    expect(target.options.sentinels).to.deep.equal([
      { host: "10.0.0.1", port: 26379 },
      { host: "10.0.0.2", port: 26379 },
      { host: "::1", port: 26380 },
    ]);
  });

  it("passes redis:// and rediss:// URLs on unchanged", () => {
    expect(redisTarget("redis://127.0.0.1:6379/1")).to.deep.equal({
      kind: "direct",
      url: "redis://127.0.0.1:6379/1",
    });
    expect(redisTarget("rediss://cache:6380").kind).to.equal("direct");
  });

  it("refuses a malformed URL at configuration time, naming where it came from", () => {
    expect(problemsOf({ ...minimal, redisUrl: "redis-sentinel://h1:26379" })).to.have.length(1);
    expect(problemsOf({ ...minimal, redisUrl: "memcached://h" })[0]).to.match(
      /^config\.redisUrl: /,
    );
    expect(problemsOf(minimal, { REDIS_URL: "redis-sentinel:///m" })[0]).to.match(
      /^environment REDIS_URL: /,
    );
  });

  it("refuses a sentinel whose port is no port", () => {
    for (const url of [
      "redis-sentinel://h1:99999/m",
      "redis-sentinel://h1:26379,h2:0/m",
      "redis-sentinel://:pw@[::1]:65536/m",
    ]) {
      const problems = problemsOf({ ...minimal, redisUrl: url });
      expect(problems, url).to.have.length(1);
      expect(problems[0], url).to.match(
        /^config\.redisUrl: .*port must be a number from 1 to 65535/,
      );
    }
    expect(problemsOf({ ...minimal, redisUrl: "redis-sentinel://h1:65535,h2:1/m" })).to.deep.equal(
      [],
    );
  });

  it("refuses a redis:// or rediss:// URL whose host, port or database cannot be used", () => {
    for (const url of [
      "redis://h:notaport",
      "rediss://h:70000",
      "redis://h:0",
      "redis://:pw@:6379",
      "redis://",
      "redis://h:6379/cache",
    ]) {
      const problems = problemsOf({ ...minimal, redisUrl: url });
      expect(problems, url).to.have.length(1);
      expect(problems[0], url).to.match(
        /^config\.redisUrl: ".*" is not a redis:\/\/ or rediss:\/\/ URL: /,
      );
    }
    expect(problemsOf({ ...minimal, redisUrl: "redis://:secret@h:notaport" })[0]).to.not.include(
      "secret",
    );
    for (const url of ["redis://h", "redis://h:6379/", "rediss://u:p@[::1]:6380/2?db=2"]) {
      expect(problemsOf({ ...minimal, redisUrl: url }), url).to.deep.equal([]);
    }
  });

  it("never shows a password in what it prints", () => {
    expect(
      hideUrlPassword("redis-sentinel://user:pw@h1:26379,h2:26379/m?sentinelPassword=sp"),
    ).to.equal("redis-sentinel://user:[redacted]@h1:26379,h2:26379/m?sentinelPassword=[redacted]");
    expect(hideUrlPassword("redis-sentinel://pw@h1/m")).to.equal(
      "redis-sentinel://[redacted]@h1/m",
    );
    // ioredis reads a password from a redis:// query as well.
    expect(hideUrlPassword("redis://r:6379/2?db=2&password=s3cret")).to.equal(
      "redis://r:6379/2?db=2&password=[redacted]",
    );
    expect(hideUrlPassword("rediss://:pw@r:6380?password=s3cret")).to.equal(
      "rediss://:[redacted]@r:6380?password=[redacted]",
    );
    // Unencoded "/", "@", "," and "=" in a password (openssl rand -base64), and no scheme.
    expect(hideUrlPassword("amqp://sluice:kT9/x+Qz@SECRET=@rabbit.internal:5672")).to.equal(
      "amqp://sluice:[redacted]@rabbit.internal:5672",
    );
    expect(hideUrlPassword("redis://default:a/b,SECRET@r:6379/2")).to.equal(
      "redis://default:[redacted]@r:6379/2",
    );
    expect(hideUrlPassword("sluice:SECRET@rabbit:5672")).to.equal("sluice:[redacted]@rabbit:5672");
  });

  it("reads a password with a comma or a slash as part of its URL, and never prints it", () => {
    const { urls, problems } = amqpUrls(
      "amqp://u:ab,cdSECRET@h1, amqp://u:x/ySECRET@h2,",
      "AMQP_URL",
    );
    expect(urls).to.deep.equal(["amqp://u:ab,cdSECRET@h1", "amqp://u:x/ySECRET@h2"]);
    expect(problems).to.have.length(1);
    expect(problems[0]).to.not.include("SECRET");
    expect(problems[0]).to.include("amqp://u:[redacted]@h2");
    expect(amqpUrls("amqp://a, amqp://b", "x").urls).to.deep.equal(["amqp://a", "amqp://b"]);
  });
});

describe("a refused TLS certificate at start", () => {
  const refusal = (code: string, message: string): Error =>
    Object.assign(new Error(message), { code });

  it("names the certificate and NODE_EXTRA_CA_CERTS, not a stopped server, for RabbitMQ and Redis", () => {
    const untrusted = refusal(
      "SELF_SIGNED_CERT_IN_CHAIN",
      "self-signed certificate in certificate chain",
    );
    const amqp = amqpStartupError(["amqps://u:SECRET@h:5671"], untrusted).message;
    expect(amqp).to.include(
      "RabbitMQ at amqps://u:[redacted]@h:5671: its TLS certificate was refused",
    );
    expect(amqp).to.include("NODE_EXTRA_CA_CERTS").and.include("AMQP_URL");
    expect(amqp).to.not.include("SECRET").and.not.include("rabbitmq-server -detached");
    const otherHost = refusal("ERR_TLS_CERT_ALTNAME_INVALID", "Hostname/IP does not match");
    const redis = redisStartupError("rediss://:SECRET@h:6380", otherHost).message;
    expect(redis).to.include(
      "Redis at rediss://:[redacted]@h:6380: its TLS certificate was refused",
    );
    expect(redis).to.include("REDIS_URL").and.not.include("SECRET");
  });

  it("names the client certificate setting when the server refused Sluice's (or its lack of one)", () => {
    const required = refusal(
      "ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED",
      "error:0A00045C:SSL routines:ssl3_read_bytes:tlsv13 alert certificate required:SSL alert number 116\n",
    );
    const amqp = amqpStartupError(["amqps://u:SECRET@h:5671"], required).message;
    expect(amqp).to.include(
      "RabbitMQ at amqps://u:[redacted]@h:5671: it refused the TLS handshake",
    );
    expect(amqp).to.include("amqpTls.cert and amqpTls.key").and.include("alert number 116)");
    expect(amqp).to.not.include("its TLS certificate was refused").and.not.include("SECRET");
    const unknownCa = refusal("ERR_SSL_TLSV1_ALERT_UNKNOWN_CA", "tlsv1 alert unknown ca");
    const redis = redisStartupError("rediss://:SECRET@h:6380", unknownCa).message;
    expect(redis).to.include("Redis at rediss://:[redacted]@h:6380: it refused the TLS handshake");
    expect(redis).to.include("redisTls.cert and redisTls.key").and.not.include("NODE_EXTRA");
  });

  it("names the sentinel that gave a Sentinel URL's refusal, beside the URL", () => {
    const untrusted = refusal(
      "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
      "unable to verify the first certificate",
    );
    const url = "redis-sentinel://:SECRET@s1:26379,s2:26379/mymaster";
    const redis = redisStartupError(url, untrusted, "s2:26379").message;
    expect(redis).to.include(
      "Redis at redis-sentinel://:[redacted]@s1:26379,s2:26379/mymaster (sentinel s2:26379): its TLS certificate was refused",
    );
    expect(redis).to.include("redisTls.ca").and.not.include("SECRET");
  });

  it("names the master the sentinels gave when its certificate was refused, not the URL's host", () => {
    const untrusted = refusal(
      "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
      "unable to verify the first certificate",
    );
    const url = "redis-sentinel://:SECRET@s1:26379,s2:26379/mymaster";
    const redis = redisStartupError(url, untrusted, undefined, "10.0.0.9:6380").message;
    expect(redis).to.include(
      "Redis at redis-sentinel://:[redacted]@s1:26379,s2:26379/mymaster (master 10.0.0.9:6380, as the sentinels name it): its TLS certificate was refused",
    );
    expect(redis).to.include(
      "have the sentinels name the master by a host the certificate is issued for",
    );
    expect(redis).to.include("redisTls.ca").and.not.include("SECRET");
  });

  it("says a certificate on a list of amqpTls.crl or redisTls.crl is revoked, not untrusted", () => {
    const revoked = refusal("CERT_REVOKED", "certificate revoked");
    const amqp = amqpStartupError(["amqps://u:SECRET@h:5671"], revoked).message;
    expect(amqp).to.include(
      "RabbitMQ at amqps://u:[redacted]@h:5671: its TLS certificate is on a revocation list in amqpTls.crl (certificate revoked)",
    );
    expect(amqp).to.not.include("NODE_EXTRA_CA_CERTS").and.not.include("rabbitmq-server");
    const url = "redis-sentinel://s1:26379/mymaster";
    const redis = redisStartupError(url, revoked, "s1:26379").message;
    expect(redis).to.include(
      "(sentinel s1:26379): its TLS certificate is on a revocation list in redisTls.crl",
    );
    expect(redis).to.not.include("NODE_EXTRA_CA_CERTS");
  });

  it("says a list that cannot be used is the cause, not a stopped server", () => {
    const stale = refusal("CRL_HAS_EXPIRED", "CRL has expired");
    const amqp = amqpStartupError(["amqps://h:5671"], stale).message;
    expect(amqp).to.include(
      "the revocation lists in amqpTls.crl cannot be used for its TLS certificate's chain (CRL has expired, CRL_HAS_EXPIRED)",
    );
    expect(amqp).to.not.include("rabbitmq-server");
    const missing = refusal("UNABLE_TO_GET_CRL", "unable to get certificate CRL");
    const redis = redisStartupError("rediss://h:6380", missing).message;
    expect(redis).to.include("the revocation lists in redisTls.crl cannot be used");
  });

  it("says a server that refused on loopback is not running there: start it or fix the URL, the development command an example", () => {
    // A production host may run its broker on loopback: the README's development command is no
    // more than an example there.
    const refused = refusal("ECONNREFUSED", "connect ECONNREFUSED 127.0.0.1:5671");
    expect(amqpStartupError(["amqps://127.0.0.1:5671"], refused).message).to.include(
      "nothing listens there, so RabbitMQ is not running at that address: start it, or fix the URL (AMQP_URL or amqpUrl); on a development machine, for example `rabbitmq-server -detached` (README, Start it and test it)",
    );
    const redis = redisStartupError("redis://localhost:6379", refused).message;
    expect(redis).to.include(
      "nothing listens there, so Redis is not running at that address: start it, or fix the URL (REDIS_URL or redisUrl); on a development machine, for example `redis-server --daemonize yes`",
    );
    expect(redis).to.not.include("rabbitmq-server");
    // A connection that failed otherwise does not say that nothing listens.
    const closed = redisStartupError("redis://127.0.0.1:6379", new Error("Connection is closed."));
    expect(closed.message).to.include("Redis may not be running at that address: start it");
  });

  it("says a server on loopback that timed out runs and hangs, not to start it", () => {
    // amqplib's socket timeout, the start's own deadline, and checkRedis's deadline.
    for (const silent of [new Error("connect ETIMEDOUT"), new Error("timed out")]) {
      const message = amqpStartupError(["amqp://127.0.0.1:5672"], silent).message;
      expect(message, message).to.include("something listens there but did not answer in time");
      expect(message, message).to.include("`rabbitmqctl status`");
      expect(message, message).to.not.include("rabbitmq-server -detached");
    }
    const redis = redisStartupError(
      "redis://127.0.0.1:6379",
      new Error("no answer within 5000 ms"),
    ).message;
    expect(redis).to.include("something listens there but did not answer in time");
    expect(redis).to.include("`redis-cli info`");
    expect(redis).to.not.include("redis-server --daemonize yes");
    // Elsewhere a timeout is as likely the network's: the hint stays the reach one.
    expect(
      amqpStartupError(["amqp://rabbit.internal:5672"], new Error("connect ETIMEDOUT")).message,
    ).to.include("check that it runs and that this machine reaches it");
  });

  it("sends the operator to the server and the network for one elsewhere, not to start one here", () => {
    const refused = refusal("ECONNREFUSED", "connect ECONNREFUSED 10.0.0.5:5671");
    for (const message of [
      amqpStartupError(["amqps://rabbit.internal:5671"], refused).message,
      // A cluster with one node on this machine is still a cluster elsewhere.
      amqpStartupError(["amqp://127.0.0.1:5672", "amqp://rabbit-2.internal:5672"], refused).message,
      redisStartupError("rediss://:pw@redis.internal:6380", refused).message,
      redisStartupError("redis-sentinel://127.0.0.1:26379,10.0.0.7:26379/sluice", refused).message,
    ]) {
      expect(message, message).to.not.include("rabbitmq-server");
      expect(message, message).to.not.include("redis-server");
      expect(message, message).to.include(
        "check that it runs and that this machine reaches it: its host name, a network policy or firewall between them (docs/operations.md, SluiceDependencyDown)",
      );
    }
    expect(
      redisStartupError("redis-sentinel://127.0.0.1:26379,[::1]:26380/sluice", refused).message,
    ).to.include("redis-server --daemonize yes");
  });
});
