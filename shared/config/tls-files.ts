// Certificates and keys named in the configuration (`adapter.tls`, a backend's or the security
// server's `tls`): read and checked at start, so a bad file stops the start with one line that
// names it, and read again on SIGHUP, when a bad file keeps the old material and is logged.

import { constants as cryptoConstants, createPrivateKey, X509Certificate } from "node:crypto";
import { existsSync } from "node:fs";
import { createSecureContext } from "node:tls";
import type tls from "node:tls";
import { StartupError } from "../runtime/startup-error";
import { readBoundedFile, UnreadableFile } from "./bounded-file";
import type { ListCoverage, RevocationListReport } from "./revocation-lists";

/** File paths from the configuration, already resolved against its directory. */
export interface TlsFiles {
  cert: string | null;
  key: string | null;
  /** CA certificates (or the peer's own certificates) to trust; several files allowed. */
  ca: string[];
  /** Service port only: certificates a client's certificate must chain to. */
  clientCa?: string[];
  /** Service port only: the exact certificates a client may present (pinned). */
  clientCerts?: string[];
  /** Revocation lists (PEM, one per file) of the CAs in `ca`, or in `clientCa` on the service port. */
  crl?: string[];
  /** Outbound blocks only: the OpenSSL cipher list replacing CLIENT_CIPHERS (an old backend's). */
  ciphers?: string;
}

/** What node:tls and undici take: PEM bytes. */
export interface TlsMaterial {
  cert?: Buffer;
  key?: Buffer;
  ca?: Buffer[];
  clientCa?: Buffer[];
  clientCerts?: Buffer[];
  /** SHA-256 fingerprints of every certificate in `clientCerts` (X509Certificate's form). */
  clientFingerprints?: Set<string>;
  /** node:tls's `crl`: with it, every certificate of the peer's chain needs its CA's list. */
  crl?: Buffer[];
  /** The block's `ciphers`, when it names them; CLIENT_CIPHERS otherwise. */
  ciphers?: string;
  /**
   * What the `crl` files were found to be beside usable (warnings, coverage): kept with the
   * material it was read with, so a reload's report replaces the old one with it. Not TLS's.
   */
  revocationLists?: RevocationListReport;
}

type Pem = string | Buffer;

/**
 * The cipher suites a server port offers: TLS 1.3's, and for TLS 1.2 ECDHE with an AEAD cipher
 * only (forward secrecy, no CBC with SHA-1: Node's default list still has those). The security
 * server's own defaults for its connections to information systems (`client-tls-ciphers`:
 * ECDHE-RSA with AES-GCM first) are among them.
 */
export const SERVER_CIPHERS = [
  "TLS_AES_128_GCM_SHA256",
  "TLS_AES_256_GCM_SHA384",
  "TLS_CHACHA20_POLY1305_SHA256",
  "ECDHE-ECDSA-AES128-GCM-SHA256",
  "ECDHE-RSA-AES128-GCM-SHA256",
  "ECDHE-ECDSA-AES256-GCM-SHA384",
  "ECDHE-RSA-AES256-GCM-SHA384",
  "ECDHE-ECDSA-CHACHA20-POLY1305",
  "ECDHE-RSA-CHACHA20-POLY1305",
  // OpenSSL's security level 2 (112-bit): a peer's RSA or DH key under 2048 bits, an EC key
  // under 224, or a SHA-1 signature in its chain is refused at the handshake, where Node's
  // level 1 takes a 1024-bit RSA certificate. X-Road's own keys are 2048 bits and up with
  // SHA-256 (its internal TLS certificate: RSA 2048, sha256, etc/xroad/ssl/openssl.cnf).
  "@SECLEVEL=2",
].join(":");

/**
 * The cipher suites Sluice offers when it is the client (backends, the security server, callback
 * and hub receivers, RabbitMQ, Redis): those of its server ports. Node's default list also offers
 * RSA key exchange and CBC with SHA-1 (`HIGH`), which a backend or a man in the middle choosing
 * for it could pick: no forward secrecy. A block's `ciphers` replaces the list for a system that
 * has none of these (docs/security.md, "Transport security"). The security server's defaults
 * for information systems (`client-tls-ciphers`) hold ECDHE-RSA with AES-GCM, which is here.
 */
export const CLIENT_CIPHERS = SERVER_CIPHERS;

