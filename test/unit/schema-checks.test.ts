// Compiled schemas stay in the adapter's memory for its whole life: each is compiled once,
// and the all-problems form only when a body is first refused.

import { expect } from "chai";
import Ajv from "ajv";
import { fullFormats } from "ajv-formats/dist/formats";
import {
  compileSchemaChecks,
  isFullDate,
  SchemaValidators,
  type SchemaChecks,
} from "../../adapter/json-body";
import type { ServiceConfig } from "../../shared/config/config";
import { clipText } from "../../shared/protocol/clip-text";
import { MAX_ERROR_MESSAGE, SluiceError } from "../../shared/protocol/errors";

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

  it("takes the configuration check's compilation instead of compiling again", () => {
    const services = [service("one", ["rest"]), service("soapOnly", ["soap"])];
    const refused: string[] = [];
    let compiled: SchemaChecks = new Map();
    expect(
      compilations(
        () => (compiled = compileSchemaChecks(services, {}, (s) => refused.push(s.code))),
      ),
    ).to.equal(1);
    let validators: SchemaValidators | null = null;
    expect(compilations(() => (validators = new SchemaValidators(services, compiled)))).to.equal(0);
    const checked = validators as unknown as SchemaValidators;
    checked.validate("one", { a: "x", b: 1 });
    expect(() => checked.validate("one", { a: 1 })).to.throw(SluiceError, /\/a /);
    // A SOAP-only service is the SOAP route's, as without the check's compilation.
    checked.validate("soapOnly", { a: 1 });
    expect(refused).to.deep.equal([]);
  });

  it("lists every service whose schema ajv refuses, and compiles the others", () => {
    const broken = {
      type: "object",
      properties: { a: { type: "strnig" } },
    } as unknown as typeof schema;
    const refused: string[] = [];
    const checks = compileSchemaChecks(
      [
        service("bad", ["rest"], broken),
        service("good", ["rest"]),
        service("alsoBad", ["soap"], broken),
      ],
      {},
      (s) => refused.push(s.code),
    );
    expect(refused).to.deep.equal(["bad", "alsoBad"]);
    expect([...checks.keys()]).to.deep.equal(["good"]);
    expect(() => compileSchemaChecks([service("bad", ["rest"], broken)])).to.throw();
  });

  describe("the date format", () => {
    const original = (fullFormats.date as { validate(text: string): boolean }).validate;

    it("accepts exactly what ajv-formats' full date accepts", () => {
      const candidates = ["", "2020-02-29\n", "2020-02-2", " 2020-02-28", "2020/02/28"];
      candidates.push("２０２０-02-28", "2020-0２-28", "+020-02-28", "2020-02-28T00", "0000-02-29");
      for (const year of ["1900", "2000", "2023", "2024", "2100", "0004", "9999", "20a0"]) {
        for (let month = -1; month <= 13; month++) {
          for (let day = -1; day <= 32; day++) {
            const mm = month < 0 ? "-1" : String(month).padStart(2, "0");
            const dd = day < 0 ? "-1" : String(day).padStart(2, "0");
            candidates.push(`${year}-${mm}-${dd}`);
          }
        }
      }
      for (const text of candidates) {
        expect(isFullDate(text), JSON.stringify(text)).to.equal(original(text));
      }
      expect(candidates.filter(isFullDate).length).to.be.greaterThan(2_000);
    });

    it("still refuses impossible days and honours formatMinimum in a schema", () => {
      const dated = {
        type: "object",
        properties: { on: { type: "string", format: "date", formatMinimum: "2020-01-01" } },
      } as unknown as typeof schema;
      const validators = new SchemaValidators([service("dated", ["rest"], dated)]);
      validators.validate("dated", { on: "2024-02-29" });
      for (const on of ["2023-02-29", "2024-13-01", "2019-12-31"]) {
        expect(() => validators.validate("dated", { on }), on).to.throw(SluiceError);
      }
    });
  });

  it("a refusal does not hand back a key as long as the body", () => {
    const open = {
      type: "object",
      additionalProperties: { type: "string" },
    } as unknown as typeof schema;
    const validators = new SchemaValidators([service("open", ["rest"], open)]);
    const key = "k".repeat(900_000);
    let refused: SluiceError | undefined;
    try {
      validators.validate("open", { [key]: 1 });
    } catch (error) {
      refused = error as SluiceError;
    }
    expect(refused?.code).to.equal("ValidationFailed");
    expect(refused?.message.length).to.be.at.most(MAX_ERROR_MESSAGE);
    expect(refused?.message).to.match(/^the body does not match the schema of open: \/kkk/);
    const [problem] = refused?.details as Array<{ path: string; message: string }>;
    expect(problem.path.length).to.be.at.most(256);
    expect(problem.path.startsWith("/kkk")).to.equal(true);
    expect(problem.message).to.equal("must be string");
  });
});

describe("error messages on the wire", () => {
  it("are cut with an ellipsis, never between a surrogate pair's halves", () => {
    expect(clipText("short", 10)).to.equal("short");
    expect(clipText("abcdefghijkl", 10)).to.equal("abcdefghi…");
    // U+1F600 is two UTF-16 units: a cut after its first would leave a lone surrogate.
    const clipped = clipText(`abcdefgh${"\u{1F600}"}xyz`, 10);
    expect(clipped).to.equal("abcdefgh…");
    expect(new SluiceError("InvalidXml", "x".repeat(10_000)).message.length).to.equal(
      MAX_ERROR_MESSAGE,
    );
  });
});
