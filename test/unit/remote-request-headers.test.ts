// Which of a local caller's headers an xroad-rest call carries to the remote provider: the
// allowlist, what options.forwardHeaders may add, the credentials options.forwardCredentials
// opts in, and what neither may name.

import { expect } from "chai";
import {
  DEFAULT_REMOTE_REQUEST_HEADERS,
  remoteHeaderAllowlist,
  remoteRequestHeaders,
} from "../../worker/translators/remote-request-headers";

describe("remote provider's request headers (xroad-rest)", () => {
  const caller = {
    Accept: "application/json",
    "Accept-Language": "et",
    "If-Match": '"v3"',
    Range: "bytes=0-99",
    "Cache-Control": "no-cache",
    "X-Internal-Token": "internal-secret",
    "X-Auth-Session": "session-secret",
    "Private-Token": "gitlab-secret",
    "X-Amz-Security-Token": "aws-secret",
    "X-Case-Version": "7",
    Authorization: "Bearer local",
    "X-Forwarded-User": "alice",
    Referer: "https://intranet.local/case/38001010000",
    "User-Agent": "case-app/1.0",
    connection: "keep-alive, X-Hop",
    "X-Hop": "hop",
    Host: "sluice.internal",
  };

  it("passes only HTTP's own request semantics by default; every other header is withheld by name", () => {
    const { kept, withheld } = remoteRequestHeaders(caller, remoteHeaderAllowlist("r", undefined));
    expect(kept).to.deep.equal({
      accept: "application/json",
      "accept-language": "et",
      "if-match": '"v3"',
      range: "bytes=0-99",
      "cache-control": "no-cache",
    });
    expect(withheld).to.have.members([
      "x-internal-token",
      "x-auth-session",
      "private-token",
      "x-amz-security-token",
      "x-case-version",
      "authorization",
      "x-forwarded-user",
      "referer",
      "user-agent",
    ]);
  });

  it("passes what options.forwardHeaders names, in any case, and still no credential or origin header", () => {
    const allowed = remoteHeaderAllowlist("r", ["X-Case-Version"]);
    const { kept } = remoteRequestHeaders(
      { ...caller, "x-forwarded-for": "10.0.0.1", via: "1.1 proxy" },
      allowed,
    );
    expect(kept["x-case-version"]).to.equal("7");
    // The network's map is never sent out.
    expect(kept["x-forwarded-for"]).to.equal(undefined);
    expect(kept.via).to.equal(undefined);
    expect(kept["x-internal-token"]).to.equal(undefined);
    for (const name of DEFAULT_REMOTE_REQUEST_HEADERS)
      expect(allowed.has(name), name).to.equal(true);
  });

  it("refuses, naming each, a forwardHeaders entry that is a credential, Sluice's own or not a header name", () => {
    expect(() =>
      remoteHeaderAllowlist("registry", [
        "Authorization",
        "X-Api-Key",
        "Host",
        "Prefer",
        "X-Road-Client",
        "X-Sluice-Id",
        "bad name",
      ]),
    ).to.throw(
      /^backend registry: options\.forwardHeaders: authorization is a credential.*; x-api-key is a credential.*; host is never sent to the remote provider \(Sluice sets it or answers it itself\); prefer is never sent to the remote provider \(Sluice sets it or answers it itself\); x-road-client is never sent to the remote provider \(Sluice sets it or answers it itself\); x-sluice-id is never sent to the remote provider \(Sluice sets it or answers it itself\); "bad name" is not a header name$/,
    );
    expect(() => remoteHeaderAllowlist("registry", "X-Case-Version")).to.throw(
      /options\.forwardHeaders must be a list of header names/,
    );
  });

  it("refuses, with one reason each, every forwardHeaders name a call would drop or overwrite: origin, hop-by-hop, framing, Sluice's own, options.headers'", () => {
    const never = [
      "Forwarded",
      "Via",
      "X-Real-IP",
      "X-Forwarded-Host",
      "Referer",
      "Connection",
      "Transfer-Encoding",
      "Host",
      "Content-Length",
      "Content-Type",
      "Accept-Encoding",
      "Idempotency-Key",
      "traceparent",
      "X-Road-Id",
      "X-Sluice-Id",
      "X-Provider-Key",
    ];
    let message = "";
    try {
      remoteHeaderAllowlist("registry", never, undefined, { "X-Provider-Key": "k" });
    } catch (error) {
      message = (error as Error).message;
    }
    for (const name of never) {
      expect(message, name).to.include(
        `${name.toLowerCase()} is never sent to the remote provider (`,
      );
    }
    expect(message).to.include(
      "x-real-ip is never sent to the remote provider (it maps the local network)",
    );
    expect(message).to.include(
      "x-provider-key is never sent to the remote provider (options.headers sets it, in place of the caller's)",
    );
    // So is a credential opted in that options.headers replaces.
    expect(() =>
      remoteHeaderAllowlist("registry", undefined, ["Authorization"], { authorization: "x" }),
    ).to.throw(/authorization is never sent to the remote provider \(options\.headers sets it/);
    // What a call does carry is still taken.
    expect(
      remoteHeaderAllowlist("registry", ["X-Case-Version"], undefined, { "X-Key": "k" }).has(
        "x-case-version",
      ),
    ).to.equal(true);
  });

  it("passes a credential only when options.forwardCredentials names it, in any case, and no other", () => {
    const allowed = remoteHeaderAllowlist("r", ["X-Case-Version"], ["authorization"]);
    const { kept, withheld } = remoteRequestHeaders(
      { ...caller, Cookie: "sid=local", "X-Api-Key": "local-key" },
      allowed,
    );
    expect(kept.authorization).to.equal("Bearer local");
    expect(kept["x-case-version"]).to.equal("7");
    expect(kept.cookie).to.equal(undefined);
    expect(kept["x-api-key"]).to.equal(undefined);
    expect(withheld).to.include.members(["cookie", "x-api-key", "x-internal-token"]);
    expect(
      remoteRequestHeaders(caller, remoteHeaderAllowlist("r", undefined, ["Authorization"])).kept
        .authorization,
    ).to.equal("Bearer local");
    expect(
      remoteRequestHeaders(caller, remoteHeaderAllowlist("r", undefined, [])).kept.authorization,
    ).to.equal(undefined);
  });

  it("refuses in both lists a front proxy's client certificate or identity assertion, and keeps a caller's own credentials", () => {
    const injected = [
      "X-SSL-Client-Cert",
      "ssl-client-cert",
      "X-Client-Cert",
      "X-ARR-ClientCert",
      "X-Amzn-Oidc-Data",
      "X-Amzn-Oidc-AccessToken",
      "X-Goog-IAP-JWT-Assertion",
      "X-MS-Token-AAD-Access-Token",
      "X-MS-Client-Principal",
      "X-Auth-Request-Access-Token",
      "X-JWT-Assertion",
    ];
    for (const name of injected) {
      expect(() => remoteHeaderAllowlist("registry", undefined, [name]), name).to.throw(
        `backend registry: options.forwardCredentials: ${name.toLowerCase()} is a front proxy's assertion of the local caller's client certificate or identity, never passed to another organisation`,
      );
    }
    const identities = [
      ...injected,
      "X-SSL-Client-S-DN",
      "X-SSL-Client-Verify",
      "SSL-Client-Subject-DN",
      "X-Client-Cert-Chain",
      "X-Amzn-Oidc-Identity",
      "X-Amzn-Mtls-Clientcert",
      "X-Goog-Authenticated-User-Email",
      "X-MS-Client-Principal-Name",
      "X-Auth-Request-Email",
      "X-Remote-User",
      "CF-Access-JWT-Assertion",
      "X-Forwarded-Client-Cert",
    ];
    for (const name of identities) {
      expect(() => remoteHeaderAllowlist("registry", [name]), name).to.throw(
        `backend registry: options.forwardHeaders: ${name.toLowerCase()} is a front proxy's assertion`,
      );
    }
    const allowed = remoteHeaderAllowlist(
      "r",
      ["X-Case-Version"],
      ["Authorization", "Cookie", "X-Api-Key", "Api-Key", "X-Auth-Token", "X-Id-Token"],
    );
    for (const name of ["authorization", "cookie", "x-api-key", "api-key", "x-auth-token"])
      expect(allowed.has(name), name).to.equal(true);
    const { kept } = remoteRequestHeaders(
      { authorization: "Bearer t", "x-ssl-client-cert": "-----BEGIN", "x-amzn-oidc-data": "e30" },
      allowed,
    );
    expect(kept).to.deep.equal({ authorization: "Bearer t" });
  });

  it("refuses, naming each, a forwardCredentials entry that is no credential, hop-by-hop, an answer's, a proxy's or Sluice's own, with forwardHeaders' problems in one message", () => {
    expect(() =>
      remoteHeaderAllowlist(
        "registry",
        ["Authorization"],
        [
          "X-Case-Version",
          "X-Internal-Token",
          "Proxy-Authorization",
          "Set-Cookie",
          "X-Forwarded-Access-Token",
          "X-Road-UserId",
          "Host",
          "bad name",
        ],
      ),
    ).to.throw(
      /^backend registry: options\.forwardHeaders: authorization is a credential of the local caller's, sent to another organisation only when options\.forwardCredentials names it.*; options\.forwardCredentials: x-case-version is not a credential header.*; x-internal-token is not a credential header.*; proxy-authorization is never sent to the remote provider \(hop-by-hop, meant for one connection\); set-cookie is never passed to a remote provider \(an answer's header\); x-forwarded-access-token is never passed to a remote provider \(a proxy's word about the local caller\); x-road-userid is never sent to the remote provider \(Sluice sets it or answers it itself\); host is never sent to the remote provider \(Sluice sets it or answers it itself\); "bad name" is not a header name$/,
    );
    expect(() => remoteHeaderAllowlist("registry", undefined, "Authorization")).to.throw(
      /^backend registry: options\.forwardCredentials must be a list of header names$/,
    );
  });
});