/** What a TLS client is given beside its certificates: the block's cipher list, else Sluice's. */
export function clientCiphers(material: TlsMaterial | null | undefined): string {
  return material?.ciphers ?? CLIENT_CIPHERS;
}

/**
 * A server port's TLS (Sluice's service port, the simulators'): with `clientCa`, a connection
 * without a client certificate that chains to it is refused at the handshake (mutual TLS, the
 * security server's "HTTPS" connection type: docs/xroad-deployment.md, X-Road ug-ss §9.1); TLS 1.2
 * at least, with the suites of SERVER_CIPHERS. Pinned certificates (`clientCerts`) are trusted
 * as anchors beside the CAs, so a self-signed one verifies; that a client presented one of them
 * and no other is the caller's check after the handshake (`pinnedCertificateRefusal`).
 */
export function serverTlsOptions(options: {
  cert?: Pem;
  key?: Pem;
  clientCa?: Pem | Pem[];
  clientCerts?: Pem[];
  crl?: Pem[];
}): tls.SecureContextOptions & {
  requestCert: boolean;
  rejectUnauthorized: boolean;
  minVersion: tls.SecureVersion;
  ciphers: string;
  secureOptions: number;
} {
  const trusted = [options.clientCa ?? [], options.clientCerts ?? []].flat();
  const requireClient = trusted.length > 0;
  return {
    cert: options.cert,
    key: options.key,
    ...(requireClient ? { ca: trusted } : {}),
    ...(requireClient && options.crl?.length ? { crl: options.crl } : {}),
    requestCert: requireClient,
    rejectUnauthorized: requireClient,
    minVersion: "TLSv1.2",
    ciphers: SERVER_CIPHERS,
    // TLS 1.2 renegotiation started by a client costs the server a handshake each time (Node
    // allows three per ten minutes per connection), and no security server asks for one.
    secureOptions: cryptoConstants.SSL_OP_NO_RENEGOTIATION,
  };
}

/**
 * The most a certificate or key file may hold: a chain of a dozen certificates is some 20 KiB,
 * a CA bundle of every public root some 250 KiB.
 */
const MAX_PEM_BYTES = 1024 * 1024;

function readPem(file: string, where: string, kind: "certificate" | "key"): Buffer {
  let pem: Buffer;
  try {
    pem = readBoundedFile(file, MAX_PEM_BYTES);
  } catch (error) {
    if (error instanceof UnreadableFile) {
      throw new StartupError(`${where}: ${kind} file ${file}: ${error.message}`);
    }
    const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    throw new StartupError(`${where}: cannot read ${kind} file ${file} (${code})`);
  }
  try {
    if (kind === "key") createPrivateKey(pem);
    else checkCertificates(pem);
  } catch (error) {
    const what = kind === "key" ? "a PEM private key" : "a PEM certificate";
    const why = error instanceof BadBundle ? ` (${error.message})` : "";
    throw new StartupError(`${where}: ${kind} file ${file} does not hold ${what}${why}`);
  }
  return pem;
}

class BadBundle extends Error {}

/** A revocation list is some 40 bytes per revoked certificate: 1 MiB is some 25,000 of them. */
const MAX_CRL_BYTES = 16 * 1024 * 1024;

/** The first byte of DER's ASN.1 SEQUENCE, which a revocation list is. */
const DER_SEQUENCE = 0x30;

/**
 * One revocation list per file, in PEM, as node:tls parses it: it throws on a broken one only
 * when the secure context is made, and reads only the first list of a file, dropping the rest
 * without a word (so a second list is refused here rather than ignored).
 */
