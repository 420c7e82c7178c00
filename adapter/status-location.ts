// Where a caller finds a message's status (or its hub listener): through X-Road when the call
// came through a security server, since a consumer reaches Sluice only as
// `/r1/<provider subsystem>/<serviceCode>/<path>` (CONTRACT §8, PR-REST §4.1).

/**
 * The provider subsystem (or member) of an `X-Road-Service` value
 * (`INSTANCE/CLASS/MEMBER[/SUBSYSTEM]/SERVICECODE[/VERSION]`) whose service code is `serviceCode`,
 * or null when the header is absent or names another service.
 */
export function providerOf(xroadService: string | undefined, serviceCode: string): string[] | null {
  if (!xroadService) return null;
  const parts = xroadService.trim().split("/");
  // The service code is last, or second to last when a version follows it.
  for (const at of [parts.length - 1, parts.length - 2]) {
    if (at >= 3 && parts[at] === serviceCode) return parts.slice(0, at);
  }
  return null;
}

/**
 * The path of a status resource as the caller reaches it: `/r1/<provider>/<statusService>/<rest>`
 * when the request came through a security server, else the direct path.
 */
export function reachablePath(
  xroadService: string | undefined,
  serviceCode: string,
  statusService: string,
  rest: string,
  direct: string,
): string {
  const provider = providerOf(xroadService, serviceCode);
  if (!provider) return direct;
  const encoded = [...provider, statusService].map((part) => encodeURIComponent(part)).join("/");
  return `/r1/${encoded}/${rest}`;
}

/** `Location`/`statusUrl` of an accepted message. */
export function statusLocation(
  xroadService: string | undefined,
  serviceCode: string,
  statusService: string,
  id: string,
): string {
  return reachablePath(xroadService, serviceCode, statusService, id, `/messages/${id}`);
}
