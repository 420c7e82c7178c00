// docs/architecture.md's table of Redis keys against shared/protocol/redis-keys.ts: roles of
// two releases share these keys, so each one the code builds is written down.

import { readFileSync } from "node:fs";
import path from "node:path";
import { expect } from "chai";
import { redisKeys } from "../../shared/protocol/redis-keys";

const ROOT = path.resolve(__dirname, "..", "..", "..");
const PART = "\u0001";

/**
 * A key as a pattern of the docs' notation: each variable part (`<id>`, and the parts a key
 * holds length-prefixed or hashed) matches any `<name>`.
 */
function keyPattern(key: string): RegExp {
  const marked = key.replace(new RegExp(`\\d+:${PART}`, "g"), PART).replace(/[0-9a-f]{64}/, PART);
  const escaped = marked.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  return new RegExp(`^${escaped.split(PART).join("<[^>]+>")}$`);
}

/** Every key and channel Sluice builds, with placeholders for its variable parts. */
function keysBuilt(): Array<{ name: string; key: string }> {
  const keys = redisKeys("");
  return Object.entries(keys)
    .filter(([name]) => name !== "root")
    .flatMap(([name, value]) =>
      // A group of keys (a tally's): each of them.
      typeof value === "object"
        ? Object.entries(value as Record<string, string>).map(([part, key]) => [
            `${name}.${part}`,
            key,
          ])
        : [[name, value]],
    )
    .map(([name, value]) => {
      if (typeof value === "string") return { name, key: value };
      const build = value as (...parts: string[]) => string;
      return { name, key: build(...Array.from({ length: build.length }, () => PART)) };
    });
}

describe("docs/architecture.md", () => {
  it("names every Redis key and channel that shared/protocol/redis-keys.ts builds", () => {
    const page = readFileSync(path.join(ROOT, "docs", "architecture.md"), "utf8");
    const named = [...page.matchAll(/`(sluice:[^`]+)`/g)].map((m) => m[1]);
    const built = keysBuilt();
    expect(built.map((k) => k.name)).to.include.members(["tx", "dedup", "hubRegistration"]);
    const missing = built.filter(({ key }) => !named.some((doc) => keyPattern(key).test(doc)));
    expect(missing.map(({ name, key }) => `${name}: ${key.split(PART).join("<…>")}`)).to.deep.equal(
      [],
    );
  });

  it("reads the docs' notation for length-prefixed and hashed parts", () => {
    const keys = redisKeys("");
    expect(keyPattern(keys.dedup(PART, PART, PART)).test("sluice:dedup:<c>:<s>:<x>")).to.equal(
      true,
    );
    expect(keyPattern(keys.tx(PART)).test("sluice:tx:<id>:responses")).to.equal(false);
    const registration = keys.hubRegistration(PART, "cb", "q");
    expect(keyPattern(registration).test("sluice:hub:registration:<client>:<hash>")).to.equal(true);
  });
});
