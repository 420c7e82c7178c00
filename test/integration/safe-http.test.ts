import { expect } from "chai";
import http from "node:http";
import https from "node:https";
import type { AddressInfo } from "node:net";
import { SafeHttp } from "../../shared/delivery/safe-http";
import { CallbackReceiver } from "./callback-receiver";
import { createTestPki } from "../support/test-pki";

describe("safe outbound HTTP (real HTTPS receiver)", () => {
  let receiver: CallbackReceiver;
  const clients: SafeHttp[] = [];
  const client = (options: Partial<ConstructorParameters<typeof SafeHttp>[0]> = {}) => {
    const http = new SafeHttp({ allowPrivate: true, ca: receiver.ca, ...options });
    clients.push(http);
    return http;
  };

  before(async () => {
    receiver = await CallbackReceiver.start({ tls: true });
  });
  beforeEach(() => {
    receiver.calls.length = 0;
    receiver.respond = () => ({ status: 204 });
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await receiver.close();
  });

  it("posts over TLS with the configured CA and reports delivered on 2xx", async () => {
    const result = await client().post(
      receiver.url("/cb?x=1"),
      { "content-type": "application/json" },
      '{"a":1}',
    );
    expect(result).to.deep.equal({ outcome: "delivered", status: 204 });
    expect(receiver.calls).to.have.length(1);
    expect(receiver.calls[0]).to.include({ method: "POST", path: "/cb?x=1", body: '{"a":1}' });
    expect(receiver.calls[0].headers["content-type"]).to.equal("application/json");
  });

  it("connects to the checked address but keeps the name for SNI and Host", async () => {
    const asked: string[] = [];
    const http = client({
      lookup: async (name) => {
        asked.push(name);
        return ["127.0.0.1"];
      },
    });
    const url = `https://receiver.test:${receiver.port}/pinned`;
    for (let i = 0; i < 4; i++) {
      expect((await http.post(url, {}, "{}")).outcome).to.equal("delivered");
    }
    expect(receiver.calls[0].servername).to.equal("receiver.test");
    expect(receiver.calls[0].headers.host).to.equal(`receiver.test:${receiver.port}`);
    // One resolution per connection, none per request: a request never resolves the name again.
    const connections = new Set(receiver.calls.map((call) => call.remotePort)).size;
    expect(connections).to.be.below(4);
    expect(asked).to.have.length(connections);
    expect(asked.every((name) => name === "receiver.test")).to.equal(true);
  });

  // RFC 6066 §3: a server name has no trailing dot, and Go's TLS servers refuse a ClientHello
  // whose name has one; the certificate is checked against the name without it.
  it("sends a name written with a trailing dot as the TLS server name without it", async () => {
    const http = client({ lookup: async () => ["127.0.0.1"] });
    const result = await http.post(`https://receiver.test.:${receiver.port}/fqdn`, {}, "{}");
    expect(result).to.deep.equal({ outcome: "delivered", status: 204 });
    expect(receiver.calls[0].servername).to.equal("receiver.test");
  });

  it("sends no server name to an IPv4 literal and verifies the certificate against the address", async () => {
    expect((await client().post(receiver.url("/v4"), {}, "{}")).outcome).to.equal("delivered");
    expect(receiver.calls[0].servername).to.equal(null);
  });

  // RFC 6066 §3: an IP literal is not a server name. `https://[::1]:port/` must not send the
  // bracketed literal as SNI, nor check the certificate against it as a DNS name.
  it("sends no server name to an IPv6 literal and verifies the certificate against the address", async () => {
    const v6 = await CallbackReceiver.start({ host: "::1", subjectAltName: "IP:::1" });
    try {
      const result = await client({ ca: v6.ca }).post(v6.url("/v6"), {}, "{}");
      expect(result).to.deep.equal({ outcome: "delivered", status: 204 });
      expect(v6.calls[0].servername).to.equal(null);
      expect(v6.calls[0].headers.host).to.equal(`[::1]:${v6.port}`);
    } finally {
      await v6.close();
    }
  });

  it("refuses an IPv6 literal whose certificate does not name that address", async () => {
    const v6 = await CallbackReceiver.start({ host: "::1", subjectAltName: "IP:127.0.0.1" });
    try {
      const result = await client({ ca: v6.ca }).post(v6.url("/v6"), {}, "{}");
      expect(result.outcome).to.equal("retry");
      expect(result.failure?.kind).to.equal("tls");
      expect(v6.calls).to.have.length(0);
    } finally {
      await v6.close();
    }
  });

  it("refuses a name that resolves to loopback when private addresses are not allowed", async () => {
    const result = await client({ allowPrivate: false }).post(
      receiver.url("/cb", "localhost"),
      {},
      "{}",
    );
    expect(result.outcome).to.equal("retry");
    expect(result.failure?.kind).to.equal("blocked");
    expect(result.failure?.message).to.match(
      /^localhost resolves to 127\.0\.0\.1, a loopback address$/,
    );
    expect(receiver.calls).to.have.length(0);
  });

  it("refuses a literal loopback address when private addresses are not allowed", async () => {
    const result = await client({ allowPrivate: false }).post(receiver.url(), {}, "{}");
    expect(result.failure).to.deep.equal({
      kind: "blocked",
      message: "127.0.0.1 is a loopback address",
    });
    expect(receiver.calls).to.have.length(0);
  });

  it("refuses a name when any resolved address is denied (rebinding)", async () => {
    const http = client({
      allowPrivate: false,
      lookup: async () => ["93.184.216.34", "127.0.0.1"],
    });
    const result = await http.post(`https://receiver.test:${receiver.port}/cb`, {}, "{}");
    expect(result.failure?.kind).to.equal("blocked");
    expect(receiver.calls).to.have.length(0);
  });

  it("goes straight to the receiver whatever HTTP_PROXY, HTTPS_PROXY and NO_PROXY say", async () => {
    // A proxy set for other egress must not decide where a caller's target is reached: it
    // would connect to what it resolves, unchecked, and see every signed callback.
    let proxied = 0;
    const proxy = http.createServer((_req, res) => {
      proxied += 1;
      res.end();
    });
    proxy.on("connect", (_req, socket) => {
      proxied += 1;
      socket.end("HTTP/1.1 502 Bad Gateway\r\n\r\n");
    });
    await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
    const proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
    const names = [
      "HTTP_PROXY",
      "HTTPS_PROXY",
      "http_proxy",
      "https_proxy",
      "NO_PROXY",
      "no_proxy",
    ];
    const saved = names.map((name) => [name, process.env[name]] as const);
    for (const name of names) process.env[name] = name.toLowerCase() === "no_proxy" ? "" : proxyUrl;
    try {
      const result = await client().post(receiver.url("/direct"), {}, "{}");
      expect(result.outcome).to.equal("delivered");
    } finally {
      for (const [name, value] of saved) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
      await new Promise<void>((resolve) => proxy.close(() => resolve()));
    }
    expect(proxied).to.equal(0);
    expect(receiver.calls.map((call) => call.path)).to.deep.equal(["/direct"]);
  });

  it("reports 410 as gone", async () => {
    receiver.respond = () => ({ status: 410 });
    expect(await client().post(receiver.url(), {}, "{}")).to.deep.equal({
      outcome: "gone",
      status: 410,
    });
  });

  it("reports other answers as retry and passes Retry-After on", async () => {
    receiver.respond = () => ({ status: 503, headers: { "retry-after": "7" }, body: "busy" });
    const result = await client().post(receiver.url(), {}, "{}");
    expect(result).to.deep.include({ outcome: "retry", status: 503, retryAfterMs: 7000 });
    expect(result.failure?.kind).to.equal("status");
  });

  it("does not follow redirects", async () => {
    receiver.respond = (call) =>
      call.path === "/cb" ? { status: 307, headers: { location: "/elsewhere" } } : { status: 200 };
    const result = await client().post(receiver.url(), {}, "{}");
    expect(result.outcome).to.equal("retry");
    expect(result.failure?.kind).to.equal("redirect");
    expect(receiver.calls.map((c) => c.path)).to.deep.equal(["/cb"]);
  });

  it("reads at most the response limit of a huge answer and still completes", async () => {
    receiver.respond = () => ({ status: 200, body: Buffer.alloc(4 * 1024 * 1024, 97) });
    const result = await client({ maxResponseBytes: 1024 }).post(receiver.url(), {}, "{}");
    expect(result.outcome).to.equal("delivered");
  });

  it("gives up on a receiver that never answers", async () => {
    receiver.respond = () => "hang";
    const result = await client({ timeoutMs: 300 }).post(receiver.url(), {}, "{}");
    expect(result.outcome).to.equal("retry");
    expect(result.failure?.kind).to.equal("timeout");
  });

  it("reports the status of a receiver that answers but never finishes its body", async () => {
    // The receiver took the callback (2xx); the body it trickles is discarded anyway.
    const stalling = http.createServer((req, res) => {
      req.resume();
      res.writeHead(200, { "content-type": "text/plain" });
      res.write("accepted, still talking");
    });
    await new Promise<void>((resolve) => stalling.listen(0, "127.0.0.1", resolve));
    try {
      const { port } = stalling.address() as AddressInfo;
      const result = await client({ timeoutMs: 300 }).post(`http://127.0.0.1:${port}/`, {}, "{}");
      expect(result).to.deep.equal({ outcome: "delivered", status: 200 });
    } finally {
      stalling.closeAllConnections();
      await new Promise<void>((resolve) => stalling.close(() => resolve()));
    }
  });

  it("refuses a certificate it does not trust", async () => {
    const result = await client({ ca: undefined }).post(receiver.url(), {}, "{}");
    expect(result.outcome).to.equal("retry");
    expect(result.failure?.kind).to.equal("tls");
    expect(receiver.calls).to.have.length(0);
  });

  it("reports a refused connection", async () => {
    const closed = await CallbackReceiver.start({ tls: true });
    const url = closed.url();
    await closed.close();
    const result = await client().post(url, {}, "{}");
    expect(result.failure?.kind).to.equal("connect");
  });

  it("refuses a receiver whose TLS 1.2 suites have no forward secrecy or AEAD, unless ciphers names one", async () => {
    const pki = createTestPki();
    const pair = pki.ca.issue("old-receiver", { cn: "localhost" });
    // Node's own client list still offers CBC with SHA-1 (`HIGH`): an old stack picks it.
    const old = https.createServer(
      { cert: pair.cert, key: pair.key, maxVersion: "TLSv1.2", ciphers: "ECDHE-ECDSA-AES128-SHA" },
      (_req, res) => {
        res.statusCode = 204;
        res.end();
      },
    );
    await new Promise<void>((resolve) => old.listen(0, "127.0.0.1", resolve));
    const url = `https://localhost:${(old.address() as AddressInfo).port}/cb`;
    try {
      const refused = await client({ ca: pki.ca.cert }).post(url, {}, "{}");
      expect(refused.outcome).to.equal("retry");
      expect(refused.failure?.kind).to.equal("tls");
      const allowed = await client({ ca: pki.ca.cert, ciphers: "ECDHE-ECDSA-AES128-SHA" }).post(
        url,
        {},
        "{}",
      );
      expect(allowed).to.deep.equal({ outcome: "delivered", status: 204 });
    } finally {
      await new Promise((resolve) => old.close(resolve));
      pki.cleanup();
    }
  });
});
