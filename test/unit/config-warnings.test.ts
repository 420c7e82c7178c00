// Warnings a configuration earns without being refused: an admin port opened beyond loopback,
// which speaks plain HTTP, so its token and session cookie would cross the network readable.

import { expect } from "chai";
import { compileConfig } from "../../shared/config/config";
import { configWarnings } from "../../shared/config/config-warnings";

const minimal = {
  // Loopback: a service port beyond it without TLS is warned of on its own (below).
  adapter: { host: "127.0.0.1" },
  services: { svc: { protocols: ["rest"], reply: { mode: "ack" }, backend: "b" } },
  backends: { b: { url: "http://127.0.0.1:9", translator: "rest-json" } },
};

/** A token as `openssl rand -hex 16` makes one. */
const TOKEN = "9f86d081884c7d659a2feaa0c55ad015";

function warningsFor(admin: Record<string, unknown>, env: Record<string, string> = {}): string[] {
  const saved = { ...process.env };
  try {
    delete process.env.ADMIN_HOST;
    Object.assign(process.env, env);
    return configWarnings(compileConfig({ ...minimal, admin }, "."));
  } finally {
    process.env = saved;
  }
}

describe("the admin port beyond loopback", () => {
  it("warns that it speaks plain HTTP when admin.host is not a loopback address", () => {
    for (const host of ["0.0.0.0", "::", "10.1.2.3", "sluice-admin.internal"]) {
      const warnings = warningsFor({ host, token: TOKEN });
      expect(warnings, host).to.have.length(1);
      expect(warnings[0], host).to.include(
        `config.admin.host: "${host}" is not a loopback address`,
      );
      expect(warnings[0]).to.include("plain HTTP");
      expect(warnings[0]).to.include("kubectl port-forward");
      expect(warnings[0]).to.include("TLS-terminating proxy");
    }
  });

  it("suggests admin.hosts while it answers any Host (DNS rebinding), not once it is set", () => {
    const [open] = warningsFor({ host: "0.0.0.0", token: TOKEN });
    expect(open).to.include("it answers any Host: list the names it is reached by in admin.hosts");
    const [named] = warningsFor({ host: "0.0.0.0", token: TOKEN, hosts: ["localhost"] });
    expect(named).to.include("plain HTTP");
    expect(named).not.to.include("admin.hosts");
  });

  it("names ADMIN_HOST when the environment opened it, with or without a token", () => {
    const [warning] = warningsFor({}, { ADMIN_HOST: "0.0.0.0" });
    expect(warning).to.match(/^environment ADMIN_HOST: "0\.0\.0\.0" is not a loopback address/);
  });

  it("stays quiet on loopback, the default", () => {
    for (const host of [
      "127.0.0.1",
      "127.0.0.2",
      "::1",
      "[::1]",
      "localhost",
      "::ffff:127.0.0.1",
    ]) {
      expect(warningsFor({ host, token: TOKEN }), host).to.deep.equal([]);
    }
    expect(warningsFor({})).to.deep.equal([]);
  });
});

describe("an admin token a person typed", () => {
  it("warns of a token of fewer than 6 different characters, naming where it came from", () => {
    for (const token of [
      "a".repeat(16),
      "1234123412341234",
      "abcabcabcabcabcabcabc",
      "t".repeat(64),
    ]) {
      const warnings = warningsFor({ token });
      expect(warnings, token).to.have.length(1);
      expect(warnings[0], token).to.match(
        /^config\.admin\.token: has only \d different characters/,
      );
      expect(warnings[0]).to.include("openssl rand -hex 32");
      expect(warnings[0], "the token itself is never repeated").to.not.include(token);
    }
    const [fromEnv] = warningsFor({}, { SLUICE_ADMIN_TOKEN: "x".repeat(20) });
    expect(fromEnv).to.match(/^environment SLUICE_ADMIN_TOKEN: has only 1 different characters/);
  });

  it("stays quiet about a generated token, or none", () => {
    for (const token of [TOKEN, "abcdef0123456789", `test-admin-${"0b6a4c1e-8f5d-4b7a"}`]) {
      expect(warningsFor({ token }), token).to.deep.equal([]);
    }
    expect(warningsFor({})).to.deep.equal([]);
  });
});

