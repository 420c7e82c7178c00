// The X-Road SOAP 4.0 header Sluice sends as a consumer (PR-MESS §2.2, Annex E), and the check
// that an answer echoes it: field by field, so another message's answer is never taken for ours.

import { XMLParser } from "fast-xml-parser";
import { soapHeader, type HeaderElement } from "./soap-xml";
import type { ClientId, RepresentedParty, ServiceId } from "./xroad-ids";
import {
  IDENTIFIERS_NS,
  REPRESENTATION_NS,
  XROAD_NS,
} from "../../shared/protocol/xroad-namespaces";

export interface XroadSoapHeader {
  client: ClientId;
  service: ServiceId;
  id: string;
  userId?: string;
  issue?: string;
  /** PR-MESS Annex H extension. */
  representedParty?: RepresentedParty;
}

const escapeXml = (text: string): string =>
  text.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);

const field = (name: string, value: string): string => `<${name}>${escapeXml(value)}</${name}>`;

/** The identifier parts of a client or service, in X-Road's order. */
function idFields(id: ClientId | ServiceId): Array<[string, string]> {
  const service = id as Partial<ServiceId>;
  const list: Array<[string, string | undefined]> = [
    ["xRoadInstance", id.instance],
    ["memberClass", id.memberClass],
    ["memberCode", id.member],
    ["subsystemCode", id.subsystem],
    ["serviceCode", service.code],
    ["serviceVersion", service.version],
  ];
  return list.filter((entry): entry is [string, string] => entry[1] !== undefined);
}

function partyOf(party: RepresentedParty): Array<[string, string]> {
  return party.partyClass === undefined
    ? [["partyCode", party.partyCode]]
    : [
        ["partyClass", party.partyClass],
        ["partyCode", party.partyCode],
      ];
}

/** The header fields in the order of PR-MESS Annex E; prefixes `xrd`, `id`, `repr`. */
export function headerFieldsXml(header: XroadSoapHeader): string {
  const objectType = header.client.subsystem === undefined ? "MEMBER" : "SUBSYSTEM";
  const ids = (id: ClientId | ServiceId) =>
    idFields(id)
      .map(([name, value]) => field(`id:${name}`, value))
      .join("");
  let xml =
    `<xrd:client id:objectType="${objectType}">${ids(header.client)}</xrd:client>` +
    `<xrd:service id:objectType="SERVICE">${ids(header.service)}</xrd:service>` +
    field("xrd:id", header.id);
  if (header.userId !== undefined) xml += field("xrd:userId", header.userId);
  if (header.issue !== undefined) xml += field("xrd:issue", header.issue);
  xml += field("xrd:protocolVersion", "4.0");
  if (header.representedParty !== undefined) {
    const parts = partyOf(header.representedParty)
      .map(([name, value]) => field(`repr:${name}`, value))
      .join("");
    xml += `<repr:representedParty xmlns:repr="${REPRESENTATION_NS}">${parts}</repr:representedParty>`;
  }
  return xml;
}

/** A whole X-Road SOAP 1.1 request around `bodyXml` (a self-contained element). */
export function requestEnvelope(header: XroadSoapHeader, bodyXml: string): string {
  return (
    '<?xml version="1.0" encoding="UTF-8"?>' +
    `<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xrd="${XROAD_NS}" xmlns:id="${IDENTIFIERS_NS}">` +
    `<SOAP-ENV:Header>${headerFieldsXml(header)}</SOAP-ENV:Header>` +
    `<SOAP-ENV:Body>${bodyXml}</SOAP-ENV:Body></SOAP-ENV:Envelope>`
  );
}

// The envelope was already scanned (no DOCTYPE, balanced); values are compared as text.
// Attributes are read for the identifiers' `objectType`; a field that has attributes of its
// own (an `xsi:type`, say) is read as `#text` beside them.
const parser = new XMLParser({
  removeNSPrefix: true,
  ignoreAttributes: false,
  attributeNamePrefix: "@_",
  parseAttributeValue: false,
  processEntities: false,
  parseTagValue: false,
  trimValues: true,
});

