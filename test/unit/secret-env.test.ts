import { expect } from "chai";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { compileConfig, ConfigError, loadConfig } from "../../shared/config/config";
import {
  envSecretSource,
  MAX_SECRET_FILE_BYTES,
  readEnvSecret,
} from "../../shared/config/secret-env";
import { exposedKeyWarnings } from "../../shared/config/secret-file-modes";
import { restoringEnv } from "../support/environment";

const TOKEN = "f3a9c1d07be24e5a9d6c8b1e2f4a7c90";
const minimal = {
  services: { testQuery: { backend: "legacy" } },
  backends: { legacy: { url: "http://127.0.0.1:8090" } },
};

describe("secrets given as files (NAME_FILE)", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), "sluice-secret-env-"));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const file = (name: string, text: string): string => {
    const at = path.join(dir, name);
    writeFileSync(at, text, { mode: 0o400 });
    return at;
  };
  const read = (env: NodeJS.ProcessEnv) => {
    const problems: string[] = [];
    const secret = readEnvSecret("REDIS_URL", problems, env);
    return { secret, problems };
  };

  it("reads the value from the file, its trailing line break dropped", () => {
    const at = file("redis-url", "redis://:s3cret@redis:6379/0\r\n");
    expect(read({ REDIS_URL_FILE: at })).to.deep.equal({
      secret: {
        value: "redis://:s3cret@redis:6379/0",
        where: `environment REDIS_URL_FILE (${at})`,
      },
      problems: [],
    });
    expect(envSecretSource("REDIS_URL", { REDIS_URL_FILE: at })).to.equal(
      `environment REDIS_URL_FILE (${at})`,
    );
  });

  it("takes the environment variable when only it is set, and nothing when neither is", () => {
    expect(read({ REDIS_URL: "redis://h" })).to.deep.equal({
      secret: { value: "redis://h", where: "environment REDIS_URL" },
      problems: [],
    });
    expect(read({ REDIS_URL: "", REDIS_URL_FILE: "" })).to.deep.equal({
      secret: undefined,
      problems: [],
    });
  });

  it("refuses both set, naming both variables and not the value", () => {
    const at = file("redis-url", "redis://:fromfile@h\n");
    const { problems } = read({ REDIS_URL: "redis://:fromenv@h", REDIS_URL_FILE: at });
    expect(problems).to.deep.equal([
      "environment REDIS_URL and REDIS_URL_FILE: both are set, and only one may say what REDIS_URL is; unset one",
    ]);
  });

  it("refuses a missing, empty, multi-line, control-character, oversized or not regular file, naming variable and file", () => {
    const where = (at: string) => `environment REDIS_URL_FILE (${at})`;
    const missing = path.join(dir, "absent");
    expect(read({ REDIS_URL_FILE: missing })).to.deep.equal({
      secret: { value: null, where: where(missing) },
      problems: [`${where(missing)}: cannot read the file: ENOENT`],
    });
    const empty = file("empty", "\n");
    expect(read({ REDIS_URL_FILE: empty }).problems).to.deep.equal([
      `${where(empty)}: the file is empty; write the REDIS_URL value into it`,
    ]);
    const twoLines = file("two", "redis://:s3cret@a\nredis://:s3cret@b\n");
    const { problems } = read({ REDIS_URL_FILE: twoLines });
    expect(problems).to.deep.equal([
      `${where(twoLines)}: the file holds more than one line; write only the REDIS_URL value`,
    ]);
    expect(problems.join()).to.not.include("s3cret");
    // What /proc/self/environ holds: variables separated by NULs.
    const environ = file("environ", "REDIS_URL=redis://:s3cret@a\0HOME=/root\0");
    const binary = file("binary", "redis://:s3cret@a\u001B[0m");
    for (const at of [environ, binary]) {
      const refused = read({ REDIS_URL_FILE: at }).problems;
      expect(refused).to.deep.equal([
        `${where(at)}: the file holds a control character (a NUL or another); write only the REDIS_URL value`,
      ]);
      expect(refused.join()).to.not.include("s3cret");
    }
    expect(read({ REDIS_URL_FILE: file("tab", "redis://:s3\tcret@a\n") }).problems).to.deep.equal(
      [],
    );
    const large = file("large", "x".repeat(MAX_SECRET_FILE_BYTES + 1));
    expect(read({ REDIS_URL_FILE: large }).problems).to.deep.equal([
      `${where(large)}: cannot read the file: it is larger than 64 KiB`,
    ]);
    const folder = path.join(dir, "folder");
    mkdirSync(folder);
    expect(read({ REDIS_URL_FILE: folder }).problems).to.deep.equal([
      `${where(folder)}: cannot read the file: it is not a regular file`,
    ]);
  });

  it("refuses a file it cannot open, whoever runs it", () => {
    // A mode of 000 stops no one running as root (as CI does): a path through a regular file
    // cannot be opened by anyone, and takes the same way out as EACCES.
    const at = `${file("plain", "redis://h\n")}/inside`;
    expect(read({ REDIS_URL_FILE: at }).problems).to.deep.equal([
      `environment REDIS_URL_FILE (${at}): cannot read the file: ENOTDIR`,
    ]);
  });

  it("gives the configuration the files' values, and its problems name the file", () => {
    const amqp = file("amqp-url", "amqp://sluice:kT9xQz4w@rabbit:5672\n");
    const redis = file("redis-url", "redis://:kT9xQz4w@redis:6379/0\n");
    const token = file("token", `${TOKEN}\n`);
    const names = ["AMQP_URL", "REDIS_URL", "SLUICE_ADMIN_TOKEN"];
    const allNames = [...names, ...names.map((name) => `${name}_FILE`)];
    restoringEnv(allNames, () => {
      for (const name of allNames) delete process.env[name];
      process.env.AMQP_URL_FILE = amqp;
      process.env.REDIS_URL_FILE = redis;
      process.env.SLUICE_ADMIN_TOKEN_FILE = token;
      const config = compileConfig(minimal, dir);
      expect(config.amqpUrls).to.deep.equal(["amqp://sluice:kT9xQz4w@rabbit:5672"]);
      expect(config.redisUrl).to.equal("redis://:kT9xQz4w@redis:6379/0");
      expect(config.admin.token).to.equal(TOKEN);

      writeFileSync(path.join(dir, "short"), "short\n");
      process.env.SLUICE_ADMIN_TOKEN_FILE = path.join(dir, "short");
      process.env.REDIS_URL = "redis://h";
      let problems: string[] = [];
      try {
        compileConfig(minimal, dir);
      } catch (error) {
        problems = (error as ConfigError).problems;
      }
      expect(problems).to.deep.equal([
        "environment REDIS_URL and REDIS_URL_FILE: both are set, and only one may say what REDIS_URL is; unset one",
        `environment SLUICE_ADMIN_TOKEN_FILE (${path.join(dir, "short")}): must be at least 16 characters (surrounding white space does not count)`,
      ]);
      // The operator's commands serve no admin port: the token's file is not read.
      expect(() => compileConfig(minimal, dir, "(inline)", { readAdminToken: false })).to.throw(
        ConfigError,
        /REDIS_URL_FILE: both are set/,
      );
    });
  });

  it("drops a byte-order mark before the value, as an editor on Windows writes it", () => {
    const at = file("redis-url", "\uFEFFredis://:s3cret@redis:6379/0\r\n");
    expect(read({ REDIS_URL_FILE: at })).to.deep.equal({
      secret: {
        value: "redis://:s3cret@redis:6379/0",
        where: `environment REDIS_URL_FILE (${at})`,
      },
      problems: [],
    });
  });

  it("never shows a file's value that is not a URL: it may be the admin token, or the environment", () => {
    // The admin token's file named in the wrong variable, and /proc/self/environ (one line, its
    // variables separated by NULs) with a secret of the process among them.
    const wrong = file("admin-token", `${TOKEN}\n`);
    const names = ["AMQP_URL", "REDIS_URL", "AMQP_URL_FILE", "REDIS_URL_FILE", "SECRET_OF_TEST"];
    restoringEnv(names, () => {
      for (const name of names) delete process.env[name];
      process.env.SECRET_OF_TEST = "hunter2-of-the-environment";
      process.env.AMQP_URL_FILE = "/proc/self/environ";
      process.env.REDIS_URL_FILE = wrong;
      let problems: string[] = [];
      try {
        compileConfig(minimal, dir);
      } catch (error) {
        problems = (error as ConfigError).problems;
      }
      expect(problems).to.have.length(2);
      expect(problems[0]).to.equal(
        "environment AMQP_URL_FILE (/proc/self/environ): the file holds a control character (a NUL or another); write only the AMQP_URL value",
      );
      expect(problems[1]).to.match(
        /^environment REDIS_URL_FILE \(.*\): a value that does not begin/,
      );
      expect(problems.join("\n")).not.to.include(TOKEN).and.not.to.include("hunter2");
    });
  });

  it("warns of a file every user may read, as of a private key; the group may (fsGroup)", () => {
    const at = file("amqp-url", "amqp://h\n");
    restoringEnv(["AMQP_URL", "AMQP_URL_FILE"], () => {
      delete process.env.AMQP_URL;
      process.env.AMQP_URL_FILE = at;
      const config = compileConfig(minimal, dir);
      const env = { AMQP_URL_FILE: at };
      expect(exposedKeyWarnings(config, () => 0o440, env)).to.deep.equal([]);
      expect(exposedKeyWarnings(config, () => 0o444, env)).to.deep.equal([
        `environment AMQP_URL_FILE: ${at} holds AMQP_URL and every user of this machine may read it (mode 0444); let only Sluice's user (and group) read it: chmod 400 ${at} (or 440)`,
      ]);
      // Set beside AMQP_URL it is not read, and not judged.
      expect(
        exposedKeyWarnings(config, () => 0o444, { ...env, AMQP_URL: "amqp://h" }),
      ).to.deep.equal([]);
    });
  });
});