describe("body limits a request message cannot carry (amqpMaxMessageSize)", () => {
  const service = (protocols: string[], maxBodySize: string) => ({
    protocols,
    reply: { mode: "ack" },
    backend: "b",
    maxBodySize,
  });
  const warnings = (services: Record<string, unknown>, amqpMaxMessageSize = "1mb") =>
    configWarnings(compileConfig({ ...minimal, services, amqpMaxMessageSize }, "."));

  it("warns of a REST body limit above amqpMaxMessageSize, and of a SOAP one above half of it", () => {
    const found = warnings({
      big: service(["rest"], "2mb"),
      soapy: service(["soap"], "600kb"),
      fits: service(["rest"], "1mb"),
      soapFits: service(["soap", "rest"], "512kb"),
    });
    expect(found).to.have.length(2);
    expect(found[0]).to.match(
      /^config\.services\.big\.maxBodySize: 2097152 bytes, while a request message may be at most amqpMaxMessageSize of 1048576 bytes .* 413 PayloadTooLarge/,
    );
    expect(found[1]).to.match(/^config\.services\.soapy\.maxBodySize: 614400 bytes.*twice/);
  });

  it("stays quiet on the defaults (1mb bodies, 16mb messages)", () => {
    expect(configWarnings(compileConfig(minimal, "."))).to.deep.equal([]);
  });
});

describe("service-port connections and sync waiters", () => {
  const compiled = (adapter: Record<string, unknown>) =>
    compileConfig({ ...minimal, adapter }, ".");
  const capWarnings = (adapter: Record<string, unknown>) =>
    configWarnings(compiled(adapter)).filter((w) => w.startsWith("config.adapter.maxConnections"));

  // A sync caller holds its connection while it waits: with as many connections as waiters,
  // the one past the waiter limit was closed unanswered instead of getting its 503.
  it("leaves room beyond the sync waiters by default", () => {
    expect(compiled({}).adapter.maxConnections).to.equal(11_000);
    expect(compiled({ maxSyncWaiters: 50 }).adapter.maxConnections).to.equal(1_050);
    expect(compiled({ maxConnections: 20 }).adapter.maxConnections).to.equal(20);
    expect(capWarnings({})).to.deep.equal([]);
  });

  it("warns when the connections are no more than the waiters", () => {
    expect(capWarnings({ maxSyncWaiters: 6, maxConnections: 6 })).to.have.length(1);
    expect(capWarnings({ maxSyncWaiters: 6, maxConnections: 7 })).to.deep.equal([]);
  });
});

describe("what a security server refuses to register", () => {
  const soap = (backend: string) => ({ protocols: ["soap"], reply: { mode: "ack" }, backend });
  const backends = {
    b: { url: "http://127.0.0.1:9", translator: "rest-json" },
    remote: { translator: "xroad-soap", service: "EE/GOV/1/sub/getState" },
  };
  const warnings = (config: Record<string, unknown>) =>
    configWarnings(
      compileConfig(
        {
          securityServer: { url: "http://127.0.0.1:9", client: "EE/GOV/1/c" },
          // Above the remote call's timeout: a shorter grace is warned of on its own (below).
          shutdown: { grace: "100s" },
          adapter: { host: "127.0.0.1" },
          backends,
          ...config,
        },
        ".",
      ),
    );

  it("warns of a WSDL without adapter.publicUrl behind a security server: its /soap address is refused", () => {
    const [warning, ...rest] = warnings({
      services: { getState: soap("b"), relay: soap("remote") },
      xroad: { provider: "EE/GOV/2/sub" },
    });
    expect(rest).to.deep.equal([]);
    expect(warning).to.match(
      /^config\.adapter\.publicUrl: not set, so the WSDL \(service getState\)/,
    );
    expect(warning).to.include("not http:// or https://");
  });

  it("stays quiet with adapter.publicUrl, without a security server, or with only consumer-direction SOAP services", () => {
    expect(
      warnings({
        services: { getState: soap("b") },
        xroad: { provider: "EE/GOV/2/sub" },
        adapter: { host: "127.0.0.1", publicUrl: "https://sluice.internal:8443" },
      }),
    ).to.deep.equal([]);
    expect(warnings({ services: { getState: soap("b") } })).to.deep.equal([]);
    expect(
      warnings({ services: { relay: soap("remote") }, xroad: { provider: "EE/GOV/2/sub" } }),
    ).to.deep.equal([]);
  });

  it("warns of a provider service code X-Road identifiers may not hold, not of a consumer-direction one", () => {
    const found = warnings({
      services: { get_State: soap("b"), "get.State-2": soap("b"), my_relay: soap("remote") },
    });
    expect(found).to.have.length(1);
    expect(found[0]).to.match(/^config\.services\.get_State: an X-Road service code holds only/);
    const [status] = warnings({
      services: { getState: soap("b") },
      xroad: { statusService: "my_messages" },
    });
    expect(status).to.match(/^config\.xroad\.statusService: an X-Road service code holds only/);
  });
});

