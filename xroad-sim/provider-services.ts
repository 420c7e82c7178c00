// The services the security server has registered for one provider, as its metaservices see
// them: each service id split into X-Road's identifier fields, and whether the provider is a
// client of this security server at all.

import type { XRoadServiceId } from "../shared/protocol/xroad-id";
import type { ClientStatus, CompiledService, ServiceType } from "./sim-options";
import { XroadError } from "./xroad-errors";

export interface ServiceIdFields extends XRoadServiceId {
  /** INSTANCE/CLASS/MEMBER[/SUBSYSTEM]. */
  provider: string;
}

/**
 * Splits a registered id. Ids do not say which part is what, so: a REST id is
 * provider/serviceCode; a SOAP id of 4 parts is a member's service, of 5 a subsystem's, of 6
 * a subsystem's with its version (a member's versioned service reads as a subsystem's).
 */
export function serviceIdFields(service: CompiledService): ServiceIdFields {
  const parts = service.id.split("/");
  const versioned = service.type === "soap" && parts.length === 6;
  const code = versioned ? parts.length - 2 : parts.length - 1;
  const [xRoadInstance, memberClass, memberCode] = parts;
  return {
    xRoadInstance,
    memberClass,
    memberCode,
    ...(code === 4 ? { subsystemCode: parts[3] } : {}),
    serviceCode: parts[code],
    ...(versioned ? { serviceVersion: parts[5] } : {}),
    provider: parts.slice(0, code).join("/"),
  };
}

/** The provider's services of one type, in registration order. */
export function servicesOf(
  services: CompiledService[],
  provider: string,
  type: ServiceType,
): CompiledService[] {
  return services.filter((s) => s.type === type && serviceIdFields(s).provider === provider);
}

/** The clients' statuses by id (`clients`), or null when the simulator was given none. */
export type ClientStatuses = ReadonlyMap<string, { status: ClientStatus }> | null;

/**
 * Whether the security server has the provider as a REGISTERED client (ServerConf
 * .getMemberStatus in X-Road 7.4, read by ServerRestMessageProcessor / ServerMessageProcessor
 * .verifyClientStatus for the service's provider before any service is looked up). A provider
 * listed in `clients` is known by its status there, whatever its services; one not listed is
 * known once a service is registered under it, so a `clients` list of consumers alone keeps
 * serving the registered providers.
 */
function isKnownProvider(
  services: CompiledService[],
  provider: string,
  clients: ClientStatuses,
): boolean {
  const listed = clients?.get(provider);
  if (listed) return listed.status === "REGISTERED";
  return services.some((s) => serviceIdFields(s).provider === provider);
}

/** Refuses a call to a provider the security server does not have as a client, as X-Road does. */
export function requireKnownProvider(
  services: CompiledService[],
  provider: string,
  clients: ClientStatuses = null,
): void {
  if (!isKnownProvider(services, provider, clients)) {
    throw new XroadError(
      "Server.ServerProxy.UnknownMember",
      `Client '${clientText(provider)}' not found`,
    );
  }
}

/** The simulator's access rights: per service, every client unless `allowedClients` is set. */
export function mayCall(service: CompiledService, client: string): boolean {
  return !service.allowedClients || service.allowedClients.has(client);
}

/** Client ids the way X-Road's messages print them. */
export const clientText = (id: string): string =>
  `${id.split("/").length === 4 ? "SUBSYSTEM" : "MEMBER"}:${id}`;
