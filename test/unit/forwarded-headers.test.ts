// Which headers pass between a REST caller and the backend (PR-REST §4.3), both directions.

import { expect } from "chai";
import {
  backendRequestHeaders,
  forwardedRequestHeaders,
  forwardedResponseHeaders,
  HOP_BY_HOP,
  isOriginBound,
  PROXY_OVERRIDE_REQUEST,
  withheldFromBackend,
} from "../../shared/protocol/forwarded-headers";

describe("forwarded headers", () => {
  it("request: the caller's own headers and Accept pass; hop-by-hop, Host, X-Road-* and Sluice's controls do not", () => {
    const kept = forwardedRequestHeaders({
      ...Object.fromEntries(HOP_BY_HOP.map((name) => [name, "v"])),
      accept: "application/xml",
      "x-custom": "1",
      authorization: "Bearer t",
      connection: "keep-alive, X-Listed",
      "x-listed": "hop",
      host: "adapter:8080",
      "content-length": "2",
      "content-type": "application/json",
      expect: "100-continue",
      prefer: "wait=5",
      "x-callback-url": "https://cb.example/",
      "accept-encoding": "gzip",
      "idempotency-key": "k",
      "x-sluice-id": "s",
      "x-road-client": "EE/GOV/1/app",
    });
    expect(kept).to.deep.equal({
      accept: "application/xml",
      "x-custom": "1",
      authorization: "Bearer t",
    });
  });

  it("a backend's call: proxy overrides (URL, method, host, scheme, client address) are withheld, whatever their case", () => {
    const sent = {
      "X-Original-URL": "/admin",
      "X-Rewrite-URL": "/admin",
      "X-HTTP-Method-Override": "DELETE",
      "X-HTTP-Method": "DELETE",
      "X-Method-Override": "DELETE",
      "X-Forwarded-Host": "evil.example",
      "X-Forwarded-For": "10.0.0.1",
      "X-Forwarded-Proto": "https",
      "X-Forwarded-Prefix": "/admin",
      Forwarded: "for=10.0.0.1;host=evil.example",
      "X-Real-IP": "10.0.0.1",
      "x-custom": "1",
      accept: "application/json",
    };
    expect(backendRequestHeaders(sent, withheldFromBackend())).to.deep.equal({
      "x-custom": "1",
      accept: "application/json",
    });
    for (const name of PROXY_OVERRIDE_REQUEST) {
      expect(backendRequestHeaders({ [name]: "v" }, withheldFromBackend()), name).to.deep.equal({});
    }
  });

  it("a backend's call: nginx's and Envoy's original path and method, and Next.js's middleware subrequest, are withheld", () => {
    const sent = {
      "X-Original-URI": "/admin",
      "X-Original-Method": "DELETE",
      "X-Envoy-Original-Path": "/admin",
      "X-Middleware-Subrequest": "middleware:middleware:middleware:middleware:middleware",
      "x-custom": "1",
    };
    expect(backendRequestHeaders(sent, withheldFromBackend())).to.deep.equal({ "x-custom": "1" });
    expect(backendRequestHeaders(sent, withheldFromBackend(["x-original-uri"]))).to.deep.equal({
      "x-original-uri": "/admin",
      "x-custom": "1",
    });
  });

  it("a backend's call: a CDN's or balancer's client address (CF-Connecting-IP, True-Client-IP, ...) is withheld, unless named", () => {
    const sent = {
      "CF-Connecting-IP": "10.0.0.1",
      "CF-Connecting-IPv6": "fd00::1",
      "True-Client-IP": "10.0.0.1",
      "Fastly-Client-IP": "10.0.0.1",
      "X-Cluster-Client-IP": "10.0.0.1",
      "X-Client-IP": "10.0.0.1",
      "X-Real-IP": "10.0.0.1",
      "X-Envoy-External-Address": "10.0.0.1",
      "X-Original-Forwarded-For": "10.0.0.1",
      "X-Originating-IP": "10.0.0.1",
      "X-Remote-Addr": "10.0.0.1",
      "X-Remote-IP": "10.0.0.1",
      "X-Azure-ClientIP": "10.0.0.1",
      "X-Azure-SocketIP": "10.0.0.1",
      "X-ProxyUser-IP": "10.0.0.1",
      "Client-IP": "10.0.0.1",
      "x-custom": "1",
    };
    expect(backendRequestHeaders(sent, withheldFromBackend())).to.deep.equal({ "x-custom": "1" });
    expect(backendRequestHeaders(sent, withheldFromBackend(["cf-connecting-ip"]))).to.deep.equal({
      "cf-connecting-ip": "10.0.0.1",
      "x-custom": "1",
    });
  });

  it("a backend's call judges a name the same however often it is asked, and after a caller sent thousands of others", () => {
    const withheld = withheldFromBackend(["x-amzn-oidc-identity"]);
    const asked = (): boolean[] =>
      ["accept", "x-amzn-oidc-data", "x-amzn-oidc-identity", "x-ssl-client-s-dn", "host"].map(
        (name) => withheld.has(name),
      );
    const first = asked();
    expect(first).to.deep.equal([false, true, false, true, true]);
    for (let i = 0; i < 5_000; i++) withheld.has(`x-ssl-junk-${i}`);
    expect(withheld.has("x-ssl-junk-4999")).to.equal(true);
    expect(withheld.has("x-junk-4999")).to.equal(false);
    expect(asked()).to.deep.equal(first);
  });

  it("a backend's call: a front proxy's word on the client's identity and every X-Forwarded-* are withheld, unless named", () => {
    const sent = {
      "X-Forwarded-Client-Cert": "By=spiffe://mesh/ns/records;URI=spiffe://mesh/ns/admin",
      "X-Forwarded-Tls-Client-Cert": "MIIB",
      "X-Forwarded-User": "admin",
      "X-Forwarded-Email": "admin@example.org",
      "X-Forwarded-Groups": "admins",
      "X-Forwarded-Access-Token": "t",
      "X-Forwarded-Uri": "/admin",
      "X-Forwarded-Method": "DELETE",
      "X-SSL-Client-Cert": "-----BEGIN CERTIFICATE-----",
      "X-SSL-Client-S-DN": "CN=admin",
      "Ssl-Client-Cert": "MIIB",
      "X-Client-Cert": "MIIB",
      "X-ARR-ClientCert": "MIIB",
      "X-Client-Verify": "SUCCESS",
      "X-Remote-User": "admin",
      "Remote-User": "admin",
      "X-Remote-Group": "admins",
      "X-Authenticated-User": "admin",
      "X-WEBAUTH-USER": "admin",
      "X-Auth-Request-User": "admin",
      "X-Auth-Request-Email": "admin@example.org",
      "X-Amzn-Oidc-Identity": "admin",
      "X-Amzn-Mtls-Clientcert": "MIIB",
      "X-Goog-Authenticated-User-Email": "accounts.google.com:admin@example.org",
      "X-Goog-IAP-JWT-Assertion": "eyJ",
      "X-MS-Client-Principal-Name": "admin",
      "X-JWT-Assertion": "eyJ",
      "Cf-Access-Authenticated-User-Email": "admin@example.org",
      // The caller's own credentials still pass (docs/rest.md, "Credential headers").
      authorization: "Bearer t",
      "x-api-key": "k",
      "x-custom": "1",
    };
    expect(backendRequestHeaders(sent, withheldFromBackend())).to.deep.equal({
      authorization: "Bearer t",
      "x-api-key": "k",
      "x-custom": "1",
    });
    // Named in options.forwardHeaders, one is kept, and only it.
    expect(
      backendRequestHeaders(sent, withheldFromBackend(["x-forwarded-client-cert"])),
    ).to.deep.equal({
      "x-forwarded-client-cert": sent["X-Forwarded-Client-Cert"],
      authorization: "Bearer t",
      "x-api-key": "k",
      "x-custom": "1",
    });
  });

  it("a backend's call: only the overrides its options name are kept; hop-by-hop, Host and Sluice's own never", () => {
    const withheld = withheldFromBackend(["x-forwarded-for", "host", "connection", "x-sluice-id"]);
    const kept = backendRequestHeaders(
      {
        "x-forwarded-for": "10.0.0.1",
        "x-forwarded-host": "evil.example",
        host: "adapter:8080",
        connection: "close",
        "x-custom": "1",
      },
      withheld,
    );
    expect(kept).to.deep.equal({ "x-forwarded-for": "10.0.0.1", "x-custom": "1" });
  });

  it("response: the backend's own headers pass, lists kept; hop-by-hop, Server, Date, X-Road-* do not", () => {
    const kept = forwardedResponseHeaders({
      ETag: '"v1"',
      location: "/x/1",
      "cache-control": "no-store",
      "set-cookie": ["a=1", "b=2"],
      "x-powered-by": "php",
      connection: "close, X-Listed",
      "x-listed": "1",
      "keep-alive": "timeout=5",
      "transfer-encoding": "chunked",
      "content-length": "10",
      "content-type": "application/json",
      server: "httpd",
      date: "Mon, 01 Jan 2024 00:00:00 GMT",
      "x-road-error": "Server.X",
      "x-road-request-hash": "h",
      "x-sluice-id": "s",
      "preference-applied": "wait=1",
    });
    expect(kept).to.deep.equal({
      etag: '"v1"',
      location: "/x/1",
      "cache-control": "no-store",
      "set-cookie": ["a=1", "b=2"],
      "x-powered-by": "php",
    });
  });

  it("origin-bound response headers: cookies, HSTS, CORS grants and the like, not an answer's own", () => {
    for (const name of [
      "set-cookie",
      "strict-transport-security",
      "access-control-allow-origin",
      "access-control-expose-headers",
      "alt-svc",
      "clear-site-data",
      "refresh",
      "nel",
      "report-to",
      "service-worker-allowed",
      "link",
    ]) {
      expect(isOriginBound(name), name).to.equal(true);
    }
    for (const name of ["etag", "cache-control", "content-language", "www-authenticate"]) {
      expect(isOriginBound(name), name).to.equal(false);
    }
  });

  it("leaves out what a Connection header lists whatever the case of its name", () => {
    // Only a `connection` key was read, so a map naming it `Connection` passed its listed headers on.
    const headers = { "accept-language": "et", Connection: "Accept-Language", accept: "*/*" };
    expect(forwardedRequestHeaders(headers)).to.deep.equal({ accept: "*/*" });
    expect(
      forwardedResponseHeaders({ "x-trace": "1", CONNECTION: ["close", "X-Trace"] }),
    ).to.deep.equal({});
  });

  it("passes a header named __proto__ on as a header, never as the map's prototype", () => {
    // Assigned, a stored message's `__proto__: ["a", "b"]` made the list the kept map's prototype.
    const kept = forwardedRequestHeaders(JSON.parse('{"__proto__": ["a", "b"], "accept": "x"}'));
    expect(Object.getPrototypeOf(kept)).to.equal(Object.prototype);
    expect(Object.keys(kept)).to.deep.equal(["__proto__", "accept"]);
    expect(Object.getOwnPropertyDescriptor(kept, "__proto__")?.value).to.deep.equal(["a", "b"]);
  });
});