describe("REST services behind a security server without xroad.provider", () => {
  const warnings = (tls: Record<string, unknown> | undefined, xroad?: Record<string, unknown>) =>
    configWarnings(
      compileConfig(
        {
          ...minimal,
          ...(tls ? { adapter: { tls: { cert: "ss.crt", key: "ss.key", ...tls } } } : {}),
          ...(xroad ? { xroad } : {}),
        },
        ".",
      ),
    );

  it("counts pinned certificates (clientCerts) as a security server's connections, as a clientCa", () => {
    const [pinned, ...rest] = warnings({ clientCerts: ["ss-internal.crt"] });
    expect(rest).to.deep.equal([]);
    expect(pinned).to.match(
      /^config\.xroad\.provider: not set, while adapter\.tls\.clientCerts admits a security server;/,
    );
    const [byCa] = warnings({ clientCa: ["ss-ca.crt"] });
    expect(byCa).to.match(/while adapter\.tls\.clientCa admits a security server;/);
  });

  it("stays quiet with xroad.provider, or without a client certificate to require", () => {
    expect(
      warnings({ clientCerts: ["ss-internal.crt"] }, { provider: "EE/GOV/1/sub" }),
    ).to.deep.equal([]);
    expect(warnings({})).to.deep.equal([]);
    expect(warnings(undefined)).to.deep.equal([]);
  });
});

describe("a retention no longer than a message may still be pending", () => {
  const SECRET = "whsec_9f86d081884c7d659a2feaa0c55ad0159f86d081884c7d65";
  const withRetention = (extra: Record<string, unknown>) =>
    configWarnings(compileConfig({ ...minimal, ...extra }, ".")).filter((w) =>
      w.includes("config.retention"),
    );

  it("warns of an expireAfter, a retry schedule and a callback backoff at least as long", () => {
    const found = withRetention({
      retention: "2h",
      services: {
        svc: { protocols: ["rest"], reply: { mode: "callback" }, backend: "b", expireAfter: "2h" },
      },
      backends: {
        b: {
          url: "http://127.0.0.1:9",
          translator: "rest-json",
          retry: { attempts: 4, backoff: ["1h", "30m"] },
        },
      },
      callbacks: { secret: SECRET, allow: ["https://receiver.example/"] },
    });
    expect(found).to.have.length(3);
    expect(found[0]).to.match(
      /^config\.services\.svc\.expireAfter: a message may wait 2h, and config\.retention keeps a message's record 2h: .*status read answers 404/,
    );
    // The last delay repeats: 1h + 30m + 30m.
    expect(found[1]).to.match(/^config\.backends\.b\.retry: the retries wait 2h, and/);
    // The default backoff: 5s, 5m, 30m, 2h, 5h, 10h.
    expect(found[2]).to.match(
      /^config\.callbacks\.backoff: a callback's attempts wait 17\.6h, and/,
    );
  });

  it("stays quiet below it, and on the callback backoff when no service calls back", () => {
    expect(
      withRetention({
        retention: "2h",
        services: {
          svc: { protocols: ["rest"], reply: { mode: "ack" }, backend: "b", expireAfter: "119m" },
        },
        backends: {
          b: {
            url: "http://127.0.0.1:9",
            translator: "rest-json",
            retry: { attempts: 3, backoff: ["1h", "59m"] },
          },
        },
        callbacks: { secret: SECRET, allow: ["https://receiver.example/"] },
      }),
    ).to.deep.equal([]);
    expect(withRetention({})).to.deep.equal([]);
  });
});