type Node = Record<string, unknown>;
/** An X-Road header is a few hundred bytes; extensions (a security token) add a few KB. */
export const MAX_HEADER_BYTES = 64 * 1024;
const NAMED: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };

const asNode = (value: unknown): Node | null =>
  typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Node) : null;

function text(field: unknown): string | null {
  const node = asNode(field);
  const value = node === null ? field : (node["#text"] ?? "");
  if (typeof value !== "string") return null;
  return value.replace(/&(?:#x([0-9a-fA-F]+)|#(\d+)|(amp|lt|gt|quot|apos));/g, (m, hex, dec, n) => {
    if (n) return NAMED[n as string];
    const code = hex ? parseInt(hex as string, 16) : Number(dec);
    // Past U+10FFFF fromCodePoint throws, and a remote answer's header failed the message as
    // untranslatable; kept as written, the field is then reported as not echoed.
    return code <= 0x10ffff ? String.fromCodePoint(code) : m;
  });
}

/**
 * The header without the fields of other namespaces: the parser reads names without their
 * prefixes, and an extension's `<ext:id>` was taken for X-Road's `id` (or made it appear
 * twice). X-Road's own parser does not read them as X-Road's either.
 */
function xroadFieldsOf(header: { xml: string; elements: HeaderElement[] }): string {
  let xml = "";
  let from = 0;
  for (const element of header.elements) {
    if (element.depth !== 1 || XROAD_FIELD_NAMESPACES.has(element.namespace ?? "")) continue;
    xml += header.xml.slice(from, element.start);
    from = element.end;
  }
  return from === 0 ? header.xml : xml + header.xml.slice(from);
}

const XROAD_FIELD_NAMESPACES = new Set([XROAD_NS, REPRESENTATION_NS]);

/**
 * An identifier part, or its objectType, of X-Road's client or service (or of the represented
 * party) written in another namespace than PR-MESS Annex C and H give it: not that identifier's
 * part, so the answer does not echo ours. "" when every one is where it belongs.
 */
function misplacedPart(elements: HeaderElement[]): string {
  let parent: HeaderElement | null = null;
  for (const element of elements) {
    if (element.depth === 1) {
      parent = element;
      const expected = PART_NAMESPACES.get(`${element.namespace ?? ""} ${element.local}`);
      const objectType = element.attributes.find((a) => a.local === "objectType");
      if (expected === IDENTIFIERS_NS && objectType && objectType.namespace !== IDENTIFIERS_NS) {
        return `${element.local}/objectType is not in the identifiers namespace (${IDENTIFIERS_NS})`;
      }
      continue;
    }
    const expected =
      parent === null
        ? undefined
        : PART_NAMESPACES.get(`${parent.namespace ?? ""} ${parent.local}`);
    if (expected !== undefined && element.namespace !== expected) {
      const where = element.namespace === null ? "no namespace" : `"${element.namespace}"`;
      return `${parent!.local}/${element.local} is in ${where}, not ${expected}`;
    }
  }
  return "";
}

/** The namespace of the parts of each X-Road header field made of parts. */
const PART_NAMESPACES = new Map([
  [`${XROAD_NS} client`, IDENTIFIERS_NS],
  [`${XROAD_NS} service`, IDENTIFIERS_NS],
  [`${REPRESENTATION_NS} representedParty`, REPRESENTATION_NS],
]);

/** A header field the answer holds though none was sent, named with its text; or "". */
function added(header: Node, name: string): string {
  const got = header[name];
  if (got === undefined) return "";
  return `${name} is "${(text(got) ?? "(not text)").slice(0, 200)}", sent none`;
}

/**
 * What in `envelope` (an answer, from its Envelope on) differs from the header sent: "" when
 * every field sent comes back with the same value (PR-MESS §2.2), else the first difference.
 */
