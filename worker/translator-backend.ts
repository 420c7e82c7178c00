// What a backend's translator is told about it: the backend's settings, its outbound TLS
// (reloaded on SIGHUP), and for a remote X-Road service the security server and client to use.

import type { BackendConfig, SluiceConfig } from "../shared/config/config";
import { XROAD_TRANSLATORS } from "../shared/config/config";
import { ReloadableTls } from "../shared/config/tls-files";
import type { TranslatorBackend } from "./translators/translator";

/**
 * `withTls: false` leaves the certificates out (`sluice check` creates the translator only to
 * have it judge its options, and does not read TLS files as a running role does).
 */
export function translatorBackend(
  backend: BackendConfig,
  config: SluiceConfig,
  withTls = true,
): TranslatorBackend {
  const ss = config.securityServer;
  if (!XROAD_TRANSLATORS.includes(backend.translator) || ss === null) {
    // A bad certificate or key file stops the start, naming the file (docs/xroad-deployment.md).
    const clientTls =
      backend.tls && withTls
        ? new ReloadableTls(backend.tls, `backends.${backend.name}.tls`)
        : undefined;
    return { ...backend, clientTls };
  }
  // A remote service goes through the security server: its URL and TLS, unless the backend
  // names another security server of its own.
  const tls = backend.tls ?? ss.tls;
  const where = backend.tls ? `backends.${backend.name}.tls` : "securityServer.tls";
  const serviceClients: Record<string, string> = {};
  for (const service of Object.values(config.services)) {
    if (service.backend === backend.name && service.client) {
      serviceClients[service.code] = service.client;
    }
  }
  return {
    ...backend,
    url: backend.url || ss.url,
    clientTls: tls && withTls ? new ReloadableTls(tls, where) : undefined,
    xroad: { service: backend.service ?? "", client: ss.client, serviceClients },
  };
}
