import { expect } from "chai";
import { tlsServerName } from "../../shared/protocol/tls-server-name";

describe("TLS server name of an outbound connection", () => {
  it("is none for IP literals, IPv6 ones in brackets included", () => {
    for (const host of ["127.0.0.1", "::1", "[::1]", "[2001:db8::7]", "2001:db8::7"]) {
      expect(tlsServerName(host), host).to.equal(undefined);
    }
  });

  it("is the host name otherwise, or the name undici asked for", () => {
    expect(tlsServerName("receiver.test")).to.equal("receiver.test");
    expect(tlsServerName("receiver.test", null)).to.equal("receiver.test");
    expect(tlsServerName("receiver.test", "other.test")).to.equal("other.test");
  });

  it("has no trailing dot, which RFC 6066 forbids in a server name", () => {
    expect(tlsServerName("receiver.test.")).to.equal("receiver.test");
    expect(tlsServerName("receiver.test.", "receiver.test.")).to.equal("receiver.test");
  });
});