export function echoMismatch(envelope: string, sent: XroadSoapHeader): string {
  let parsed: Node | null;
  try {
    // The header alone: the Body is the remote provider's answer, passed on as it is, and
    // parsing all of it (up to maxResponseBytes) held the worker's event loop for seconds.
    const header = soapHeader(envelope, MAX_HEADER_BYTES, 2);
    const misplaced = header === null ? "" : misplacedPart(header.elements);
    if (misplaced) return misplaced;
    parsed = header === null ? null : (parser.parse(xroadFieldsOf(header)) as Node);
  } catch (error) {
    return `the answer cannot be read (${(error as Error).message.split("\n")[0]})`;
  }
  const header = asNode(parsed?.Header);
  if (header === null) return "the answer has no X-Road header";
  const expect = (where: string, node: Node | null, name: string, value: string): string => {
    const got = node === null ? undefined : node[name];
    if (Array.isArray(got)) return `${where}${name} appears more than once`;
    const actual = text(got);
    if (actual === null) return `${where}${name} is missing (sent "${value}")`;
    // The parser trims what it reads, so what was sent is compared trimmed too: a field sent
    // with spaces around it (a local caller's userId, say) and echoed verbatim is the same.
    return actual === value.trim() ? "" : `${where}${name} is "${actual}", sent "${value}"`;
  };
  // A part the answer adds names another id as much as a part that differs: a member's
  // subsystem, a service's version.
  const unsent = (where: string, node: Node | null, names: string[], id: ClientId | ServiceId) => {
    const have = new Set(idFields(id).map(([name]) => name));
    return names
      .filter((name) => !have.has(name))
      .map((name) => () => {
        const got = node === null ? undefined : node[name];
        if (got === undefined) return "";
        return `${where}${name} is "${text(got) ?? "(not text)"}", sent none`;
      });
  };
  // The kind of identifier is part of it (PR-MESS Annex C): a member is not its subsystem.
  const objectTypeIs = (where: string, node: Node | null, value: string) => () => {
    const got = node?.["@_objectType"];
    if (got === undefined) return `${where}objectType is missing (sent "${value}")`;
    return got === value ? "" : `${where}objectType is "${String(got)}", sent "${value}"`;
  };
  const checks: Array<() => string> = [
    ...idFields(sent.client).map(
      ([name, value]) =>
        () =>
          expect("client/", asNode(header.client), name, value),
    ),
    ...unsent("client/", asNode(header.client), ["subsystemCode"], sent.client),
    ...idFields(sent.service).map(
      ([name, value]) =>
        () =>
          expect("service/", asNode(header.service), name, value),
    ),
    ...unsent(
      "service/",
      asNode(header.service),
      ["subsystemCode", "serviceVersion"],
      sent.service,
    ),
    objectTypeIs(
      "client/",
      asNode(header.client),
      sent.client.subsystem === undefined ? "MEMBER" : "SUBSYSTEM",
    ),
    objectTypeIs("service/", asNode(header.service), "SERVICE"),
    () => expect("", header, "id", sent.id),
    // Not echoed but checked as X-Road's own parser does (PR-MESS §2.2): a provider on a
    // later 4.x release answers with its own version, which its security server passed on.
    () => {
      const got = header.protocolVersion;
      if (Array.isArray(got)) return "protocolVersion appears more than once";
      const version = text(got);
      if (version === null) return 'protocolVersion is missing (sent "4.0")';
      return version.startsWith("4.") ? "" : `protocolVersion is "${version}", not 4.x`;
    },
    // A field the answer adds names another call as much as one that differs: X-Road's own
    // consistency check (SoapUtils.checkConsistency) compares them with none sent too.
    sent.userId !== undefined
      ? () => expect("", header, "userId", sent.userId!)
      : () => added(header, "userId"),
    sent.issue !== undefined
      ? () => expect("", header, "issue", sent.issue!)
      : () => added(header, "issue"),
    ...(sent.representedParty !== undefined
      ? partyOf(sent.representedParty).map(
          ([name, value]) =>
            () =>
              expect("representedParty/", asNode(header.representedParty), name, value),
        )
      : [
          () =>
            header.representedParty === undefined ? "" : "representedParty is present, sent none",
        ]),
  ];
  for (const check of checks) {
    const difference = check();
    if (difference) return difference;
  }
  return "";
}