describe("an http:// allowlist entry while allowHttp is off", () => {
  const SECRET = "whsec_9f86d081884c7d659a2feaa0c55ad0159f86d081884c7d65";
  const allowing = (callbacks: Record<string, unknown>) =>
    configWarnings(
      compileConfig({ ...minimal, callbacks: { secret: SECRET, ...callbacks } }, "."),
    ).filter((w) => w.startsWith("config.callbacks.allow"));

  it("warns of it by index, never repeating the entry", () => {
    const found = allowing({
      allow: [
        "https://a.example/",
        "HTTP://10.0.0.5:8080/hooks",
        "xroad:EE/GOV",
        "http://*.b.example/",
      ],
    });
    expect(found).to.have.length(2);
    expect(found[0]).to.match(
      /^config\.callbacks\.allow\[1\]: an http:\/\/ prefix, and config\.callbacks\.allowHttp is off/,
    );
    expect(found[1]).to.match(/^config\.callbacks\.allow\[3\]: /);
    expect(found.join("\n")).not.to.include("10.0.0.5");
  });

  it("stays quiet with allowHttp on, or with https:// and xroad: entries only", () => {
    expect(allowing({ allow: ["http://10.0.0.5:8080/hooks"], allowHttp: true })).to.deep.equal([]);
    expect(allowing({ allow: ["https://a.example/", "xroad:"] })).to.deep.equal([]);
  });
});

describe("a security server reached over HTTPS", () => {
  const services = {
    remote: { protocols: ["rest"], reply: { mode: "ack" }, backend: "remote" },
    other: { protocols: ["rest"], reply: { mode: "ack" }, backend: "other" },
  };
  const warnings = (securityServer: Record<string, unknown>, other: Record<string, unknown>) =>
    configWarnings(
      compileConfig(
        {
          securityServer: { client: "EE/GOV/1/c", ...securityServer },
          services,
          backends: {
            remote: { translator: "xroad-rest", service: "EE/GOV/2/sub/lookup" },
            other: { translator: "xroad-rest", service: "EE/GOV/3/sub/lookup", ...other },
          },
        },
        ".",
      ),
    ).filter((w) => w.includes(".ca: not set"));

  it("warns when no ca names its certificate: it is checked against the public CAs", () => {
    const [warning, ...rest] = warnings({ url: "https://ss.internal:8443" }, {});
    expect(rest).to.deep.equal([]);
    expect(warning).to.match(
      /^config\.securityServer\.tls\.ca: not set, while securityServer\.url is HTTPS: /,
    );
    expect(warning).to.include("export the security server's internal TLS certificate");
    // A backend naming a security server of its own without a ca is told of on its own.
    expect(
      warnings(
        { url: "http://ss.internal:8080" },
        { url: "https://ss2.internal:8443", tls: { cert: "c.crt", key: "c.key" } },
      ),
    ).to.deep.equal([
      "config.backends.other.tls.ca: not set, while the security server it calls (https://ss2.internal:8443) is HTTPS: its certificate is checked against the public CAs; export the security server's internal TLS certificate and name it in ca (docs/consumer.md), or ignore this if a public CA issued it",
    ]);
  });

  it("warns once of a security server a backend names as securityServer.url, written otherwise", () => {
    // Upper-case scheme and host, a trailing slash: the same connection, its settings unchanged.
    for (const url of ["HTTPS://SS.internal:8443", "https://ss.internal:8443/"]) {
      const given = configWarnings(
        compileConfig(
          {
            adapter: { host: "127.0.0.1" },
            securityServer: { url: "https://ss.internal:8443", client: "EE/GOV/1/c" },
            services,
            backends: {
              remote: { translator: "xroad-rest", service: "EE/GOV/2/sub/lookup" },
              other: { translator: "xroad-rest", service: "EE/GOV/3/sub/lookup", url },
            },
          },
          ".",
        ),
      );
      const security = given.filter((w) => w.includes(".tls."));
      expect(
        security.map((w) => w.split(":")[0]),
        url,
      ).to.deep.equal(["config.securityServer.tls.ca", "config.securityServer.tls.cert"]);
    }
  });

  it("is quiet with a ca, or over plain HTTP", () => {
    expect(warnings({ url: "https://ss.internal:8443", tls: { ca: "ss.crt" } }, {})).to.deep.equal(
      [],
    );
    expect(warnings({ url: "http://ss.internal:8080" }, {})).to.deep.equal([]);
  });
});

