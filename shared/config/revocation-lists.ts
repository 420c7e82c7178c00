// What start and SIGHUP can tell of a `crl` file beyond its being one PEM list: whose list it is,
// whether that CA signed it (RSA-PSS too), whether it is past its nextUpdate or before its
// thisUpdate, and which other CA of its issuer's name it fails. node:tls answers none of
// these before a handshake fails, and Node's crypto reads no revocation list, so the list is
// parsed with @peculiar/asn1-x509 (docs/configuration.md, "Revocation lists", says why that one)
// and its signature checked with Node's own crypto against the block's CA.

import { constants, verify, type X509Certificate } from "node:crypto";
import { AsnConvert } from "@peculiar/asn1-schema";
import { Certificate, CertificateList, type Name } from "@peculiar/asn1-x509";
import { pssParams, RSA_PSS } from "./rsa-pss-params";

/** One list as read from its file: PEM bytes. */
export interface CrlFile {
  file: string;
  pem: Buffer;
}

/** Why a list is refused: whose it is, and why no CA of the block can use it. */
export class UnusableList extends Error {}

/** The hash node:crypto's verify takes for a signature algorithm; null where there is none. */
const SIGNATURE_HASH: Record<string, string | null> = {
  "1.2.840.113549.1.1.5": "sha1",
  "1.2.840.113549.1.1.14": "sha224",
  "1.2.840.113549.1.1.11": "sha256",
  "1.2.840.113549.1.1.12": "sha384",
  "1.2.840.113549.1.1.13": "sha512",
  "1.2.840.10045.4.1": "sha1",
  "1.2.840.10045.4.3.1": "sha224",
  "1.2.840.10045.4.3.2": "sha256",
  "1.2.840.10045.4.3.3": "sha384",
  "1.2.840.10045.4.3.4": "sha512",
  "1.3.101.112": null,
  "1.3.101.113": null,
};

const SHORT_NAMES: Record<string, string> = {
  "2.5.4.3": "CN",
  "2.5.4.6": "C",
  "2.5.4.7": "L",
  "2.5.4.8": "ST",
  "2.5.4.10": "O",
  "2.5.4.11": "OU",
  "2.5.4.5": "serialNumber",
  "2.5.4.97": "organizationIdentifier",
};

/** A name as `openssl crl -issuer` and X509Certificate's `subject` show it, one RDN per part. */
function nameText(name: Name): string {
  return name
    .map((rdn) =>
      rdn.map((a) => `${SHORT_NAMES[a.type] ?? a.type}=${a.value.toString()}`).join("+"),
    )
    .join(", ");
}

/** OpenSSL matches names on a canonical form: case and runs of spaces do not count. */
function canonical(text: string): string {
  return text.toLowerCase().replace(/\s+/g, " ").trim();
}

/** The PEM armour of a revocation list (RFC 7468 §5): what a `crl` file is read and counted by. */
export const CRL_BEGIN = "-----BEGIN X509 CRL-----";
const CRL_END = "-----END X509 CRL-----";

function der(pem: Buffer): Buffer {
  const body = pem.toString("latin1").split(CRL_BEGIN)[1] ?? "";
  return Buffer.from(body.split(CRL_END)[0].replace(/\s+/g, ""), "base64");
}

/** What start and SIGHUP say of a list they keep. */
export interface ListFinding {
  file: string;
  issuer: string;
  /** Past its nextUpdate: Node refuses every chain through its CA until a new one is in place. */
  staleSince: Date | null;
  /**
   * Its thisUpdate, when that is still to come (the CA's clock ahead of this machine's, or this
   * machine's behind): Node refuses every chain through its CA (CRL_NOT_YET_VALID) until then.
   */
  notBefore: Date | null;
  /** The block's certificates with its issuer's name whose key signed it: the CAs it is the list of. */
  covers: X509Certificate[];
  /**
   * The block's certificates with its issuer's name whose key did not sign it (another CA of the
   * same name, a renewed CA's old or new certificate): OpenSSL chooses a list by its issuer's name
   * alone, so every handshake through such a CA is refused (CRL_SIGNATURE_FAILURE).
   */
  sameNameOthers: X509Certificate[];
}

/**
 * A CA a block trusts, its subject parsed once for every list of a check: DER to match a list's
 * issuer byte for byte, text to match it as OpenSSL does and to name it.
 */
