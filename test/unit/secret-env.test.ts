import { expect } from "chai";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { compileConfig, ConfigError } from "../../shared/config/config";
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

  it("refuses a missing, empty, multi-line, oversized or not regular file, naming variable and file", () => {
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
      expect(problems[0]).to.match(/^environment AMQP_URL_FILE \(\/proc\/self\/environ\): a value/);
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
