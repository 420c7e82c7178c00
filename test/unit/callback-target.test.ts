import { expect } from "chai";
import {
  CallbackAddressRefusal,
  allowlistProblems,
  checkCallbackTarget,
  LookupGate,
  parseCallbackTarget,
  shownCallbackTarget,
  withUrlsShown,
  withoutUrls,
  type CallbackPolicy,
} from "../../shared/delivery/callback-target";
import { SluiceError } from "../../shared/protocol/errors";

const policy: CallbackPolicy = {
  allow: [
    "https://callbacks.example.org/hooks",
    "https://*.tenants.example.org/",
    "https://api.example.com:8443/",
    "http://plain.example.net/",
    "xroad:EE/GOV/",
  ],
  allowHttp: false,
  allowPrivate: false,
  xroad: true,
};

function refusal(fn: () => unknown): SluiceError {
  try {
    fn();
  } catch (error) {
    expect(error).to.be.instanceOf(SluiceError);
    expect((error as SluiceError).code).to.equal("InvalidCallback");
    expect((error as SluiceError).status).to.equal(400);
    return error as SluiceError;
  }
  throw new Error("expected a refusal");
}

async function asyncRefusal(promise: Promise<unknown>): Promise<SluiceError> {
  try {
    await promise;
  } catch (error) {
    expect(error).to.be.instanceOf(SluiceError);
    expect((error as SluiceError).code).to.equal("InvalidCallback");
    return error as SluiceError;
  }
  throw new Error("expected a refusal");
}

