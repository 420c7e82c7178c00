// The Host check of admin.hosts and adapter.hosts: what names a port, what is a rebound name.

import { expect } from "chai";
import { hostHeaderName, originForm, servedHostCheck } from "../../shared/runtime/served-hosts";

describe("servedHostCheck", () => {
  const serves = servedHostCheck(["sluice.example", "Sluice-Adapter", "admin.internal."]);

  it("takes a listed name with or without port, in any case, with or without a trailing dot", () => {
    for (const host of [
      "sluice.example",
      "sluice.example:8080",
      "SLUICE.Example",
      "sluice.example.",
      "sluice.example.:8443",
      "sluice-adapter:9090",
      "admin.internal",
      "admin.internal.:9090",
      "sluice.example:",
    ]) {
      expect(serves(host), host).to.equal(true);
    }
  });

  it("takes any IP literal, IPv6 in brackets, with or without port", () => {
    for (const host of [
      "10.0.0.7",
      "10.0.0.7:9090",
      "127.0.0.1",
      "[::1]",
      "[fd00::7]:9090",
      "[::ffff:10.0.0.7]",
    ]) {
      expect(serves(host), host).to.equal(true);
    }
  });

  it("refuses any other name, one with a listed name inside it, and what names no host", () => {
    for (const host of [
      "evil.example",
      "sluice.example.evil.example",
      "evil.sluice.example",
      "localhost",
      "sluice.example:80@evil.example",
      "sluice.example..",
      "[sluice.example]",
      "[::1]x",
      "",
      undefined,
    ]) {
      expect(serves(host), String(host)).to.equal(false);
    }
  });

  it("with an empty list, takes IP literals only", () => {
    const addressesOnly = servedHostCheck([]);
    expect(addressesOnly("10.1.2.3:8080")).to.equal(true);
    expect(addressesOnly("sluice.example")).to.equal(false);
  });
});

describe("hostHeaderName", () => {
  it("is the name as compared: no port, no brackets, lower case, no trailing dot", () => {
    expect(hostHeaderName("Sluice.Example.:8080")).to.equal("sluice.example");
    expect(hostHeaderName("[FD00::7]:9090")).to.equal("fd00::7");
    expect(hostHeaderName("a:80@evil.example")).to.equal(null);
    expect(hostHeaderName(undefined)).to.equal(null);
  });
});

describe("originForm", () => {
  it("cuts the scheme and authority off an absolute-form target, keeping the path as sent", () => {
    for (const [target, path] of [
      ["http://127.0.0.1/metrics", "/metrics"],
      ["HTTP://localhost:9090/admin/status?x=1", "/admin/status?x=1"],
      ["http://u:p@127.0.0.1:9090/a/%2F/../b", "/a/%2F/../b"],
      ["http://127.0.0.1", "/"],
      ["http://127.0.0.1?limit=1", "/?limit=1"],
      ["http://127.0.0.1#x", "/#x"],
    ]) {
      expect(originForm(target), target).to.equal(path);
    }
  });

  it("leaves an origin-form target, and one that only looks absolute, as it is", () => {
    for (const target of ["/metrics", "/admin/x?y=http://a.example/", "*", "/http://a/b"]) {
      expect(originForm(target), target).to.equal(target);
    }
  });
});
