import { expect } from "chai";
import { copyFileSync, cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { parse as parseYaml } from "yaml";
import {
  compileConfig,
  ConfigError,
  loadConfig,
  misreadEnvValues,
  unsetEnvNames,
  substituteEnv,
  tlsBlocks,
} from "../../shared/config/config";
import { hideUrlPassword } from "../../shared/observability/url-passwords";
import { restoringEnv } from "../support/environment";

const minimal = {
  services: { testQuery: { backend: "legacy" } },
  backends: { legacy: { url: "http://127.0.0.1:8090" } },
};

function problemsOf(raw: unknown): string[] {
  try {
    compileConfig(raw, "/etc/sluice");
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
}

describe("configuration", () => {
  it("refuses service and backend names every JavaScript object has; a backend is looked up as its own", () => {
    // JSON.parse makes `__proto__` an own key, as a YAML or JSON file does.
    const raw = JSON.parse(`{
      "services": {
        "s": { "backend": "toString" },
        "t": { "backend": "__proto__" },
        "constructor": { "backend": "b1" },
        "__proto__": { "backend": "b1" }
      },
      "backends": {
        "b1": { "url": "http://127.0.0.1:8090" },
        "__proto__": { "url": "http://127.0.0.1:8090" },
        "hasOwnProperty": { "url": "http://127.0.0.1:8090" }
      }
    }`) as unknown;
    expect(problemsOf(raw)).to.include.members([
      'config.services.constructor: "constructor" is a name every JavaScript object has; choose another',
      'config.services.__proto__: "__proto__" is a name every JavaScript object has; choose another',
      'config.backends.__proto__: "__proto__" is a name every JavaScript object has; choose another',
      'config.backends.hasOwnProperty: "hasOwnProperty" is a name every JavaScript object has; choose another',
      'config.services.s.backend: no backend named "toString"',
      'config.services.t.backend: no backend named "__proto__"',
    ]);
    // Looked up by any name, the compiled maps answer only their own.
    const config = compileConfig(minimal, "/etc/sluice");
    expect(config.backends.toString).to.equal(undefined);
    expect(config.services.constructor).to.equal(undefined);
  });

  it("refuses a backend named responses, the response worker's label in the dead-letter metric", () => {
    expect(
      problemsOf({
        services: { s: { backend: "responses" } },
        backends: { responses: { url: "http://127.0.0.1:8090" } },
      }),
    ).to.deep.equal([
      'config.backends.responses: "responses" names the response worker\'s dead letters in sluice_dead_letters_total{backend}; choose another',
    ]);
  });

  it("refuses a status service that is a configured service's code, in any case", () => {
    const withStatus = (statusService: string) =>
      problemsOf({
        services: { personSearch: { backend: "legacy" } },
        backends: minimal.backends,
        xroad: { statusService },
      });
    expect(withStatus("personSearch")).to.deep.equal([
      'config.xroad.statusService: "personSearch" is also a configured service; its status resource would hide the service',
    ]);
    // The router matches the status service's paths in any case: with `personsearch`,
    // `GET /rest/personSearch/x` was a status read and `POST /rest/personSearch/hub` a hub
    // registration, neither ever reaching the backend.
    for (const statusService of ["personsearch", "PERSONSEARCH"]) {
      expect(withStatus(statusService)).to.deep.equal([
        `config.xroad.statusService: "${statusService}" differs from the configured service "personSearch" only in case; the status service's paths are matched without regard to case, so its status resource would hide the service`,
      ]);
    }
    expect(withStatus("messages")).to.deep.equal([]);
  });

  it("refuses a service or status service of a code a security server reserves for its metaservices", () => {
    // X-Road's admin service refuses to add a REST service of such a code, and a WSDL that holds
    // one is refused whole (proxy-ui-api.reserved-service-codes).
    for (const code of ["getOpenAPI", "listMethods", "getWsdl"]) {
      expect(
        problemsOf({ services: { [code]: { backend: "legacy" } }, backends: minimal.backends }),
      ).to.deep.equal([
        `config.services.${code}: "${code}" is a service code X-Road reserves for its metaservices; a security server refuses to register it (and a WSDL that holds it): choose another`,
      ]);
    }
    expect(problemsOf({ ...minimal, xroad: { statusService: "allowedMethods" } })).to.deep.equal([
      'config.xroad.statusService: "allowedMethods" is a service code X-Road reserves for its metaservices; a security server refuses to register it: choose another',
    ]);
    // A consumer-direction service is never registered: its code is the local system's.
    expect(
      problemsOf({
        services: { listMethods: { backend: "remote" } },
        backends: { remote: { translator: "xroad-rest", service: "EE/GOV/1/registry/lookup" } },
        securityServer: { url: "http://127.0.0.1:8081", client: "EE/GOV/2/sluice" },
      }),
    ).to.deep.equal([]);
  });

  it("names a backend key that is no backend name as such", () => {
    expect(
      problemsOf({
        services: { a: { backend: "b c" } },
        backends: { "b c": { url: "http://127.0.0.1:8090" } },
      }),
    ).to.deep.equal([
      "config.backends.b c: must be a backend name: letters, digits, _ and -, at most 64 of them",
    ]);
  });

  it("refuses a service or status service named by dots alone: a URL path segment clients remove", () => {
    // `/rest/..` and `/rest/./x` are normalised away by every HTTP client before they are sent.
    for (const code of [".", ".."]) {
      expect(
        problemsOf({ services: { [code]: { backend: "legacy" } }, backends: minimal.backends }),
      ).to.deep.equal([
        `config.services.${code}: must be a service code: letters, digits, _ - and ., not dots alone`,
      ]);
      expect(problemsOf({ ...minimal, xroad: { statusService: code } })).to.deep.equal([
        "config.xroad.statusService: must be a service code: letters, digits, _ - and ., not dots alone",
      ]);
    }
    expect(
      problemsOf({
        services: { "v1.search": { backend: "legacy" } },
        backends: minimal.backends,
        xroad: { statusService: "status.v1" },
      }),
    ).to.deep.equal([]);
  });

  it("fills defaults and converts durations once", () => {
    const config = compileConfig(
      {
        ...minimal,
        services: {
          testQuery: { backend: "legacy", reply: { mode: "sync", wait: "2s" }, expireAfter: "1h" },
        },
        backends: {
          legacy: { url: "http://x", rate: { limit: 20, per: "1s", burst: 5 }, timeout: "5s" },
        },
      },
      "/etc/sluice",
    );
    const service = config.services.testQuery;
    expect(service.reply).to.deep.equal({ mode: "sync", waitMs: 2000, maxWaitMs: 25_000 });
    expect(service.expireAfterMs).to.equal(3_600_000);
    expect(service.protocols).to.deep.equal(["rest"]);
    expect(service.maxBodyBytes).to.equal(1024 * 1024);
    const backend = config.backends.legacy;
    expect(backend.rate).to.deep.equal({ limit: 20, perMs: 1000, burst: 5 });
    expect(backend.timeoutMs).to.equal(5000);
    expect(backend.retry.backoffMs).to.deep.equal([1000, 5000, 30_000, 120_000, 600_000]);
    expect(backend.ordering).to.equal("none");
    expect(backend.queue).to.deep.equal({
      highWater: 10_000,
      maxLength: 100_000,
      clientShare: 0.5,
    });
    expect(config.prefix).to.equal("");
  });

  it("takes a backend's clientShare from 0.5 to 1", () => {
    const withShare = (clientShare: unknown) =>
      problemsOf({
        services: { testQuery: { backend: "legacy" } },
        backends: { legacy: { url: "http://x", queue: { clientShare } } },
      });
    expect(withShare(0.5)).to.deep.equal([]);
    expect(withShare(0.75)).to.deep.equal([]);
    expect(withShare(1)).to.deep.equal([]);
    // Below a half, two clients could both be over it, and nobody would be admitted past it.
    expect(withShare(0.25)).to.deep.equal([
      "config.backends.legacy.queue.clientShare: must be at least 0.5",
    ]);
    expect(withShare(1.5)).to.deep.equal([
      "config.backends.legacy.queue.clientShare: must be at most 1",
    ]);
    expect(withShare("half").join()).to.match(/queue\.clientShare: must be a number/);
  });

  it("lists every problem at once", () => {
    const problems = problemsOf({
      services: {
        testQuery: {
          backend: "legasy",
          reply: { mode: "later", wait: "soon" },
          protocols: ["soap", "ftp"],
        },
        other: { backend: "legacy", reply: { mode: "callback" }, allowedClients: ["not-a-client"] },
      },
      backends: {
        legacy: {
          url: "ftp://x",
          rate: { limit: -1, per: "fast" },
          queue: { highWater: 100, maxLength: 10 },
          ordering: "sometimes",
        },
      },
    });
    const text = problems.join("\n");
    expect(text).to.include('config.services.testQuery.backend: no backend named "legasy"');
    expect(text).to.include("config.services.testQuery.reply.mode");
    expect(text).to.include("config.services.testQuery.reply.wait");
    expect(text).to.include("config.services.testQuery.protocols[1]: must be one of soap, rest");
    expect(text).to.include(
      "config.services.other.reply.mode: callback needs config.callbacks.secret",
    );
    expect(text).to.include(
      "config.services.other.allowedClients[0]: must be an X-Road client id INSTANCE/CLASS/MEMBER[/SUBSYSTEM]",
    );
    expect(text).to.include("config.backends.legacy.url: must be an http(s) URL");
    expect(text).to.include("config.backends.legacy.rate.limit");
    expect(text).to.include("config.backends.legacy.rate.per");
    expect(text).to.include("config.backends.legacy.queue.maxLength: must be at least highWater");
    expect(text).to.include("config.backends.legacy.ordering");
    expect(problems.length).to.be.at.least(11);
  });

  it("checks the consumer direction: a remote service needs its id and the security server", () => {
    const problems = problemsOf({
      services: {
        remote: { backend: "remote", client: "EE/GOV/1/consumer" },
        local: { backend: "legacy", client: "EE/GOV/1/consumer" },
      },
      backends: {
        remote: { translator: "xroad-rest", service: "EE/GOV/2/provider/lookup" },
        nameless: { translator: "xroad-soap" },
        legacy: { url: "http://127.0.0.1:8090", service: "EE/GOV/2/provider/lookup" },
        urlless: { translator: "rest-json" },
      },
    });
    expect(problems).to.include.members([
      "config.backends.remote.translator: xroad-rest calls a remote service through the local security server; set config.securityServer (url, client)",
      "config.backends.legacy.service: only the xroad-rest and xroad-soap translators call a remote X-Road service",
      "config.services.local.client: only services of an xroad-rest or xroad-soap backend name a client",
    ]);
    const text = problems.join("\n");
    expect(text).to.match(/config\.backends\.nameless.*service/);
    expect(text).to.match(/config\.backends\.urlless.*url/);
    const config = compileConfig(
      {
        securityServer: { url: "http://127.0.0.1:8081", client: "EE/GOV/1/sluice" },
        services: {
          remote: { protocols: ["soap"], backend: "remote", client: "EE/GOV/1/consumer" },
        },
        backends: {
          remote: {
            translator: "xroad-soap",
            service: "EE/GOV/2/provider/getState/v1",
            rate: { limit: 2, per: "1s", burst: 1, guard: "300ms" },
          },
        },
      },
      "/etc/sluice",
    );
    expect(config.backends.remote.service).to.equal("EE/GOV/2/provider/getState/v1");
    expect(config.backends.remote.rate).to.deep.equal({
      limit: 2,
      perMs: 1000,
      burst: 1,
      guardMs: 300,
    });
    expect(config.services.remote.client).to.equal("EE/GOV/1/consumer");
  });

  it("refuses a query or fragment in a URL the call's path is appended to", () => {
    const problems = problemsOf({
      securityServer: { url: "https://ss.internal:8443/?x=1", client: "EE/GOV/1/sluice" },
      services: {
        a: { backend: "a" },
        b: { backend: "b", protocols: ["soap"] },
        c: { backend: "c" },
      },
      backends: {
        a: { translator: "xroad-rest", service: "EE/GOV/2/provider/lookup" },
        b: { translator: "xroad-soap", service: "EE/GOV/2/provider/get", url: "https://ss2/#f" },
        c: { url: "http://127.0.0.1:8090/api?key=1" },
      },
    });
    expect(problems).to.have.members([
      "config.securityServer.url: must not hold a query or fragment",
      "config.backends.b.url: must not hold a query or fragment",
      "config.backends.c.url: must not hold a query or fragment",
    ]);
    // A SOAP backend's URL is the base of its WSDL's address, where a query can mean something.
    const soap = problemsOf({
      services: { d: { backend: "d", protocols: ["soap"] } },
      backends: { d: { translator: "soap", url: "http://127.0.0.1:8090/svc?v=2" } },
    });
    expect(soap.join("\n")).not.to.match(/query or fragment/);
  });

  it("refuses a version on an xroad-rest service: REST service ids have none (PR-REST §4.1)", () => {
    // Sent as /r1/<id>/v1/…, a security server reads v1 as the start of the path and answers
    // for the five-part id: every call would reach the provider and then fail as not ours.
    const problems = problemsOf({
      securityServer: { url: "http://127.0.0.1:8081", client: "EE/GOV/1/sluice" },
      services: { remote: { backend: "remote" } },
      backends: {
        remote: { translator: "xroad-rest", service: "EE/GOV/2/provider/lookup/v1" },
      },
    });
    expect(problems).to.include(
      "config.backends.remote.service: an X-Road REST service id has no version (INSTANCE/CLASS/MEMBER/SUBSYSTEM/SERVICECODE); put a version into the path of the calls instead",
    );
  });

  it("gives a remote X-Road service a default timeout longer than the security servers wait (30 s to connect, 60 s Timeout)", () => {
    // The client side security server waits for the answer without a limit of its own
    // (client-httpclient-timeout 0); the provider's waits the service's Timeout (s), 60 s as
    // added, after a connect of up to 30 s (client-timeout). At 35 s Sluice gave up on a
    // provider that answered within its Timeout, and called it again.
    const config = compileConfig(
      {
        securityServer: { url: "http://127.0.0.1:8081", client: "EE/GOV/1/sluice" },
        services: {
          a: { backend: "remote" },
          b: { protocols: ["soap"], backend: "state" },
          c: { backend: "own" },
        },
        backends: {
          remote: { translator: "xroad-rest", service: "EE/GOV/2/provider/lookup" },
          state: {
            translator: "xroad-soap",
            service: "EE/GOV/2/provider/getState",
            timeout: "20s",
          },
          own: { url: "http://127.0.0.1:8090" },
        },
      },
      "/etc/sluice",
    );
    expect(config.backends.remote.timeoutMs).to.equal(95_000);
    expect(config.backends.state.timeoutMs, "as configured").to.equal(20_000);
    expect(config.backends.own.timeoutMs).to.equal(30_000);
  });

  it("refuses, as the worker does at start, X-Road ids with a character no identifier part holds", () => {
    // `sluice check` passed these, and every worker then refused to start on them.
    const problems = problemsOf({
      securityServer: { url: "http://127.0.0.1:8081", client: "EE/GOV/1/sluice%20a" },
      services: {
        remote: { backend: "remote", client: "EE/GOV/1/case;app" },
        state: { protocols: ["soap"], backend: "state" },
      },
      backends: {
        remote: { translator: "xroad-rest", service: "EE/GOV/2/provider/lookup&x=1" },
        state: { translator: "xroad-soap", service: "EE/GOV/2/provider/get#State/v1" },
      },
    });
    const part =
      "has a part holding one of / ; : \\ % # & or whitespace, which no X-Road identifier part may";
    expect(problems).to.include.members([
      `config.securityServer.client: "EE/GOV/1/sluice%20a" ${part}`,
      `config.services.remote.client: "EE/GOV/1/case;app" ${part}`,
      `config.backends.remote.service: "EE/GOV/2/provider/lookup&x=1" ${part}`,
      `config.backends.state.service: "EE/GOV/2/provider/get#State/v1" ${part}`,
    ]);
  });

  it("takes ? in an X-Road id part, one of the characters PR-REST §4.8 names", () => {
    const problems = problemsOf({
      securityServer: { url: "http://127.0.0.1:8081", client: "EE/GOV/1/case-app?" },
      services: { remote: { backend: "remote" } },
      backends: {
        remote: { translator: "xroad-rest", service: "EE/GOV/2/provider/who?is(it)+'x'=1" },
      },
    });
    expect(problems).to.deep.equal([]);
  });

  it("names unknown keys, with the known key an operator probably meant", () => {
    const problems = problemsOf({
      servcies: {},
      services: {
        testQuery: { backend: "legacy", reply: { mode: "snyc", wiat: "10s" }, timout: "5s" },
      },
      backends: { legacy: { url: "http://x", retyr: { attempts: 2 } } },
      admn: { port: 9090 },
    });
    expect(problems).to.include.members([
      'config.servcies: unknown key (did you mean "services"?)',
      'config.services.testQuery.reply.wiat: unknown key (did you mean "wait"?)',
      'config.services.testQuery.reply.mode: must be one of sync, ack, callback (did you mean "sync"?)',
      "config.services.testQuery.timout: unknown key",
      'config.backends.legacy.retyr: unknown key (did you mean "retry"?)',
      'config.admn: unknown key (did you mean "admin"?)',
    ]);
  });

  it("says each problem once, even where a cross-field rule would judge the same value", () => {
    const problems = problemsOf({
      ...minimal,
      backends: { legacy: { url: "http://x", windows: [{ from: "8", extra: 1 }] } },
    });
    const paths = problems.map((line) => line.slice(0, line.indexOf(": ")));
    expect(new Set(paths).size).to.equal(paths.length);
    expect(problems).to.include("config.backends.legacy.windows[0].extra: unknown key");
  });

  it("takes admin.hosts and adapter.hosts as host names, compared in lower case without a trailing dot", () => {
    const config = compileConfig(
      {
        ...minimal,
        adapter: { hosts: ["Sluice.Example.", "sluice_adapter"] },
        admin: { hosts: ["localhost", "metrics.internal"] },
      },
      "/etc/sluice",
    );
    expect(config.adapter.hosts).to.deep.equal(["sluice.example", "sluice_adapter"]);
    expect(config.admin.hosts).to.deep.equal(["localhost", "metrics.internal"]);
    expect(
      compileConfig({ ...minimal, admin: { hosts: [] } }, "/etc/sluice").admin.hosts,
    ).to.deep.equal([]);
    expect(compileConfig(minimal, "/etc/sluice").adapter.hosts).to.equal(null);
    const hint =
      "must be a host name as a Host header carries it (sluice.example), without scheme, port or path";
    expect(
      problemsOf({
        ...minimal,
        adapter: { hosts: ["https://sluice.example", "sluice.example:8080", "a..b", ""] },
        admin: { hosts: "localhost" },
      }),
    ).to.deep.equal([
      `config.adapter.hosts[0]: ${hint}`,
      `config.adapter.hosts[1]: ${hint}`,
      `config.adapter.hosts[2]: ${hint}`,
      `config.adapter.hosts[3]: ${hint}`,
      "config.admin.hosts: must be a list",
    ]);
    expect(problemsOf({ ...minimal, admin: { hosts: ["a.example", "a.example"] } })).to.deep.equal([
      "config.admin.hosts: must not repeat an entry",
    ]);
  });

  it("binds the admin port to loopback unless told otherwise; its token comes from the file or the environment", () => {
    restoringEnv(["SLUICE_ADMIN_TOKEN"], () => {
      delete process.env.SLUICE_ADMIN_TOKEN;
      expect(compileConfig(minimal, "/etc/sluice").admin).to.deep.equal({
        host: "127.0.0.1",
        hosts: null,
        port: 9090,
        token: null,
      });
      const fromFile = compileConfig(
        { ...minimal, admin: { token: "a-file-token-0123456789" } },
        "/etc/sluice",
      );
      expect(fromFile.admin.token).to.equal("a-file-token-0123456789");
      process.env.SLUICE_ADMIN_TOKEN = "an-env-token-0123456789";
      expect(compileConfig(minimal, "/etc/sluice").admin.token).to.equal("an-env-token-0123456789");
      // The environment's token is the one used: the file's, short or not, is not judged.
      const overridden = { ...minimal, admin: { token: "short" } };
      expect(problemsOf(overridden)).to.deep.equal([]);
      expect(compileConfig(overridden, "/etc/sluice").admin.token).to.equal(
        "an-env-token-0123456789",
      );
      // The admin port trims what a request presents: a token kept with its file's newline
      // would never match.
      process.env.SLUICE_ADMIN_TOKEN = "an-env-token-0123456789\n";
      expect(compileConfig(minimal, "/etc/sluice").admin.token).to.equal("an-env-token-0123456789");
      process.env.SLUICE_ADMIN_TOKEN = " ".repeat(20);
      expect(problemsOf(minimal)).to.deep.equal([
        "environment SLUICE_ADMIN_TOKEN: must be at least 16 characters (surrounding white space does not count)",
      ]);
      // With a good file token, a short one in the environment is the one reported.
      process.env.SLUICE_ADMIN_TOKEN = "short";
      expect(problemsOf({ ...minimal, admin: { token: "a-file-token-0123456789" } })).to.deep.equal(
        [
          "environment SLUICE_ADMIN_TOKEN: must be at least 16 characters (surrounding white space does not count)",
        ],
      );
      delete process.env.SLUICE_ADMIN_TOKEN;
      expect(problemsOf(overridden)).to.deep.equal([
        "config.admin.token: must be at least 16 characters",
      ]);
      expect(
        compileConfig({ ...minimal, admin: { token: " a-file-token-0123456789\n" } }, "/etc/sluice")
          .admin.token,
      ).to.equal("a-file-token-0123456789");
      expect(problemsOf({ ...minimal, admin: { token: `short${" ".repeat(12)}` } })).to.deep.equal([
        "config.admin.token: must be at least 16 characters (surrounding white space does not count)",
      ]);
      // A line break inside: no Authorization header carries it, so nobody could sign in.
      expect(problemsOf({ ...minimal, admin: { token: "abcdefghijklmnop\nq" } })).to.deep.equal([
        "config.admin.token: holds a control character, which no Authorization header can carry",
      ]);
      // Outside printable ASCII: curl sends UTF-8 bytes, Node reads them as Latin-1.
      for (const token of ["pääsukese-pesa-0123", "token\u00a0with-nbsp-0123"]) {
        expect(problemsOf({ ...minimal, admin: { token } }), token).to.deep.equal([
          "config.admin.token: holds a character outside printable ASCII, which an Authorization header does not carry as written; use a random ASCII one (openssl rand -hex 32)",
        ]);
      }
      process.env.SLUICE_ADMIN_TOKEN = "abcdefghijklmnop\u0001q";
      expect(problemsOf(minimal)).to.deep.equal([
        "environment SLUICE_ADMIN_TOKEN: holds a control character, which no Authorization header can carry",
      ]);
      delete process.env.SLUICE_ADMIN_TOKEN;
    });
  });

  it("takes adapter.publicUrl as an absolute http(s) URL without credentials, query or fragment", () => {
    const publicUrl = (value?: string) =>
      compileConfig(
        value === undefined ? minimal : { ...minimal, adapter: { publicUrl: value } },
        "/etc/sluice",
      ).adapter.publicUrl;
    expect(publicUrl()).to.equal(null);
    expect(publicUrl("https://Sluice.internal:8443/")).to.equal("https://sluice.internal:8443");
    expect(publicUrl("http://10.0.0.5:8080/gw//")).to.equal("http://10.0.0.5:8080/gw");
    for (const bad of ["/relative", "ftp://x", "https://u:p@x", "https://x/?a=1", "https://x/#f"]) {
      const problems = problemsOf({ ...minimal, adapter: { publicUrl: bad } });
      expect(problems, bad).to.have.length(1);
      expect(problems[0], bad).to.match(/^config\.adapter\.publicUrl: /);
    }
  });

  it("refuses a user name or password in a backend's or the security server's URL, without repeating it", () => {
    // Error texts name the URL (a WSDL that cannot be read), and they reach the caller's status
    // document, dead letters and logs: credentials belong in a header (options.headers).
    for (const url of [
      "http://svc:S3cretPw@127.0.0.1:8090",
      "https://svc@legacy.internal/api",
      "https://:S3cretPw@legacy.internal",
    ]) {
      const problems = problemsOf({ ...minimal, backends: { legacy: { url } } });
      expect(problems, url).to.have.length(1);
      expect(problems[0], url).to.match(/^config\.backends\.legacy\.url: .*user name or password/);
      expect(problems[0], url).to.not.include("S3cretPw");
      const viaSecurityServer = problemsOf({
        ...minimal,
        securityServer: { url, client: "EE/GOV/1/sub" },
      });
      expect(viaSecurityServer, url).to.have.length(1);
      expect(viaSecurityServer[0], url).to.match(/^config\.securityServer\.url: /);
    }
    // An @ further on is part of the path, not credentials.
    const at = "http://legacy.internal/people/a@b";
    expect(problemsOf({ ...minimal, backends: { legacy: { url: at } } })).to.deep.equal([]);
  });

  it("refuses TLS settings on an http:// backend or security server, which would never use them", () => {
    // The operator who wrote the certificates meant TLS; the calls went out as plain HTTP.
    const tls = { ca: "ca.pem", cert: "sluice.crt", key: "sluice.key" };
    expect(
      problemsOf({ ...minimal, backends: { legacy: { url: "http://legacy.internal", tls } } }),
    ).to.deep.equal([
      "config.backends.legacy.tls: the url is http://, so these certificates would never be used; use https://",
    ]);
    expect(
      problemsOf({
        ...minimal,
        securityServer: { url: "HTTP://ss.internal:8080", client: "EE/GOV/1/sub", tls },
      }),
    ).to.deep.equal([
      "config.securityServer.tls: the url is http://, so these certificates would never be used; use https://",
    ]);
    expect(
      problemsOf({ ...minimal, backends: { legacy: { url: "https://legacy.internal", tls } } }),
    ).to.deep.equal([]);
  });

  it("reads amqpTls and redisTls beside the configuration, refused for an amqp:// or redis:// URL", () => {
    restoringEnv(["AMQP_URL", "REDIS_URL"], () => {
      delete process.env.AMQP_URL;
      delete process.env.REDIS_URL;
      const tls = { ca: "ca.pem", cert: "sluice.crt", key: "sluice.key" };
      const config = compileConfig(
        {
          ...minimal,
          amqpUrl: "amqps://guest:pw@rabbit.internal",
          amqpTls: tls,
          redisUrl: "rediss://redis.internal",
          redisTls: { cert: "redis-client.crt", key: "redis-client.key" },
        },
        "/etc/sluice",
      );
      expect(config.amqpTls).to.deep.equal({
        cert: "/etc/sluice/sluice.crt",
        key: "/etc/sluice/sluice.key",
        ca: ["/etc/sluice/ca.pem"],
      });
      expect(config.redisTls).to.deep.equal({
        cert: "/etc/sluice/redis-client.crt",
        key: "/etc/sluice/redis-client.key",
        ca: [],
      });
      expect(tlsBlocks(config).map(([where]) => where)).to.include.members([
        "config.amqpTls",
        "config.redisTls",
      ]);
      expect(compileConfig(minimal, "/etc/sluice")).to.include({ amqpTls: null, redisTls: null });
      // The operator who wrote the certificates meant TLS; the connection went out in clear.
      expect(
        problemsOf({
          ...minimal,
          amqpUrl: ["amqps://guest:pw@rabbit-1.internal", "amqp://guest:pw@rabbit-2.internal"],
          amqpTls: tls,
          redisUrl: "redis://:pw@redis.internal",
          redisTls: tls,
        }),
      ).to.deep.equal([
        'config.amqpTls: "amqp://guest:[redacted]@rabbit-2.internal" is amqp://, so these certificates would never be used; use amqps://',
        'config.redisTls: "redis://:[redacted]@redis.internal" is redis://, so these certificates would never be used; use rediss://',
      ]);
      // A Sentinel URL has no TLS scheme: redisTls is what asks for TLS there.
      expect(
        problemsOf({ ...minimal, redisUrl: "redis-sentinel://s1:26379/mymaster", redisTls: tls }),
      ).to.deep.equal([]);
      expect(problemsOf({ ...minimal, amqpTls: { cert: "sluice.crt" } })).to.deep.equal([
        "config.amqpTls: cert and key go together",
        'config.amqpTls: "amqp://guest:[redacted]@127.0.0.1:5672" is amqp://, so these certificates would never be used; use amqps://',
      ]);
    });
  });

  it("refuses NODE_TLS_REJECT_UNAUTHORIZED=0, which would switch off every certificate check", () => {
    const before = process.env.NODE_TLS_REJECT_UNAUTHORIZED;
    try {
      process.env.NODE_TLS_REJECT_UNAUTHORIZED = "0";
      expect(problemsOf(minimal)).to.deep.equal([
        "environment NODE_TLS_REJECT_UNAUTHORIZED=0: switches off the check of every certificate Sluice is shown (backends, the security server, callback receivers, RabbitMQ, Redis); unset it, and give a private CA as the block's ca or in NODE_EXTRA_CA_CERTS",
      ]);
      process.env.NODE_TLS_REJECT_UNAUTHORIZED = "1";
      expect(problemsOf(minimal)).to.deep.equal([]);
    } finally {
      if (before === undefined) delete process.env.NODE_TLS_REJECT_UNAUTHORIZED;
      else process.env.NODE_TLS_REJECT_UNAUTHORIZED = before;
    }
  });

  it("takes an outbound block's ciphers and refuses a list naming no suite OpenSSL knows", () => {
    const config = compileConfig(
      {
        ...minimal,
        amqpUrl: "amqps://guest:pw@rabbit.internal",
        amqpTls: { ciphers: "ECDHE-RSA-AES128-SHA256" },
      },
      "/etc/sluice",
    );
    expect(config.amqpTls).to.deep.equal({
      cert: null,
      key: null,
      ca: [],
      ciphers: "ECDHE-RSA-AES128-SHA256",
    });
    expect(
      problemsOf({
        ...minimal,
        amqpUrl: "amqps://guest:pw@rabbit.internal",
        amqpTls: { ciphers: "NO-SUCH-SUITE" },
      }),
    ).to.deep.equal(["config.amqpTls.ciphers: names no cipher suite OpenSSL knows"]);
  });

  it("reads tls.crl as files beside the configuration, and refuses one without the CA it belongs to", () => {
    const served = compileConfig(
      {
        ...minimal,
        adapter: { tls: { cert: "s.crt", key: "s.key", clientCa: "ss-ca.pem", crl: "ss-ca.crl" } },
        amqpUrl: "amqps://guest:pw@rabbit.internal",
        amqpTls: { ca: "ca.pem", crl: ["ca.crl", "/srv/root.crl"] },
      },
      "/etc/sluice",
    );
    expect(served.adapter.tls?.crl).to.deep.equal(["/etc/sluice/ss-ca.crl"]);
    expect(served.amqpTls?.crl).to.deep.equal(["/etc/sluice/ca.crl", "/srv/root.crl"]);
    // Checked against Node's public CAs, whose lists nobody names, every peer would be refused.
    expect(
      problemsOf({
        ...minimal,
        adapter: { tls: { cert: "s.crt", key: "s.key", clientCerts: "ss.crt", crl: "ss-ca.crl" } },
        amqpUrl: "amqps://guest:pw@rabbit.internal",
        amqpTls: { crl: "ca.crl" },
      }),
    ).to.deep.equal([
      "config.adapter.tls.crl: needs clientCa, the CA(s) whose revocation lists these are",
      "config.amqpTls.crl: needs ca, the CA(s) whose revocation lists these are",
    ]);
  });

  it("reads adapter.tls.clientCerts as files beside the configuration, only on the service port and with its own certificate", () => {
    const tls = (clientCerts: unknown) => ({ cert: "ss.crt", key: "ss.key", clientCerts });
    const one = compileConfig({ ...minimal, adapter: { tls: tls("pins/ss.crt") } }, "/etc/sluice");
    expect(one.adapter.tls?.clientCerts).to.deep.equal(["/etc/sluice/pins/ss.crt"]);
    const two = compileConfig(
      { ...minimal, adapter: { tls: tls(["old.crt", "/srv/new.crt"]) } },
      "/etc/sluice",
    );
    expect(two.adapter.tls?.clientCerts).to.deep.equal(["/etc/sluice/old.crt", "/srv/new.crt"]);
    // Pins without a server certificate would ask for a client certificate over plain HTTP.
    expect(problemsOf({ ...minimal, adapter: { tls: { clientCerts: ["ss.crt"] } } })).to.deep.equal(
      ["config.adapter.tls: cert and key are required for HTTPS on the service port"],
    );
    // A backend or the security server is the one asked for a certificate, never the one asking.
    expect(
      problemsOf({
        ...minimal,
        backends: { legacy: { url: "https://legacy.internal", tls: tls(["ss.crt"]) } },
      }),
    ).to.deep.equal(["config.backends.legacy.tls.clientCerts: unknown key"]);
    // An empty list would pin nothing, leaving every certificate of a clientCa admitted.
    expect(problemsOf({ ...minimal, adapter: { tls: tls([]) } })).to.deep.equal([
      "config.adapter.tls.clientCerts: an empty list pins no certificate; name the security server's certificate file, or leave clientCerts out",
    ]);
  });

  it("takes the broker's max_message_size as amqpMaxMessageSize: 16 MiB unless set, at least 64 KiB", () => {
    expect(compileConfig(minimal, "/etc/sluice").amqpMaxMessageBytes).to.equal(16 * 1024 * 1024);
    const set = compileConfig({ ...minimal, amqpMaxMessageSize: "128mb" }, "/etc/sluice");
    expect(set.amqpMaxMessageBytes).to.equal(128 * 1024 * 1024);
    expect(problemsOf({ ...minimal, amqpMaxMessageSize: "8kb" })).to.deep.equal([
      "config.amqpMaxMessageSize: 8192 bytes is less than the 65536 a response message needs room for",
    ]);
  });

  it("refuses an empty configuration clearly", () => {
    expect(problemsOf({})).to.deep.equal(["config.services: at least one service is required"]);
    expect(problemsOf("services")).to.deep.equal(["the configuration must be a mapping"]);
  });

  it("lets the environment override connections and ports", () => {
    const saved = { ...process.env };
    try {
      process.env.AMQP_URL = "amqp://u:p@broker:5672";
      process.env.REDIS_URL = "redis://cache:6379";
      process.env.PORT = "18080";
      process.env.ADMIN_PORT = "19090";
      const config = compileConfig(minimal, "/etc/sluice");
      expect(config.amqpUrls).to.deep.equal(["amqp://u:p@broker:5672"]);
      expect(config.redisUrl).to.equal("redis://cache:6379");
      expect(config.adapter.port).to.equal(18080);
      expect(config.admin.port).to.equal(19090);
      process.env.PORT = "eighty";
      expect(problemsOf(minimal)).to.deep.equal(["environment PORT: must be a port number"]);
      // Number() read these as 0 (a random port), 8080 and 8000.
      for (const port of [" ", "0x1f90", "8e3", "-0", "80.0"]) {
        process.env.ADMIN_PORT = port;
        process.env.PORT = "18080";
        expect(problemsOf(minimal), port).to.deep.equal([
          "environment ADMIN_PORT: must be a port number",
        ]);
      }
    } finally {
      process.env = saved;
    }
  });

  it("names the instance by SLUICE_INSTANCE, then `instance`, then the host; each process uniquely", () => {
    restoringEnv(["SLUICE_INSTANCE"], () => {
      process.env.SLUICE_INSTANCE = "sluice-worker-7f9c";
      const one = compileConfig({ ...minimal, instance: "from-file" }, ".");
      const two = compileConfig({ ...minimal, instance: "from-file" }, ".");
      expect(one.instance).to.equal("sluice-worker-7f9c");
      expect(one.instanceId).to.match(/^sluice-worker-7f9c-[0-9a-f]{8}$/);
      expect(two.instanceId).to.not.equal(one.instanceId);
      delete process.env.SLUICE_INSTANCE;
      expect(compileConfig({ ...minimal, instance: "from-file" }, ".").instance).to.equal(
        "from-file",
      );
      process.env.SLUICE_INSTANCE = "bad name/with slash";
      expect(problemsOf(minimal)[0]).to.match(/SLUICE_INSTANCE/);
    });
  });
});

/** The problems loading `file` names; none when it loads. */
function loadProblems(file: string): string[] {
  try {
    loadConfig(file);
    return [];
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
}

describe("environment substitution in configuration files", () => {
  it("fills ${NAME} and ${NAME:-default}", () => {
    const env = { LEGACY_URL: "http://legacy-sim:8090", EMPTY: "" };
    expect(substituteEnv("url: ${LEGACY_URL:-http://127.0.0.1:8090}", env)).to.equal(
      "url: http://legacy-sim:8090",
    );
    expect(substituteEnv("url: ${MISSING:-http://127.0.0.1:8090}", env)).to.equal(
      "url: http://127.0.0.1:8090",
    );
    expect(substituteEnv("x: ${EMPTY:-fallback} y: ${MISSING}", env)).to.equal("x: fallback y: ");
    expect(substituteEnv("price: $5 {not} $HOME", env)).to.equal("price: $5 {not} $HOME");
  });

  it("refuses an environment value YAML would read altered, naming the variable, never its value", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "sluice-env-"));
    const file = path.join(dir, "sluice.yaml");
    const problems = (admin: string, token: string): string[] => {
      const lines = [
        "# admin.token comes from ${SLUICE_TEST_TOKEN}",
        "services: { testQuery: { backend: legacy } }",
        "backends: { legacy: { url: 'http://127.0.0.1:8090' } }",
        admin,
        "",
      ];
      writeFileSync(file, lines.join("\n"), { mode: 0o600 });
      return restoringEnv(["SLUICE_TEST_TOKEN", "SLUICE_TEST_PORT"], () => {
        process.env.SLUICE_TEST_TOKEN = token;
        // YAML reads it as 19090, a number as written: not refused.
        process.env.SLUICE_TEST_PORT = "019090";
        return loadProblems(file);
      });
    };
    const block = "admin:\n  token: ${SLUICE_TEST_TOKEN}\n  port: ${SLUICE_TEST_PORT}";
    const flow = "admin: { token: ${SLUICE_TEST_TOKEN}, port: ${SLUICE_TEST_PORT} }";
    try {
      expect(problems(block, "abcdefghijklmnop0123")).to.deep.equal([]);
      expect(problems(flow, "abcdefghijklmnop0123")).to.deep.equal([]);
      // Cut at a comment, an anchor dropped, a key added: each passes every other check.
      for (const [admin, token] of [
        [block, "abcdefghijklmnop #0123"],
        [block, "&abcdefgh ijklmnop0123456789"],
        [flow, "abcdefghijklmnop0123, host: 0.0.0.0"],
      ]) {
        const found = problems(admin, token);
        expect(found, token).to.have.length(1);
        expect(found[0]).to.match(
          /^environment SLUICE_TEST_TOKEN: its value is not read as written/,
        );
        expect(found[0]).to.not.include("abcdefgh");
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("takes a value's trailing line break where its ${NAME} ends the line, as YAML reads it; not inside a line", () => {
    // A Kubernetes Secret made from a file ends in a line break; quoting the ${NAME} would not
    // keep it either (a double-quoted line break is read as a space).
    const misread = (text: string, value: string) => {
      const env = { SLUICE_TEST_TOKEN: value };
      return misreadEnvValues(text, parseYaml(substituteEnv(text, env)), env);
    };
    const token = "abcdefghijklmnop0123";
    for (const ending of ["\n", "\r\n"]) {
      expect(misread("admin:\n  token: ${SLUICE_TEST_TOKEN}\n", token + ending)).to.deep.equal([]);
      expect(misread("token: ${SLUICE_TEST_TOKEN} # note\n", token + ending)).to.deep.equal([]);
      // Inside a line it joins the line's next part with a space: altered.
      expect(misread("name: a ${SLUICE_TEST_TOKEN} b\n", token + ending)).to.have.length(1);
    }
  });

  it("refuses a value used twice when one use of it is read altered, and one whose line break ends its line only where it does", () => {
    const misread = (text: string, env: Record<string, string>) =>
      misreadEnvValues(text, parseYaml(substituteEnv(text, env)), env);
    // Both read as written, also twice in one scalar.
    expect(misread("a: ${P}\nb: '${P}'\nc: ${P}/${P}\n", { P: "x y" })).to.deep.equal([]);
    // Quoted once, plain once: the plain one is cut at its comment.
    expect(misread("a: ${P}\nb: '${P}'\n", { P: "x #y" })).to.have.length(1);
    // A trailing line break (a Secret made from a file) ends the line it ends; inside, refused.
    expect(misread("token: ${T}\nport: 1\n", { T: "abcdef\n" })).to.deep.equal([]);
    expect(misread("token: ${T}\n", { T: "abc\n  def" })).to.have.length(1);
  });

  it('reads a ${NAME} after a " #" in a quoted string or a block scalar, which begins no comment there', () => {
    const misread = (text: string, env: Record<string, string>) =>
      misreadEnvValues(text, parseYaml(substituteEnv(text, env)), env);
    // A value a flow mapping splits, after a quoted " #": refused, as it is without the " #".
    const flow = "a: { b: 'x # ${P}' }\nc: { d: \"y # z\", e: ${P} }\n";
    expect(misread(flow, { P: "v, host: 0.0.0.0" })).to.have.length(1);
    expect(unsetEnvNames('a: "see # ${UNSET_IN_QUOTES}"\n', {})).to.have.length(1);
    expect(unsetEnvNames("a: |\n  # ${UNSET_IN_BLOCK}\n", {})).to.have.length(1);
    // A comment after the quoted string is still one.
    expect(unsetEnvNames('a: "x # y" # ${UNSET_IN_COMMENT}\n', {})).to.deep.equal([]);
  });

  it("refuses a ${NAME} without a default whose variable is not set, naming it; ${NAME:-} and a set empty value are choices", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "sluice-env-"));
    const file = path.join(dir, "sluice.yaml");
    const problems = (token: string, value: string | undefined): string[] => {
      const lines = [
        "# admin.token may come from ${SLUICE_TEST_UNSET_IN_COMMENT}",
        "services: { testQuery: { backend: legacy } }",
        "backends: { legacy: { url: 'http://127.0.0.1:8090' } }",
        `admin: { port: 19090, token: "${token}" }`,
        "",
      ];
      writeFileSync(file, lines.join("\n"), { mode: 0o600 });
      return restoringEnv(["SLUICE_TEST_TOKEN", "SLUICE_TEST_UNSET_IN_COMMENT"], () => {
        delete process.env.SLUICE_TEST_UNSET_IN_COMMENT;
        if (value === undefined) delete process.env.SLUICE_TEST_TOKEN;
        else process.env.SLUICE_TEST_TOKEN = value;
        return loadProblems(file);
      });
    };
    try {
      // First, before what the empty value did to its key.
      expect(problems("${SLUICE_TEST_TOKEN}", undefined)[0]).to.equal(
        "environment SLUICE_TEST_TOKEN is not set, and ${SLUICE_TEST_TOKEN} has no default in the file: set it (or SLUICE_TEST_TOKEN_FILE to a file holding it), or write ${SLUICE_TEST_TOKEN:-} where empty is meant",
      );
      // Empty by choice: what is said of it is the key's alone.
      expect(problems("${SLUICE_TEST_TOKEN:-}", undefined)).to.deep.equal([
        "config.admin.token: must be at least 16 characters",
      ]);
      expect(problems("${SLUICE_TEST_TOKEN}", "")).to.deep.equal([
        "config.admin.token: must be at least 16 characters",
      ]);
      expect(problems("${SLUICE_TEST_TOKEN}", "abcdefghijklmnop0123")).to.deep.equal([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("services and their backends' translators", () => {
  it("refuses REST JSON callers on a soap backend unless XML bodies are allowed", () => {
    const raw = (contentTypes?: string[]) => ({
      services: { q: { protocols: ["rest", "soap"], backend: "legacy", contentTypes } },
      backends: { legacy: { url: "http://x", translator: "soap" } },
    });
    expect(problemsOf(raw()).join("\n")).to.include(
      'config.services.q: REST callers send JSON, which the soap translator of backend "legacy" cannot send',
    );
    expect(problemsOf(raw(["text/xml"]))).to.deep.equal([]);
    expect(
      problemsOf({ ...raw(), services: { q: { protocols: ["soap"], backend: "legacy" } } }),
    ).to.deep.equal([]);
  });
});

describe("webhook secret strength", () => {
  it("refuses a secret of fewer than 24 bytes (or more than 64), as docs/callbacks.md says", () => {
    const secret = (bytes: number) => `whsec_${Buffer.alloc(bytes, 5).toString("base64")}`;
    expect(problemsOf({ ...minimal, callbacks: { secret: secret(6) } })).to.deep.equal([
      'config.callbacks.secret: must hold 24 to 64 random bytes (base64 after whsec_), not 6; make one: echo "whsec_$(openssl rand -base64 32)"',
    ]);
    expect(
      problemsOf({ ...minimal, callbacks: { secrets: [secret(32), secret(23)] } }),
    ).to.have.length(1);
    expect(problemsOf({ ...minimal, callbacks: { secret: secret(65) } })).to.have.length(1);
    expect(
      problemsOf({ ...minimal, callbacks: { secrets: [secret(24), secret(64)] } }),
    ).to.deep.equal([]);
  });
});

describe("callback receivers of one client", () => {
  const set = (clients: unknown) => ({ ...minimal, callbacks: { clients } });

  it("is none unless given, so every target of allow serves every client", () => {
    expect(compileConfig(minimal, "/etc/sluice").callbacks.clients).to.deep.equal({});
  });

  it("takes member and subsystem ids, each with entries as allow takes", () => {
    const clients = {
      "EE/GOV/70000001/alice": ["https://alice.example.org/hooks", "xroad:EE/GOV/70000001/"],
      "EE/GOV/70000003": [],
    };
    expect(compileConfig(set(clients), "/etc/sluice").callbacks.clients).to.deep.equal(clients);
  });

  it("refuses an id that is no client's and an entry no target can match, naming where", () => {
    // Named as what it must be, where a generic "not a valid name" described a service's.
    expect(problemsOf(set({ "EE/GOV": ["https://a.example.org/"] }))).to.deep.equal([
      "config.callbacks.clients.EE/GOV: must be an X-Road client id INSTANCE/CLASS/MEMBER[/SUBSYSTEM]",
    ]);
    expect(problemsOf(set({ "EE/GOV/1/a": ["*"] }))).to.deep.equal([
      'config.callbacks.clients.EE/GOV/1/a[0]: admits no callback target: an entry is an http(s) URL prefix with a host (https://callbacks.example.org/hooks/, a host *.example.org for its subdomains), without user, query or fragment, or an xroad: prefix; "*", an address range or a bare scheme is none',
    ]);
    expect(problemsOf(set({ "EE/GOV/1/a": "https://a.example.org/" }))).to.have.length(1);
  });
});

describe("callback attempts per receiver", () => {
  it("defaults to 4 and takes 1 to 16 (a response worker's slots)", () => {
    expect(compileConfig(minimal, "/etc/sluice").callbacks.maxPerTarget).to.equal(4);
    const set = (value: unknown) => ({ ...minimal, callbacks: { maxPerTarget: value } });
    expect(compileConfig(set(1), "/etc/sluice").callbacks.maxPerTarget).to.equal(1);
    expect(problemsOf(set(16))).to.deep.equal([]);
    expect(problemsOf(set(0))).to.deep.equal(["config.callbacks.maxPerTarget: must be at least 1"]);
    expect(problemsOf(set(17))).to.deep.equal([
      "config.callbacks.maxPerTarget: must be at most 16",
    ]);
    expect(problemsOf(set(2.5))).to.deep.equal([
      "config.callbacks.maxPerTarget: must be a whole number",
    ]);
  });
});

describe("records callbacks.dead keeps", () => {
  it("defaults to 100 000 and takes 1 to 100 000 000", () => {
    expect(compileConfig(minimal, "/etc/sluice").callbacks.deadMaxLength).to.equal(100_000);
    const set = (value: unknown) => ({ ...minimal, callbacks: { deadMaxLength: value } });
    expect(compileConfig(set(3), "/etc/sluice").callbacks.deadMaxLength).to.equal(3);
    expect(problemsOf(set(100_000_000))).to.deep.equal([]);
    expect(problemsOf(set(0))).to.deep.equal([
      "config.callbacks.deadMaxLength: must be at least 1",
    ]);
    expect(problemsOf(set(1.5))).to.deep.equal([
      "config.callbacks.deadMaxLength: must be a whole number",
    ]);
  });
});

describe("the published admin token", () => {
  it("is refused from the file and from SLUICE_ADMIN_TOKEN, as deploy/k8s/secrets.example.yaml has it", () => {
    // The example Secret's placeholder is long enough to pass the length check; applied as it
    // is, anyone who read the repository held the operator endpoints of the deployment.
    const example = readFileSync(
      path.join(__dirname, "..", "..", "..", "deploy", "k8s", "secrets.example.yaml"),
      "utf8",
    );
    const token = /^\s+token: (\S+)$/m.exec(example)?.[1] ?? "";
    expect(token.length).to.be.at.least(16);
    const expected = [
      "config.admin.token: this token is the published example (deploy/k8s/secrets.example.yaml), so anyone could use the operator endpoints with it; make your own: openssl rand -hex 32",
    ];
    expect(problemsOf({ ...minimal, admin: { token } })).to.deep.equal(expected);
    expect(problemsOf({ ...minimal, admin: { token: ` ${token}\n` } })).to.deep.equal(expected);
    expect(problemsOf({ ...minimal, admin: { token: token.toUpperCase() } })).to.deep.equal(
      expected,
    );
    restoringEnv(["SLUICE_ADMIN_TOKEN"], () => {
      process.env.SLUICE_ADMIN_TOKEN = `${token}\n`;
      expect(problemsOf(minimal)).to.deep.equal([
        "environment SLUICE_ADMIN_TOKEN: this token is the published example (deploy/k8s/secrets.example.yaml), so anyone could use the operator endpoints with it; make your own: openssl rand -hex 32",
      ]);
    });
  });
});

describe("the published connection password", () => {
  it("is refused in AMQP_URL, REDIS_URL, amqpUrl and redisUrl, whatever the scheme or user", () => {
    // deploy/k8s/secrets.example.yaml shows the connection URLs with change-me as password: a
    // broker or Redis set up from it would be open to anyone who read the repository.
    restoringEnv(["AMQP_URL", "REDIS_URL"], () => {
      process.env.AMQP_URL = "amqp://a:b@one:5672, amqps://sluice:change-me@two:5671/v";
      process.env.REDIS_URL = "rediss://:change%2Dme@redis:6380";
      expect(problemsOf(minimal)).to.deep.equal([
        'environment AMQP_URL: "amqps://sluice:[redacted]@two:5671/v" has the published example password (deploy/k8s/secrets.example.yaml), which anyone could use; set your own: openssl rand -hex 32',
        'environment REDIS_URL: "rediss://:[redacted]@redis:6380" has the published example password (deploy/k8s/secrets.example.yaml), which anyone could use; set your own: openssl rand -hex 32',
      ]);
      delete process.env.AMQP_URL;
      delete process.env.REDIS_URL;
      expect(
        problemsOf({
          ...minimal,
          amqpUrl: ["amqp://sluice:change-me@one"],
          redisUrl: "redis-sentinel://change-me@s1:26379/master",
        }).map((p) => p.split(":")[0]),
      ).to.deep.equal(["config.amqpUrl", "config.redisUrl"]);
      // Where a client takes a password from the query: a Sentinel URL's sentinelPassword (the
      // sentinels'), and the password ioredis reads from a redis:// URL's query.
      for (const redisUrl of [
        "redis-sentinel://s3cret@s1:26379,s2:26379/master?sentinelPassword=change-me",
        "redis-sentinel://s1:26379/master/0?sentinelUsername=u&sentinelPassword=change%2Dme",
        "redis://r:6379?password=change-me",
        "rediss://r:6380/1?db=1&password=change%2Dme",
      ]) {
        expect(problemsOf({ ...minimal, redisUrl }), redisUrl).to.deep.equal([
          `config.redisUrl: "${hideUrlPassword(redisUrl)}" has the published example password (deploy/k8s/secrets.example.yaml), which anyone could use; set your own: openssl rand -hex 32`,
        ]);
        expect(hideUrlPassword(redisUrl)).to.not.include("change");
      }
      // Other passwords, and the name change-me as a user, are no concern of this check.
      expect(
        problemsOf({
          ...minimal,
          amqpUrl: "amqp://change-me:s3cret@one",
          redisUrl: "redis://:change-me-now@r:6379?sentinelUsername=change-me&password=other",
        }),
      ).to.deep.equal([]);
    });
  });
});

describe("the Compose demo's broker password", () => {
  const DEMO = path.resolve(__dirname, "..", "..", "..", "config", "demo.yaml");
  const COMPOSE_AMQP_URL = "amqp://sluice:sluice@rabbitmq:5672";

  it("is refused outside the bundled demo configuration, in the environment and the file", () => {
    // deploy/docker-compose.yml sets the broker up with it: a broker copied from that file
    // would be open to anyone who read the repository.
    restoringEnv(["AMQP_URL", "REDIS_URL"], () => {
      process.env.AMQP_URL = COMPOSE_AMQP_URL;
      process.env.REDIS_URL = "redis://:sluice@redis:6379";
      expect(problemsOf(minimal)).to.deep.equal([
        `environment AMQP_URL: "amqp://sluice:[redacted]@rabbitmq:5672" has the demo's published password (deploy/docker-compose.yml), which anyone could use; set your own: openssl rand -hex 32`,
        `environment REDIS_URL: "redis://:[redacted]@redis:6379" has the demo's published password (deploy/docker-compose.yml), which anyone could use; set your own: openssl rand -hex 32`,
      ]);
      delete process.env.AMQP_URL;
      delete process.env.REDIS_URL;
      expect(
        problemsOf({ ...minimal, amqpUrl: [COMPOSE_AMQP_URL] }).map((p) => p.split(":")[0]),
      ).to.deep.equal(["config.amqpUrl"]);
      // The user name sluice with a password of one's own is no concern of this check.
      expect(problemsOf({ ...minimal, amqpUrl: "amqp://sluice:s3cret@one" })).to.deep.equal([]);
    });
  });

  it("is not read into a user name without a password, but where the client reads one so", () => {
    // amqplib and ioredis take `sluice@` as the user sluice (docs/kubernetes.md names it), with
    // no password; redisTarget's Sentinel URL takes `pw@` as the password.
    restoringEnv(["AMQP_URL", "REDIS_URL"], () => {
      process.env.AMQP_URL = "amqps://sluice@broker:5671/sluice";
      process.env.REDIS_URL = "redis://sluice@redis:6379";
      expect(problemsOf(minimal)).to.deep.equal([]);
      process.env.REDIS_URL = "redis-sentinel://sluice@s1:26379/master";
      expect(problemsOf(minimal)).to.deep.equal([
        `environment REDIS_URL: "redis-sentinel://[redacted]@s1:26379/master" has the demo's published password (deploy/docker-compose.yml), which anyone could use; set your own: openssl rand -hex 32`,
      ]);
      process.env.REDIS_URL = "redis-sentinel://change-me@s1:26379/master";
      expect(problemsOf(minimal)[0]).to.match(/has the published example password/);
    });
  });

  it("is accepted with the bundled demo configuration, as Compose runs it", () => {
    restoringEnv(["AMQP_URL"], () => {
      process.env.AMQP_URL = COMPOSE_AMQP_URL;
      expect(loadProblems(DEMO)).to.deep.equal([]);
    });
  });
});

describe("published webhook secrets", () => {
  const DEMO = path.resolve(__dirname, "..", "..", "..", "config", "demo.yaml");
  const DEMO_SECRET = "whsec_c2x1aWNlLWRlbW8tc2VjcmV0LWtleTogcHVibGljLCBuZXZlciBkZXBsb3k=";
  let dir = "";
  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), "sluice-secret-"));
    cpSync(path.join(path.dirname(DEMO), "schemas"), path.join(dir, "schemas"), {
      recursive: true,
    });
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const loadProblems = (file: string): string[] => {
    try {
      loadConfig(file);
    } catch (error) {
      if (error instanceof ConfigError) return error.problems;
      throw error;
    }
    return [];
  };

  it("reads only a regular configuration file of at most 1 MiB, and schemas alike", () => {
    // /dev/zero was read without end; a configuration of megabytes took minutes to check.
    expect(loadProblems("/dev/zero")).to.deep.equal([
      "cannot read the file: it is not a regular file",
    ]);
    const big = path.join(dir, "big.yaml");
    writeFileSync(big, `# ${"x".repeat(1024 * 1024)}\n`);
    expect(loadProblems(big)).to.deep.equal(["cannot read the file: it is larger than 1024 KiB"]);
    const schema = path.join(dir, "schema-dev.yaml");
    writeFileSync(
      schema,
      "services: { testQuery: { backend: legacy, schema: /dev/zero } }\n" +
        "backends: { legacy: { url: 'http://127.0.0.1:8090' } }\n",
    );
    expect(loadProblems(schema)).to.deep.equal([
      "config.services.testQuery.schema: cannot read /dev/zero: it is not a regular file",
    ]);
  });

  it("names the key a duplicate-key error is about, plain or quoted, YAML or JSON", () => {
    const cases: Array<[string, string]> = [
      [
        "services:\n  order:\n    backend: a\n    backend: b\n",
        "not valid YAML/JSON: the key backend appears twice in one mapping, at line 4, column 5",
      ],
      [
        '{"services": {"order": {"backend": "a", "backend": "b"}}}',
        'not valid YAML/JSON: the key "backend" appears twice in one mapping, at line 1, column 41',
      ],
      [
        "services:\n  'order': {}\n  'order': {}\n",
        "not valid YAML/JSON: the key 'order' appears twice in one mapping, at line 3, column 3",
      ],
    ];
    for (const [text, problem] of cases) {
      const file = path.join(dir, "duplicate.yaml");
      writeFileSync(file, text);
      expect(loadProblems(file)).to.deep.equal([problem]);
    }
    // Any other YAML error keeps its own first line.
    const broken = path.join(dir, "broken.yaml");
    writeFileSync(broken, "services: [\n");
    expect(loadProblems(broken)[0]).to.match(/^not valid YAML\/JSON: (?!the key)/);
  });

  it("accepts the demo's secret in the bundled demo configuration, and in an unchanged copy", () => {
    expect(readFileSync(DEMO, "utf8")).to.include(DEMO_SECRET);
    expect(loadProblems(DEMO)).to.deep.equal([]);
    const copy = path.join(dir, "demo.yaml");
    copyFileSync(DEMO, copy);
    expect(loadProblems(copy)).to.deep.equal([]);
  });

  it("refuses it (and the docs' example) anywhere else, an edited copy of the demo included", () => {
    const edited = path.join(dir, "edited.yaml");
    writeFileSync(edited, `${readFileSync(DEMO, "utf8")}\n# our production settings\n`);
    const problems = loadProblems(edited);
    expect(problems.filter((line) => line.startsWith("config.callbacks.secret:"))).to.have.length(
      1,
    );
    expect(problems.join("\n")).to.include("this secret is published");

    const own = path.join(dir, "own.yaml");
    writeFileSync(
      own,
      JSON.stringify({
        ...minimal,
        callbacks: {
          secrets: [
            `whsec_${Buffer.alloc(32, 9).toString("base64")}`,
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
          ],
        },
      }),
    );
    expect(loadProblems(own)).to.deep.equal([
      "config.callbacks.secrets[1]: this secret is published (the demo's or the docs' example), so anyone could sign callbacks with it; make your own: echo \"whsec_$(openssl rand -base64 32)\"",
    ]);
    expect(problemsOf({ ...minimal, callbacks: { secret: DEMO_SECRET } })).to.have.length(1);
    // The same key spelt with padding added or dropped signs as the published one does.
    for (const secret of [
      "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw==",
      DEMO_SECRET.replace(/=+$/, ""),
    ]) {
      expect(problemsOf({ ...minimal, callbacks: { secret } }).join("\n"), secret).to.include(
        "this secret is published",
      );
    }
  });
});

describe("the legacySim block", () => {
  it("takes maxConcurrency 0 as unlimited, as the simulator does", () => {
    const config = compileConfig({ ...minimal, legacySim: { maxConcurrency: 0 } }, "/etc/sluice");
    expect(config.legacySim.maxConcurrency).to.equal(0);
    expect(problemsOf({ ...minimal, legacySim: { maxConcurrency: -1 } })).to.deep.equal([
      "config.legacySim.maxConcurrency: must be at least 0",
    ]);
  });
});

describe("in-flight slot lease time", () => {
  // A live worker renews its slot every third of the lease, at most every 50 ms: a shorter lease
  // lapses between renewals and another worker takes the slot, past the backend's maxInFlight.
  const withLease = (leaseTime: string) => ({
    ...minimal,
    backends: { legacy: { ...minimal.backends.legacy, leaseTime } },
  });
  const withEnv = (value: string, run: () => string[]): string[] =>
    restoringEnv(["SLUICE_LEASE_TIME"], () => {
      process.env.SLUICE_LEASE_TIME = value;
      return run();
    });

  it("refuses a backend's leaseTime under 1s or over a day", () => {
    for (const bad of ["100ms", "25h"]) {
      expect(problemsOf(withLease(bad)), bad).to.deep.equal([
        "config.backends.legacy.leaseTime: must be between 1s and 1d (a live worker renews its slot every third of it)",
      ]);
    }
    // A 1e28 ms one, which Redis refused as an expiry: the worker retried for ever.
    expect(problemsOf(withLease("99999999999999999999d"))).to.deep.equal([
      "config.backends.legacy.leaseTime: must be at most 3650d",
    ]);
    expect(problemsOf(withLease("1s"))).to.deep.equal([]);
    expect(problemsOf(withLease("1d"))).to.deep.equal([]);
  });

  it("refuses a SLUICE_LEASE_TIME that is no duration from 1s to a day, as sluice check does", () => {
    for (const bad of ["banana", "100ms", "0s", "2d", "99999999999999999999d"]) {
      expect(
        withEnv(bad, () => problemsOf(minimal)),
        bad,
      ).to.deep.equal([
        `SLUICE_LEASE_TIME: must be a duration between 1s and 1d such as "30s", not "${bad}"`,
      ]);
    }
    expect(withEnv("10s", () => problemsOf(minimal))).to.deep.equal([]);
  });
});

describe("durations", () => {
  it("refuses any longer than 3650d, a backoff step too: the broker refused such a queue TTL", () => {
    const backoff = {
      ...minimal,
      backends: { legacy: { ...minimal.backends.legacy, retry: { backoff: ["1s", "100000d"] } } },
    };
    expect(problemsOf(backoff)).to.deep.equal([
      "config.backends.legacy.retry.backoff: each step must be at most 3650d",
    ]);
    const expiry = { services: { testQuery: { backend: "legacy", expireAfter: "3651d" } } };
    expect(problemsOf({ ...minimal, ...expiry })).to.deep.equal([
      "config.services.testQuery.expireAfter: must be at most 3650d",
    ]);
    expect(problemsOf({ ...minimal, retention: "3650d" })).to.deep.equal([]);
  });

  it("refuses callback allowlist entries no target can match, without repeating one", () => {
    const allow = [
      "*",
      "0.0.0.0/0",
      "https://",
      "https://*",
      "ftp://files.example/",
      "https://user:s3cret-pw@hooks.example/",
      "https://hooks.example/cb/",
      "https://*.hooks.example/",
      "xroad:EE/GOV/",
    ];
    const problems = problemsOf({ ...minimal, callbacks: { allow } });
    expect(problems.map((line) => line.slice(0, line.indexOf(": ")))).to.deep.equal(
      [0, 1, 2, 3, 4, 5].map((i) => `config.callbacks.allow[${i}]`),
    );
    expect(problems[0]).to.contain("admits no callback target");
    expect(problems.join("\n")).to.not.contain("s3cret-pw");
  });

  it("refuses a backend header no HTTP request can carry, without repeating its value", () => {
    const headers = {
      Authorization: "Bearer s3cret-token\r\nX-Injected: yes",
      "X-Api Key": "v",
      "X-Snow": "\u2603",
      "X-Fine": "caf\u00e9\tok",
    };
    const problems = problemsOf({
      ...minimal,
      backends: { legacy: { url: "http://127.0.0.1:8090", options: { headers } } },
    });
    const value =
      "its value holds a line break, another control character or a character beyond Latin-1, which no HTTP header can carry";
    expect(problems).to.deep.equal([
      `config.backends.legacy.options.headers.Authorization: ${value}`,
      "config.backends.legacy.options.headers.X-Api Key: not an HTTP header name (letters, digits and !#$%&'*+-.^_`|~, no space or colon)",
      `config.backends.legacy.options.headers.X-Snow: ${value}`,
    ]);
    expect(problems.join("\n")).to.not.contain("s3cret-token");
  });

  it("refuses a retention under 1h, which deleted each record as it was written", () => {
    const why =
      "config.retention: must be at least 1h: a message's record (its state and answer) is deleted once retention has passed, even while the message is still queued, retried or called back";
    for (const retention of [0, "0s", "59m"]) {
      expect(problemsOf({ ...minimal, retention })).to.deep.equal([why]);
    }
    expect(problemsOf({ ...minimal, retention: "1h" })).to.deep.equal([]);
  });

  it("refuses 0 for a timeout, which ends every wait at once, and 0kb for a size", () => {
    const never = "must be longer than 0 (it bounds a wait, and 0 would end every one at once)";
    expect(
      problemsOf({
        services: { testQuery: { backend: "legacy", maxBodySize: "0kb" } },
        backends: { legacy: { url: "http://127.0.0.1:8090", timeout: "0s" } },
        adapter: { publishTimeout: 0 },
        callbacks: { timeout: "0ms" },
      }),
    ).to.deep.equal([
      "config.services.testQuery.maxBodySize: must be at least 1 byte",
      `config.backends.legacy.timeout: ${never}`,
      `config.adapter.publishTimeout: ${never}`,
      `config.callbacks.timeout: ${never}`,
    ]);
    // The number 0 is the schema's to refuse, once.
    expect(
      problemsOf({ ...minimal, services: { testQuery: { backend: "legacy", maxBodySize: 0 } } }),
    ).to.deep.equal(["config.services.testQuery.maxBodySize: must be at least 1"]);
  });

  it("refuses a shutdown grace shorter than 1s, which would cut off every call in flight at once", () => {
    const tooShort =
      "config.shutdown.grace: must be at least 1s (a shorter grace cuts off every call in flight at once at a SIGTERM, and the next worker makes each again)";
    for (const grace of ["0s", 0, "999ms"]) {
      expect(problemsOf({ ...minimal, shutdown: { grace } }), String(grace)).to.deep.equal([
        tooShort,
      ]);
    }
    expect(problemsOf({ ...minimal, shutdown: { grace: "1s" } })).to.deep.equal([]);
  });

  it("refuses a timeout or a grace time longer than a timer holds, which would end at once", () => {
    const tooLong =
      "must be at most 24d (a longer wait is more than a timer holds, and would end at once)";
    expect(
      problemsOf({
        ...minimal,
        // A broker that lets a message be held that long, so the backend's rule is not the one.
        amqpConsumerTimeout: "3650d",
        backends: { legacy: { url: "http://127.0.0.1:8090", timeout: "25d" } },
        adapter: { publishTimeout: "30d" },
        callbacks: { timeout: "30d" },
        shutdown: { grace: "30d" },
      }),
    ).to.deep.equal([
      `config.backends.legacy.timeout: ${tooLong}`,
      `config.adapter.publishTimeout: ${tooLong}`,
      `config.shutdown.grace: ${tooLong}`,
      `config.callbacks.timeout: ${tooLong}`,
    ]);
    expect(
      problemsOf({ ...minimal, callbacks: { timeout: "24d" }, shutdown: { grace: "24d" } }),
    ).to.deep.equal([]);
  });
});
