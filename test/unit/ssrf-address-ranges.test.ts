import { expect } from "chai";
import {
  BlockedAddressError,
  classifyStatus,
  deniedRange,
  resolveChecked,
} from "../../shared/delivery/safe-http";

describe("SSRF address ranges", () => {
  it("denies private, loopback, link-local, metadata and other special IPv4 ranges", () => {
    for (const address of [
      "0.0.0.0",
      "10.1.2.3",
      "100.64.0.1",
      "127.0.0.1",
      "127.255.255.254",
      "169.254.169.254",
      "172.16.0.1",
      "172.31.255.255",
      "192.168.1.1",
      "192.0.0.192",
      "198.18.0.1",
      "224.0.0.1",
      "255.255.255.255",
    ]) {
      expect(deniedRange(address), address).to.not.equal(null);
    }
    expect(deniedRange("169.254.169.254")).to.match(/link-local/);
  });

  it("denies special IPv6 ranges and IPv6 forms that embed a denied IPv4 address", () => {
    for (const address of [
      "::",
      "::1",
      "[::1]",
      "fc00::1",
      "fd00:ec2::254",
      "fe80::1",
      "fe80::1%eth0",
      "ff02::1",
      "::ffff:127.0.0.1",
      "::ffff:7f00:1",
      "::ffff:169.254.169.254",
      "::ffff:a9fe:a9fe",
      "64:ff9b::10.0.0.1",
      "2002:c0a8:0101::1",
      "::127.0.0.1",
      "2001:db8::1",
      // IPv4-translated (SIIT): denied whatever it embeds, in every spelling.
      "::ffff:0:127.0.0.1",
      "::ffff:0:7f00:1",
      "0:0:0:0:ffff:0:a00:1",
      "::ffff:0:8.8.8.8",
      "::ffff:0:0:0",
      // NAT64 and 6to4 embedding private, link-local or loopback IPv4 in other spellings.
      "64:ff9b::a9fe:a9fe",
      "64:ff9b::127.0.0.1",
      "64:ff9b:1::8.8.8.8",
      "2002:7f00:1::",
      "2002:a9fe:a9fe::1",
      "2002:ac10::1",
    ]) {
      expect(deniedRange(address), address).to.not.equal(null);
    }
  });

  it("denies the IPv6 counterparts of the refused IPv4 special ranges", () => {
    // IPv4 benchmarking (198.18/15) and documentation ranges are refused; their IPv6 twins, the
    // rest of the IETF protocol assignments (as 192.0.0/24), segment-routing identifiers that
    // stay inside an operator's network, and the dummy prefix must not be a way round.
    const expected: Array<[string, RegExp]> = [
      ["2001:2::1", /benchmarking/],
      ["2001:2:0:ffff::1", /benchmarking/],
      ["2001:10::1", /IETF protocol assignment/],
      ["2001:1ff:ffff::1", /IETF protocol assignment/],
      ["3fff::1", /documentation/],
      ["3fff:fff:ffff::1", /documentation/],
      ["5f00::1", /segment routing/],
      ["5f00:ffff::1", /segment routing/],
      ["100:0:0:1::1", /dummy/],
    ];
    for (const [address, range] of expected) {
      expect(deniedRange(address), address).to.match(range);
    }
    // Their neighbours are ordinary addresses.
    for (const address of ["2001:200::1", "3fff:1000::1", "5f01::1", "2001:4860:4860::8888"]) {
      expect(deniedRange(address), address).to.equal(null);
    }
  });

  it("lets ordinary public addresses through, also when embedded in IPv6", () => {
    for (const address of [
      "8.8.8.8",
      "1.1.1.1",
      "172.32.0.1",
      "100.128.0.1",
      "2a00:1450:4001:80e::200e",
      "::ffff:8.8.8.8",
      "64:ff9b::808:808",
      "2002:0808:0808::1",
    ]) {
      expect(deniedRange(address), address).to.equal(null);
    }
  });

  it("refuses a name when any of its addresses is denied, unless private addresses are allowed", async () => {
    const lookup = async () => ["93.184.216.34", "10.0.0.5"];
    let error: unknown;
    try {
      await resolveChecked("mixed.example", { allowPrivate: false, lookup });
    } catch (e) {
      error = e;
    }
    expect(error).to.be.instanceOf(BlockedAddressError);
    expect((error as Error).message).to.equal(
      "mixed.example resolves to 10.0.0.5, a private address",
    );
    expect(await resolveChecked("mixed.example", { allowPrivate: true, lookup })).to.equal(
      "93.184.216.34",
    );
    expect(
      await resolveChecked("public.example", {
        allowPrivate: false,
        lookup: async () => ["8.8.4.4"],
      }),
    ).to.equal("8.8.4.4");
  });

  it("checks literal addresses without resolving them", async () => {
    const lookup = async (): Promise<string[]> => {
      throw new Error("must not resolve a literal");
    };
    expect(await resolveChecked("8.8.8.8", { allowPrivate: false, lookup })).to.equal("8.8.8.8");
    let error: unknown;
    try {
      await resolveChecked("[::1]", { allowPrivate: false, lookup });
    } catch (e) {
      error = e;
    }
    expect((error as Error).message).to.equal("::1 is a loopback address");
  });
});

describe("delivery answers", () => {
  const now = Date.parse("2026-01-01T00:00:00Z");
  it("maps 2xx to delivered, 410 to gone and everything else to retry", () => {
    expect(classifyStatus(200, undefined).outcome).to.equal("delivered");
    expect(classifyStatus(204, undefined).outcome).to.equal("delivered");
    expect(classifyStatus(410, undefined).outcome).to.equal("gone");
    expect(classifyStatus(500, undefined).outcome).to.equal("retry");
    expect(classifyStatus(404, undefined).outcome).to.equal("retry");
    const redirect = classifyStatus(302, undefined);
    expect(redirect.outcome).to.equal("retry");
    expect(redirect.failure?.kind).to.equal("redirect");
  });

  it("passes a receiver's Retry-After on with a retry", () => {
    expect(classifyStatus(503, "120", now).retryAfterMs).to.equal(120_000);
    expect(classifyStatus(503, "soon", now)).to.not.have.property("retryAfterMs");
  });
});
