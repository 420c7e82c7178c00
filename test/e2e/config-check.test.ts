// `sluice check --config FILE` as an operator uses it before a deploy: every mistake of a file
// at once, each with its path; a clean file passes; a role refuses to start on the same file.

import { spawnSync } from "node:child_process";
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { expect } from "chai";
import { checkConfigFile } from "../../cli/config-check";
import { createTestPki } from "../support/test-pki";
import { spawn } from "../support/spawned-children";

const BIN = path.resolve(__dirname, "..", "..", "..", "bin", "sluice.js");
const DEMO = path.resolve(__dirname, "..", "..", "..", "config", "demo.yaml");

function sluice(args: string[], env: Record<string, string> = {}) {
  return spawnSync(process.execPath, [BIN, ...args], {
    env: { ...process.env, LOG_LEVEL: "silent", SLUICE_CONFIG: "", ...env },
    encoding: "utf8",
    // A bound, not a timing: a command that waited for a connection it should not make never
    // ends. A loaded machine (two CPU burners, three test files at once) took 10 s to start
    // Node and load a role, where 20 s left a busier one little room.
    timeout: 60_000,
  });
}

/** A service port on loopback: one beyond it over plain HTTP is warned of (tested below). */
const LOOPBACK = "adapter: { host: 127.0.0.1 }\n";

const MISTAKES = `
servcies: {}
services:
  personSearch:
    protocols: [rest]
    reply: { mode: sync, wiat: 10s }
    backend: legasy
    schema: { type: nothing }
  caseNotify:
    reply: { mode: callback, maxWait: 1m, wait: 2m }
    backend: legacy
    timout: 5s
backends:
  legacy:
    translator: rest-jsn
    url: 127.0.0.1:8090
    rate: { limit: 50, per: fast }
  other:
    url: http://127.0.0.1:8090
    options: { maxResponseByte: 10 }
    queue: { highWater: 100, maxLength: 10 }
  custom:
    translator: ./translator.js
    url: http://127.0.0.1:8090
    options: { colour: red }
`;

/** Each mistake above and the line `sluice check` must print for it. */
const EXPECTED = [
  'config.servcies: unknown key (did you mean "services"?)',
  'config.services.personSearch.reply.wiat: unknown key (did you mean "wait"?)',
  'config.services.personSearch.backend: no backend named "legasy" (did you mean "legacy"?)',
  "config.services.personSearch.schema: not a usable JSON Schema",
  "config.services.caseNotify.timout: unknown key",
  "config.services.caseNotify.reply.maxWait: must not be shorter than wait",
  "config.services.caseNotify.reply.mode: callback needs config.callbacks.secret",
  'config.backends.legacy.translator: "rest-jsn" is neither built in (rest-json, soap, xroad-rest, xroad-soap) nor an installed module (did you mean "rest-json"?)',
  "config.backends.legacy.url: must be an http(s) URL",
  'config.backends.legacy.rate.per: must be a duration such as "500ms", "30s", "2m", "1h"',
  'config.backends.other.options.maxResponseByte: unknown key (did you mean "maxResponseBytes"?)',
  "config.backends.other.queue.maxLength: must be at least highWater",
  "config.backends.custom.options.colour: unknown option",
];

