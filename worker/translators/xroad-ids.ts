// X-Road identifiers of the consumer direction: the remote service a backend names and the
// client Sluice calls it as, checked once when the translator is created.

import type { RequestMessage, TranslatorBackend, XroadConsumer } from "./translator";

export type { XroadConsumer } from "./translator";

/** PR-REST §4.8 / PR-MESS §2.7: what an identifier part may hold. */
const PART = /^[^/\s;:\\%?#&]+$/;

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
  if ((parts.length !== 5 && parts.length !== 6) || !parts.every((p) => PART.test(p))) {
    throw new Error(
      `${where} "${id}" must be INSTANCE/CLASS/MEMBER/SUBSYSTEM/SERVICECODE[/VERSION]`,
    );
  }
  const [instance, memberClass, member, subsystem, code, version] = parts;
  return { instance, memberClass, member, subsystem, code, ...(version ? { version } : {}) };
}

export function parseClientId(id: string, where = "client"): ClientId {
  const parts = id.split("/");
  if ((parts.length !== 3 && parts.length !== 4) || !parts.every((p) => PART.test(p))) {
    throw new Error(`${where} "${id}" must be INSTANCE/CLASS/MEMBER[/SUBSYSTEM]`);
  }
  const [instance, memberClass, member, subsystem] = parts;
  return { instance, memberClass, member, ...(subsystem ? { subsystem } : {}) };
}