describe("${NAME} in the configuration filled from the file NAME_FILE names", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), "sluice-reference-file-"));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const HOOK = "whsec_MDEyMzQ1Njc4OWFiY2RlZmdoaWprbG1ub3BxcnN0dXY=";
  const NAMES = [
    "SLUICE_TEST_HOOK",
    "SLUICE_TEST_HOOK_FILE",
    "SLUICE_TEST_API",
    "SLUICE_TEST_API_FILE",
  ];
  const file = (name: string, text: string): string => {
    const at = path.join(dir, name);
    writeFileSync(at, text, { mode: 0o400 });
    return at;
  };
  const configFile = (extra = ""): string =>
    file(
      "sluice.yaml",
      [
        "# the secret comes from ${SLUICE_TEST_API} in a comment, which is not read",
        "services: { testQuery: { backend: legacy } }",
        "backends:",
        "  legacy:",
        "    url: http://127.0.0.1:8090",
        "    options: { headers: { Authorization: 'Bearer ${SLUICE_TEST_API:-none}' } }",
        "callbacks:",
        "  secret: ${SLUICE_TEST_HOOK}",
        extra,
      ].join("\n"),
    );
  const load = (env: Record<string, string>, extra = "") =>
    restoringEnv(NAMES, () => {
      for (const name of NAMES) delete process.env[name];
      Object.assign(process.env, env);
      try {
        return { config: loadConfig(configFile(extra)), problems: [] as string[] };
      } catch (error) {
        if (!(error instanceof ConfigError)) throw error;
        return { config: error.partial, problems: error.problems };
      }
    });

  it("fills the reference with the file's value, its line break and byte-order mark dropped", () => {
    const hook = file("hook", `\uFEFF${HOOK}\n`);
    const api = file("api", "kT9xQz4wLm2\r\n");
    const { config, problems } = load({ SLUICE_TEST_HOOK_FILE: hook, SLUICE_TEST_API_FILE: api });
    expect(problems).to.deep.equal([]);
    expect(config!.callbacks.secrets).to.deep.equal([HOOK]);
    expect(config!.backends.legacy.options.headers).to.deep.equal({
      Authorization: "Bearer kT9xQz4wLm2",
    });
    expect(config!.referenceFiles).to.have.members(["SLUICE_TEST_HOOK", "SLUICE_TEST_API"]);
    // The variable itself, when set, is taken as before, and no file is named.
    const direct = load({ SLUICE_TEST_HOOK: HOOK });
    expect(direct.problems).to.deep.equal([]);
    expect(direct.config!.callbacks.secrets).to.deep.equal([HOOK]);
    expect(direct.config!.referenceFiles).to.deep.equal([]);
  });

  it("refuses both set, and a file missing, empty or of two lines, naming variable and file, never the value", () => {
    const hook = file("hook", `${HOOK}\n`);
    const both = load({ SLUICE_TEST_HOOK: HOOK, SLUICE_TEST_HOOK_FILE: hook });
    expect(both.problems).to.deep.equal([
      "environment SLUICE_TEST_HOOK and SLUICE_TEST_HOOK_FILE: both are set, and only one may say what SLUICE_TEST_HOOK is; unset one",
    ]);
    const where = (at: string) => `environment SLUICE_TEST_HOOK_FILE (${at})`;
    const missing = path.join(dir, "absent");
    // Refused once, and not also as unset, nor as the empty secret it would leave.
    expect(load({ SLUICE_TEST_HOOK_FILE: missing }).problems[0]).to.equal(
      `${where(missing)}: cannot read the file: ENOENT`,
    );
    expect(load({ SLUICE_TEST_HOOK_FILE: missing }).problems.join("\n")).to.not.include(
      "is not set",
    );
    const empty = file("empty", "\n");
    expect(load({ SLUICE_TEST_HOOK_FILE: empty }).problems[0]).to.equal(
      `${where(empty)}: the file is empty; write the SLUICE_TEST_HOOK value into it`,
    );
    const twoLines = file("two", `${HOOK}\n${HOOK}\n`);
    const two = load({ SLUICE_TEST_HOOK_FILE: twoLines }).problems;
    expect(two[0]).to.equal(
      `${where(twoLines)}: the file holds more than one line; write only the SLUICE_TEST_HOOK value`,
    );
    expect([...both.problems, ...two].join("\n")).to.not.include(HOOK);
  });

  it("names the file whose value makes the configuration no YAML, never the value", () => {
    const hook = file("hook", 'whsec_SECRETVALUE: "unclosed\n');
    const { problems } = load({ SLUICE_TEST_HOOK_FILE: hook });
    expect(problems[0]).to.match(/^not valid YAML\/JSON: /);
    expect(problems.slice(1)).to.deep.equal([
      `environment SLUICE_TEST_HOOK_FILE (${hook}): its value, put where \${SLUICE_TEST_HOOK} stands in the file, is read as YAML syntax and the file is then none (an unclosed quote or bracket, a ": " or " #", a line break); quote the \${SLUICE_TEST_HOOK} in the file, or choose a value without these`,
    ]);
    expect(problems.join("\n")).to.not.include("SECRETVALUE");
    // A file that is no YAML as written names no variable.
    expect(load({}, "  bad: [").problems.slice(1)).to.deep.equal([]);
  });

  it("refuses a file's value YAML would read altered, naming the file, as it does an environment value", () => {
    const hook = file("hook", `${HOOK} #rotated\n`);
    const { problems } = load({ SLUICE_TEST_HOOK_FILE: hook });
    expect(problems[0]).to.match(
      new RegExp(
        `^environment SLUICE_TEST_HOOK_FILE \\(${hook.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\\): its value is not read as written where \\$\\{SLUICE_TEST_HOOK\\} stands in the file`,
      ),
    );
    expect(problems.join("\n")).to.not.include(HOOK);
  });

  it("reads no file for a ${NAME} in a comment, and names NAME_FILE when neither is set", () => {
    // SLUICE_TEST_API stands in a comment and, with its default, in a header.
    const hook = file("hook", `${HOOK}\n`);
    const { problems } = load(
      { SLUICE_TEST_HOOK_FILE: hook },
      "# ${SLUICE_TEST_UNREAD} reads no file: SLUICE_TEST_UNREAD_FILE is not looked at",
    );
    expect(problems).to.deep.equal([]);
    expect(load({}).problems[0]).to.equal(
      "environment SLUICE_TEST_HOOK is not set, and ${SLUICE_TEST_HOOK} has no default in the file: set it (or SLUICE_TEST_HOOK_FILE to a file holding it), or write ${SLUICE_TEST_HOOK:-} where empty is meant",
    );
  });

  it("warns of a file every user may read, as of the other secret files", () => {
    const hook = file("hook", `${HOOK}\n`);
    const { config } = load({ SLUICE_TEST_HOOK_FILE: hook });
    const env = { SLUICE_TEST_HOOK_FILE: hook };
    expect(exposedKeyWarnings(config!, () => 0o440, env)).to.deep.equal([]);
    expect(exposedKeyWarnings(config!, () => 0o444, env)).to.deep.equal([
      `environment SLUICE_TEST_HOOK_FILE: ${hook} holds SLUICE_TEST_HOOK and every user of this machine may read it (mode 0444); let only Sluice's user (and group) read it: chmod 400 ${hook} (or 440)`,
    ]);
  });
});