describe("sluice check", function () {
  // Several processes started one after another per test: a machine busy with other work takes
  // seconds to start each.
  this.timeout(90_000);
  const dir = mkdtempSync(path.join(tmpdir(), "sluice-check-"));
  const bad = path.join(dir, "bad.yaml");
  const good = path.join(dir, "good.yaml");
  writeFileSync(bad, MISTAKES);
  writeFileSync(
    path.join(dir, "translator.js"),
    `exports.optionsSchema = { type: "object", additionalProperties: false, properties: { color: { type: "string" } } };
exports.createTranslator = () => ({ call: async () => [] });`,
  );
  writeFileSync(
    good,
    `${LOOPBACK}services:\n  q: { backend: b }\nbackends:\n  b: { url: "http://127.0.0.1:1", translator: ./translator.js, options: { color: red } }\n`,
  );
  // The certificates the configurations below name: the check reads them (a bad one is warned of).
  const pki = createTestPki();
  const server = pki.ca.issue("server");
  for (const [name, from] of [
    ["ss.crt", server.certFile],
    ["ss.key", server.keyFile],
    ["ss-internal.crt", pki.ca.certFile],
    ["backend.crt", server.certFile],
  ]) {
    copyFileSync(from, path.join(dir, name));
  }
  after(() => {
    pki.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it("names every mistake of a file at once, each with its path, and exits 2", () => {
    const result = sluice(["check", "--config", bad]);
    expect(result.status).to.equal(2);
    const lines = result.stderr.trim().split("\n");
    expect(lines[0]).to.equal(`sluice: invalid configuration ${bad}:`);
    for (const line of EXPECTED) {
      expect(
        lines.some((l) => l.startsWith(`  - ${line}`)),
        line,
      ).to.equal(true);
    }
    expect(lines).to.have.length(EXPECTED.length + 1);
    expect(result.stderr).to.not.match(/\n\s+at /);
  });

  it("passes a clean file and the demo's, exit 0, connecting to nothing", () => {
    // Unreachable broker and Redis: a check that tried to connect would fail.
    const env = { AMQP_URL: "amqp://127.0.0.1:1", REDIS_URL: "redis://127.0.0.1:1" };
    for (const file of [good, DEMO]) {
      const result = sluice(["check", "--config", file], env);
      expect(result.stderr).to.equal("");
      expect(result.status, file).to.equal(0);
      expect(result.stdout).to.include(`configuration ${file} is valid`);
    }
  });

  it("makes every role refuse to start on the same problems, before connecting", () => {
    const check = sluice(["check", "--config", bad]);
    for (const role of ["worker"]) {
      const result = sluice([role, "--config", bad], { AMQP_URL: "amqp://127.0.0.1:1" });
      expect(result.status, role).to.equal(2);
      expect(result.stderr, role).to.equal(check.stderr);
    }
  });

  it("refuses what a built-in translator refuses in its options, as the worker does, before connecting", () => {
    const file = path.join(dir, "soap-options.yaml");
    writeFileSync(
      file,
      `services:\n  q: { backend: b, protocols: [soap] }\nbackends:\n  b:\n    translator: soap\n    url: "http://127.0.0.1:1"\n    options: { wsdlFile: legacy.wsdl, wsdlImportOrigins: ["https://schemas.example.org/x"] }\n`,
    );
    const check = sluice(["check", "--config", file]);
    expect(check.status).to.equal(2);
    expect(check.stderr).to.include("config.backends.b.translator: ");
    expect(check.stderr).to.include("options.wsdlFile must be an absolute path");
    expect(check.stderr).to.include("options.wsdlImportOrigins must be a list of http(s) origins");
    const worker = sluice(["worker", "--config", file], { AMQP_URL: "amqp://127.0.0.1:1" });
    expect(worker.status).to.equal(2);
    expect(worker.stderr).to.equal(check.stderr);
  });

  it("refuses an xroad-rest backend's forwardHeaders naming a credential, a header never sent or no header name; passes one naming the remote service's own header", () => {
    const file = path.join(dir, "xroad-forward-headers.yaml");
    const write = (names: string) =>
      writeFileSync(
        file,
        `${LOOPBACK}shutdown: { grace: 100s }\nsecurityServer: { url: "http://127.0.0.1:1", client: EE/GOV/1/sluice }\nservices:\n  s: { backend: remote, reply: { mode: ack } }\nbackends:\n  remote: { translator: xroad-rest, service: EE/GOV/2/sub/svc, options: { forwardHeaders: [${names}] } }\n`,
      );
    write("X-Case-Version, Authorization");
    const refused = sluice(["check", "--config", file]);
    expect(refused.status, refused.stderr).to.equal(2);
    expect(refused.stderr).to.include(
      "options.forwardHeaders: authorization is a credential of the local caller's",
    );
    // Accepted once, then never sent: refused, naming each.
    write("X-Case-Version, Forwarded, Via, X-Real-IP");
    const neverSent = sluice(["check", "--config", file]);
    expect(neverSent.status, neverSent.stderr).to.equal(2);
    for (const name of ["forwarded", "via", "x-real-ip"]) {
      expect(neverSent.stderr).to.include(
        `${name} is never sent to the remote provider (it maps the local network)`,
      );
    }
    write('"X-Case Version"');
    const malformed = sluice(["check", "--config", file]);
    expect(malformed.status, malformed.stderr).to.equal(2);
    expect(malformed.stderr).to.include("config.backends.remote.options.forwardHeaders[0]");
    write("X-Case-Version");
    const passed = sluice(["check", "--config", file]);
    expect(passed.status, passed.stderr).to.equal(0);
  });

  it("refuses a rest-json backend's forwardHeaders naming a header its options.headers sets; passes the same list without it", () => {
    const file = path.join(dir, "rest-json-forward-headers.yaml");
    const write = (headers: string) =>
      writeFileSync(
        file,
        `${LOOPBACK}services:\n  s: { backend: b, reply: { mode: ack } }\nbackends:\n  b: { translator: rest-json, url: "http://127.0.0.1:1", options: { forwardHeaders: [X-Forwarded-For, X-Forwarded-Proto], headers: { ${headers} } } }\n`,
      );
    write("X-Forwarded-Proto: https, X-Api-Key: k");
    const check = sluice(["check", "--config", file]);
    expect(check.status, check.stderr).to.equal(2);
    expect(check.stderr).to.include("config.backends.b.translator: ");
    expect(check.stderr).to.include(
      "options.forwardHeaders: x-forwarded-proto is never sent to the backend (options.headers sets it, in place of the caller's)",
    );
    expect(check.stderr).to.not.include("x-forwarded-for is never sent");
    const worker = sluice(["worker", "--config", file], { AMQP_URL: "amqp://127.0.0.1:1" });
    expect(worker.status).to.equal(2);
    expect(worker.stderr).to.equal(check.stderr);
    write("X-Api-Key: k");
    const passed = sluice(["check", "--config", file]);
    expect(passed.status, passed.stderr).to.equal(0);
  });

  it("refuses an xroad-rest backend's forwardCredentials naming no credential or one never passed on, and forwardCredentials on any other translator; passes Authorization", () => {
    const file = path.join(dir, "xroad-forward-credentials.yaml");
    const write = (translator: string, names: string) =>
      writeFileSync(
        file,
        `${LOOPBACK}shutdown: { grace: 100s }\nsecurityServer: { url: "http://127.0.0.1:1", client: EE/GOV/1/sluice }\nservices:\n  s: { backend: remote, reply: { mode: ack } }\nbackends:\n  remote: { translator: ${translator}, url: "http://127.0.0.1:1", service: EE/GOV/2/sub/svc, options: { forwardCredentials: [${names}] } }\n`,
      );
    write("xroad-rest", "Authorization, X-Case-Version, Proxy-Authorization");
    const refused = sluice(["check", "--config", file]);
    expect(refused.status, refused.stderr).to.equal(2);
    expect(refused.stderr).to.include(
      "options.forwardCredentials: x-case-version is not a credential header",
    );
    expect(refused.stderr).to.include(
      "proxy-authorization is never sent to the remote provider (hop-by-hop, meant for one connection)",
    );
    write("xroad-soap", "Authorization");
    const soap = sluice(["check", "--config", file]);
    expect(soap.status, soap.stderr).to.equal(2);
    expect(soap.stderr).to.include("config.backends.remote.options.forwardCredentials");
    write("xroad-rest", "Authorization");
    const passed = sluice(["check", "--config", file]);
    expect(passed.status, passed.stderr).to.equal(0);
  });

  it("creates no translator for the roles that call none (the adapter, the response worker)", async () => {
    const file = path.join(dir, "soap-options-roles.yaml");
    writeFileSync(
      file,
      `services:\n  q: { backend: b, protocols: [soap] }\nbackends:\n  b:\n    translator: soap\n    url: "http://127.0.0.1:1"\n    options: { wsdlFile: legacy.wsdl }\n`,
    );
    // The worker's check (the default) creates the built-in translator, which refuses the option.
    const worker = await checkConfigFile(file);
    expect(worker.ok).to.equal(false);
    // The adapter's and the response worker's check never create one, so they start.
    const others = await checkConfigFile(file, { createTranslators: "none" });
    expect(others.ok, others.ok ? "" : others.message).to.equal(true);
    // As the roles run it: the adapter passes its check and goes on to connect (exit 3 here:
    // nothing listens on port 1),
    // the worker stops on the option (exit 2).
    const adapter = sluice(["adapter", "--config", file], { AMQP_URL: "amqp://127.0.0.1:1" });
    expect(adapter.status, adapter.stderr).to.equal(3);
    expect(adapter.stderr).to.include("cannot connect to RabbitMQ");
    const role = sluice(["worker", "--config", file], { AMQP_URL: "amqp://127.0.0.1:1" });
    expect(role.status).to.equal(2);
    expect(role.stderr).to.include("options.wsdlFile must be an absolute path");
  });

  it("runs a translator module's factory: one that throws is a problem naming the backend's translator and the reason, exit 2", async () => {
    const marker = path.join(dir, "factory-ran");
    writeFileSync(
      path.join(dir, "throwing-factory.js"),
      `require("node:fs").writeFileSync(${JSON.stringify(marker)}, "ran");
exports.createTranslator = () => { throw new Error("no licence file at /etc/legacy/licence"); };`,
    );
    const file = path.join(dir, "throwing-factory.yaml");
    writeFileSync(
      file,
      `services:\n  q: { backend: legacy }\nbackends:\n  legacy: { url: "http://127.0.0.1:1", translator: ./throwing-factory.js }\n`,
    );
    const result = sluice(["check", "--config", file]);
    expect(result.status).to.equal(2);
    expect(result.stderr.trim().split("\n")).to.deep.equal([
      `sluice: invalid configuration ${file}:`,
      `  - config.backends.legacy.translator: backend legacy: translator "./throwing-factory.js": could not be created: no licence file at /etc/legacy/licence`,
    ]);
    // The roles' own check (the adapter's, the response worker's) loads the module only: its
    // factory is for the worker to run, at its start.
    rmSync(marker, { force: true });
    const roleCheck = await checkConfigFile(file);
    expect(roleCheck.ok).to.equal(true);
    expect(existsSync(marker), "the module was loaded").to.equal(true);
  });

  it("closes what a translator module's factory made, and passes (exit 0)", () => {
    const closed = path.join(dir, "factory-closed");
    writeFileSync(
      path.join(dir, "closing-factory.js"),
      `exports.createTranslator = () => ({ call: async () => [], close: async () => require("node:fs").writeFileSync(${JSON.stringify(closed)}, "closed") });`,
    );
    const file = path.join(dir, "closing-factory.yaml");
    writeFileSync(
      file,
      `${LOOPBACK}services:\n  q: { backend: legacy }\nbackends:\n  legacy: { url: "http://127.0.0.1:1", translator: ./closing-factory.js }\n`,
    );
    const result = sluice(["check", "--config", file]);
    expect(result.stderr).to.equal("");
    expect(result.status).to.equal(0);
    expect(readFileSync(closed, "utf8")).to.equal("closed");
  });

  describe("behind a security server without xroad.provider", () => {
    const WARNING =
      "config.xroad.provider: not set, while adapter.tls.clientCa admits a security server";
    /**
     * mTLS from a security server (clientCa); `extra` is appended at the top level. The grace
     * outlasts the remote backend's call, which is warned of otherwise.
     */
    function behindSecurityServer(
      name: string,
      services: string,
      extra = "",
      adapterExtra = "",
    ): string {
      const file = path.join(dir, `${name}.yaml`);
      writeFileSync(
        file,
        `adapter:\n  tls: { cert: ss.crt, key: ss.key, clientCa: ss-internal.crt }\n${adapterExtra}callbacks: { secret: "whsec_${"k".repeat(40)}" }\nservices:\n${services}backends:\n  b: { url: "http://127.0.0.1:1" }\n  remote: { translator: xroad-rest, service: EE/GOV/1/other/svc }\nsecurityServer: { url: "http://127.0.0.1:1", client: EE/GOV/1/sluice }\nshutdown: { grace: 100s }\n${extra}`,
        // It holds a webhook secret: readable by its owner only, as a deployment's should be.
        { mode: 0o600 },
      );
      return file;
    }
    const PROVIDER_SERVICES =
      "  notify: { backend: b, reply: { mode: callback } }\n  search: { backend: b, protocols: [rest], reply: { mode: ack } }\n";

    it("warns that no X-Road caller can reach the Location, and still passes (exit 0)", () => {
      const result = sluice([
        "check",
        "--config",
        behindSecurityServer("noprovider", PROVIDER_SERVICES),
      ]);
      expect(result.status).to.equal(0);
      const lines = result.stderr.trim().split("\n");
      expect(lines).to.have.length(1);
      expect(lines[0]).to.include(`sluice: warning: ${WARNING}`);
      expect(lines[0]).to.include("(service notify, search)");
      expect(lines[0]).to.include("/messages/<id>");
      expect(result.stdout).to.include("is valid");
    });

    it("does not warn with xroad.provider set, nor for consumer-direction or SOAP-only services", () => {
      const files = [
        behindSecurityServer(
          "provider",
          PROVIDER_SERVICES,
          "xroad: { provider: EE/GOV/1/sluice }\n",
        ),
        behindSecurityServer("consumer", "  ask: { backend: remote, reply: { mode: ack } }\n"),
        behindSecurityServer(
          "soaponly",
          "  q: { backend: b, protocols: [soap], reply: { mode: ack } }\n",
          "",
          "  publicUrl: https://sluice.internal:8443\n",
        ),
      ];
      for (const file of files) {
        const result = sluice(["check", "--config", file]);
        expect(result.status, file).to.equal(0);
        expect(result.stderr, file).to.equal("");
      }
    });

    it("warns that a security server refuses the WSDL of SOAP services without adapter.publicUrl", () => {
      const result = sluice([
        "check",
        "--config",
        behindSecurityServer(
          "relative",
          "  q: { backend: b, protocols: [soap], reply: { mode: ack } }\n",
        ),
      ]);
      expect(result.status).to.equal(0);
      const lines = result.stderr.trim().split("\n");
      expect(lines).to.have.length(1);
      expect(lines[0]).to.include(
        "sluice: warning: config.adapter.publicUrl: not set, so the WSDL (service q) names the relative address /soap",
      );
    });

    it("makes a role log the same warning at start", async () => {
      const file = behindSecurityServer("role", PROVIDER_SERVICES);
      const child = spawn(process.execPath, [BIN, "worker", "--config", file], {
        env: {
          ...process.env,
          LOG_LEVEL: "warn",
          SLUICE_CONFIG: "",
          AMQP_URL: "amqp://127.0.0.1:1",
        },
        stdio: ["ignore", "pipe", "pipe"],
      });
      let output = "";
      try {
        const line = await new Promise<string>((resolve, reject) => {
          const look = (chunk: Buffer) => {
            output += chunk.toString();
            const found = output.split("\n").find((l) => l.includes(WARNING));
            if (found) resolve(found);
          };
          child.stdout.on("data", look);
          child.stderr.on("data", look);
          child.on("exit", () => reject(new Error(`exited without the warning:\n${output}`)));
        });
        expect(JSON.parse(line)).to.include({ level: "warn" });
      } finally {
        if (child.exitCode === null) child.kill("SIGKILL");
      }
    });
  });

  it("warns that a service port beyond loopback speaks plain HTTP, as the adapter does at start, unless adapter.plainHttp says it is intended", () => {
    const open = path.join(dir, "open-service-port.yaml");
    const rest = `services:\n  s: { backend: b, reply: { mode: ack } }\nbackends:\n  b: { url: "http://127.0.0.1:1" }\n`;
    writeFileSync(open, rest);
    const warning =
      'config.adapter.host: "0.0.0.0" is not a loopback address, and the service port speaks plain HTTP';
    const result = sluice(["check", "--config", open]);
    expect(result.status).to.equal(0);
    expect(result.stderr.trim().split("\n")).to.have.length(1);
    expect(result.stderr).to.include(`sluice: warning: ${warning}`);
    expect(result.stderr).to.include("set adapter.tls");
    expect(result.stdout).to.include("is valid");
    // The adapter logs it as it starts, before it connects (to nothing here).
    const adapter = sluice(["adapter", "--config", open], {
      AMQP_URL: "amqp://127.0.0.1:1",
      LOG_LEVEL: "warn",
    });
    // As JSON, whose quotes are escaped: the words after the host.
    const logged = `${adapter.stdout}${adapter.stderr}`
      .split("\n")
      .find((l) => l.includes("is not a loopback address, and the service port speaks plain HTTP"));
    expect(logged, adapter.stderr).to.be.a("string");
    expect(JSON.parse(logged as string)).to.include({ level: "warn", role: "adapter" });
    const intended = path.join(dir, "intended-plain-http.yaml");
    writeFileSync(intended, `adapter: { plainHttp: true }\n${rest}`);
    const withTls = path.join(dir, "tls-service-port.yaml");
    writeFileSync(withTls, `adapter: { tls: { cert: ss.crt, key: ss.key } }\n${rest}`);
    for (const file of [intended, withTls]) {
      const quiet = sluice(["check", "--config", file]);
      expect(quiet.status, file).to.equal(0);
      expect(quiet.stderr, file).to.equal("");
    }
  });

  it("warns of an HTTPS security server without a client certificate, and of a kept-alive connection the security server may close first", () => {
    const file = (name: string, tls: string, options: string) => {
      const written = path.join(dir, `${name}.yaml`);
      writeFileSync(
        written,
        `${LOOPBACK}shutdown: { grace: 100s }\nsecurityServer: { url: "https://127.0.0.1:1", client: EE/GOV/1/sluice, tls: { ca: ss-internal.crt${tls} } }\nservices:\n  s: { backend: remote, reply: { mode: ack }, client: EE/GOV/1/other }\nbackends:\n  remote: { translator: xroad-rest, service: EE/GOV/2/sub/svc${options} }\n`,
      );
      return written;
    };
    const result = sluice([
      "check",
      "--config",
      file("no-client-cert", "", ", options: { keepAliveTimeoutMs: 30000 }"),
    ]);
    expect(result.status).to.equal(0);
    const lines = result.stderr.trim().split("\n");
    expect(lines).to.have.length(2);
    expect(lines[0]).to.include(
      "sluice: warning: config.securityServer.tls.cert: not set, while securityServer.url is HTTPS: Sluice presents no client certificate, so the security server takes its calls only with the connection type HTTPS NOAUTH on each client it calls as (EE/GOV/1/sluice, EE/GOV/1/other;",
    );
    expect(lines[1]).to.include(
      "sluice: warning: config.backends.remote.options.keepAliveTimeoutMs: 30000, not below the 30s the security server lets a connection idle",
    );
    expect(result.stdout).to.include("is valid");
    const quiet = sluice([
      "check",
      "--config",
      file("client-cert", ", cert: ss.crt, key: ss.key", ""),
    ]);
    expect(quiet.status).to.equal(0);
    expect(quiet.stderr).to.equal("");
  });

  it("prints a problem whose reason quotes a URL with its password hidden, host and port kept", () => {
    // A translator's factory failing on its own connection, its library quoting the URL.
    writeFileSync(
      path.join(dir, "url-factory.js"),
      `exports.createTranslator = () => { throw new Error("cannot reach postgres://app:pg-pw-7e2@db.internal:5432/legacy"); };`,
    );
    const file = path.join(dir, "url-factory.yaml");
    writeFileSync(
      file,
      `services:\n  q: { backend: legacy }\nbackends:\n  legacy: { url: "http://127.0.0.1:1", translator: ./url-factory.js }\n`,
    );
    const result = sluice(["check", "--config", file]);
    expect(result.status).to.equal(2);
    expect(result.stderr).to.include("postgres://app:[redacted]@db.internal:5432/legacy");
    expect(result.stderr).not.to.include("pg-pw-7e2");
  });

  it("warns that an admin port beyond loopback speaks plain HTTP, and still passes (exit 0)", () => {
    const file = path.join(dir, "open-admin.yaml");
    writeFileSync(
      file,
      `admin: { host: 0.0.0.0 }\nservices:\n  s: { backend: b, reply: { mode: ack } }\nbackends:\n  b: { url: "http://127.0.0.1:1" }\n`,
    );
    const result = sluice(["check", "--config", file], { ADMIN_HOST: "" });
    expect(result.status).to.equal(0);
    expect(result.stderr).to.include(
      'sluice: warning: config.admin.host: "0.0.0.0" is not a loopback address, and the admin port speaks plain HTTP',
    );
    expect(result.stdout).to.include("is valid");
  });

  it("warns of a LOG_LEVEL or LOG_FORMAT no role understands, and still passes (exit 0)", () => {
    const file = path.join(dir, "plain.yaml");
    writeFileSync(
      file,
      `${LOOPBACK}services:\n  s: { backend: b, reply: { mode: ack } }\nbackends:\n  b: { url: "http://127.0.0.1:1" }\n`,
    );
    const result = sluice(["check", "--config", file], {
      LOG_LEVEL: "verbose",
      LOG_FORMAT: "text",
    });
    expect(result.status).to.equal(0);
    expect(result.stderr).to.include(
      'sluice: warning: environment LOG_LEVEL: "verbose" is not a level (',
    );
    expect(result.stderr).to.include(
      'sluice: warning: environment LOG_FORMAT: "text" is neither json nor pretty: the roles write json',
    );
    expect(result.stdout).to.include("is valid");
    const known = sluice(["check", "--config", file], { LOG_LEVEL: " Debug ", LOG_FORMAT: "" });
    expect(known.stderr).to.equal("");
  });

  it("warns of a TLS private key every user of the machine may read, not of one its group may", function () {
    if (process.platform === "win32") this.skip();
    const key = path.join(dir, "backend.key");
    copyFileSync(server.keyFile, key);
    const file = path.join(dir, "exposed-key.yaml");
    writeFileSync(
      file,
      `${LOOPBACK}services:\n  s: { backend: b, reply: { mode: ack } }\nbackends:\n  b: { url: "https://127.0.0.1:1", tls: { cert: backend.crt, key: backend.key } }\n`,
    );
    chmodSync(key, 0o644);
    const exposed = sluice(["check", "--config", file]);
    expect(exposed.status).to.equal(0);
    expect(exposed.stderr).to.include(
      `sluice: warning: config.backends.b.tls.key: ${key} is a private key that every user of this machine may read (mode 0644)`,
    );
    expect(exposed.stdout).to.include("is valid");
    for (const mode of [0o600, 0o640, 0o440]) {
      chmodSync(key, mode);
      const kept = sluice(["check", "--config", file]);
      expect(kept.status, mode.toString(8)).to.equal(0);
      expect(kept.stderr, mode.toString(8)).to.equal("");
    }
  });

  it("reads AMQP_URL_FILE, REDIS_URL_FILE and SLUICE_ADMIN_TOKEN_FILE as a role does: refuses both set or an empty file, warns of one every user may read", function () {
    if (process.platform === "win32") this.skip();
    const file = path.join(dir, "secret-files.yaml");
    writeFileSync(
      file,
      `${LOOPBACK}services:\n  s: { backend: b }\nbackends:\n  b: { url: "http://127.0.0.1:1" }\n`,
    );
    const secret = (name: string, text: string, mode = 0o400) => {
      const at = path.join(dir, name);
      rmSync(at, { force: true });
      writeFileSync(at, text, { mode });
      chmodSync(at, mode);
      return at;
    };
    const amqp = secret("amqp-url", "amqp://sluice:kT9xQz4w@rabbit:5672\n");
    const redis = secret("redis-url", "redis://:kT9xQz4w@redis:6379/0\n", 0o440);
    const token = secret("admin-token", "f3a9c1d07be24e5a9d6c8b1e2f4a7c90\n");
    const files = {
      AMQP_URL: "",
      REDIS_URL: "",
      SLUICE_ADMIN_TOKEN: "",
      AMQP_URL_FILE: amqp,
      REDIS_URL_FILE: redis,
      SLUICE_ADMIN_TOKEN_FILE: token,
    };
    const clean = sluice(["check", "--config", file], files);
    expect(clean.status, clean.stderr).to.equal(0);
    expect(clean.stderr).to.equal("");
    expect(clean.stdout).to.include("is valid").and.not.include("no admin token");

    const both = sluice(["check", "--config", file], {
      ...files,
      REDIS_URL: "redis://127.0.0.1:1",
    });
    expect(both.status).to.equal(2);
    expect(both.stderr).to.include(
      "environment REDIS_URL and REDIS_URL_FILE: both are set, and only one may say what REDIS_URL is; unset one",
    );
    const empty = secret("empty-token", "\n");
    const refused = sluice(["check", "--config", file], {
      ...files,
      SLUICE_ADMIN_TOKEN_FILE: empty,
    });
    expect(refused.status).to.equal(2);
    expect(refused.stderr).to.include(
      `environment SLUICE_ADMIN_TOKEN_FILE (${empty}): the file is empty; write the SLUICE_ADMIN_TOKEN value into it`,
    );
    const missing = path.join(dir, "no-such-file");
    const absent = sluice(["check", "--config", file], { ...files, AMQP_URL_FILE: missing });
    expect(absent.status).to.equal(2);
    expect(absent.stderr).to.include(
      `environment AMQP_URL_FILE (${missing}): cannot read the file: ENOENT`,
    );
    chmodSync(amqp, 0o644);
    const exposed = sluice(["check", "--config", file], files);
    expect(exposed.status).to.equal(0);
    expect(exposed.stderr.trim().split("\n")).to.deep.equal([
      `sluice: warning: environment AMQP_URL_FILE: ${amqp} holds AMQP_URL and every user of this machine may read it (mode 0644); let only Sluice's user (and group) read it: chmod 400 ${amqp} (or 440)`,
    ]);
    // No line printed names a value.
    for (const result of [clean, both, refused, absent, exposed]) {
      expect(result.stdout + result.stderr).to.not.include("kT9xQz4w");
    }
  });

  it("fills a ${NAME} of the file from NAME_FILE as a role does: refuses a missing file naming it, warns of one every user may read", function () {
    if (process.platform === "win32") this.skip();
    const file = path.join(dir, "reference-files.yaml");
    writeFileSync(
      file,
      `${LOOPBACK}services:\n  s: { backend: b }\nbackends:\n  b: { url: "http://127.0.0.1:1" }\ncallbacks:\n  secret: \${SLUICE_CHECK_HOOK}\n`,
    );
    const hook = path.join(dir, "hook-secret");
    writeFileSync(hook, "whsec_a1Q5cE9zVm4yWGtMcDdSdDNIeThGcVowTmJ1Sw==\n", { mode: 0o400 });
    chmodSync(hook, 0o400);
    const clean = sluice(["check", "--config", file], { SLUICE_CHECK_HOOK_FILE: hook });
    expect(clean.status, clean.stderr).to.equal(0);
    expect(clean.stderr).to.equal("");
    const missing = path.join(dir, "no-hook-secret");
    const absent = sluice(["check", "--config", file], { SLUICE_CHECK_HOOK_FILE: missing });
    expect(absent.status).to.equal(2);
    expect(absent.stderr).to.include(
      `environment SLUICE_CHECK_HOOK_FILE (${missing}): cannot read the file: ENOENT`,
    );
    chmodSync(hook, 0o644);
    const exposed = sluice(["check", "--config", file], { SLUICE_CHECK_HOOK_FILE: hook });
    expect(exposed.status).to.equal(0);
    expect(exposed.stderr.trim().split("\n")).to.deep.equal([
      `sluice: warning: environment SLUICE_CHECK_HOOK_FILE: ${hook} holds SLUICE_CHECK_HOOK and every user of this machine may read it (mode 0644); let only Sluice's user (and group) read it: chmod 400 ${hook} (or 440)`,
    ]);
    for (const result of [clean, absent, exposed]) {
      expect(result.stdout + result.stderr).to.not.include("a1Q5cE9z");
    }
  });

  it("warns of a TLS file a role would stop on (expired, a key of another certificate), not of one absent here", () => {
    const other = pki.ca.issue("other");
    const expired = pki.ca.issue("expired", { expired: true });
    const file = path.join(dir, "bad-tls.yaml");
    writeFileSync(
      file,
      `adapter:\n  tls: { cert: ${expired.certFile}, key: ${expired.keyFile} }\nservices:\n  s: { backend: b, reply: { mode: ack } }\nbackends:\n  b: { url: "https://127.0.0.1:1", tls: { cert: ss.crt, key: ${other.keyFile} } }\n  c: { url: "https://127.0.0.1:1", tls: { cert: only-where-the-role-runs.crt, key: ss.key } }\n`,
    );
    const result = sluice(["check", "--config", file]);
    expect(result.status).to.equal(0);
    const lines = result.stderr.trim().split("\n");
    expect(lines).to.have.length(2);
    expect(lines[0]).to.match(
      new RegExp(
        `^sluice: warning: config\\.adapter\\.tls: certificate ${expired.certFile} expired on .*; a role that uses it refuses to start with this file$`,
      ),
    );
    expect(lines[1]).to.equal(
      `sluice: warning: config.backends.b.tls: key file ${other.keyFile} does not belong to certificate ${path.join(dir, "ss.crt")}; a role that uses it refuses to start with this file`,
    );
    expect(result.stdout).to.include("is valid");
  });

  it("warns of an amqpTls or redisTls file a role would stop on, without connecting", () => {
    const other = pki.ca.issue("broker-other");
    const expired = pki.ca.issue("broker-expired", { expired: true });
    const file = path.join(dir, "bad-broker-tls.yaml");
    writeFileSync(
      file,
      // Ports nothing listens on: the check reads the files and connects to neither.
      `${LOOPBACK}amqpUrl: amqps://127.0.0.1:1\namqpTls: { ca: ss.crt, cert: ss.crt, key: ${other.keyFile} }\nredisUrl: rediss://127.0.0.1:1\nredisTls: { cert: ${expired.certFile}, key: ${expired.keyFile} }\nservices:\n  s: { backend: b, reply: { mode: ack } }\nbackends:\n  b: { url: "http://127.0.0.1:1" }\n`,
    );
    const result = sluice(["check", "--config", file], { AMQP_URL: "", REDIS_URL: "" });
    expect(result.status, result.stderr).to.equal(0);
    const lines = result.stderr.trim().split("\n");
    expect(lines).to.have.length(2);
    expect(lines[0]).to.equal(
      `sluice: warning: config.amqpTls: key file ${other.keyFile} does not belong to certificate ${path.join(dir, "ss.crt")}; a role that uses it refuses to start with this file`,
    );
    expect(lines[1]).to.match(
      new RegExp(
        `^sluice: warning: config\\.redisTls: certificate ${expired.certFile} expired on .*; a role that uses it refuses to start with this file$`,
      ),
    );
  });

  it("reads adapter.tls.clientCerts too: a pinned file that holds no certificate is warned of", () => {
    const pinned = path.join(dir, "pinned-not-pem.crt");
    writeFileSync(pinned, "the security server's certificate goes here\n");
    const file = path.join(dir, "bad-pin.yaml");
    writeFileSync(
      file,
      `adapter:\n  tls: { cert: ss.crt, key: ss.key, clientCerts: [${pinned}] }\nxroad: { provider: EE/GOV/1/sluice }\nservices:\n  s: { backend: b, reply: { mode: ack } }\nbackends:\n  b: { url: "http://127.0.0.1:1" }\n`,
    );
    const result = sluice(["check", "--config", file]);
    expect(result.status).to.equal(0);
    expect(result.stderr.trim().split("\n")).to.deep.equal([
      `sluice: warning: config.adapter.tls.clientCerts: certificate file ${pinned} does not hold a PEM certificate; a role that uses it refuses to start with this file`,
    ]);
  });

  it("warns of a file holding the admin token or a webhook secret that every user may read", function () {
    if (process.platform === "win32") this.skip();
    const base = `${LOOPBACK}services:\n  s: { backend: b, reply: { mode: ack } }\nbackends:\n  b: { url: "http://127.0.0.1:1" }\n`;
    const secret = `whsec_${"k".repeat(40)}`;
    const written = path.join(dir, "written-secrets.yaml");
    writeFileSync(
      written,
      `${base}admin: { token: "9f86d081884c7d659a2feaa0c55ad015" }\ncallbacks: { secrets: ["${secret}"] }\n`,
    );
    // Taken from the environment when the role starts: the file holds no secret.
    const fromEnv = path.join(dir, "env-secrets.yaml");
    writeFileSync(fromEnv, `${base}callbacks: { secret: "\${WEBHOOK_SECRET}" }\n`);
    const env = { WEBHOOK_SECRET: secret, SLUICE_ADMIN_TOKEN: "" };
    chmodSync(written, 0o644);
    chmodSync(fromEnv, 0o644);
    const exposed = sluice(["check", "--config", written], env);
    expect(exposed.status).to.equal(0);
    expect(exposed.stderr).to.include(
      `sluice: warning: ${written}: holds admin.token, callbacks.secrets and every user of this machine may read it (mode 0644)`,
    );
    expect(exposed.stderr).to.not.include(secret);
    const quiet = sluice(["check", "--config", fromEnv], env);
    expect(quiet.status).to.equal(0);
    expect(quiet.stderr).to.equal("");
    for (const mode of [0o600, 0o640]) {
      chmodSync(written, mode);
      const kept = sluice(["check", "--config", written], env);
      expect(kept.status, mode.toString(8)).to.equal(0);
      expect(kept.stderr, mode.toString(8)).to.equal("");
    }
  });

  it("starts no role without --config, and says how to run the demo", () => {
    for (const role of ["worker", "legacy-sim", "check"]) {
      const result = sluice([role]);
      expect(result.status, role).to.equal(2);
      expect(result.stderr).to.include(`${role} needs --config FILE`);
      expect(result.stderr).to.include("sluice demo");
    }
  });
});
