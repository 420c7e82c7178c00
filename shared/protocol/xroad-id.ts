// X-Road identifiers (`INSTANCE/CLASS/MEMBER[/SUBSYSTEM][/SERVICECODE[/VERSION]]`) as they travel
// in REST headers and `/r1/` paths, each part percent-encoded on its own (PR-REST §4.3), and
// as the named fields of a SOAP header or metaservice answer.

/** A client identifier's fields (id:XRoadClientIdentifierType). */
export interface XRoadClientId {
  objectType: "MEMBER" | "SUBSYSTEM";
  xRoadInstance: string;
  memberClass: string;
  memberCode: string;
  subsystemCode?: string;
}

/** A service identifier's fields (id:XRoadServiceIdentifierType). */
export interface XRoadServiceId {
  xRoadInstance: string;
  memberClass: string;
  memberCode: string;
  subsystemCode?: string;
  serviceCode: string;
  serviceVersion?: string;
}

/** The party a caller represents (PR-MESS Annex H): its code, and its class when named. */
export interface RepresentedParty {
  partyClass?: string;
  partyCode: string;
}

/**
 * PR-REST §4.8 / PR-MESS §2.7: what a part of an identifier Sluice is configured with may hold.
 * One rule for `sluice check` and the worker's start, so neither passes what the other refuses.
 * `?` is among the characters §4.8 names, and a part is sent percent-encoded (`%3F`), so it is
 * taken; the characters refused are those no X-Road identifier may hold and that would change
 * how a URL, a Redis key or a log line reads.
 */
export const XROAD_ID_PART = /^[^/\s;:\\%#&]+$/;

/**
 * Unicode format characters (category Cf: the bidirectional overrides and isolates, zero-width
 * spaces and joiners, the byte-order mark, …): invisible, and U+202E shows `EE/GOV/\u202Eevil`
 * as `EE/GOV/live` on the status page and in a terminal. No X-Road identifier part holds one,
 * so a caller's client or service naming one is refused rather than shown as another's.
 */
export const FORMAT_CHARACTER = /\p{Cf}/u;

/** Words for an identifier with a part outside XROAD_ID_PART. */
export const XROAD_ID_PART_PROBLEM =
  "has a part holding one of / ; : \\ % # & or whitespace, which no X-Road identifier part may";

/**
 * An identifier with each part percent-encoded, joined by `/`. A string is split on `/` first;
 * give the parts when one may hold a `/` of its own (it is then sent as `%2F`).
 */
export function encodeXroadId(id: string | readonly string[]): string {
  const parts = typeof id === "string" ? id.split("/") : id;
  return parts.map((part) => encodeURIComponent(part)).join("/");
}

/** The parts of an encoded identifier, each percent-decoded; null when one is malformed. */
export function decodeXroadId(value: string): string[] | null {
  const parts: string[] = [];
  for (const part of value.split("/")) {
    const decoded = decodedPart(part);
    if (decoded === null) return null;
    parts.push(decoded);
  }
  return parts;
}

/**
 * The parts of an identifier, each percent-decoded, a malformed part kept as written: for
 * values read only to compare or pass on, which are never refused for their encoding.
 */
export function decodeXroadIdLeniently(value: string): string[] {
  return value.split("/").map((part) => decodedPart(part) ?? part);
}

function decodedPart(part: string): string | null {
  try {
    return decodeURIComponent(part);
  } catch {
    return null;
  }
}
