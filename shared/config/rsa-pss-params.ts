// The parameters of an RSA-PSS signature (RFC 4055 §3.1) as node:crypto's verify takes them:
// its hash and salt length. @peculiar/asn1-x509 leaves them as DER, and its RSA package is not
// a dependency for these few fields, so they are read here.

import { AsnConvert } from "@peculiar/asn1-schema";
import { AlgorithmIdentifier } from "@peculiar/asn1-x509";

export const RSA_PSS = "1.2.840.113549.1.1.10";
const MGF1 = "1.2.840.113549.1.1.8";

const HASHES: Record<string, string> = {
  "1.3.14.3.2.26": "sha1",
  "2.16.840.1.101.3.4.2.4": "sha224",
  "2.16.840.1.101.3.4.2.1": "sha256",
  "2.16.840.1.101.3.4.2.2": "sha384",
  "2.16.840.1.101.3.4.2.3": "sha512",
};

export interface PssParams {
  hash: string;
  saltLength: number;
}

/** One DER element: its tag, where its content starts, and where it ends. */
function element(der: Uint8Array, at: number): { tag: number; start: number; end: number } {
  const tag = der[at];
  let length = der[at + 1];
  let start = at + 2;
  if (length & 0x80) {
    const bytes = length & 0x7f;
    if (bytes === 0 || bytes > 3) throw new Error("unsupported DER length");
    length = 0;
    for (let i = 0; i < bytes; i += 1) length = length * 256 + der[start + i];
    start += bytes;
  }
  if (tag === undefined || start + length > der.length) throw new Error("truncated DER");
  return { tag, start, end: start + length };
}

/**
 * The hash and salt length of RSASSA-PSS-params (DER); null when node:crypto cannot verify with
 * them (a hash it is not given here, or a mask generation hash other than the signature's: Node
 * takes the one for both) and the list is left to the handshake.
 */
export function pssParams(der: Uint8Array): PssParams | null {
  let hash = "1.3.14.3.2.26";
  let mgfHash = "1.3.14.3.2.26";
  let saltLength = 20;
  const outer = element(der, 0);
  if (outer.tag !== 0x30) throw new Error("RSASSA-PSS-params is not a SEQUENCE");
  for (let at = outer.start; at < outer.end;) {
    const field = element(der, at);
    const inner = element(der, field.start);
    const content = der.subarray(field.start, inner.end);
    if (field.tag === 0xa0) {
      hash = AsnConvert.parse(content, AlgorithmIdentifier).algorithm;
    } else if (field.tag === 0xa1) {
      const mgf = AsnConvert.parse(content, AlgorithmIdentifier);
      if (mgf.algorithm !== MGF1 || !mgf.parameters) return null;
      mgfHash = AsnConvert.parse(mgf.parameters, AlgorithmIdentifier).algorithm;
    } else if (field.tag === 0xa2) {
      if (inner.tag !== 0x02 || inner.end - inner.start > 4) return null;
      saltLength = 0;
      for (let i = inner.start; i < inner.end; i += 1) saltLength = saltLength * 256 + der[i];
    }
    at = field.end;
  }
  if (hash !== mgfHash || !(hash in HASHES)) return null;
  return { hash: HASHES[hash], saltLength };
}
