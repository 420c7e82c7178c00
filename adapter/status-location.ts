// Where a caller finds a message's status (or its hub listener): through X-Road when the call
// came through a security server, since a consumer reaches Sluice only as
// `/r1/<provider subsystem>/<serviceCode>/<path>` (docs/xroad-deployment.md, PR-REST §4.1).

import type { Logger } from "pino";
import { decodeXroadIdLeniently, encodeXroadId } from "../shared/protocol/xroad-id";

/** What a request says about the way it came: its X-Road headers, as received. */
export interface ArrivalHeaders {
  /** `X-Road-Service`: never set by X-Road's security server on a request; a consumer may send one. */
  service?: string;
  /** `X-Road-Request-Id`: set by every security server on the calls it forwards. */
  requestId?: string;
}

/**
 * The provider subsystem (or member) of an `X-Road-Service` value
 * (`INSTANCE/CLASS/MEMBER[/SUBSYSTEM]/SERVICECODE[/VERSION]`) whose service code is `serviceCode`,
 * or null when the header is absent or names another service.
 */
export function providerOf(xroadService: string | undefined, serviceCode: string): string[] | null {
  if (!xroadService) return null;
  // Each part is sent percent-encoded (PR-REST §4.2); it is encoded again, once, in the path.
  const parts = decodeXroadIdLeniently(xroadService.trim());
  // The service code is last, or second to last when a version follows it.
  for (const at of [parts.length - 1, parts.length - 2]) {
    if (at >= 3 && parts[at] === serviceCode) {
      const provider = parts.slice(0, at);
      // Each part is one path segment of `/r1/…`: an empty one, "." or ".." (encoded or not:
      // a URL parser resolves "%2E" too) would make the path name another resource.
      return provider.some(notASegment) ? null : provider;
    }
  }
  return null;
}

function notASegment(part: string): boolean {
  return part === "" || part === "." || part === "..";
}

/**
 * The provider a caller reached: `configured` (`xroad.provider`) when the call came through a
 * security server, else the one an `X-Road-Service` header names. X-Road's security server
 * puts `X-Road-Service` on answers only (PR-REST §4.3); on a request it forwards, one is the
 * consumer's own header passed on unchecked, so the operator's setting comes first.
 */
function reachedProvider(
  arrival: ArrivalHeaders,
  serviceCode: string,
  configured: string | null,
): string[] | null {
  if (configured && arrival.requestId?.trim()) return configured.split("/");
  if (arrival.service) return providerOf(arrival.service, serviceCode);
  return null;
}

/**
 * The path of a status resource as the caller reaches it: `/r1/<provider>/<statusService>/<rest>`
 * when the request came through a security server, else the direct path.
 */
export function reachablePath(
  arrival: ArrivalHeaders,
  serviceCode: string,
  statusService: string,
  rest: string,
  direct: string,
  configured: string | null = null,
): string {
  const provider = reachedProvider(arrival, serviceCode, configured);
  if (!provider) return direct;
  return `/r1/${encodeXroadId([...provider, statusService])}/${rest}`;
}

/** `Location`/`statusUrl` of an accepted message. */
export function statusLocation(
  arrival: ArrivalHeaders,
  serviceCode: string,
  statusService: string,
  id: string,
  configured: string | null = null,
): string {
  return reachablePath(arrival, serviceCode, statusService, id, `/messages/${id}`, configured);
}

/** The arrival headers of a request, through `get`: Koa's `ctx.get`, or a read of Node's header table. */
export function arrivalOf(get: (name: string) => string): ArrivalHeaders {
  // Lower-case names: `get` may read Node's header table as it is (lower-case keys).
  return {
    service: get("x-road-service") || undefined,
    requestId: get("x-road-request-id") || undefined,
  };
}

/**
 * Warns once when a call came through a security server (`X-Road-Request-Id`) while
 * `xroad.provider` is not set: its `Location` is then the direct path, which no caller behind
 * X-Road can reach (a security server never forwards `X-Road-Service` to the provider, so
 * nothing else names the way back). A configuration check cannot tell: without mutual TLS
 * (`adapter.tls.clientCa`), where `sluice check` warns, nothing says a security server calls.
 */
export class UnreachableLocationWarning {
  private warned = false;

  constructor(private readonly log: Logger) {}

  note(arrival: ArrivalHeaders): void {
    if (this.warned || !arrival.requestId?.trim()) return;
    this.warned = true;
    this.log.warn(
      "a call came through a security server (X-Road-Request-Id) while xroad.provider is not set: the Location and statusUrl of its 202 are /messages/<id>, which its caller cannot reach through X-Road; set xroad.provider to this provider's subsystem (docs/xroad-deployment.md)",
    );
  }
}
