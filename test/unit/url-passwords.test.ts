// A URL's password inside a logged string (a library's error quoting the URL it could not reach,
// a callback target logged as configured): hidden on every written line, host and port kept.

import { expect } from "chai";
import { Writable } from "node:stream";
import { createLogger } from "../../shared/observability/logger";
import { hideUrlPassword, hideUrlPasswords } from "../../shared/observability/url-passwords";

function written(
  write: (log: ReturnType<typeof createLogger>) => void,
  options: { format?: string; level?: string } = {},
): string {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunks.push(chunk.toString("utf8"));
      done();
    },
  });
  write(
    createLogger("adapter", {
      destination: stream,
      format: options.format ?? "json",
      level: options.level,
      isTty: false,
    }),
  );
  return chunks.join("");
}

describe("URL passwords in log lines", () => {
  it("hides the password of a URL in text, keeping scheme, user, host, port and path", () => {
    expect(hideUrlPasswords("connect to amqp://sluice:s3cret@rabbit:5672/vh failed")).to.equal(
      "connect to amqp://sluice:[redacted]@rabbit:5672/vh failed",
    );
    expect(hideUrlPasswords("redis://:pa55@r:6379/2")).to.equal("redis://:[redacted]@r:6379/2");
    expect(hideUrlPasswords("POST https://user:pw@receiver/hook?x=1")).to.equal(
      "POST https://user:[redacted]@receiver/hook?x=1",
    );
    // A password alone, and one holding "/", "@" and "," unencoded.
    expect(hideUrlPasswords("redis://lonely@r:6379")).to.equal("redis://[redacted]@r:6379");
    expect(hideUrlPasswords("amqp://u:kT9/x@Q,z@rabbit:5672 down")).to.equal(
      "amqp://u:[redacted]@rabbit:5672 down",
    );
    // ioredis takes a password from the query too.
    expect(hideUrlPasswords("redis://r:6379/0?db=0&password=qs-secret&x=1")).to.equal(
      "redis://r:6379/0?db=0&password=[redacted]&x=1",
    );
    expect(hideUrlPasswords("redis-sentinel://h1:26379,h2/m?sentinelPassword=sp")).to.equal(
      "redis-sentinel://h1:26379,h2/m?sentinelPassword=[redacted]",
    );
  });

  it("hides each URL of a list, and leaves text without a password as it is", () => {
    // The first password may hold the `://` and `@` up to the last host (too much rather than
    // too little); a list hideUrlPassword wrote is read as it is.
    expect(hideUrlPasswords("RabbitMQ at amqp://a:one@h1,amqp://b:two@h2")).to.equal(
      "RabbitMQ at amqp://a:[redacted]@h2",
    );
    expect(hideUrlPasswords("RabbitMQ at amqp://a:[redacted]@h1,amqp://b:two@h2")).to.equal(
      "RabbitMQ at amqp://a:[redacted]@h1,amqp://b:[redacted]@h2",
    );
    const plain = "GET https://receiver.example/hook?token=x and mail@example.org";
    expect(hideUrlPasswords(plain)).to.equal(plain);
    const hidden = "amqp://u:[redacted]@h and redis://:[redacted]@r";
    expect(hideUrlPasswords(hidden)).to.equal(hidden);
  });

  it("ends the userinfo at the authority's end: an @ in the path or query hides nothing", () => {
    // After a userinfo, a later @ a host follows may end a password holding an @: hidden to it.
    expect(hideUrlPasswords("amqp://u:p@h/v@x")).to.equal("amqp://u:[redacted]@x");
    expect(hideUrlPasswords("amqp://u:p@h/v?m=a@b.example&x=1")).to.equal(
      "amqp://u:[redacted]@b.example&x=1",
    );
    // A Redis password alone may hold `/` and `?`: hidden up to the URL's last @.
    expect(hideUrlPasswords("redis://r/0?x=a@b")).to.equal("redis://[redacted]@b");
    expect(hideUrlPasswords("rediss://r:6379/0?x=a@b.example&y=1")).to.equal(
      "rediss://r:6379/0?x=a@b.example&y=1",
    );
    expect(hideUrlPasswords("see http://h/p@q now")).to.equal("see http://h/p@q now");
    expect(hideUrlPasswords("http://h/a#c@d")).to.equal("http://h/a#c@d");
    // After a port, an @ in a query value followed by more than a host is kept too.
    const mail = "http://h:8080/in?mail=a@b.example&x=1";
    expect(hideUrlPasswords(mail)).to.equal(mail);
    expect(hideUrlPasswords("amqp://u:p@[::1]:5672/")).to.equal("amqp://u:[redacted]@[::1]:5672/");
    expect(hideUrlPasswords("amqp://[::1]:5672/v@x")).to.equal("amqp://[::1]:5672/v@x");
    expect(hideUrlPasswords("amqp://u:p%40ss@h:5672/v")).to.equal("amqp://u:[redacted]@h:5672/v");
    // A password with an unencoded "/" or "?" leaves a port no client reads: still hidden.
    expect(hideUrlPasswords("amqp://u:ab?cd@h/v")).to.equal("amqp://u:[redacted]@h/v");
    // One whose front is digits reads as a port: an @ later in the path hides up to it, over
    // a real port's path too (too much rather than too little).
    expect(hideUrlPasswords("amqp://u:12/3@h/v")).to.equal("amqp://u:[redacted]@h/v");
    expect(hideUrlPasswords("amqp://h:5672/v@x")).to.equal("amqp://h:[redacted]@x");
    expect(hideUrlPasswords("http://h:8080/a@b#c@d")).to.equal("http://h:[redacted]@d");
  });

  it("hides a password whose digits read as a port, before a ?, # or / and an @", () => {
    // Each reads as host:port then a query, fragment or path holding an @ and a host: the
    // password as the operator wrote it, hidden whole, host and what follows it kept.
    const cases: Array<[string, string]> = [
      ["redis://:123?x@host", "redis://:[redacted]@host"],
      ["redis://:123?x@host:6379/0", "redis://:[redacted]@host:6379/0"],
      ["redis://:123#x@host", "redis://:[redacted]@host"],
      ["amqp://user:12#3@rabbit/v", "amqp://user:[redacted]@rabbit/v"],
      ["amqp://user:1/2?3#4@rabbit:5672", "amqp://user:[redacted]@rabbit:5672"],
      ["amqp://user:12/3?x#y@h1:5672,h2", "amqp://user:[redacted]@h1:5672,h2"],
      ["amqp://user:?@rabbit", "amqp://user:[redacted]@rabbit"],
      ["amqp://user:#@rabbit", "amqp://user:[redacted]@rabbit"],
      ["redis://:123?x@[::1]:6379", "redis://:[redacted]@[::1]:6379"],
      ["redis://:123?x@host?password=z", "redis://:[redacted]@host?password=[redacted]"],
      // Indistinguishable from such a password: a query's @ right before a host.
      ["redis://h:6379/0?x=a@b", "redis://h:[redacted]@b"],
      ["http://h:8080/a#c@d", "http://h:[redacted]@d"],
    ];
    for (const [url, hidden] of cases) {
      expect(hideUrlPasswords(`at ${url} now`)).to.equal(`at ${hidden} now`);
      expect(hideUrlPassword(url)).to.equal(hidden);
    }
  });

  it("shows a connection URL no client can read up to its colon, and keeps readable ones", () => {
    // No @ and no port: the password of a URL whose host was left out, or cut at its @.
    expect(hideUrlPassword("amqp://user:kT9x/y")).to.equal("amqp://user:[redacted]");
    expect(hideUrlPassword("redis://:123?x")).to.equal("redis://:[redacted]");
    expect(hideUrlPassword("redis://:123")).to.equal("redis://:[redacted]");
    for (const url of [
      "amqp://rabbit:5672/vh",
      "amqp://h1:5672,h2:5672",
      "redis-sentinel://h1:26379,h2/mymaster",
      "redis://r:6379?db=2",
      "amqp://[::1]:5672",
      "amqp://u:123/x",
    ]) {
      expect(hideUrlPassword(url)).to.equal(url);
    }
  });

  it("never shows a password WHATWG URL reads from the URL, in any shape", () => {
    // WHATWG URL as the judge of what a client reads as userinfo, over passwords holding each
    // character that ends an authority or a part, an @, percent-encoding, digits first, with and
    // without a user, before a name, an IPv6 literal and a host list.
    const fronts = ["", "12", "kT9"];
    const middles = ["/", "?", "#", "@", "%2F", "/3?x#", ":"];
    const hosts = ["rabbit", "rabbit:5672", "[::1]:5672", "h1:5672,h2", "[::1]"];
    const tails = ["", "/vh", "?heartbeat=5", "/0?db=0#f"];
    let checked = 0;
    for (const front of fronts)
      for (const middle of middles)
        for (const user of ["user", ""])
          for (const host of hosts)
            for (const tail of tails) {
              const password = `${front}${middle}SECRET`;
              const url = `amqp://${user}:${password}@${host}${tail}`;
              for (const shown of [hideUrlPassword(url), hideUrlPasswords(`at ${url} now`)]) {
                expect(shown, url).to.not.include("SECRET");
                const parsed = URL.canParse(url) ? new URL(url) : null;
                if (parsed?.password) expect(shown, url).to.not.include(`:${parsed.password}@`);
              }
              checked += 1;
            }
    expect(checked).to.equal(fronts.length * middles.length * 2 * hosts.length * tails.length);
  });

  it("hides several URLs of a line, one at its end, and one inside JSON with escaped quotes", () => {
    expect(
      hideUrlPasswords("a amqp://u:one@h1/v then redis://:two@r:6379/0?x=a and http://h/p@q"),
    ).to.equal("a amqp://u:[redacted]@q");
    expect(
      hideUrlPasswords(
        JSON.stringify({
          a: "amqp://u:one@h1/v",
          b: "redis://:two@r:6379/0?x=a",
          c: "http://h/p@q",
        }),
      ),
    ).to.equal(
      JSON.stringify({
        a: "amqp://u:[redacted]@h1/v",
        b: "redis://:[redacted]@r:6379/0?x=a",
        c: "http://h/p@q",
      }),
    );
    expect(hideUrlPasswords("last: amqps://u:tail@h")).to.equal("last: amqps://u:[redacted]@h");
    // A quote escaped in a JSON string may be the password's: read over.
    const json = JSON.stringify({ msg: 'cannot reach "amqp://u:p@h:5672/v" or "http://h/p@q"' });
    expect(hideUrlPasswords(json)).to.equal(
      JSON.stringify({ msg: 'cannot reach "amqp://u:[redacted]@q"' }),
    );
    const quoted = JSON.stringify({ url: 'amqp://u:a"b@h/' });
    expect(hideUrlPasswords(quoted)).to.equal(JSON.stringify({ url: "amqp://u:[redacted]@h/" }));
  });

  it("hides a password holding a space or ://, or one without a user name holding /", () => {
    expect(hideUrlPasswords("connect amqp://u:pa ss@rabbit:5672/vh failed")).to.equal(
      "connect amqp://u:[redacted]@rabbit:5672/vh failed",
    );
    expect(hideUrlPasswords("x redis://u:a://b@r:6379 y")).to.equal(
      "x redis://u:[redacted]@r:6379 y",
    );
    expect(hideUrlPasswords("at redis://ab/cd@r:6379/0 now")).to.equal(
      "at redis://[redacted]@r:6379/0 now",
    );
    expect(hideUrlPassword("redis://ab/cd@r")).to.equal("redis://[redacted]@r");
    expect(hideUrlPasswords("amqp://:p/w@h and amqp://u:x y@[::1]:5672,amqp://u:q@h2")).to.equal(
      "amqp://:[redacted]@h2",
    );
    expect(
      hideUrlPasswords(JSON.stringify({ msg: "amqp://u:pa ss@h", user: "a@b.example" })),
    ).to.equal('{"msg":"amqp://u:[redacted]@h","user":"a@b.example"}');
  });

  it("hides a password holding an @ before a /, ?, #, white space, a quote or ://", () => {
    for (const [url, hidden] of [
      ["amqp://u:p@ss/w@host:5672/v", "amqp://u:[redacted]@host:5672/v"],
      ["amqp://u:p@ss?w@host", "amqp://u:[redacted]@host"],
      ["amqp://u:p@ss#w@host/v", "amqp://u:[redacted]@host/v"],
      ["amqp://u:p@ss w@host", "amqp://u:[redacted]@host"],
      ["amqp://u:a b@c d@host", "amqp://u:[redacted]@host"],
      ["amqp://u:p@ss://w@host", "amqp://u:[redacted]@host"],
      [
        "redis://:p@s/s@host:6379/0?password=q",
        "redis://:[redacted]@host:6379/0?password=[redacted]",
      ],
    ]) {
      expect(hideUrlPasswords(`at ${url} now`), url).to.equal(`at ${hidden} now`);
      expect(hideUrlPassword(url), url).to.equal(hidden);
    }
    // A quote, an angle bracket or a backtick: escaped in a JSON line, and read over.
    for (const quote of ['"', "'", "<", "`"]) {
      const line = JSON.stringify({ msg: `at amqp://u:p@ss${quote}w@host now`, to: "a@b.example" });
      expect(hideUrlPasswords(line), line).to.equal(
        JSON.stringify({ msg: "at amqp://u:[redacted]@host now", to: "a@b.example" }),
      );
    }
  });

  it("hides a Redis password alone holding white space, ? or #", () => {
    for (const [url, hidden] of [
      ["redis://pa ss@host", "redis://[redacted]@host"],
      ["redis://12 34@host:6379/0", "redis://[redacted]@host:6379/0"],
      ["rediss://pa?ss@host", "rediss://[redacted]@host"],
      ["redis://pa#ss@host/0", "redis://[redacted]@host/0"],
      ["redis://pa/s?s#s@host", "redis://[redacted]@host"],
    ]) {
      expect(hideUrlPasswords(`at ${url} now`), url).to.equal(`at ${hidden} now`);
      expect(hideUrlPasswords(JSON.stringify({ msg: url })), url).to.equal(
        JSON.stringify({ msg: hidden }),
      );
      expect(hideUrlPassword(url), url).to.equal(hidden);
    }
    // A bracket opening no IPv6 literal may be a password's.
    expect(hideUrlPasswords("at redis://[]ab cd@h now")).to.equal("at redis://[redacted]@h now");
    expect(hideUrlPasswords("at redis-sentinel://[.] x@h/m")).to.equal(
      "at redis-sentinel://[redacted]@h/m",
    );
    expect(hideUrlPasswords("at amqp://[::1]:5672 refused by ops@example")).to.equal(
      "at amqp://[::1]:5672 refused by ops@example",
    );
    // An IP address or localhost followed by prose is a host.
    for (const line of ["redis://10.0.0.5 down, see ops@example", "redis://localhost down, a@b"]) {
      expect(hideUrlPasswords(line), line).to.equal(line);
    }
  });

  it("hides a userinfo without a password whole, whatever the scheme: a token is often a user name", () => {
    for (const [line, hidden] of [
      ["GET http://user@host/ failed", "GET http://[redacted]@host/ failed"],
      [
        "GET https://ghp_0123abcd@git.example/r.git failed",
        "GET https://[redacted]@git.example/r.git failed",
      ],
      ["amqp://sluice@rabbit:5672/vh refused", "amqp://[redacted]@rabbit:5672/vh refused"],
      ["at rediss://secret@r:6380 now", "at rediss://[redacted]@r:6380 now"],
      [
        '{"msg":"https://deploy@h/x?m=a@b.example&y=1"}',
        // An `@` in the query is taken for the userinfo's end: hidden too much, never too little.
        '{"msg":"https://[redacted]@b.example&y=1"}',
      ],
    ]) {
      expect(hideUrlPasswords(line), line).to.equal(hidden);
    }
    expect(hideUrlPassword("amqps://sluice@rabbit:5671")).to.equal(
      "amqps://[redacted]@rabbit:5671",
    );
  });

  it("reads a quote in plain text as a password's, and in a JSON line as the string's end", () => {
    for (const quote of ['"', '\\"']) {
      const line = `at amqp://u:p@ss${quote}w@host now`;
      expect(hideUrlPasswords(line, "text"), line).to.equal("at amqp://u:[redacted]@host now");
    }
    expect(hideUrlPasswords('cannot reach "amqp://u:a"b@h" now', "text")).to.equal(
      'cannot reach "amqp://u:[redacted]@h" now',
    );
    expect(hideUrlPasswords('{"msg":"amqp://u:p@h","to":"a@b.example"}')).to.equal(
      '{"msg":"amqp://u:[redacted]@h","to":"a@b.example"}',
    );
  });

  it("hides a connection URL's password the same way as a line's", () => {
    for (const url of ["amqp://u:p@h/v@x", "redis://r/0?x=a@b", "amqp://u:p@[::1]:5672/"]) {
      expect(hideUrlPassword(url)).to.equal(hideUrlPasswords(url));
    }
    expect(hideUrlPassword('amqp://u:a"b c@h')).to.equal("amqp://u:[redacted]@h");
  });

  it("reads a long line once: no URL-shaped input makes it slow", () => {
    // Many "://" and "@" without an end: each character is read a bounded number of times.
    const hostile = "a://:@".repeat(200_000) + "x".repeat(200_000);
    const hidden = hideUrlPasswords(hostile);
    expect(hidden.length).to.be.greaterThan(0);
    const noEnd = `amqp://u:${"@".repeat(300_000)}`;
    expect(hideUrlPasswords(noEnd)).to.equal("amqp://u:[redacted]@");
    // A megabyte of `a@`, alone, after a URL's password and a Redis URL's host, in a JSON line.
    const ats = "a@".repeat(512 * 1024);
    expect(hideUrlPasswords(ats)).to.equal(ats);
    expect(hideUrlPasswords(`amqp://u:p@${ats}`)).to.equal("amqp://u:[redacted]@");
    expect(hideUrlPasswords(`redis://${ats} x`)).to.equal("redis://[redacted]@ x");
    expect(hideUrlPasswords(`a://b:1 ${ats}`)).to.equal("a://b:[redacted]@[redacted]@");
    expect(hideUrlPasswords(JSON.stringify({ msg: `amqp://u:p ${ats}` }))).to.equal(
      JSON.stringify({ msg: "amqp://u:[redacted]@[redacted]@" }),
    );
    expect(hideUrlPassword(`amqp://u:p@${ats}`)).to.equal("amqp://u:[redacted]@");
  });

  it("hides a URL's password in a written line's message, fields, error and bindings", () => {
    const err = new Error(
      "getaddrinfo ENOTFOUND for amqp://sluice:err-secret@rabbit.internal:5672",
    );
    const text = written((log) => {
      log
        .child({ target: "https://hook:binding-secret@receiver.example/hook" })
        .warn(
          { err, callback: { url: "https://hook:field-secret@receiver.example/in" } },
          "delivery to %s failed",
          "https://hook:arg-secret@receiver.example/a",
        );
      log.error(new Error("Redis at redis://:only-message-secret@r:6379 refused"));
    });
    for (const secret of [
      "err-secret",
      "binding-secret",
      "field-secret",
      "arg-secret",
      "only-message-secret",
    ]) {
      expect(text).not.to.include(secret);
    }
    const [first, second] = text
      .split("\n")
      .filter(Boolean)
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(first.target).to.equal("https://hook:[redacted]@receiver.example/hook");
    expect((first.err as { message: string }).message).to.equal(
      "getaddrinfo ENOTFOUND for amqp://sluice:[redacted]@rabbit.internal:5672",
    );
    expect(first.msg).to.equal("delivery to https://hook:[redacted]@receiver.example/a failed");
    expect(second.msg).to.equal("Redis at redis://:[redacted]@r:6379 refused");
  });

  it("hides it in the pretty format too, and reads nothing of lines not written", () => {
    const pretty = written(
      (log) => log.warn("could not reach amqp://sluice:pretty-secret@rabbit:5672"),
      { format: "pretty" },
    );
    expect(pretty).to.include("amqp://sluice:[redacted]@rabbit:5672");
    expect(pretty).not.to.include("pretty-secret");
    let reads = 0;
    const watched = {
      toString(): string {
        reads += 1;
        return "amqp://u:never@h";
      },
    };
    const none = written((log) => log.info("x %s", watched), { level: "warn" });
    expect(none).to.equal("");
    expect(reads).to.equal(0);
  });

  it("reads a line of many URLs with no @ a bounded number of times per character", () => {
    // Counted reads, not time: each URL's search for a spilled password's @ once read the rest
    // of the line again, so a line of n URLs cost n times its length.
    const original = String.prototype.charCodeAt;
    let reads = 0;
    const counted = function (this: string, index?: number): number {
      reads += 1;
      return original.call(this, index ?? 0);
    };
    for (const unit of ["a://b:", "amqp://u:p ", "a://b: \\@"]) {
      const line = unit.repeat(2000);
      reads = 0;
      String.prototype.charCodeAt = counted;
      try {
        hideUrlPasswords(line);
      } finally {
        String.prototype.charCodeAt = original;
      }
      expect(reads, unit).to.be.below(line.length * 20);
    }
    expect(hideUrlPasswords("a://b:c d a://e:f g")).to.equal(
      "a://b:[redacted] d a://e:[redacted] g",
    );
  });

  it("leaves an address and a port followed by prose as written, whatever @ comes later in the line", () => {
    // A start-up failure names where it connected, then why: the reason must stay readable.
    for (const line of [
      "Redis at rediss://127.0.0.1:21981 refused the TLS handshake: check its user@host",
      "Redis at rediss://localhost:21981: the certificate's subject is CN=sluice@example",
      "RabbitMQ at amqps://10.0.0.5:5671,h2:5671 (certificate of ops@example) refused",
      '{"msg":"Redis at rediss://[::1]:6380; see admin@example"}',
    ]) {
      expect(hideUrlPasswords(line), line).to.equal(line);
    }
    // A name and digits may be a user and a password's front cut at its space: searched on.
    for (const [line, hidden] of [
      ["at amqp://u:123 45@host now", "at amqp://u:[redacted]@host now"],
      ["at amqp://u:12 ab@h:5672 now", "at amqp://u:[redacted]@h:5672 now"],
      ["at redis://user:6379 x@[::1] now", "at redis://user:[redacted]@[::1] now"],
      [
        "RabbitMQ at amqps://h1:5671,h2:5671 (of ops@example)",
        "RabbitMQ at amqps://h1:[redacted]@example)",
      ],
    ]) {
      expect(hideUrlPasswords(line), line).to.equal(hidden);
    }
    // A password the URL cut at white space is still hidden, up to the line's last @ a host
    // follows: the password may hold the @ and the spaces before it.
    expect(hideUrlPasswords("amqp://u:pa ss@host and ops@example")).to.equal(
      "amqp://u:[redacted]@example",
    );
    expect(hideUrlPasswords('{"msg":"amqp://u:pa ss@host","to":"ops@example"}')).to.equal(
      '{"msg":"amqp://u:[redacted]@host","to":"ops@example"}',
    );
  });
});
