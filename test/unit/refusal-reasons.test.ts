// The closed sets of reasons that label refused handshakes and requests Node's parser refused:
// every error maps to one of them, whatever its text.

import { expect } from "chai";
import type { TLSSocket } from "node:tls";
import { clientRefusal, parserRefusalReason } from "../../adapter/client-error";
import { revocationListCheck, tlsRefusalReason, unusableListCa } from "../../adapter/tls-refusals";

const error = (code: string | undefined, message = "anything"): Error & { code?: string } =>
  Object.assign(new Error(message), code === undefined ? {} : { code });
const verified = (authorizationError: string | null) =>
  ({ authorizationError }) as unknown as TLSSocket;

describe("refusal reasons", () => {
  it("an unusable revocation list's warning says how to check each list of adapter.tls.crl", () => {
    const check = revocationListCheck(["/etc/sluice/a.crl", "/etc/sluice/b.crl"]);
    expect(check).to.include("openssl crl -noout -nextupdate -issuer -in /etc/sluice/a.crl");
    expect(check).to.include("openssl crl -noout -nextupdate -issuer -in /etc/sluice/b.crl");
    expect(check).to.include("past nextUpdate");
  });

  it("an unusable revocation list's warning names the CA when the lists read tell which", () => {
    const coverage = { stale: ["CN=Old CA"], missing: ["CN=Listless CA"] };
    expect(unusableListCa("CRL_HAS_EXPIRED", coverage)).to.equal("CN=Old CA");
    expect(unusableListCa("UNABLE_TO_GET_CRL", coverage)).to.equal("CN=Listless CA");
    expect(unusableListCa("CRL_HAS_EXPIRED", { stale: ["CN=A", "CN=B"], missing: [] })).to.equal(
      "CN=A; or CN=B",
    );
    // An intermediate the client sent has no list: none of the block's CAs is to blame.
    expect(unusableListCa("UNABLE_TO_GET_CRL", { stale: [], missing: [] })).to.equal(null);
    expect(unusableListCa("CRL_SIGNATURE_FAILURE", coverage)).to.equal(null);
    expect(unusableListCa("CRL_HAS_EXPIRED", null)).to.equal(null);
  });

  it("names the CA whose list is not valid yet, and the CA another key's list of its name refuses", () => {
    const coverage = {
      stale: [],
      notYetValid: ["CN=Early CA"],
      signedByOther: ["CN=Twin CA (SHA-256 fingerprint AB:CD)"],
      missing: ["CN=Twin CA"],
    };
    expect(unusableListCa("CRL_NOT_YET_VALID", coverage)).to.equal("CN=Early CA");
    expect(unusableListCa("CRL_SIGNATURE_FAILURE", coverage)).to.equal(
      "CN=Twin CA (SHA-256 fingerprint AB:CD)",
    );
    expect(unusableListCa("CRL_NOT_YET_VALID", { ...coverage, notYetValid: [] })).to.equal(null);
    expect(unusableListCa("UNABLE_TO_DECRYPT_CRL_SIGNATURE", coverage)).to.equal(null);
  });

  it("a refused handshake's reason comes from the certificate check, then the error's code", () => {
    const hangUp = error("ECONNRESET", "socket hang up");
    expect(tlsRefusalReason(hangUp, verified("CERT_HAS_EXPIRED"))).to.equal("expired_certificate");
    // A clock problem, not a certificate to renew: told apart.
    expect(tlsRefusalReason(hangUp, verified("CERT_NOT_YET_VALID"))).to.equal(
      "not_yet_valid_certificate",
    );
    expect(tlsRefusalReason(hangUp, verified("UNABLE_TO_VERIFY_LEAF_SIGNATURE"))).to.equal(
      "untrusted_certificate",
    );
    expect(tlsRefusalReason(hangUp, verified("CERT_REVOKED"))).to.equal("revoked_certificate");
    // The lists, not the certificate: no list of its CA, or one past its nextUpdate.
    expect(tlsRefusalReason(hangUp, verified("UNABLE_TO_GET_CRL"))).to.equal(
      "revocation_list_unusable",
    );
    expect(tlsRefusalReason(hangUp, verified("CRL_HAS_EXPIRED"))).to.equal(
      "revocation_list_unusable",
    );
    expect(tlsRefusalReason(hangUp, verified(null))).to.equal("closed");
    const cases: Array<[string | undefined, string]> = [
      ["ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE", "no_certificate"],
      ["ERR_TLS_HANDSHAKE_TIMEOUT", "timeout"],
      ["ERR_SSL_HTTP_REQUEST", "plain_http"],
      ["ERR_SSL_TLSV1_ALERT_UNKNOWN_CA", "certificate_refused_by_client"],
      ["ERR_SSL_SSLV3_ALERT_CERTIFICATE_UNKNOWN", "certificate_refused_by_client"],
      ["ERR_SSL_UNSUPPORTED_PROTOCOL", "protocol"],
      ["ERR_SSL_WRONG_VERSION_NUMBER", "protocol"],
      [undefined, "other"],
      ["<script>", "other"],
    ];
    for (const [code, reason] of cases) {
      expect(tlsRefusalReason(error(code), verified(null)), String(code)).to.equal(reason);
    }
  });

  it("a parser's refusal has a reason, a reset connection none", () => {
    expect(parserRefusalReason(error("HPE_HEADER_OVERFLOW"))).to.equal("headers_too_large");
    expect(parserRefusalReason(error("ERR_HTTP_REQUEST_TIMEOUT"))).to.equal("timeout");
    expect(parserRefusalReason(error("HPE_CHUNK_EXTENSIONS_OVERFLOW"))).to.equal(
      "chunk_extensions",
    );
    expect(parserRefusalReason(error("HPE_INVALID_METHOD"))).to.equal("malformed");
    expect(parserRefusalReason(error("HPE_WHATEVER_COMES_NEXT"))).to.equal("malformed");
    expect(parserRefusalReason(error("ECONNRESET"))).to.equal(null);
  });

  it("a header section that overflowed in its request line is a target too long", () => {
    const overflow = (packet: string) =>
      Object.assign(error("HPE_HEADER_OVERFLOW"), { rawPacket: Buffer.from(packet, "latin1") });
    const longUrl = `/rest/echo?q=${"a".repeat(20_000)}`;
    // The whole request in one piece, or the URL still arriving.
    expect(parserRefusalReason(overflow(`GET ${longUrl} HTTP/1.1\r\nHost: x\r\n\r\n`))).to.equal(
      "target_too_long",
    );
    expect(parserRefusalReason(overflow(`GET ${longUrl}`))).to.equal("target_too_long");
    // A short request line and a large header; a later piece of a URL (no request line in it).
    const bigHeader = `GET /rest/echo HTTP/1.1\r\nX-Big: ${"a".repeat(20_000)}\r\n\r\n`;
    expect(parserRefusalReason(overflow(bigHeader))).to.equal("headers_too_large");
    expect(parserRefusalReason(overflow("a".repeat(20_000)))).to.equal("headers_too_large");
    expect(clientRefusal(overflow(`GET ${longUrl}`), 16_384)).to.include({
      status: 414,
      code: "InvalidRequest",
      message: "the request's target (its URL) is longer than 16384 bytes",
    });
    expect(clientRefusal(overflow(bigHeader), 16_384)).to.include({
      status: 431,
      code: "InvalidHeader",
    });
  });
});
