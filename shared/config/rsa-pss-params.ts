// The parameters of an RSA-PSS signature (RFC 4055 §3.1) as node:crypto's verify takes them:
// its hash and salt length, read with @peculiar/asn1-rsa (the same family as the list's parser).

import { AsnConvert } from "@peculiar/asn1-schema";
import { AlgorithmIdentifier } from "@peculiar/asn1-x509";
import { id_mgf1, id_RSASSA_PSS, RsaSaPssParams } from "@peculiar/asn1-rsa";

export const RSA_PSS = id_RSASSA_PSS;

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

/**
 * The hash and salt length of RSASSA-PSS-params (DER); null when node:crypto cannot verify with
 * them (a hash it is not given here, or a mask generation hash other than the signature's: Node
 * takes the one for both) and the list is left to the handshake. Throws when they do not parse.
 */
export function pssParams(der: Uint8Array): PssParams | null {
  const params = AsnConvert.parse(der, RsaSaPssParams);
  const hash = params.hashAlgorithm.algorithm;
  const mgf = params.maskGenAlgorithm;
  if (mgf.algorithm !== id_mgf1 || !mgf.parameters) return null;
  const mgfHash = AsnConvert.parse(mgf.parameters, AlgorithmIdentifier).algorithm;
  if (hash !== mgfHash || !(hash in HASHES)) return null;
  return { hash: HASHES[hash], saltLength: params.saltLength };
}
