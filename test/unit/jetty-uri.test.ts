// How xroad-sim reads a request target as X-Road 7.4's Jetty 11.0.17 does: origin and absolute
// form alike, the path X-Road's RestRequest reads and the decoded path its handlers route on.

import { expect } from "chai";
import { mismatchedAuthority, readJettyTarget } from "../../xroad-sim/jetty-uri";

describe("xroad-sim's reading of a request target (Jetty 11's HttpURI)", () => {
  it("gives an absolute-form target's path the checks an origin-form one gets", () => {
    for (const [path, reason] of [
      ["/r1/EE/GOV/1234/prov/svc/%2e%2e/x", "Ambiguous URI path segment"],
      ["/r1/EE/GOV/1234/prov/svc/a//x", "Ambiguous URI empty segment"],
      ["/r1/EE/GOV/1234/prov/svc/..;p/x", "Ambiguous URI path parameter"],
      ["/r1/EE/GOV/1234/prov/svc/a%u0062", "UTF16 encoding"],
      ["/r1/EE/GOV/1234/prov/svc/a%zz", "Bad Request"],
      ["/r1/../../x", "Bad Request"],
    ]) {
      const origin = readJettyTarget(path).refusal;
      expect(origin?.reason, path).to.equal(reason);
      for (const prefix of ["http://example.org", "https://ss.example.org:8443", "HTTP://h"]) {
        expect(readJettyTarget(`${prefix}${path}`).refusal, prefix + path).to.deep.equal(origin);
      }
    }
  });

  it("reads the raw path and query of an absolute-form target, as getRequestURI and getQueryString give them", () => {
    expect(readJettyTarget("http://example.org:8080/r1/EE/GOV/1/p/s/a/../b?q=1&r")).to.deep.equal({
      refusal: null,
      path: "/r1/EE/GOV/1/p/s/a/../b",
      query: "q=1&r",
      pathInContext: "/r1/EE/GOV/1/p/s/b",
      authority: "example.org:8080",
    });
    expect(readJettyTarget("http://example.org")).to.include({ path: "/", query: null });
    // Jetty 11.0.17's HttpURI HOST state reads `?` and `#` as part of the host: without a `/`
    // after the authority there is no path (Request.setMetaData makes it `/`) and no query,
    // and a `/` after them starts the path.
    for (const target of ["http://h?x", "http://h#f", "http://h:8080?x=1"]) {
      expect(readJettyTarget(target), target).to.deep.equal({
        refusal: null,
        path: "/",
        query: null,
        pathInContext: "/",
        authority: null,
      });
    }
    expect(readJettyTarget("http://h?x/r1/a?q")).to.deep.include({
      path: "/r1/a",
      query: "q",
      authority: "h?x",
    });
    expect(readJettyTarget("http://user@h:1/x").authority).to.equal("h:1");
    expect(readJettyTarget("/r1/a").authority).to.equal(null);
    expect(readJettyTarget("/r1/a?")).to.include({ path: "/r1/a", query: "" });
  });

  it("routes on the decoded path with its dot segments resolved, as Jetty hands X-Road's handlers their target", () => {
    for (const [target, inContext] of [
      ["/r%31/EE/GOV/1/p/s", "/r1/EE/GOV/1/p/s"],
      ["/x/../r1/EE/GOV/1/p/s", "/r1/EE/GOV/1/p/s"],
      ["/r1/a/..", "/r1/"],
      ["/r1/./a/.", "/r1/a/"],
      ["/r1/../x", "/x"],
      ["http://h/r1%2Fa", "/r1/a"],
    ]) {
      expect(readJettyTarget(target).pathInContext, target).to.equal(inContext);
    }
  });

  it("ends the path where Jetty does: a `?` right after `%` is read into the escape, not as the query's start", () => {
    // TypeUtil.convertHexDigit takes `?` as 15, so `%?f` is one escape (byte 0xff).
    expect(readJettyTarget("/r1/EE/GOV/1/p/s/a%?f?q=1")).to.include({
      refusal: null,
      path: "/r1/EE/GOV/1/p/s/a%?f",
      query: "q=1",
    });
    expect(readJettyTarget("http://h/r1/EE/GOV/1/p/s%?0")).to.include({
      path: "/r1/EE/GOV/1/p/s%?0",
      query: null,
    });
    // `#` is no hex digit to it: the escape is bad, the whole target refused.
    expect(readJettyTarget("/r1/EE/GOV/1/p/s/a%#f").refusal?.reason).to.equal("Bad Request");
  });

  it("refuses an absolute-form target whose authority is not the Host header's, as Jetty 11's RFC7230 compliance does", () => {
    const refusal = { early: false, reason: "Mismatched Authority" };
    const target = readJettyTarget("http://example.org/r1/a");
    expect(mismatchedAuthority(target, "127.0.0.1:8080")).to.deep.equal(refusal);
    expect(mismatchedAuthority(target, "example.org")).to.equal(null);
    expect(mismatchedAuthority(readJettyTarget("http://h?x"), "other")).to.equal(null);
    expect(mismatchedAuthority(readJettyTarget("/r1/a"), "other")).to.equal(null);
  });
});
