import { readFileSync } from "node:fs";
import path from "node:path";
import Ajv from "ajv";
import { expect } from "chai";
import { parse as parseYaml } from "yaml";
import { substituteEnv } from "../../shared/config/config";
import { CONFIG_SCHEMA_FILE, schemaProblems } from "../../shared/config/config-schema";
import { didYouMean } from "../../shared/config/did-you-mean";

const ROOT = path.resolve(__dirname, "..", "..", "..");

describe("the configuration schema", () => {
  const schema = JSON.parse(readFileSync(CONFIG_SCHEMA_FILE, "utf8")) as object;

  it("is a JSON Schema ajv compiles in strict mode", () => {
    expect(() => new Ajv({ strict: true, strictTypes: false }).compile(schema)).to.not.throw();
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