describe("a remote service's call that may outlast the shutdown grace", () => {
  const warnings = (shutdown: Record<string, unknown> | undefined, timeout?: string) =>
    configWarnings(
      compileConfig(
        {
          securityServer: { url: "http://ss.internal:8080", client: "EE/GOV/1/c" },
          ...(shutdown ? { shutdown } : {}),
          services: {
            remote: { protocols: ["rest"], reply: { mode: "ack" }, backend: "remote" },
            local: { protocols: ["rest"], reply: { mode: "ack" }, backend: "local" },
          },
          backends: {
            remote: {
              translator: "xroad-rest",
              service: "EE/GOV/2/sub/lookup",
              ...(timeout ? { timeout } : {}),
            },
            local: { translator: "rest-json", url: "http://127.0.0.1:9" },
          },
        },
        ".",
      ),
    ).filter((w) => w.startsWith("config.shutdown.grace"));

  it("warns of the defaults: a 95s call cut off by a 10s grace is made again by the next worker", () => {
    expect(warnings(undefined)).to.deep.equal([
      "config.shutdown.grace: 10s, shorter than config.backends.remote.timeout of 95s: a call to the remote service still running when a worker's grace ends is given up and made again by the next worker, so the remote provider gets the message twice; set shutdown.grace above the timeout (docs/consumer.md)",
    ]);
  });

  it("names a timeout of 95s as 95s, not as 1.6m (96 s)", () => {
    expect(warnings({ grace: "40s" }, "95s")).to.deep.equal([
      "config.shutdown.grace: 40s, shorter than config.backends.remote.timeout of 95s: a call to the remote service still running when a worker's grace ends is given up and made again by the next worker, so the remote provider gets the message twice; set shutdown.grace above the timeout (docs/consumer.md)",
    ]);
  });

  it("is quiet with a grace above the timeout; a backend of the operator's own is not named", () => {
    expect(warnings({ grace: "100s" })).to.deep.equal([]);
    expect(warnings({ grace: "40s" }, "35s")).to.deep.equal([]);
    expect(warnings(undefined, "8s")).to.deep.equal([]);
  });
});

describe("backends that call one remote service", () => {
  const warnings = (services: string[]) =>
    configWarnings(
      compileConfig(
        {
          securityServer: { url: "http://ss.internal:8080", client: "EE/GOV/1/c" },
          shutdown: { grace: "40s" },
          services: Object.fromEntries(
            services.map((_, i) => [
              `s${i}`,
              { protocols: ["rest"], reply: { mode: "ack" }, backend: `r${i}` },
            ]),
          ),
          backends: Object.fromEntries(
            services.map((service, i) => [
              `r${i}`,
              { translator: "xroad-rest", service, rate: { limit: 5, per: "1s" } },
            ]),
          ),
        },
        ".",
      ),
    ).filter((w) => w.startsWith("config.backends:"));

  it("warns that each keeps its own rate: the remote provider gets their sum", () => {
    expect(
      warnings(["EE/GOV/2/sub/lookup", "EE/GOV/2/sub/other", "EE/GOV/2/sub/lookup"]),
    ).to.deep.equal([
      "config.backends: r0, r2 all call the remote service EE/GOV/2/sub/lookup, each within its own rate, maxInFlight and windows, so the remote provider gets their sum; have the services share one backend (each may name its own client) (docs/consumer.md)",
    ]);
  });

  it("is quiet with one backend per remote service", () => {
    expect(warnings(["EE/GOV/2/sub/lookup", "EE/GOV/2/sub/other"])).to.deep.equal([]);
  });
});