describe("callback targets", () => {
  it("accepts an https URL under an allowed prefix, at segment boundaries only", () => {
    const target = parseCallbackTarget("https://Callbacks.Example.org/hooks/a?x=1", policy);
    expect(target.kind).to.equal("url");
    expect(target.target).to.equal("https://callbacks.example.org/hooks/a?x=1");
    expect(parseCallbackTarget("https://callbacks.example.org/hooks", policy).kind).to.equal("url");
    refusal(() => parseCallbackTarget("https://callbacks.example.org/hooksmith", policy));
    refusal(() => parseCallbackTarget("https://callbacks.example.org/other", policy));
  });

  it("judges the normalised path, so dot segments cannot climb out of a prefix", () => {
    refusal(() => parseCallbackTarget("https://callbacks.example.org/hooks/../admin", policy));
    refusal(() => parseCallbackTarget("https://callbacks.example.org/hooks/%2e%2e/admin", policy));
  });

  it("resolves backslashes and encoded dots before the prefix is compared, and refuses encoded backslashes", () => {
    for (const path of ["/hooks/..\\admin", "/hooks\\..\\admin", "/hooks/.%2E/admin"]) {
      expect(
        refusal(() => parseCallbackTarget(`https://callbacks.example.org${path}`, policy)).message,
        path,
      ).to.match(/does not match any allowed callback prefix/);
    }
    for (const path of ["/hooks/%5c..%5cadmin", "/hooks/%2e%2e%5cadmin"]) {
      expect(
        refusal(() => parseCallbackTarget(`https://callbacks.example.org${path}`, policy)).message,
        path,
      ).to.match(/encoded separator/);
    }
  });

  it("refuses a segment of only dots and spaces, which a Windows receiver may read as ..", () => {
    for (const path of [
      "/hooks/..%20/admin",
      "/hooks/.. /admin",
      "/hooks/.../admin",
      "/hooks/.%20./x",
      "/hooks/..::$INDEX_ALLOCATION/admin",
      "/hooks/..%3A%3A$DATA/admin",
      "/hooks/.. :x/admin",
    ]) {
      expect(
        refusal(() => parseCallbackTarget(`https://callbacks.example.org${path}`, policy)).message,
        path,
      ).to.match(/only dots and spaces/);
    }
    expect(parseCallbackTarget("https://callbacks.example.org/hooks/v1.2", policy).kind).to.equal(
      "url",
    );
  });

  it("refuses paths a receiver could decode out of the prefix: encoded separators, double encoding, //", () => {
    for (const [path, why] of [
      ["/hooks/..%2f..%2fadmin", /encoded separator/],
      ["/hooks/..%5cadmin", /encoded separator/],
      ["/hooks/%252e%252e/admin", /encoded twice/],
      ["/hooks//admin", /empty segment/],
    ] as const) {
      const error = refusal(() =>
        parseCallbackTarget(`https://callbacks.example.org${path}`, policy),
      );
      expect(error.message, path).to.match(why);
    }
    expect(
      parseCallbackTarget("https://callbacks.example.org/hooks/a/?q=%2f", policy).kind,
    ).to.equal("url");
  });

  it("compares host and effective port exactly", () => {
    refusal(() => parseCallbackTarget("https://callbacks.example.org.evil.com/hooks", policy));
    refusal(() => parseCallbackTarget("https://callbacks.example.org:8443/hooks", policy));
    expect(parseCallbackTarget("https://callbacks.example.org:443/hooks", policy).kind).to.equal(
      "url",
    );
    expect(parseCallbackTarget("https://api.example.com:8443/x", policy).kind).to.equal("url");
    refusal(() => parseCallbackTarget("https://api.example.com/x", policy));
  });

  it("lets a *. entry admit subdomains but not the domain itself", () => {
    expect(parseCallbackTarget("https://a.tenants.example.org/cb", policy).kind).to.equal("url");
    expect(parseCallbackTarget("https://b.a.tenants.example.org/cb", policy).kind).to.equal("url");
    refusal(() => parseCallbackTarget("https://tenants.example.org/cb", policy));
    refusal(() => parseCallbackTarget("https://eviltenants.example.org/cb", policy));
  });

  it("refuses http unless allowed, and then still needs an allowlist entry", () => {
    expect(
      refusal(() => parseCallbackTarget("http://plain.example.net/cb", policy)).message,
    ).to.match(/must use https/);
    const withHttp = { ...policy, allowHttp: true };
    expect(parseCallbackTarget("http://plain.example.net/cb", withHttp).kind).to.equal("url");
    refusal(() => parseCallbackTarget("http://callbacks.example.org/hooks", withHttp));
  });

  it("refuses other schemes, user information, fragments and junk", () => {
    for (const bad of [
      "ftp://callbacks.example.org/hooks",
      "file:///etc/passwd",
      "javascript:alert(1)",
      "https://user:pw@callbacks.example.org/hooks",
      "https://user@callbacks.example.org/hooks",
      "https://callbacks.example.org/hooks#x",
      "not a url",
      "",
      "https://" + "a".repeat(3000),
    ]) {
      refusal(() => parseCallbackTarget(bad, policy));
    }
    refusal(() => parseCallbackTarget(42, policy));
    refusal(() => parseCallbackTarget(null, policy));
  });

  it("takes a target of 2 048 characters and refuses one longer", () => {
    const base = "https://callbacks.example.org/hooks/";
    const of = (n: number) => base + "a".repeat(n - base.length);
    expect(parseCallbackTarget(of(2048), policy)).to.include({ kind: "url", target: of(2048) });
    expect(refusal(() => parseCallbackTarget(of(2049), policy)).message).to.equal(
      "the callback target is longer than 2048 characters",
    );
  });

  it("refuses a host no DNS name can be, which a resolver answers with EINVAL, not ENOTFOUND", () => {
    const label = (n: number) => "a".repeat(n);
    const long = refusal(() =>
      parseCallbackTarget(`https://${label(64)}.tenants.example.org/`, policy),
    );
    expect(long.message).to.equal(
      "the callback URL's host has a label longer than 63 characters, which no DNS name has",
    );
    const name = `${[label(63), label(63), label(63), label(42)].join(".")}.tenants.example.org`;
    expect(name.length).to.be.greaterThan(253);
    expect(refusal(() => parseCallbackTarget(`https://${name}/`, policy)).message).to.equal(
      "the callback URL's host is longer than 253 characters, which no DNS name is",
    );
    expect(
      refusal(() => parseCallbackTarget("https://a..tenants.example.org/", policy)).message,
    ).to.equal("the callback URL's host has an empty label (..)");
    // At the limits a name is taken.
    const longest = `${[label(63), label(63), label(63), label(41)].join(".")}.tenants.example.org`;
    expect(longest.length).to.equal(253);
    expect(parseCallbackTarget(`https://${longest}/`, policy).kind).to.equal("url");
  });

  it("refuses a literal private, loopback, link-local or metadata address with a clear message", () => {
    const open = {
      ...policy,
      allow: [
        "https://127.0.0.1/",
        "https://169.254.169.254/",
        "https://[::1]/",
        "https://10.0.0.1/",
        "https://2130706433/",
      ],
    };
    expect(refusal(() => parseCallbackTarget("https://127.0.0.1/cb", open)).message).to.equal(
      "the callback URL points to a loopback address, which is not allowed",
    );
    expect(
      refusal(() => parseCallbackTarget("https://169.254.169.254/latest", open)).message,
    ).to.match(/link-local/);
    refusal(() => parseCallbackTarget("https://[::1]/cb", open));
    refusal(() => parseCallbackTarget("https://[::ffff:10.0.0.1]/cb", open));
    // 2130706433 is 127.0.0.1 written as one number; URL parsing normalises it first.
    refusal(() => parseCallbackTarget("https://2130706433/cb", open));
    refusal(() => parseCallbackTarget("https://0x7f.1/cb", open));
    expect(
      parseCallbackTarget("https://127.0.0.1/cb", { ...open, allowPrivate: true }).kind,
    ).to.equal("url");
  });

  it("parses X-Road targets and matches them against xroad: prefixes", () => {
    const target = parseCallbackTarget("xroad:EE/GOV/70000001/callbacks/resultReady", policy);
    expect(target).to.include({
      kind: "xroad",
      instance: "EE",
      memberClass: "GOV",
      memberCode: "70000001",
      subsystemCode: "callbacks",
      serviceCode: "resultReady",
      target: "xroad:EE/GOV/70000001/callbacks/resultReady",
    });
    refusal(() => parseCallbackTarget("xroad:EE/COM/123/sub/svc", policy));
    refusal(() => parseCallbackTarget("xroad:EE/GOV/123/svc", policy));
    refusal(() => parseCallbackTarget("xroad:EE/GOV/123/sub/svc/extra", policy));
    refusal(() => parseCallbackTarget("xroad:EE/GOV/../sub/svc", policy));
    refusal(() => parseCallbackTarget("xroad:EE/GOV/1%2F2/sub/svc", policy));
    refusal(() => parseCallbackTarget("xroad:EE/GOV/1 2/sub/svc", policy));
    expect(
      refusal(() => parseCallbackTarget("xroad:EE/GOV/1/sub/svc", { ...policy, xroad: false }))
        .message,
    ).to.match(/not configured/);
    expect(
      parseCallbackTarget("xroad:FI/COM/1/sub/svc", { ...policy, allow: ["xroad:"] }).kind,
    ).to.equal("xroad");
  });

  it("refuses a host name that resolves only to denied addresses", async () => {
    const open = {
      ...policy,
      allow: [
        "https://localhost/",
        "https://internal.example/",
        "https://mixed.example/",
        "https://gone.example/",
        "https://flaky.example/",
      ],
    };
    const lookup = async (host: string): Promise<string[]> => {
      if (host === "localhost") return ["127.0.0.1", "::1"];
      if (host === "internal.example") return ["10.1.1.1"];
      if (host === "mixed.example") return ["10.1.1.1", "93.184.216.34"];
      if (host === "flaky.example")
        throw Object.assign(new Error("try again"), { code: "EAI_AGAIN" });
      throw Object.assign(new Error("no such host"), { code: "ENOTFOUND" });
    };
    const local = await asyncRefusal(
      checkCallbackTarget("https://localhost/cb", open, null, lookup),
    );
    expect(local.message).to.equal("the callback URL is not an allowed callback target");
    expect((local as CallbackAddressRefusal).reason).to.equal(
      "resolves to 127.0.0.1, a loopback address",
    );
    const internal = await asyncRefusal(
      checkCallbackTarget("https://internal.example/cb", open, null, lookup),
    );
    const gone = await asyncRefusal(
      checkCallbackTarget("https://gone.example/cb", open, null, lookup),
    );
    // A name that does not exist and one of a private address read alike to the caller: under
    // a wildcard entry the words would map the provider's internal names.
    expect(gone.message).to.equal(internal.message);
    expect(gone.message).to.equal(local.message);
    expect((internal as CallbackAddressRefusal).reason).to.equal(
      "resolves to 10.1.1.1, a private address",
    );
    expect((gone as CallbackAddressRefusal).reason).to.equal("does not resolve (ENOTFOUND)");
    expect((gone as CallbackAddressRefusal).host).to.equal("gone.example");
    // Delivery refuses mixed answers; at submission one public address is enough.
    expect(
      (await checkCallbackTarget("https://mixed.example/cb", open, null, lookup)).kind,
    ).to.equal("url");
    expect(
      (await checkCallbackTarget("https://flaky.example/cb", open, null, lookup)).kind,
    ).to.equal("url");
    expect(
      (
        await checkCallbackTarget(
          "https://localhost/cb",
          { ...open, allowPrivate: true },
          null,
          lookup,
        )
      ).kind,
    ).to.equal("url");
  });

  it("lets a target through when the resolver is too slow at submission", async () => {
    const open: CallbackPolicy = { ...policy, allow: ["https://slow.example/"] };
    // The resolver never answers: only the check's own bound on the lookup ends the wait.
    const hanging = () => new Promise<string[]>(() => undefined);
    const gate = new LookupGate(2);
    expect(
      (await checkCallbackTarget("https://slow.example/cb", open, null, hanging, gate)).kind,
    ).to.equal("url");
  }).timeout(10_000);

  it("looks up at most two names at once, past their callers' wait too, and lets the rest through", async () => {
    const open: CallbackPolicy = { ...policy, allow: ["https://*.example/"] };
    const asked: string[] = [];
    const answers: Array<(addresses: string[]) => void> = [];
    const lookup = (host: string) => {
      asked.push(host);
      return new Promise<string[]>((resolve) => answers.push(resolve));
    };
    const gate = new LookupGate(2);
    const first = checkCallbackTarget("https://a.example/cb", open, null, lookup, gate);
    const second = checkCallbackTarget("https://b.example/cb", open, null, lookup, gate);
    // Both slots are held by a resolver that has not answered: not looked up, let through
    // (delivery checks it), instead of one more lookup queued on the threadpool.
    expect(
      (await checkCallbackTarget("https://c.example/cb", open, null, lookup, gate)).kind,
    ).to.equal("url");
    expect(asked).to.deep.equal(["a.example", "b.example"]);
    answers[0](["10.0.0.1"]);
    expect(((await asyncRefusal(first)) as CallbackAddressRefusal).reason).to.match(
      /private address/,
    );
    // A slot is free again once a lookup answered.
    const third = checkCallbackTarget("https://d.example/cb", open, null, lookup, gate);
    expect(asked).to.deep.equal(["a.example", "b.example", "d.example"]);
    answers[1](["93.184.216.34"]);
    answers[2](["127.0.0.1"]);
    expect((await second).kind).to.equal("url");
    expect(((await asyncRefusal(third)) as CallbackAddressRefusal).reason).to.match(
      /loopback address/,
    );
  });

  it("lists every bad allowlist entry", () => {
    expect(allowlistProblems(["https://ok.example/", "xroad:EE/"])).to.deep.equal([]);
    const problems = allowlistProblems(["ftp://x/", "https://u@x/", "https://x/?q", 3, "nonsense"]);
    expect(problems).to.have.length(5);
    expect(problems[0]).to.match(/^config\.callbacks\.allow\[0\]: admits no callback target/);
    expect(allowlistProblems("https://x/")).to.deep.equal([
      "config.callbacks.allow: must be a list",
    ]);
  });
});

