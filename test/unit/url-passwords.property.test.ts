// Property tests of the URL password redaction (shared/observability/url-passwords.ts): for any
// URL built with a generated password (spaces, `/`, `?`, `#`, `@`, `:`, `://` and commas in it,
// raw or percent-encoded, with or without a user name, host name, IPv4 or IPv6 host, port, path
// and query), in a line of text, a JSON log line or a list of several URLs, the redacted text
// never holds the password; text whose URLs carry no credential is left as it is. Seeded and
// bounded: test/support/property-runs.ts, docs/testing.md.

import { expect } from "chai";
import fc from "fast-check";
import { REDACTED } from "../../shared/protocol/credential-headers";
import { hideUrlPassword, hideUrlPasswords } from "../../shared/observability/url-passwords";
import { check } from "../support/property-runs";

const alnum = fc.constantFrom(..."abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ0123456789");
const word = (min: number, max: number): fc.Arbitrary<string> =>
  fc.string({ unit: alnum, minLength: min, maxLength: max });

/** What a password may hold: anything a line keeps inside one URL's string (no quote, `\`, newline). */
const passwordUnit = fc.oneof(
  { weight: 6, arbitrary: alnum },
  {
    weight: 4,
    arbitrary: fc.constantFrom(..." /:@?#%,;=&!$'()*+~.-_[]<>`", "://"),
  },
);
const password = fc
  .string({ unit: passwordUnit, minLength: 6, maxLength: 20 })
  // Distinctive: a password the text around it could hold anyway proves nothing.
  .filter((secret) => /[a-zA-Z0-9]{3}/.test(secret) && !REDACTED.includes(secret));

const host = fc.oneof(
  fc
    .tuple(word(1, 8), fc.constantFrom("", ".example", ".svc.cluster.local"))
    .map(([a, b]) => a + b),
  fc.tuple(fc.nat(255), fc.nat(255)).map(([a, b]) => `10.${a}.${b}.1`),
  fc.constantFrom("[::1]", "[fd00::5]", "[2001:db8::1]"),
);
const port = fc.option(fc.integer({ min: 1, max: 65535 }), { nil: undefined });
const path = fc.constantFrom("", "/", "/vh", "/%2F", "/0", "/hook/x", "/a?x=1", "?heartbeat=10");
const scheme = fc.constantFrom("amqp", "amqps", "redis", "rediss", "http", "https");

interface Built {
  url: string;
  secret: string;
}

/** A URL with userinfo: `user:password@`, `:password@`, or for Redis `password@` alone. */
const urlWithPassword: fc.Arbitrary<Built> = fc
  .record({
    scheme,
    user: fc.option(word(1, 8), { nil: undefined }),
    secret: password,
    encoded: fc.boolean(),
    host,
    port,
    path,
  })
  .map(({ scheme: s, user, secret, encoded, host: h, port: p, path: tail }) => {
    const written = encoded ? encodeURIComponent(secret) : secret;
    // ioredis reads `redis://secret@host` as a password; no other client does, and a `:` in it
    // would make it a user and a password.
    const alone = user === undefined && s.startsWith("redis") && !secret.includes(":");
    const userinfo = alone ? written : `${user ?? ""}:${written}`;
    return {
      url: `${s}://${userinfo}@${h}${p === undefined ? "" : `:${p}`}${tail}`,
      secret: written,
    };
  });

const prose = fc.array(
  fc.oneof(
    word(1, 10),
    fc.constantFrom("failed:", "(ECONNREFUSED)", "at", "-", "=>", "[x]", "retrying", "," as string),
  ),
  { maxLength: 4 },
);

/** `urls` placed in a line: prose around, joined by a space or a comma, or as a JSON log line. */
const line = (urls: string[], before: string[], after: string[], form: number): string => {
  const text = [...before, urls.join(form === 1 ? "," : " "), ...after].join(" ");
  return form === 2 ? JSON.stringify({ level: 50, msg: text, broker: urls[0] }) : text;
};