function readCrl(file: string, where: string): Buffer {
  let pem: Buffer;
  try {
    pem = readBoundedFile(file, MAX_CRL_BYTES);
  } catch (error) {
    if (error instanceof UnreadableFile) {
      throw new StartupError(`${where}: revocation list file ${file}: ${error.message}`);
    }
    const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    throw new StartupError(`${where}: cannot read revocation list file ${file} (${code})`);
  }
  const { CRL_BEGIN } = revocationLists();
  const lists = pem.toString("latin1").split(CRL_BEGIN).length - 1;
  if (lists > 1) {
    throw new StartupError(
      `${where}: revocation list file ${file} holds ${lists} lists, and TLS reads only the first; put each in its own file`,
    );
  }
  try {
    if (lists === 0) throw new Error("no list");
    createSecureContext({ crl: pem });
  } catch {
    // CAs publish their lists at distribution points in DER (RFC 5280 §4.2.1.13), which TLS
    // does not read: the file an operator fetched is most often that one, so say how to turn it.
    const der = lists === 0 && pem[0] === DER_SEQUENCE;
    throw new StartupError(
      `${where}: revocation list file ${file} does not hold a PEM certificate revocation list (${CRL_BEGIN})` +
        (der
          ? `; it looks like DER: convert it with openssl crl -inform DER -in ${file} -out LIST.pem`
          : ""),
    );
  }
  return pem;
}

const CERTIFICATE_BLOCK = /-----BEGIN CERTIFICATE-----[^-]*-----END CERTIFICATE-----/g;

/**
 * Every certificate of a file (a chain or a CA bundle) parses, not only the first: node:tls
 * threw on a broken later one only when the material was put to use (a chain file caught
 * half-written at SIGHUP took the process down), and as a CA list it kept the certificates
 * before the break and dropped the rest without a word.
 */
function checkCertificates(pem: Buffer): void {
  const text = pem.toString("latin1");
  const blocks = text.match(CERTIFICATE_BLOCK) ?? [];
  const begun = text.split("-----BEGIN CERTIFICATE-----").length - 1;
  if (blocks.length === 0) throw new Error("no certificate");
  // Which one is broken is worth saying only in a file of several.
  const broken = (what: string) => (begun > 1 ? new BadBundle(what) : new Error(what));
  if (begun !== blocks.length)
    throw broken(`certificate ${blocks.length + 1} of ${begun} has no end`);
  blocks.forEach((block, i) => {
    try {
      new X509Certificate(block);
    } catch {
      throw broken(`certificate ${i + 1} of ${begun} does not parse`);
    }
  });
}

/** Every certificate of the files `pems` (chains, bundles). */
export function certificatesOf(pems: Array<Buffer | string>): X509Certificate[] {
  return pems.flatMap((pem) =>
    (pem.toString("latin1").match(CERTIFICATE_BLOCK) ?? []).map(
      (block) => new X509Certificate(block),
    ),
  );
}

/**
 * Throws a StartupError when none of `certificates` is within its validity now: a list of trust
 * anchors or pins all expired (or none valid yet) refuses every peer, seen only at the first
 * call or handshake. One valid certificate is enough: a bundle keeps old ones beside the new.
 */
function oneValidNow(certificates: X509Certificate[], what: string, effect: string): void {
  const now = Date.now();
  const valid = (cert: X509Certificate) =>
    Date.parse(cert.validFrom) <= now && Date.parse(cert.validTo) > now;
  if (certificates.length === 0 || certificates.some(valid)) return;
  const first = certificates[0];
  throw new StartupError(
    `${what} (${first.subject.replace(/\n/g, ", ")}: ${first.validFrom} to ${first.validTo}); ${effect}`,
  );
}

/**
 * What SIGHUP's reload reaches, as an expiry tells it: new connections (the service port's, the
 * backends', the callbacks' TLS), or only the next connection to the broker or Redis
 * (`amqpTls`/`redisTls`: the one connection a role holds stays as long as the server keeps it).
 */
export type SighupReach = "new connections" | "next connection";

/** What was found wrong with `material`'s files but not refused: logged at start and SIGHUP. */
export function tlsMaterialWarnings(material: TlsMaterial): string[] {
  return material.revocationLists?.warnings ?? [];
}

/** The coverage of `material`'s lists; null without lists. */
export function revocationListCoverage(material: TlsMaterial): ListCoverage | null {
  return material.revocationLists?.coverage ?? null;
}

/**
 * Checks `material`'s lists (read from `files`) against every certificate the block trusts; a
 * list refused stops the start (or the reload) with one line naming it.
 */
function revocationListsOf(
  material: TlsMaterial,
  files: string[],
  where: string,
): RevocationListReport {
  const anchors = certificatesOf([
    ...(material.ca ?? []),
    ...(material.clientCa ?? []),
    ...(material.clientCerts ?? []),
  ]);
  const lists = (material.crl ?? []).map((pem, i) => ({ file: files[i], pem }));
  const { checkRevocationLists, UnusableList } = revocationLists();
  try {
    return checkRevocationLists(lists, anchors, `${where}.crl`, Date.now());
  } catch (error) {
    if (error instanceof UnusableList) throw new StartupError(`${where}.crl: ${error.message}`);
    throw error;
  }
}