describe("a security server reached over HTTPS without a client certificate", () => {
  const services = {
    mine: { protocols: ["rest"], reply: { mode: "ack" }, backend: "remote" },
    theirs: {
      protocols: ["rest"],
      reply: { mode: "ack" },
      backend: "remote",
      client: "EE/GOV/1/d",
    },
    other: { protocols: ["rest"], reply: { mode: "ack" }, backend: "other" },
  };
  const warnings = (securityServer: Record<string, unknown>, other: Record<string, unknown>) =>
    configWarnings(
      compileConfig(
        {
          securityServer: { client: "EE/GOV/1/c", ...securityServer },
          services,
          backends: {
            remote: { translator: "xroad-rest", service: "EE/GOV/2/sub/lookup" },
            other: { translator: "xroad-rest", service: "EE/GOV/3/sub/lookup", ...other },
          },
        },
        ".",
      ),
    ).filter((w) => w.includes(".cert: not set"));

  it("warns that the security server then needs the connection type HTTPS NOAUTH, naming each client", () => {
    const [warning, ...rest] = warnings(
      { url: "https://ss.internal:8443", tls: { ca: "ss.crt" } },
      {},
    );
    expect(rest).to.deep.equal([]);
    expect(warning).to.equal(
      "config.securityServer.tls.cert: not set, while securityServer.url is HTTPS: Sluice presents no client certificate, so the security server takes its calls only with the connection type HTTPS NOAUTH on each client it calls as (EE/GOV/1/c, EE/GOV/1/d; INTERNAL SERVERS tab, UG-SS §9.1); with HTTPS, the default, every call fails Server.ClientProxy.SslAuthenticationFailed: set tls.cert and tls.key and list the certificate on those clients, or ignore this if HTTPS NOAUTH is intended (docs/consumer.md)",
    );
    // A backend calling a security server of its own without a certificate is told of on its own.
    expect(
      warnings(
        { url: "http://ss.internal:8080" },
        { url: "https://ss2.internal:8443", tls: { ca: "ss2.crt" } },
      ),
    ).to.deep.equal([
      "config.backends.other.tls.cert: not set, while the security server it calls (https://ss2.internal:8443) is HTTPS: Sluice presents no client certificate, so the security server takes its calls only with the connection type HTTPS NOAUTH on each client it calls as (EE/GOV/1/c; INTERNAL SERVERS tab, UG-SS §9.1); with HTTPS, the default, every call fails Server.ClientProxy.SslAuthenticationFailed: set tls.cert and tls.key and list the certificate on those clients, or ignore this if HTTPS NOAUTH is intended (docs/consumer.md)",
    ]);
  });

  it("is quiet with a client certificate, or over plain HTTP", () => {
    const tls = { ca: "ss.crt", cert: "c.crt", key: "c.key" };
    expect(warnings({ url: "https://ss.internal:8443", tls }, {})).to.deep.equal([]);
    expect(warnings({ url: "http://ss.internal:8080" }, {})).to.deep.equal([]);
    expect(
      warnings({ url: "https://ss.internal:8443", tls }, { url: "https://ss2.internal:8443" }),
    ).to.deep.equal([]);
  });
});

describe("a kept-alive connection the security server may close first", () => {
  const warnings = (translator: string, options: Record<string, unknown>) =>
    configWarnings(
      compileConfig(
        {
          adapter: { host: "127.0.0.1" },
          shutdown: { grace: "100s" },
          securityServer: { url: "http://ss.internal:8080", client: "EE/GOV/1/c" },
          services: {
            s: {
              protocols: [translator === "xroad-soap" ? "soap" : "rest"],
              reply: { mode: "ack" },
              backend: "b",
            },
          },
          backends: {
            b:
              translator === "rest-json"
                ? { translator, url: "http://127.0.0.1:9", options }
                : { translator, service: "EE/GOV/2/sub/lookup", options },
          },
        },
        ".",
      ),
    );

  it("warns of an xroad-* backend's keepAliveTimeoutMs at or above the security server's 30 s idle time", () => {
    for (const translator of ["xroad-rest", "xroad-soap"]) {
      for (const keepAliveTimeoutMs of [30_000, 60_000]) {
        const found = warnings(translator, { keepAliveTimeoutMs });
        expect(found, `${translator} ${keepAliveTimeoutMs}`).to.have.length(1);
        expect(found[0]).to.equal(
          `config.backends.b.options.keepAliveTimeoutMs: ${keepAliveTimeoutMs}, not below the 30s the security server lets a connection idle (client-connector-initial-idle-time): it may close a kept-alive connection just as a call is sent on it, and that call fails with a reset and spends one of its retry attempts; leave keepAliveTimeoutMs unset (4000) or below 30000, or ignore this if the security server's idle time was raised above it (docs/consumer.md)`,
        );
      }
    }
  });

  it("is quiet below it, on the default, and for a backend of the operator's own", () => {
    expect(warnings("xroad-rest", { keepAliveTimeoutMs: 29_999 })).to.deep.equal([]);
    expect(warnings("xroad-soap", {})).to.deep.equal([]);
    expect(warnings("rest-json", { keepAliveTimeoutMs: 60_000 })).to.deep.equal([]);
  });
});

