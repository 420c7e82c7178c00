// What the consumer's security server reads from X-Road's global configuration before it
// sends a call on: which security server serves the provider, and whether the security server
// a caller names is that one. The simulator is the only security server, so global
// configuration is the list of providers it serves and its own identity.

import { IDENTIFIER_PART, isClientId } from "./sim-options";
import { XroadError } from "./xroad-errors";

export interface GlobalConfiguration {
  /** Providers (`INSTANCE/CLASS/MEMBER[/SUBSYSTEM]`) served here; null: every one. */
  members: Set<string> | null;
  /** This security server's id (`INSTANCE/CLASS/MEMBER/SERVERCODE`); null: not checked. */
  securityServer: string | null;
}

/** Checks `members` and `securityServer`; returns the problems instead when there are any. */
export function compileGlobalConfiguration(
  members: string[] | undefined,
  securityServer: string | undefined,
): GlobalConfiguration | string[] {
  const problems: string[] = [];
  if (members !== undefined && !Array.isArray(members)) {
    problems.push("members must be a list of INSTANCE/CLASS/MEMBER[/SUBSYSTEM]");
  } else {
    for (const id of members ?? []) {
      if (!isClientId(id))
        problems.push(`members: "${id}" is not INSTANCE/CLASS/MEMBER[/SUBSYSTEM]`);
    }
  }
  if (securityServer !== undefined && !isServerId(securityServer)) {
    problems.push(`securityServer "${securityServer}" is not INSTANCE/CLASS/MEMBER/SERVERCODE`);
  }
  if (problems.length > 0) return problems;
  return {
    members: members === undefined ? null : new Set(members),
    securityServer: securityServer ?? null,
  };
}

/** INSTANCE/CLASS/MEMBER/SERVERCODE of PR-REST §4.8's characters. */
function isServerId(id: unknown): boolean {
  if (typeof id !== "string") return false;
  const parts = id.split("/");
  return parts.length === 4 && parts.every((p) => IDENTIFIER_PART.test(p));
}

/**
 * Refuses a call to a provider global configuration does not have, as X-Road's client proxy
 * does before it sends anything on (AbstractClientMessageProcessor.getServiceAddresses in 7.4, hostNamesByProvider since): no
 * security server address is known for it. The provider is looked up as it is
 * (GlobalConfImpl.getProviderAddress: SharedParameters' addresses by ClientId), so a subsystem
 * must be listed itself: its member listed serves only the member's own services. `serviceId`
 * is the id the call named.
 */
export function requireProviderAddress(
  conf: GlobalConfiguration,
  provider: string,
  serviceId: string,
): void {
  if (conf.members === null || conf.members.has(provider)) return;
  throw new XroadError(
    "Server.ClientProxy.UnknownMember",
    `Could not find addresses for service provider "SERVICE:${serviceId}"`,
  );
}

/**
 * Refuses a call that names a security server other than the provider's, as X-Road's client
 * proxy does (AbstractClientMessageProcessor.getServiceAddresses in 7.4), after the provider's
 * addresses are found. Global configuration here knows one security server, this one, so any
 * other is one it cannot find. `named` is the caller's `X-Road-Security-Server` or SOAP
 * `securityServer`, null when it named none (then any of the provider's servers will do).
 */
export function requireSecurityServer(conf: GlobalConfiguration, named: string | null): void {
  if (conf.securityServer === null || named === null || named === conf.securityServer) return;
  throw new XroadError(
    "Server.ClientProxy.InvalidSecurityServer",
    `Could not find security server "SERVER:${named}"`,
  );
}