describe("callback target as operators see it", () => {
  it("keeps the origin, the path and the query's names, never a query value", () => {
    expect(
      shownCallbackTarget("https://cb.example.org/hooks/1?token=s3cret&sig=abc%2Fdef"),
    ).to.equal("https://cb.example.org/hooks/1?token=[redacted]&sig=[redacted]");
    // A query part without a name may be the token itself.
    expect(shownCallbackTarget("https://cb.example.org:8443/h?s3cret&a=")).to.equal(
      "https://cb.example.org:8443/h?[redacted]&a=[redacted]",
    );
    expect(shownCallbackTarget("https://cb.example.org/h?=s3cret")).to.equal(
      "https://cb.example.org/h?[redacted]",
    );
  });

  it("shows a target without a query, and an X-Road target, as they are", () => {
    expect(shownCallbackTarget("https://cb.example.org/hooks/1")).to.equal(
      "https://cb.example.org/hooks/1",
    );
    expect(shownCallbackTarget("https://cb.example.org/hooks/1?")).to.equal(
      "https://cb.example.org/hooks/1",
    );
    expect(shownCallbackTarget("xroad:EE/GOV/123/sub/hook/v1")).to.equal(
      "xroad:EE/GOV/123/sub/hook/v1",
    );
  });

  it("shows no user information or fragment of a stored target, nor the query of one it cannot read", () => {
    expect(shownCallbackTarget("https://u:pw@cb.example.org/h#frag")).to.equal(
      "https://cb.example.org/h",
    );
    expect(shownCallbackTarget("not a url?token=s3cret")).to.equal("not a url?[redacted]");
    // A redirect's Location may be scheme-relative.
    expect(shownCallbackTarget("//sso:s3cret@elsewhere.example/login")).to.equal(
      "//elsewhere.example/login",
    );
    expect(shownCallbackTarget("//sso:s3cret@elsewhere.example/login?t=1#f")).to.equal(
      "//elsewhere.example/login?[redacted]",
    );
  });

  it("shows each http(s) URL in a text as a target, and the rest of the text as it is", () => {
    expect(
      withUrlsShown(
        "Invalid WSDL URL: http://svc:pw1@legacy.example/soap?wsdl&key=k3y then HTTPS://u@x.example/a?t=1",
      ),
    ).to.equal(
      "Invalid WSDL URL: http://legacy.example/soap?[redacted]&key=[redacted] then https://x.example/a?t=[redacted]",
    );
    expect(withUrlsShown("read (http://u:p@x.example/a?t=1), then https://x.example/b.")).to.equal(
      "read (http://x.example/a?t=[redacted]), then https://x.example/b.",
    );
    // A password may hold a quote, which the URL parser keeps: it does not end the URL.
    const quoted = "Invalid WSDL URL: http://svc:it's-s3cret@legacy.example/soap?wsdl";
    expect(withUrlsShown(quoted)).to.equal(
      "Invalid WSDL URL: http://legacy.example/soap?[redacted]",
    );
    expect(withoutUrls(quoted)).to.equal("Invalid WSDL URL: <url>");
    expect(withoutUrls("'http://x.example/a' and 'https://u:p@y.example/'.")).to.equal(
      "'<url>' and '<url>'.",
    );
    expect(withUrlsShown("connect ECONNREFUSED 10.0.3.7:8080")).to.equal(
      "connect ECONNREFUSED 10.0.3.7:8080",
    );
  });

  it("shows what the parser keeps as the target", () => {
    const { target } = parseCallbackTarget(
      "https://callbacks.example.org/hooks/x?token=s3cret",
      policy,
    );
    expect(target).to.include("s3cret");
    expect(shownCallbackTarget(target)).to.equal(
      "https://callbacks.example.org/hooks/x?token=[redacted]",
    );
  });
});