/** Reads and checks every file; throws a StartupError naming the first bad one. */
export function readTlsFiles(
  files: TlsFiles,
  where: string,
  sighupReach: SighupReach = "new connections",
): TlsMaterial {
  const material: TlsMaterial = {};
  if (files.ciphers) material.ciphers = files.ciphers;
  if (files.cert) material.cert = readPem(files.cert, `${where}.cert`, "certificate");
  if (files.key) material.key = readPem(files.key, `${where}.key`, "key");
  if (files.ca.length > 0) {
    material.ca = files.ca.map((f) => readPem(f, `${where}.ca`, "certificate"));
    oneValidNow(
      certificatesOf(material.ca),
      `${where}.ca: no certificate is valid now`,
      "every peer's certificate is refused against it: name a current CA or certificate",
    );
  }
  if (files.clientCa && files.clientCa.length > 0) {
    material.clientCa = files.clientCa.map((f) => readPem(f, `${where}.clientCa`, "certificate"));
    oneValidNow(
      certificatesOf(material.clientCa),
      `${where}.clientCa: no certificate is valid now`,
      "every client certificate is refused against it: name a current CA",
    );
  }
  if (files.clientCerts && files.clientCerts.length > 0) {
    const pems = files.clientCerts.map((f) => readPem(f, `${where}.clientCerts`, "certificate"));
    material.clientCerts = pems;
    const pinned = certificatesOf(pems);
    material.clientFingerprints = new Set(pinned.map((cert) => cert.fingerprint256));
    // Pins out of their validity admit nobody: every handshake of the security server would be
    // refused, seen only at its first call. One valid pin is enough (an old one beside the new
    // during a change).
    oneValidNow(
      pinned,
      `${where}.clientCerts: no pinned certificate is valid now`,
      "every handshake presenting one is refused: pin the security server's current certificate",
    );
  }
  if (files.crl && files.crl.length > 0) {
    material.crl = files.crl.map((f) => readCrl(f, `${where}.crl`));
    material.revocationLists = revocationListsOf(material, files.crl, where);
  }
  if (material.cert && material.key) {
    // A certificate with someone else's key would only fail at the first handshake.
    const cert = new X509Certificate(material.cert);
    if (!cert.checkPrivateKey(createPrivateKey(material.key))) {
      throw new StartupError(
        `${where}: key file ${files.key} does not belong to certificate ${files.cert}`,
      );
    }
    // Every TLS peer refuses a certificate out of its validity, the security server included:
    // refused here, at start and at SIGHUP (which keeps the previous one), not at the first
    // handshake an operator may not see.
    const now = Date.now();
    if (Date.parse(cert.validTo) <= now) {
      throw new StartupError(
        `${where}: certificate ${files.cert} expired on ${cert.validTo}; TLS peers refuse it (renew it, then ${sighupReach === "new connections" ? "SIGHUP or restart" : "SIGHUP, for the next connection, or restart"})`,
      );
    }
    if (Date.parse(cert.validFrom) > now) {
      throw new StartupError(
        `${where}: certificate ${files.cert} is not valid before ${cert.validFrom}; TLS peers refuse it until then (or check this machine's clock)`,
      );
    }
    // What node:tls will be given, put together once here: whatever it refuses is refused now.
    try {
      createSecureContext({ cert: material.cert, key: material.key });
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
      throw new StartupError(
        `${where}: certificate ${files.cert} and key ${files.key} are refused by TLS (${code})`,
      );
    }
  }
  return material;
}

/**
 * What `sluice check` finds wrong with the TLS files a configuration names, one line per block
 * (the first bad file of each, as the role that reads it would stop on it: expired, not PEM, a
 * key of another certificate, a revocation list no CA of the block issued or signed), or what
 * the role would warn of at start (tlsMaterialWarnings). A block with a file that is not there is passed over: such files
 * often exist only where the role runs (a Kubernetes Secret), and the role names a missing one
 * when it starts. Warnings, not problems, for the same reason.
 */
