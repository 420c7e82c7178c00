// Pure parts of the rest-json translator: Retry-After parsing and option checks.

import { expect } from "chai";
import { createTranslator, parseRetryAfter } from "../../worker/translators/rest-json";

describe("rest-json translator: parseRetryAfter", () => {
  const now = Date.parse("2026-01-01T00:00:00Z");

  it("reads delta-seconds", () => {
    expect(parseRetryAfter("0", now)).to.equal(0);
    expect(parseRetryAfter(" 120 ", now)).to.equal(120_000);
  });

  it("reads an HTTP-date as the time left, never negative", () => {
    expect(parseRetryAfter("Thu, 01 Jan 2026 00:00:30 GMT", now)).to.equal(30_000);
    expect(parseRetryAfter("Wed, 31 Dec 2025 23:00:00 GMT", now)).to.equal(0);
  });

  it("ignores absent and malformed values", () => {
    for (const value of [undefined, "", "soon", "-5", "1.5", "12abc"]) {
      expect(parseRetryAfter(value, now), String(value)).to.equal(undefined);
    }
  });
});

describe("rest-json translator: configuration", () => {
  const backend = { name: "legacy", url: "http://127.0.0.1:1", timeoutMs: 1000, options: {} };

  it("refuses a url that is not http(s)", () => {
    expect(() => createTranslator({ ...backend, url: "ftp://legacy/" })).to.throw(
      /http:\/\/ or https:\/\//,
    );
    // Named by its scheme only: neither its password nor its query's key is shown.
    expect(() =>
      createTranslator({ ...backend, url: "ftp://u:pw-s3cret@legacy/x?key=k-s3cret" }),
    ).to.throw(/^backend legacy: url must be http:\/\/ or https:\/\/, got ftp:\/\/$/);
  });

  it("refuses malformed options with the option's name", () => {
    expect(() => createTranslator({ ...backend, options: { maxResponseBytes: -1 } })).to.throw(
      /options\.maxResponseBytes/,
    );
    expect(() => createTranslator({ ...backend, options: { headers: { a: 1 } } })).to.throw(
      /options\.headers\.a/,
    );
  });

  it("creates a translator that closes cleanly without having been used", async () => {
    const t = createTranslator(backend);
    await t.close?.();
  });
});
