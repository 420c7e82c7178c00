// The bench's what-if options reach only what they name: the adapter's Node options are the
// adapter's alone, and a value that is not an option is refused before anything runs.

import { expect } from "chai";
import { parseBenchOptions, UsageError, type BenchOptions } from "../../bench/bench-options";

const parse = (...argv: string[]) => parseBenchOptions(argv, {}) as BenchOptions;

describe("bench options", () => {
  it("takes the adapter's Node options inline or as the next argument, in order", () => {
    const options = parse(
      "--only",
      "memory",
      "--adapter-node-option=--max-semi-space-size=4",
      "--adapter-node-option",
      "--max-old-space-size=512",
    );
    expect(options.adapterNodeOptions).to.deep.equal([
      "--max-semi-space-size=4",
      "--max-old-space-size=512",
    ]);
    expect(options.only).to.deep.equal(["memory"]);
  });

  it("runs the adapter with no options of its own by default", () => {
    expect(parse().adapterNodeOptions).to.deep.equal([]);
  });

  it("profiles the adapter unless --profile-role names another role", () => {
    expect(parse().profileRole).to.equal("adapter");
    expect(parse("--profile-role", "worker").profileRole).to.equal("worker");
    expect(parse("--profile-role=response-worker").profileRole).to.equal("response-worker");
    expect(() => parse("--profile-role", "redis")).to.throw(UsageError, /adapter, worker/);
    expect(() => parse("--profile-role")).to.throw(UsageError, /--profile-role/);
  });

  it("refuses a value that is not a node option", () => {
    expect(() => parse("--adapter-node-option", "4")).to.throw(UsageError, /node option/);
    expect(() => parse("--adapter-node-option")).to.throw(UsageError, /node option/);
  });
});
