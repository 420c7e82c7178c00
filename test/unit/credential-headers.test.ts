// Credential headers as an operator sees a stored message: values redacted, names kept, every
// other header and field as stored.

import { expect } from "chai";
import {
  CREDENTIAL_HEADERS,
  REDACTED,
  withCredentialsRedacted,
} from "../../shared/protocol/credential-headers";

describe("credential headers in operator views", () => {
  it("redacts a request's credential headers, whatever their case, and keeps the others", () => {
    const request = {
      id: "m1",
      headers: {
        authorization: "Bearer tok",
        Cookie: "a=b",
        "proxy-authorization": "Basic cHc=",
        "x-api-key": ["k1", "k2"],
        accept: "application/json",
      },
    };
    const shown = withCredentialsRedacted(request);
    expect(shown).to.deep.equal({
      id: "m1",
      headers: {
        authorization: REDACTED,
        Cookie: REDACTED,
        "proxy-authorization": REDACTED,
        "x-api-key": REDACTED,
        accept: "application/json",
      },
    });
    expect(request.headers.authorization, "the stored message is left as it was").to.equal(
      "Bearer tok",
    );
  });

  it("redacts the backend's Set-Cookie in each response of a status document", () => {
    const doc = {
      id: "m1",
      responses: [
        { seq: 1, headers: { "set-cookie": ["s=1", "t=2"], etag: '"v1"' } },
        { seq: 2, body: "no headers" },
      ],
    };
    expect(withCredentialsRedacted(doc).responses).to.deep.equal([
      { seq: 1, headers: { "set-cookie": REDACTED, etag: '"v1"' } },
      { seq: 2, body: "no headers" },
    ]);
  });

  it("redacts the tokens and client certificates proxies pass on under X-Forwarded-* names", () => {
    // oauth2-proxy's --pass-access-token, Envoy's XFCC, Traefik's passTLSClientCert.
    const shown = withCredentialsRedacted({
      headers: {
        "x-forwarded-access-token": "eyJ.tok",
        "X-Forwarded-Client-Cert": "By=spiffe://a;Cert=%2D%2D%2D",
        "x-forwarded-tls-client-cert": "MIIB",
        "x-forwarded-user": "alice",
      },
    });
    expect(shown.headers).to.deep.equal({
      "x-forwarded-access-token": REDACTED,
      "X-Forwarded-Client-Cert": REDACTED,
      "x-forwarded-tls-client-cert": REDACTED,
      "x-forwarded-user": "alice",
    });
  });

  it("passes a request that is not JSON through as it is", () => {
    expect(withCredentialsRedacted("not json")).to.equal("not json");
    expect(withCredentialsRedacted(null)).to.equal(null);
  });

  it("lists the names lower-case, as forwarded headers are stored", () => {
    for (const name of CREDENTIAL_HEADERS) expect(name).to.equal(name.toLowerCase());
  });
});
