// Pure parts of the rest-json translator: option checks.

import { expect } from "chai";
import { createTranslator } from "../../worker/translators/rest-json";

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

  it("options.forwardHeaders: only proxy overrides, which are withheld otherwise, may be named", async () => {
    expect(() =>
      createTranslator({ ...backend, options: { forwardHeaders: ["Host", "X-Custom"] } }),
    ).to.throw(/options\.forwardHeaders names host, x-custom, not a header withheld/);
    expect(() =>
      createTranslator({ ...backend, options: { forwardHeaders: "X-Real-IP" } }),
    ).to.throw(/options\.forwardHeaders must be a list/);
    const t = createTranslator({
      ...backend,
      options: { forwardHeaders: ["X-Forwarded-For", "Forwarded"] },
    });
    await t.close?.();
    // A front proxy's word on the client, withheld otherwise, may be named too.
    const named = createTranslator({
      ...backend,
      options: { forwardHeaders: ["X-Forwarded-Client-Cert", "X-Remote-User"] },
    });
    await named.close?.();
  });

  it("options.forwardHeaders: a name options.headers sets is refused, its value replacing the caller's", async () => {
    expect(() =>
      createTranslator({
        ...backend,
        options: {
          forwardHeaders: ["X-Forwarded-For", "X-Forwarded-Proto", "X-Remote-User"],
          headers: { "x-forwarded-proto": "https", "X-Remote-User": "sluice" },
        },
      }),
    ).to.throw(
      /^backend legacy: options\.forwardHeaders: x-forwarded-proto is never sent to the backend \(options\.headers sets it, in place of the caller's\); options\.forwardHeaders: x-remote-user is never sent to the backend/,
    );
    // A header the operator sets that the list does not name stands as before.
    const t = createTranslator({
      ...backend,
      options: { forwardHeaders: ["X-Forwarded-For"], headers: { "X-Forwarded-Proto": "https" } },
    });
    await t.close?.();
  });

  it("creates a translator that closes cleanly without having been used", async () => {
    const t = createTranslator(backend);
    await t.close?.();
  });
});
