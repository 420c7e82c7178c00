// The one loopback check behind the admin port's bind and Host checks and the configuration's
// warning about an admin port open beyond loopback.

import { expect } from "chai";
import { isLoopbackHost } from "../../shared/runtime/loopback-host";

describe("isLoopbackHost", () => {
  it("takes 127.0.0.0/8, ::1, their IPv4-mapped form and localhost, bare, bracketed or with a port", () => {
    for (const host of [
      "127.0.0.1",
      "127.255.0.9",
      "127.0.0.1:9464",
      "::1",
      "[::1]",
      "[::1]:9464",
      "0:0:0:0:0:0:0:1",
      "::ffff:127.0.0.1",
      "[::ffff:127.1.2.3]:80",
      "::ffff:7f00:1",
      "localhost",
      "LocalHost:9464",
      "::1%lo",
      // Fully qualified, and with an empty port (the scheme's): the same hosts.
      "localhost.",
      "LOCALHOST.:8080",
      "localhost:",
      "127.0.0.1:",
      "[::1]:",
    ]) {
      expect(isLoopbackHost(host), host).to.equal(true);
    }
  });

  it("refuses the wildcard addresses, other addresses, other names and nothing", () => {
    for (const host of [
      "0.0.0.0",
      "0.0.0.0:9464",
      "::",
      "[::]",
      "[::]:9464",
      "::ffff:0.0.0.0",
      "::ffff:10.0.0.1",
      "10.0.0.1",
      "128.0.0.1",
      "127.0.0",
      "2002:7f00:1::",
      "64:ff9b::7f00:1",
      "::2",
      "localhost.example.com",
      "localhost..",
      "evil.localhost.",
      "127.0.0.1.example.com",
      "evil.example:80",
      "[::1",
      // What follows the host is no port: it does not name the host before it.
      "127.0.0.1:9464@evil.example",
      "127.0.0.1:evil",
      "localhost%anything",
      "localhost:80:80",
      "[::1]anything",
      "[::1]:80x",
      "",
      undefined,
    ]) {
      expect(isLoopbackHost(host), String(host)).to.equal(false);
    }
  });
});
