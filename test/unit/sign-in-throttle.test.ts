// The admin port's sign-in throttle: who counts as one client, and what making room may drop.

import { expect } from "chai";
import { clientOf } from "../../shared/protocol/ip-address";
import { SignInThrottle } from "../../shared/observability/sign-in-throttle";

describe("sign-in throttle clients", () => {
  it("counts an IPv6 address as its /64 and an IPv4-mapped one as the IPv4 address", () => {
    expect(clientOf("2001:db8:1:2::1")).to.equal("2001:db8:1:2::/64");
    expect(clientOf("2001:DB8:1:2:ffff:ffff:ffff:ffff")).to.equal("2001:db8:1:2::/64");
    expect(clientOf("2001:0db8:0001:0002:0:0:0:9")).to.equal("2001:db8:1:2::/64");
    expect(clientOf("fe80::1%eth0")).to.equal("fe80:0:0:0::/64");
    expect(clientOf("::ffff:192.0.2.7")).to.equal("192.0.2.7");
    expect(clientOf("::ffff:c000:207")).to.equal("192.0.2.7");
    expect(clientOf("192.0.2.7")).to.equal("192.0.2.7");
    expect(clientOf("::1")).to.equal("0:0:0:0::/64");
    expect(clientOf("")).to.equal("");
  });

  it("makes a whole IPv6 /64 wait, not one address of it", () => {
    const throttle = new SignInThrottle(() => 0);
    // One host, a new address of its /64 for each guess.
    for (let i = 1; i <= 10; i += 1) {
      expect(throttle.waitSeconds(`2001:db8:1:2::${i.toString(16)}`)).to.equal(0);
      throttle.failed(`2001:db8:1:2::${i.toString(16)}`);
    }
    expect(throttle.waitSeconds("2001:db8:1:2:abcd::99")).to.equal(60);
    expect(throttle.waitSeconds("2001:db8:1:3::1")).to.equal(0);
  });

  it("takes an IPv4 peer's mapped and plain address for one client", () => {
    const throttle = new SignInThrottle(() => 0);
    for (let i = 0; i < 5; i += 1) throttle.failed("::ffff:198.51.100.4");
    for (let i = 0; i < 5; i += 1) throttle.failed("198.51.100.4");
    expect(throttle.waitSeconds("198.51.100.4")).to.equal(60);
    expect(throttle.waitSeconds("::ffff:198.51.100.4")).to.equal(60);
    expect(throttle.waitSeconds("198.51.100.5")).to.equal(0);
  });
});

describe("sign-in throttle room", () => {
  const fail = (throttle: SignInThrottle, address: string, times: number) => {
    for (let i = 0; i < times; i += 1) throttle.failed(address);
  };

  it("never drops a waiting client to make room: new addresses cannot reset its count", () => {
    let now = 0;
    const throttle = new SignInThrottle(() => now, 3);
    fail(throttle, "192.0.2.1", 10);
    expect(throttle.waitSeconds("192.0.2.1")).to.equal(60);
    // Many more clients than the table holds, one failure each: those still counting make room.
    for (let i = 2; i < 200; i += 1) fail(throttle, `192.0.2.${i}`, 1);
    expect(throttle.waitSeconds("192.0.2.1")).to.equal(60);
    now += 59_000;
    expect(throttle.waitSeconds("192.0.2.1")).to.equal(1);
    now += 1_000;
    expect(throttle.waitSeconds("192.0.2.1")).to.equal(0);
  });

  it("makes the clients it has no room for share one count while every tracked one waits", () => {
    let now = 0;
    const throttle = new SignInThrottle(() => now, 3);
    for (const address of ["192.0.2.1", "192.0.2.2", "192.0.2.3"]) fail(throttle, address, 10);
    for (let i = 0; i < 9; i += 1) fail(throttle, `203.0.113.${i}`, 1);
    expect(throttle.waitSeconds("203.0.113.200")).to.equal(0);
    fail(throttle, "203.0.113.9", 1);
    // Ten failures from addresses that found no room: every untracked address waits.
    expect(throttle.waitSeconds("203.0.113.200")).to.equal(60);
    expect(throttle.waitSeconds("192.0.2.1")).to.equal(60);
    now += 60_000;
    // The windows ended: room again, and the next client is counted on its own.
    expect(throttle.waitSeconds("203.0.113.200")).to.equal(0);
    fail(throttle, "203.0.113.10", 1);
    expect(throttle.waitSeconds("203.0.113.200")).to.equal(0);
    expect(throttle.waitSeconds("192.0.2.1")).to.equal(0);
  });

  it("drops ended waiting windows, wherever they stand, before sharing a count", () => {
    let now = 0;
    const throttle = new SignInThrottle(() => now, 2);
    fail(throttle, "192.0.2.1", 1);
    now += 30_000;
    fail(throttle, "192.0.2.2", 10);
    // The first fills its window later than the second, though its window started earlier.
    fail(throttle, "192.0.2.1", 9);
    now += 30_000;
    // The first's window has ended; the second's has not: room for one more client, counted
    // on its own (a shared count would make every other client wait with it).
    fail(throttle, "192.0.2.3", 10);
    expect(throttle.waitSeconds("192.0.2.3")).to.equal(60);
    expect(throttle.waitSeconds("192.0.2.4")).to.equal(0);
    expect(throttle.waitSeconds("192.0.2.2")).to.equal(30);
  });
});

describe("sign-in throttle reset (admin token rotated)", () => {
  it("forgets every client's failures, waiting, counting and shared", () => {
    const throttle = new SignInThrottle(() => 0, 2);
    for (let i = 0; i < 10; i += 1) throttle.failed("192.0.2.1");
    for (let i = 0; i < 10; i += 1) throttle.failed("192.0.2.2");
    // No room left: the failures of others share one count.
    for (let i = 0; i < 10; i += 1) throttle.failed(`198.51.100.${i}`);
    expect(throttle.waitSeconds("192.0.2.1")).to.equal(60);
    expect(throttle.waitSeconds("203.0.113.9")).to.equal(60);
    throttle.reset();
    for (const client of ["192.0.2.1", "192.0.2.2", "203.0.113.9"]) {
      expect(throttle.waitSeconds(client), client).to.equal(0);
    }
    // Counting starts again from nothing.
    for (let i = 0; i < 9; i += 1) throttle.failed("192.0.2.1");
    expect(throttle.waitSeconds("192.0.2.1")).to.equal(0);
    throttle.failed("192.0.2.1");
    expect(throttle.waitSeconds("192.0.2.1")).to.equal(60);
  });
});
