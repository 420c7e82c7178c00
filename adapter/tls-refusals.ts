// Why a TLS handshake on the service port ended without a connection, as one of a closed set of
// reasons: the metric's label and the warning's `reason`, never a string the other side chose.

import type { TLSSocket } from "node:tls";

export type TlsRefusal =
  | "no_certificate"
  | "expired_certificate"
  | "not_yet_valid_certificate"
  | "untrusted_certificate"
  | "revoked_certificate"
  | "revocation_list_unusable"
  | "unlisted_certificate"
  | "certificate_refused_by_client"
  | "plain_http"
  | "protocol"
  | "timeout"
  | "closed"
  | "other";

/** Verification verdicts about `crl` (the lists), not the certificate presented. */
const REVOCATION_LIST_PROBLEM = new Set([
  "UNABLE_TO_GET_CRL",
  "CRL_HAS_EXPIRED",
  "CRL_NOT_YET_VALID",
  "CRL_SIGNATURE_FAILURE",
  "UNABLE_TO_DECRYPT_CRL_SIGNATURE",
  "ERROR_IN_CRL_LAST_UPDATE_FIELD",
  "ERROR_IN_CRL_NEXT_UPDATE_FIELD",
  "UNABLE_TO_GET_CRL_ISSUER",
]);

/** Alerts a client sends when it does not accept the adapter's own certificate. */
const CERTIFICATE_ALERT =
  /^ERR_SSL_(?:TLSV1|SSLV3)_ALERT_(?:UNKNOWN_CA|BAD_CERTIFICATE|CERTIFICATE_\w+|UNSUPPORTED_CERTIFICATE)$/;

/**
 * The reason of a `tlsClientError`. A client certificate that fails verification is let through
 * the handshake by OpenSSL and refused by Node after it, so its reason is the socket's
 * `authorizationError`, the error itself only saying the connection ended.
 */
export function tlsRefusalReason(error: Error & { code?: string }, socket?: TLSSocket): TlsRefusal {
  const verify = (socket as (TLSSocket & { authorizationError?: unknown }) | undefined)
    ?.authorizationError;
  if (typeof verify === "string" && verify !== "") {
    // Not yet valid is a clock (this machine's or the issuer's), not a certificate to renew.
    if (verify === "CERT_HAS_EXPIRED") return "expired_certificate";
    if (verify === "CERT_NOT_YET_VALID") return "not_yet_valid_certificate";
    if (verify === "CERT_REVOKED") return "revoked_certificate";
    // No list of the issuing CA, or its list past nextUpdate, before thisUpdate or signed by
    // another key: every client is refused until the operator puts a usable list in place,
    // whatever certificate it presents.
    if (REVOCATION_LIST_PROBLEM.has(verify)) return "revocation_list_unusable";
    return "untrusted_certificate";
  }
  const code = error.code ?? "";
  if (code === "ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE") return "no_certificate";
  if (code === "ERR_TLS_HANDSHAKE_TIMEOUT") return "timeout";
  if (code === "ERR_SSL_HTTP_REQUEST") return "plain_http";
  if (CERTIFICATE_ALERT.test(code)) return "certificate_refused_by_client";
  if (code.startsWith("ERR_SSL_")) return "protocol";
  if (code === "ECONNRESET" || code === "EPIPE") return "closed";
  return "other";
}

/**
 * Which CA's list made a handshake fail with verification code `code`, as far as the lists read
 * at start or SIGHUP tell (revocationListCoverage): the CAs whose lists are past nextUpdate for
 * CRL_HAS_EXPIRED, whose lists' thisUpdate is still to come for CRL_NOT_YET_VALID, whose name
 * another CA's list bears for CRL_SIGNATURE_FAILURE (named with their fingerprint: the CA that
 * signed that list has the same name), the block's CAs with no list for UNABLE_TO_GET_CRL. Null
 * when they do not tell (no such CA among the block's: an intermediate the client sent, whose
 * list is missing). Several names when several CAs fit: the handshake does not say which of them.
 */
export function unusableListCa(
  code: string | null | undefined,
  coverage: {
    stale: string[];
    notYetValid?: string[];
    signedByOther?: string[];
    missing: string[];
  } | null,
): string | null {
  if (!coverage) return null;
  const candidates =
    code === "CRL_HAS_EXPIRED"
      ? coverage.stale
      : code === "CRL_NOT_YET_VALID"
        ? coverage.notYetValid
        : code === "CRL_SIGNATURE_FAILURE"
          ? coverage.signedByOther
          : code === "UNABLE_TO_GET_CRL"
            ? coverage.missing
            : undefined;
  if (!candidates || candidates.length === 0) return null;
  return candidates.join("; or ");
}

/**
 * What a `revocation_list_unusable` warning tells the operator to check. Node keeps no peer
 * certificate after a failed verification (getPeerCertificate(true) is empty), so the CA whose
 * list is missing or stale cannot be named from the handshake itself: the warning's `ca`
 * (unusableListCa) names it where the lists read at start tell it, and otherwise each list's
 * issuer and nextUpdate, compared with the CAs of adapter.tls.clientCa, say which.
 */
export function revocationListCheck(crlFiles: readonly string[]): string {
  const commands = crlFiles.map((file) => `openssl crl -noout -nextupdate -issuer -in ${file}`);
  return `a CA of the client's chain has no list in adapter.tls.crl, or its list is past nextUpdate (the handshake does not say which CA); check each list's issuer and nextUpdate: ${commands.join("; ")}`;
}
