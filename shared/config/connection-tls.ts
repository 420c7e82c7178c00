// The TLS of the connections to RabbitMQ (`amqpTls`) and Redis (`redisTls`): the CA to verify
// the server with, and the client certificate a server that requires one (mutual TLS) takes.
// Read at start, so a bad file stops the start with one line naming it, and again on SIGHUP for
// the next connection: the options object handed to amqp-connection-manager and ioredis is the
// one they read at every reconnect, so it is changed in place. Connections that are up keep the
// certificate they were made with: closing them would interrupt the work they carry.

import type { SluiceConfig } from "./config";
import { CLIENT_CIPHERS, readTlsFiles, ReloadableTls, type TlsMaterial } from "./tls-files";

/** What `tls.connect` is given: only what the block names, so Node's CAs stay without `ca`. */
export interface ConnectionTlsOptions {
  ca?: Buffer[];
  crl?: Buffer[];
  cert?: Buffer;
  key?: Buffer;
  /** The block's `ciphers`, else CLIENT_CIPHERS: always set, so Node's weaker list never applies. */
  ciphers?: string;
}

export interface ConnectionTls {
  amqp: ConnectionTlsOptions | null;
  redis: ConnectionTlsOptions | null;
}

/**
 * Every key of ConnectionTlsOptions: what is replaced on SIGHUP and what amqplib is handed at a
 * connect. One list, so a key added to the options cannot reach one of them and not the other
 * (`crl` once reached ioredis and not amqplib, and a revoked broker was admitted).
 */
export const CONNECTION_TLS_KEYS = ["ca", "crl", "cert", "key", "ciphers"] as const;

/** What SIGHUP does for these blocks, as an expiry's message tells it. */
const SIGHUP_REACH = "next connection";

function options(material: TlsMaterial): ConnectionTlsOptions {
  const result: ConnectionTlsOptions = {};
  if (material.ca) result.ca = material.ca;
  if (material.crl) result.crl = material.crl;
  if (material.cert) result.cert = material.cert;
  if (material.key) result.key = material.key;
  result.ciphers = material.ciphers ?? CLIENT_CIPHERS;
  return result;
}

/**
 * Puts `material` into `target`, the object the clients hold: they copy it at each connect
 * (amqplib's socket options, ioredis's `tls`), so the next connection takes what is here now.
 */
export function replaceConnectionTls(target: ConnectionTlsOptions, material: TlsMaterial): void {
  for (const key of CONNECTION_TLS_KEYS) delete target[key];
  Object.assign(target, options(material));
}

/** Reads and checks both blocks' files; throws a StartupError naming the first bad one. */
export function readConnectionTls(
  config: Pick<SluiceConfig, "amqpTls" | "redisTls">,
): ConnectionTls {
  return {
    amqp: config.amqpTls ? options(readTlsFiles(config.amqpTls, "amqpTls", SIGHUP_REACH)) : null,
    redis: config.redisTls
      ? options(readTlsFiles(config.redisTls, "redisTls", SIGHUP_REACH))
      : null,
  };
}

/** Both blocks, read again on SIGHUP (reloadAllTls) until `dispose`. */
export interface ReloadedConnectionTls extends ConnectionTls {
  dispose(): void;
}

/**
 * Reads and checks both blocks' files as readConnectionTls does, and takes part in SIGHUP's
 * reload: a block whose new files pass the checks is put into the same options objects, one
 * whose files fail keeps the previous material (reloadAllTls names the block and the reason).
 */
export function reloadedConnectionTls(
  config: Pick<SluiceConfig, "amqpTls" | "redisTls">,
): ReloadedConnectionTls {
  const blocks: ReloadableTls[] = [];
  const live = (files: SluiceConfig["amqpTls"], where: string): ConnectionTlsOptions | null => {
    if (!files) return null;
    const block = new ReloadableTls(files, where, SIGHUP_REACH);
    blocks.push(block);
    const target = options(block.current);
    block.onChange((material) => replaceConnectionTls(target, material));
    return target;
  };
  try {
    return {
      amqp: live(config.amqpTls, "amqpTls"),
      redis: live(config.redisTls, "redisTls"),
      dispose: () => blocks.forEach((block) => block.dispose()),
    };
  } catch (error) {
    // The first block read before the second failed: it must not stay among the reloaded ones.
    for (const block of blocks) block.dispose();
    throw error;
  }
}
