import { expect } from "chai";
import { connectFailureReason } from "../../shared/runtime/startup-error";

/** An error as Node's TLS and net modules make them: a message and a code. */
const failure = (code: string, message = code): Error =>
  Object.assign(new Error(message), { code });

describe("connectFailureReason", () => {
  it("names a server certificate on a revocation list", () => {
    expect(connectFailureReason(failure("CERT_REVOKED", "certificate revoked"))).to.equal(
      "revoked_certificate",
    );
  });

  it("names revocation lists that cannot be used for the chain", () => {
    for (const code of [
      "UNABLE_TO_GET_CRL",
      "CRL_HAS_EXPIRED",
      "CRL_SIGNATURE_FAILURE",
      "UNABLE_TO_DECRYPT_CRL_SIGNATURE",
    ]) {
      expect(connectFailureReason(failure(code)), code).to.equal("revocation_list_unusable");
    }
  });

  it("names a server certificate this side does not trust", () => {
    for (const code of [
      "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
      "SELF_SIGNED_CERT_IN_CHAIN",
      "DEPTH_ZERO_SELF_SIGNED_CERT",
      "CERT_HAS_EXPIRED",
      "ERR_TLS_CERT_ALTNAME_INVALID",
    ]) {
      expect(connectFailureReason(failure(code)), code).to.equal("untrusted_certificate");
    }
  });

  it("names the server refusing this side's certificate", () => {
    for (const code of [
      "ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED",
      "ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE",
      "ERR_SSL_TLSV1_ALERT_UNKNOWN_CA",
      "ERR_SSL_SSLV3_ALERT_CERTIFICATE_REVOKED",
    ]) {
      expect(connectFailureReason(failure(code)), code).to.equal("certificate_refused_by_server");
    }
  });

  it("calls every other failure other", () => {
    for (const error of [
      failure("ECONNREFUSED"),
      failure("ETIMEDOUT"),
      failure("ECONNRESET"),
      new Error("All sentinels are unreachable"),
      undefined,
    ]) {
      expect(connectFailureReason(error), String(error)).to.equal("other");
    }
  });
});