describe("URL passwords (properties)", () => {
  it("never shows a generated password of any URL in a line, a list or a JSON log line", () => {
    check(
      fc.property(
        fc.array(urlWithPassword, { minLength: 1, maxLength: 3 }),
        prose,
        prose,
        fc.integer({ min: 0, max: 2 }),
        (built, before, after, form) => {
          const text = line(
            built.map((b) => b.url),
            before,
            after,
            form,
          );
          const around = built.reduce((rest, b) => rest.split(b.secret).join(""), text);
          const hidden = hideUrlPasswords(text);
          for (const { secret } of built) {
            const shown = form === 2 ? JSON.stringify(secret).slice(1, -1) : secret;
            fc.pre(!around.includes(shown) && !around.includes(secret));
            expect(hidden, text).not.to.include(shown);
          }
        },
      ),
      600,
    );
  });

  it("never shows a generated password of a connection URL named alone", () => {
    check(
      fc.property(urlWithPassword, ({ url, secret }) => {
        fc.pre(!url.split(secret).join("").includes(secret));
        expect(hideUrlPassword(url), url).not.to.include(secret);
      }),
      400,
    );
  });

  it("leaves text whose URLs carry no credential as it is", () => {
    check(
      fc.property(
        fc.array(
          fc
            .record({ scheme, host, port, path })
            .map(({ scheme: s, host: h, port: p, path: tail }) =>
              [s, "://", h, p === undefined ? "" : `:${p}`, tail].join(""),
            ),
          { minLength: 1, maxLength: 3 },
        ),
        prose,
        prose,
        fc.integer({ min: 0, max: 2 }),
        (urls, before, after, form) => {
          const text = line(urls, before, after, form);
          expect(hideUrlPasswords(text)).to.equal(text);
          for (const url of urls) expect(hideUrlPassword(url)).to.equal(url);
        },
      ),
      400,
    );
  });
});

/** Characters a password written unencoded may hold, `://` and white space among them. */
const hostile = [..." /:@?#%,;=&!$'()*+~.-_[]<>`{}|^", "://", "a", "b", "1", "9"];
const hostileText = (unit: fc.Arbitrary<string>, max: number): fc.Arbitrary<string> =>
  fc.string({ unit, maxLength: max });
/** The password's middle: capitals, which no generated text around it holds. */
const MARK = "QZXJV";

describe("URL passwords of hostile characters in random text (properties)", () => {
  it("never shows any of a password of hostile characters, raw or in a JSON log line", () => {
    const raw = fc.constantFrom(...hostile);
    // A JSON log line escapes a quote, a backslash and a control character: any may be held.
    const inJson = fc.constantFrom(...hostile, '"', "\\", "\t", "'\"");
    check(
      fc.property(
        fc.boolean(),
        fc.constantFrom("amqp", "amqps", "redis", "rediss", "redis-sentinel", "http", "https"),
        fc.constantFrom("user:", ":", ""),
        fc.tuple(hostileText(raw, 12), hostileText(inJson, 12)),
        fc.tuple(hostileText(raw, 12), hostileText(inJson, 12)),
        fc.constantFrom("h", "rabbit.example", "10.0.0.7", "[::1]", "h1:5672,h2"),
        fc.constantFrom("", ":5672", ":6379/0", "/vh?heartbeat=5", "?password=x"),
        fc.tuple(hostileText(raw, 16), hostileText(raw, 16)),
        (json, scheme, user, [rawFront, jsonFront], [rawBack, jsonBack], host, tail, [a, b]) => {
          const secret = json ? `${jsonFront}${MARK}${jsonBack}` : `${rawFront}${MARK}${rawBack}`;
          // Only ioredis reads a userinfo without `:` as a password; one holding a `:` it reads as
          // a user and a password.
          fc.pre(user !== "" || (scheme.startsWith("redis") && !secret.includes(":")));
          const text = `${a} ${scheme}://${user}${secret}@${host}${tail} ${b}`;
          const line = json ? JSON.stringify({ level: 50, msg: text }) : text;
          const shown = hideUrlPasswords(line);
          expect(shown, line).not.to.include(MARK);
        },
      ),
      1000,
    );
  });
});
