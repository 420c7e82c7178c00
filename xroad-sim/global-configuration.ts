// What the consumer's security server reads from X-Road's global configuration before it
// sends a call on: which security server serves the provider, and whether the security server
// a caller names is that one. The simulator is the only security server, so global
// configuration is the list of providers it serves and its own identity.

import { IDENTIFIER_PART } from "./sim-options";
import { XroadError } from "./xroad-errors";

export interface GlobalConfiguration {
  /** Providers (`INSTANCE/CLASS/MEMBER[/SUBSYSTEM]`) served here; null: every one. */
  members: Set<string> | null;
}

/** Checks the `members` option; returns the problems instead when there are any. */
export function compileGlobalConfiguration(
  members: string[] | undefined,
): GlobalConfiguration | string[] {
  if (members === undefined) return { members: null };
  if (!Array.isArray(members))
    return ["members must be a list of INSTANCE/CLASS/MEMBER[/SUBSYSTEM]"];
  const problems = members
    .filter((id) => !isClientId(id))
    .map((id) => `members: "${id}" is not INSTANCE/CLASS/MEMBER[/SUBSYSTEM]`);
  return problems.length > 0 ? problems : { members: new Set(members) };
}

const isClientId = (id: unknown): boolean => {
  if (typeof id !== "string") return false;
  const parts = id.split("/");
  return parts.length >= 3 && parts.length <= 4 && parts.every((p) => IDENTIFIER_PART.test(p));
};

/**
 * Refuses a call to a provider global configuration does not have, as X-Road's client proxy
 * does before it sends anything on (AbstractClientMessageProcessor.hostNamesByProvider): no
 * security server address is known for it. `providers` are the ids the call may name (a REST
 * path's subsystem or member, as the simulator reads both); `serviceId` is the id it named.
 */
export function requireProviderAddress(
  conf: GlobalConfiguration,
  providers: string[],
  serviceId: string,
): void {
  if (conf.members === null || providers.some((p) => conf.members?.has(p))) return;
  throw new XroadError(
    "Server.ClientProxy.UnknownMember",
    `Could not find addresses for service provider "SERVICE:${serviceId}"`,
  );
}