describe("a service port beyond loopback over plain HTTP", () => {
  const warnings = (adapter: Record<string, unknown> | undefined) =>
    configWarnings(
      compileConfig(
        { services: minimal.services, backends: minimal.backends, ...(adapter ? { adapter } : {}) },
        ".",
      ),
    );

  it("warns of the default (0.0.0.0, no TLS) and any other address beyond loopback, naming the TLS settings", () => {
    for (const adapter of [undefined, { host: "::" }, { host: "10.1.2.3" }]) {
      const found = warnings(adapter);
      expect(found, JSON.stringify(adapter)).to.have.length(1);
      expect(found[0]).to.match(
        /^config\.adapter\.host: "[^"]+" is not a loopback address, and the service port speaks plain HTTP: /,
      );
      expect(found[0]).to.include("set adapter.tls (cert, key, and clientCerts");
      expect(found[0]).to.include("adapter.plainHttp: true");
    }
  });

  it("is quiet on loopback, with TLS, or with adapter.plainHttp", () => {
    for (const host of ["127.0.0.1", "::1", "localhost"]) {
      expect(warnings({ host }), host).to.deep.equal([]);
    }
    expect(warnings({ tls: { cert: "s.crt", key: "s.key" } })).to.deep.equal([]);
    expect(warnings({ plainHttp: true })).to.deep.equal([]);
  });
});

describe("an outbound block's ciphers without a security level", () => {
  const warnings = (extra: Record<string, unknown>) =>
    configWarnings(compileConfig({ ...minimal, ...extra }, ".")).filter((w) =>
      w.includes("@SECLEVEL"),
    );

  it("warns that OpenSSL's level 1 then takes a weak peer key, naming the block", () => {
    expect(
      warnings({
        amqpUrl: "amqps://guest:pw@rabbit.internal",
        amqpTls: { ciphers: "ECDHE-RSA-AES128-SHA256" },
        backends: {
          b: {
            url: "https://legacy.internal",
            translator: "rest-json",
            tls: { ciphers: "ECDHE-RSA-AES128-SHA256" },
          },
        },
      }),
    ).to.deep.equal([
      `config.backends.b.tls.ciphers: names no @SECLEVEL, so OpenSSL's level 1 applies to this connection and a peer key Sluice's level 2 refuses (RSA under 2048 bits) is taken; end the list with :@SECLEVEL=2 unless the peer's key needs less (docs/configuration.md, "Cipher suites")`,
      `config.amqpTls.ciphers: names no @SECLEVEL, so OpenSSL's level 1 applies to this connection and a peer key Sluice's level 2 refuses (RSA under 2048 bits) is taken; end the list with :@SECLEVEL=2 unless the peer's key needs less (docs/configuration.md, "Cipher suites")`,
    ]);
  });

  it("stays quiet for a list that names its level, and for no list at all", () => {
    expect(
      warnings({
        amqpUrl: "amqps://guest:pw@rabbit.internal",
        amqpTls: { ciphers: "ECDHE-RSA-AES128-SHA256:@SECLEVEL=1" },
      }),
    ).to.deep.equal([]);
    expect(warnings({})).to.deep.equal([]);
  });
});