export interface TrustAnchor {
  cert: X509Certificate;
  subjectDer: Buffer;
  subject: string;
}

/** The block's trusted certificates, each subject parsed once. */
export function trustAnchors(certs: X509Certificate[]): TrustAnchor[] {
  return certs.map((cert) => {
    const subject = AsnConvert.parse(cert.raw, Certificate).tbsCertificate.subject;
    return {
      cert,
      subjectDer: Buffer.from(AsnConvert.serialize(subject)),
      subject: nameText(subject),
    };
  });
}

/**
 * Checks one list against the CAs it should belong to (`anchors`: every certificate Node is
 * given as trusted for the block, trustAnchors). Throws UnusableList when no anchor is its issuer (Node would
 * use it for no chain, and the CA it was meant for would go unchecked or refuse every client),
 * or when the anchors with its issuer's name did not sign it (a list Node refuses at every
 * handshake). A signature algorithm Node cannot be given a hash for here (RSA-PSS whose mask
 * hash differs from its hash, DSA) is left to the handshake.
 */
export function checkRevocationList(
  list: CrlFile,
  anchors: TrustAnchor[],
  now: number,
): ListFinding {
  const parsed = AsnConvert.parse(der(list.pem), CertificateList);
  const issuer = parsed.tbsCertList.issuer;
  const issuerDer = Buffer.from(AsnConvert.serialize(issuer));
  const issuerText = nameText(issuer);
  const named = anchors
    .filter(
      (anchor) =>
        anchor.subjectDer.equals(issuerDer) || canonical(anchor.subject) === canonical(issuerText),
    )
    .map((anchor) => anchor.cert);
  if (named.length === 0) {
    throw new UnusableList(
      `revocation list file ${list.file} was issued by ${issuerText}, which is none of the block's CAs; TLS would use it for no certificate: name its CA's certificate beside the others, or the list of a CA that is there`,
    );
  }
  const algorithm = parsed.signatureAlgorithm.algorithm;
  const parameters = parsed.signatureAlgorithm.parameters;
  // RSA-PSS: a list signed by another key with the CA's name was kept, and refused at every
  // handshake. Parameters that do not read are what Node refuses too.
  let pss: ReturnType<typeof pssParams> = null;
  if (algorithm === RSA_PSS) {
    try {
      pss = parameters ? pssParams(new Uint8Array(parameters)) : null;
    } catch {
      throw new UnusableList(
        `revocation list file ${list.file} names ${issuerText} as its issuer, but its RSA-PSS signature parameters do not parse; TLS would refuse every certificate that CA issued: fetch the list again from that CA`,
      );
    }
  }
  let covers = named;
  if ((algorithm in SIGNATURE_HASH || pss) && parsed.tbsCertListRaw) {
    const tbs = Buffer.from(parsed.tbsCertListRaw);
    const signature = Buffer.from(parsed.signature);
    const signers = named.filter((anchor) => {
      try {
        return pss
          ? verify(
              pss.hash,
              tbs,
              {
                key: anchor.publicKey,
                padding: constants.RSA_PKCS1_PSS_PADDING,
                saltLength: pss.saltLength,
              },
              signature,
            )
          : verify(SIGNATURE_HASH[algorithm], tbs, anchor.publicKey, signature);
      } catch {
        return false;
      }
    });
    covers = signers;
    if (signers.length === 0) {
      throw new UnusableList(
        `revocation list file ${list.file} names ${issuerText} as its issuer, but its signature does not verify against that CA's certificate; TLS would refuse every certificate that CA issued: fetch the list again from that CA`,
      );
    }
  }
  // Time's getTime() is the Date (UTCTime or GeneralizedTime, as the list holds it).
  const next = parsed.tbsCertList.nextUpdate?.getTime().getTime();
  const issued = parsed.tbsCertList.thisUpdate.getTime().getTime();
  return {
    file: list.file,
    issuer: issuerText,
    staleSince: next !== undefined && next <= now ? new Date(next) : null,
    notBefore: issued > now ? new Date(issued) : null,
    covers,
    sameNameOthers: named.filter(
      (anchor) => !covers.some((signer) => signer.fingerprint256 === anchor.fingerprint256),
    ),
  };
}

