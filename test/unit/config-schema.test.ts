import { readFileSync } from "node:fs";
import path from "node:path";
import Ajv from "ajv";
import { expect } from "chai";
import { parse as parseYaml } from "yaml";
import { substituteEnv } from "../../shared/config/config";
import {
  CONFIG_SCHEMA_FILE,
  CONFIG_VALIDATOR_FILE,
  schemaProblems,
} from "../../shared/config/config-schema";
import { didYouMean } from "../../shared/config/did-you-mean";

const ROOT = path.resolve(__dirname, "..", "..", "..");
const DURATION = 'must be a duration such as "500ms", "30s", "2m", "1h"';

describe("the configuration schema", () => {
  const schema = JSON.parse(readFileSync(CONFIG_SCHEMA_FILE, "utf8")) as object;

  it("is a JSON Schema ajv compiles in strict mode", () => {
    expect(() => new Ajv({ strict: true, strictTypes: false }).compile(schema)).to.not.throw();
  });

  it("has its generated validator up to date (else run scripts/config-validator.js)", () => {
    const { validatorSource } = require(path.join(ROOT, "scripts/config-validator.js")) as {
      validatorSource: () => string;
    };
    expect(readFileSync(CONFIG_VALIDATOR_FILE, "utf8") === validatorSource()).to.equal(true);
  });

  it("finds with its generated validator exactly the errors of the schema compiled now", () => {
    const compiled = new Ajv({ allErrors: true, verbose: true, strict: false }).compile(schema);
    const generated = require(CONFIG_VALIDATOR_FILE) as typeof compiled;
    const bad = {
      services: { a: { protocls: ["rest"], backend: "x", reply: { mode: "sink" } } },
      backends: { x: { url: "ftp://u:p@x", translator: "rest-json", rate: { limit: "a" } } },
      adapter: { port: "x" },
      retention: "5 parsecs",
    };
    expect(generated(bad)).to.equal(compiled(bad));
    expect(compiled.errors).to.have.length.greaterThan(5);
    expect(generated.errors).to.deep.equal(compiled.errors);
    expect(schemaProblems(bad)).to.include("config.retention: " + DURATION);
  });

  it("refuses .inf, .nan and 1e309, which the schema's number admits, naming each path once", () => {
    const raw = parseYaml(`
services: { q: { backend: b, maxBodySize: .inf } }
backends: { b: { url: "http://127.0.0.1:8090", timeout: .nan } }
retention: 1e309
callbacks: { backoff: [1s, -.inf] }
`) as unknown;
    const problems = schemaProblems(raw);
    const why = "is no usable value (.inf, .nan, or a number too large to hold, such as 1e309)";
    expect(problems).to.include.members([
      `config.services.q.maxBodySize: Infinity ${why}`,
      `config.backends.b.timeout: NaN ${why}`,
      `config.retention: Infinity ${why}`,
      `config.callbacks.backoff[1]: -Infinity ${why}`,
    ]);
    expect(problems.filter((line) => line.startsWith("config.backends.b.timeout:"))).to.have.length(
      1,
    );
    // JSON has no .inf, but a literal too large for a double parses as Infinity all the same.
    const json = JSON.parse(
      '{"services":{"q":{"backend":"b"}},"backends":{"b":{"url":"http://127.0.0.1:8090"}},"amqpMaxMessageSize":1e309}',
    ) as unknown;
    expect(schemaProblems(json)).to.deep.equal([`config.amqpMaxMessageSize: Infinity ${why}`]);
  });

  it("accepts the demo configuration and the Kubernetes one", () => {
    const demo = parseYaml(
      substituteEnv(readFileSync(path.join(ROOT, "config/demo.yaml"), "utf8"), {}),
    );
    expect(schemaProblems(demo)).to.deep.equal([]);
    const configMap = parseYaml(readFileSync(path.join(ROOT, "deploy/k8s/configmap.yaml"), "utf8"));
    expect(schemaProblems(parseYaml(configMap.data["sluice.yaml"]))).to.deep.equal([]);
  });

  it("describes every key it knows, for editors", () => {
    const service = (schema as { definitions: Record<string, { properties: object }> }).definitions
      .service.properties;
    for (const [key, value] of Object.entries(service)) {
      if (key === "backend" || key === "schema" || key === "reply") continue;
      expect((value as { description?: string }).description, key).to.be.a("string");
    }
  });

  it("suggests the key or value an operator probably meant, and nothing far off", () => {
    expect(didYouMean("servcies", ["services", "backends"])).to.equal("services");
    expect(didYouMean("wiat", ["wait", "maxWait", "mode"])).to.equal("wait");
    expect(didYouMean("rest-jsn", ["rest-json", "soap"])).to.equal("rest-json");
    expect(didYouMean("colour", ["services", "backends"])).to.equal(null);
  });
});