export function tlsFileWarnings(blocks: Array<[where: string, files: TlsFiles | null]>): string[] {
  return blocks.flatMap(([where, files]) => {
    if (files === null) return [];
    const paths = [
      files.cert,
      files.key,
      ...files.ca,
      ...(files.clientCa ?? []),
      ...(files.clientCerts ?? []),
      ...(files.crl ?? []),
    ];
    if (paths.some((file) => file !== null && !existsSync(file))) return [];
    try {
      return tlsMaterialWarnings(readTlsFiles(files, where));
    } catch (error) {
      if (!(error instanceof StartupError)) throw error;
      return [`${error.message}; a role that uses it refuses to start with this file`];
    }
  });
}

type Listener = (material: TlsMaterial) => void;

/**
 * One `tls` block of the configuration, current material in hand. `reload()` reads the files
 * again; listeners get the new material (new connections use it, open ones are kept).
 */
export class ReloadableTls {
  private material: TlsMaterial;
  private readonly listeners: Listener[] = [];

  constructor(
    readonly files: TlsFiles,
    readonly where: string,
    private readonly sighupReach: SighupReach = "new connections",
  ) {
    this.material = readTlsFiles(files, where, sighupReach);
    reloadables.add(this);
  }

  get current(): TlsMaterial {
    return this.material;
  }

  onChange(listener: Listener): void {
    this.listeners.push(listener);
  }

  /**
   * Reads the files again; returns the problem, or null when the new material is in use. A
   * listener that refuses the new material (what the checks above did not foresee) puts the
   * previous material back everywhere, so it never escapes the SIGHUP handler as a crash.
   */
  reload(): string | null {
    let fresh: TlsMaterial;
    try {
      fresh = readTlsFiles(this.files, this.where, this.sighupReach);
    } catch (error) {
      return (error as Error).message;
    }
    const previous = this.material;
    // Set first: a listener may read `current` rather than what it is given.
    this.material = fresh;
    try {
      for (const listener of this.listeners) listener(fresh);
    } catch (error) {
      this.material = previous;
      for (const listener of this.listeners) {
        try {
          listener(previous);
        } catch {
          // The previous material was in use a moment ago; nothing better to put back.
        }
      }
      const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
      return `${this.where}: the new certificates were refused by TLS (${code})`;
    }
    return null;
  }

  /** Stops taking part in reloads (the owner closed). */
  dispose(): void {
    reloadables.delete(this);
  }
}

const reloadables = new Set<ReloadableTls>();

/** The warnings of every `tls` block's current material (tlsMaterialWarnings). */
export function allTlsWarnings(): string[] {
  return [...reloadables].flatMap((tls) => tlsMaterialWarnings(tls.current));
}

/** SIGHUP: every `tls` block of the process reads its files again. Returns the problems. */
export function reloadAllTls(): string[] {
  const problems: string[] = [];
  for (const tls of reloadables) {
    const problem = tls.reload();
    if (problem) problems.push(problem);
  }
  return problems;
}

/** The `tls` block as the configuration compiler reads it: null when none is configured. */
export function tlsFilesOrNull(files: TlsFiles): TlsFiles | null {
  return files.cert ||
    files.key ||
    files.ca.length > 0 ||
    (files.clientCa?.length ?? 0) > 0 ||
    (files.clientCerts?.length ?? 0) > 0 ||
    (files.crl?.length ?? 0) > 0 ||
    files.ciphers
    ? files
    : null;
}

/**
 * Whether a connection's client certificate is one of the pinned ones: "" when it is (or when
 * none are pinned), else the refusal's reason. A CA admits every certificate it issued, so any
 * host holding one could claim any X-Road client; pinning admits the security server alone.
 */
export function pinnedCertificateRefusal(
  material: TlsMaterial,
  peer: X509Certificate | undefined,
): "" | "unlisted_certificate" {
  const pinned = material.clientFingerprints;
  if (!pinned) return "";
  return peer && pinned.has(peer.fingerprint256) ? "" : "unlisted_certificate";
}

/**
 * The revocation lists' module, loaded only for a block that names `crl` files: its parser of
 * certificates and lists (@peculiar/asn1-*) is a start's cost every other process would pay.
 */
function revocationLists(): typeof import("./revocation-lists") {
  return require("./revocation-lists") as typeof import("./revocation-lists");
}