/**
 * Which of the block's CAs have a list past its nextUpdate (`stale`, by issuer), a list whose
 * thisUpdate is still to come (`notYetValid`, by issuer), a list of their name another key signed
 * (`signedByOther`, by subject and fingerprint: the name alone is that of the CA that did sign
 * it too) and which have none among the files (`missing`, by subject): what a handshake refused
 * for an unusable list cannot say itself.
 */
export interface ListCoverage {
  stale: string[];
  notYetValid: string[];
  signedByOther: string[];
  missing: string[];
}

/**
 * What start, SIGHUP and `sluice check` tell of a block's lists: every list kept but warned of
 * (stale, signed by another CA of the name, not yet valid), and the coverage the service port's
 * refused-handshake warning names a CA from.
 */
export interface RevocationListReport {
  warnings: string[];
  coverage: ListCoverage;
}

/** The warnings of one list kept: `at` is where the configuration names it (`adapter.tls.crl`). */
function listWarnings(finding: ListFinding, at: string): string[] {
  const warnings: string[] = [];
  if (finding.staleSince) {
    warnings.push(
      `${at}: revocation list file ${finding.file} of ${finding.issuer} is past its nextUpdate (${finding.staleSince.toISOString()}); every handshake through that CA is refused (revocation_list_unusable) until a current list is in place and SIGHUP`,
    );
  }
  for (const other of finding.sameNameOthers) {
    warnings.push(
      `${at}: revocation list file ${finding.file} of ${finding.issuer} was not signed by the block's certificate of that name with SHA-256 fingerprint ${other.fingerprint256}; TLS chooses one list by its issuer's name alone for every CA of that name, so every handshake through one of them is refused (revocation_list_unusable, CRL_SIGNATURE_FAILURE), whichever lists are there: leave out of the block the certificate whose chains need not be admitted`,
    );
  }
  if (finding.notBefore) {
    // Kept and warned of as a stale one is: it becomes usable on its own at thisUpdate.
    warnings.push(
      `${at}: revocation list file ${finding.file} of ${finding.issuer} is not valid before its thisUpdate (${finding.notBefore.toISOString()}), which is still to come by this machine's clock; every handshake through that CA is refused (revocation_list_unusable) until then: check this machine's clock and the CA's`,
    );
  }
  return warnings;
}

/** The coverage the findings of every list of a block give its CAs (`anchors`). */
function listCoverage(findings: ListFinding[], anchors: TrustAnchor[]): ListCoverage {
  const covered = new Set(findings.flatMap((f) => f.covers.map((ca) => ca.fingerprint256)));
  const unique = (texts: string[]) => [...new Set(texts)];
  return {
    stale: unique(findings.filter((f) => f.staleSince).map((f) => f.issuer)),
    notYetValid: unique(findings.filter((f) => f.notBefore).map((f) => f.issuer)),
    signedByOther: unique(
      findings.flatMap((f) =>
        f.sameNameOthers.map(
          (other) => `${f.issuer} (SHA-256 fingerprint ${other.fingerprint256})`,
        ),
      ),
    ),
    missing: unique(
      anchors.filter((ca) => !covered.has(ca.cert.fingerprint256)).map((ca) => ca.subject),
    ),
  };
}

/**
 * Checks every list of a block against its CAs (checkRevocationList), in the order named.
 * Throws UnusableList for the first list refused, one that does not parse among them; a list
 * past its nextUpdate or before its thisUpdate is kept and warned of (refusing it would turn a
 * late list, or a clock off, into an outage at the next restart, where keeping it refuses only
 * what it already refuses).
 */
export function checkRevocationLists(
  lists: CrlFile[],
  certs: X509Certificate[],
  at: string,
  now: number,
): RevocationListReport {
  // Each subject is parsed once, not again for every list and for `missing`: within the first
  // list's check, where a subject asn1-x509 cannot read has always been refused with that list.
  let anchors: TrustAnchor[] | null = null;
  const findings = lists.map((list) => {
    try {
      anchors ??= trustAnchors(certs);
      return checkRevocationList(list, anchors, now);
    } catch (error) {
      if (error instanceof UnusableList) throw error;
      throw new UnusableList(
        `revocation list file ${list.file} does not parse as a certificate revocation list`,
      );
    }
  });
  return {
    warnings: findings.flatMap((finding) => listWarnings(finding, at)),
    coverage: listCoverage(findings, anchors ?? trustAnchors(certs)),
  };
}
