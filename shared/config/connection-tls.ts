// The TLS of the connections to RabbitMQ (`amqpTls`) and Redis (`redisTls`): the CA to verify
// the server with, and the client certificate a server that requires one (mutual TLS) takes.
// Read once at start, so a bad file stops the start with one line naming it; not read again on
// SIGHUP: amqplib and ioredis keep the options they were given for every reconnect.

import type { SluiceConfig } from "./config";
import { readTlsFiles, type TlsMaterial } from "./tls-files";

/** What `tls.connect` is given: only what the block names, so Node's CAs stay without `ca`. */
export interface ConnectionTlsOptions {
  ca?: Buffer[];
  cert?: Buffer;
  key?: Buffer;
}

export interface ConnectionTls {
  amqp: ConnectionTlsOptions | null;
  redis: ConnectionTlsOptions | null;
}

function options(material: TlsMaterial): ConnectionTlsOptions {
  const result: ConnectionTlsOptions = {};
  if (material.ca) result.ca = material.ca;
  if (material.cert) result.cert = material.cert;
  if (material.key) result.key = material.key;
  return result;
}

/** Reads and checks both blocks' files; throws a StartupError naming the first bad one. */
export function readConnectionTls(
  config: Pick<SluiceConfig, "amqpTls" | "redisTls">,
): ConnectionTls {
  return {
    amqp: config.amqpTls ? options(readTlsFiles(config.amqpTls, "amqpTls", false)) : null,
    redis: config.redisTls ? options(readTlsFiles(config.redisTls, "redisTls", false)) : null,
  };
}
