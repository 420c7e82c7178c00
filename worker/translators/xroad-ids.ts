// X-Road identifiers of the consumer direction: the remote service a backend names and the
// client Sluice calls it as, checked once when the translator is created.

import {
  decodeXroadIdLeniently,
  XROAD_ID_PART,
  type RepresentedParty,
} from "../../shared/protocol/xroad-id";
import type { RequestMessage, TranslatorBackend, XroadConsumer } from "./translator";

export type { XroadConsumer } from "./translator";

/** A service id split into its parts; `subsystem` and `version` may be absent. */
export interface ServiceId {
  instance: string;
  memberClass: string;
  member: string;
  subsystem?: string;
  code: string;
  version?: string;
}

/** A client id `INSTANCE/CLASS/MEMBER[/SUBSYSTEM]` split into its parts. */
export interface ClientId {
  instance: string;
  memberClass: string;
  member: string;
  subsystem?: string;
}

/** The backend's consumer settings; throws naming the backend when they are missing or bad. */
export function consumerOf(backend: TranslatorBackend): XroadConsumer {
  const consumer = backend.xroad;
  const where = `backend ${backend.name}`;
  if (consumer === undefined) {
    throw new Error(`${where}: this translator needs securityServer (url, client) and service`);
  }
  parseServiceId(consumer.service, `${where}: service`);
  parseClientId(consumer.client, `${where}: securityServer.client`);
  for (const [code, client] of Object.entries(consumer.serviceClients)) {
    parseClientId(client, `${where}: services.${code}.client`);
  }
  return consumer;
}

/** The client Sluice names for this request: its service's own, else the security server's. */
export function xroadClientFor(consumer: XroadConsumer, request: RequestMessage): string {
  return Object.hasOwn(consumer.serviceClients, request.service)
    ? consumer.serviceClients[request.service]
    : consumer.client;
}

/**
 * `INSTANCE/CLASS/MEMBER/SUBSYSTEM/CODE[/VERSION]`. Five parts are a subsystem's service; a
 * sixth is the version (SOAP services only have versions).
 */
export function parseServiceId(id: string, where = "service"): ServiceId {
  const parts = id.split("/");
  if ((parts.length !== 5 && parts.length !== 6) || !parts.every((p) => XROAD_ID_PART.test(p))) {
    throw new Error(
      `${where} "${id}" must be INSTANCE/CLASS/MEMBER/SUBSYSTEM/SERVICECODE[/VERSION]`,
    );
  }
  const [instance, memberClass, member, subsystem, code, version] = parts;
  return { instance, memberClass, member, subsystem, code, ...(version ? { version } : {}) };
}

export function parseClientId(id: string, where = "client"): ClientId {
  const parts = id.split("/");
  if ((parts.length !== 3 && parts.length !== 4) || !parts.every((p) => XROAD_ID_PART.test(p))) {
    throw new Error(`${where} "${id}" must be INSTANCE/CLASS/MEMBER[/SUBSYSTEM]`);
  }
  const [instance, memberClass, member, subsystem] = parts;
  return { instance, memberClass, member, ...(subsystem ? { subsystem } : {}) };
}

export type { RepresentedParty } from "../../shared/protocol/xroad-id";

/**
 * The party the local caller named, as it meant it. A REST caller's `X-Road-Represented-Party`
 * holds percent-encoded parts (PR-REST §4.3); a SOAP caller's fields are text, kept by the
 * adapter as `CLASS/CODE`, and its code may hold a "%" of its own (the adapter refuses a "/"
 * in it; one taken by an earlier release is kept with the code). Read the one way for both, a
 * REST caller's `12%2034` reached a SOAP provider as that code, not `12 34`, and a SOAP caller's
 * code `12/34` a REST provider as a third part.
 */
export function representedPartyOf(request: RequestMessage): RepresentedParty | undefined {
  const value = request.xroadHeaders["x-road-represented-party"];
  if (value === undefined || value === "") return undefined;
  let parts: string[];
  if (request.protocol === "soap") {
    const slash = value.indexOf("/");
    parts = slash < 0 ? [value] : [value.slice(0, slash), value.slice(slash + 1)];
  } else {
    parts = decodeXroadIdLeniently(value);
  }
  return parts.length === 1
    ? { partyCode: parts[0] }
    : { partyClass: parts[0], partyCode: parts.slice(1).join("/") };
}
