// Compiled schemas stay in the adapter's memory for its whole life: each is compiled once,
// and the all-problems form only when a body is first refused.

import { expect } from "chai";
import Ajv from "ajv";
import { compileSchemaChecks, SchemaValidators } from "../../adapter/json-body";
import type { ServiceConfig } from "../../shared/config/config";
import { SluiceError } from "../../shared/protocol/errors";

const schema = {
  type: "object",
  required: ["a", "b"],
  properties: { a: { type: "string" }, b: { type: "integer" } },
};

const service = (code: string, protocols: string[], own = schema): ServiceConfig =>
  ({ code, protocols, schema: structuredClone(own) }) as unknown as ServiceConfig;

/** Counts ajv compilations while `run` runs. */
function compilations(run: () => void): number {
  const compile = Ajv.prototype.compile;
  let count = 0;
  Ajv.prototype.compile = function counted(this: Ajv, ...args: Parameters<Ajv["compile"]>) {
    count += 1;
    return compile.apply(this, args);
  } as Ajv["compile"];
  try {
    run();
  } finally {
    Ajv.prototype.compile = compile;
  }
  return count;
}

describe("schema checks", () => {
  it("compiles a schema that several services share once", () => {
    let checks = new Map();
    const count = compilations(() => {
      checks = compileSchemaChecks([
        service("one", ["rest"]),
        service("two", ["rest"]),
        service("three", ["rest"], { ...schema, required: ["a"] }),
      ]);
    });
    expect(count).to.equal(2);
    expect(checks.get("one")).to.equal(checks.get("two"));
    expect(checks.get("three")).to.not.equal(checks.get("one"));
  });

  it("compiles the all-problems form when a body is first refused, and lists every problem", () => {
    let validators: SchemaValidators | null = null;
    expect(
      compilations(() => (validators = new SchemaValidators([service("one", ["rest"])]))),
    ).to.equal(1);
    const checked = validators as unknown as SchemaValidators;
    expect(compilations(() => checked.validate("one", { a: "x", b: 1 }))).to.equal(0);
    let refused: unknown = null;
    expect(
      compilations(() => {
        try {
          checked.validate("one", { a: 1, b: "x" });
        } catch (error) {
          refused = error;
        }
      }),
    ).to.equal(1);
    expect(refused).to.be.instanceOf(SluiceError);
    expect((refused as SluiceError).message).to.match(/\/a .*; \/b /);
    expect(
      compilations(() => expect(() => checked.validate("one", {})).to.throw(SluiceError)),
    ).to.equal(0);
  });

  it("compiles for REST only the services offered over REST", () => {
    const count = compilations(
      () =>
        new SchemaValidators([service("soapOnly", ["soap"]), service("both", ["rest", "soap"])]),
    );
    expect(count).to.equal(1);
  });
});
