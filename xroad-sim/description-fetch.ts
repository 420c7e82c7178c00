// Reads a service description registered for a service (an OpenAPI document or a WSDL) as the
// security server's metaservices do: a plain GET of its URL over the service's TLS settings
// ("Verify TLS certificate" included) and within the service's timeout.

import type { ProviderAnswer, ProviderClient } from "./provider-client";
import type { CompiledService } from "./sim-options";
import { XroadError } from "./xroad-errors";

/** The description server's answer, whatever its status; throws X-Road's error when none came. */
export async function fetchDescription(
  service: CompiledService,
  url: URL,
  provider: ProviderClient,
): Promise<ProviderAnswer> {
  try {
    return await provider.call(service, { method: "GET", url: url.href, headers: [], body: null });
  } catch (error) {
    if (!(error instanceof XroadError)) throw error;
    // The failure is the server proxy's own, not the service's: X-Road reports a refused or
    // unresolvable host as NetworkError and any other I/O failure (TLS included) as IOError,
    // without the `ServiceFailed` of a forwarded call.
    const network = error.type.endsWith(".NetworkError");
    throw new XroadError(
      network ? "Server.ServerProxy.NetworkError" : "Server.ServerProxy.IOError",
      error.message,
    );
  }
}
