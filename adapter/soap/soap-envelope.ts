// Reads an X-Road SOAP 4.0 request: a SOAP 1.1 envelope whose X-Road headers are checked and
// kept verbatim for the echo, and whose single Body element is kept as XML and as JSON.

import type { RequestMessage, SoapHeaderField } from "../../shared/protocol/envelope";
import { SluiceError, type ErrorCode } from "../../shared/protocol/errors";
import {
  FORMAT_CHARACTER,
  type RepresentedParty,
  type XRoadClientId,
  type XRoadServiceId,
} from "../../shared/protocol/xroad-id";
import {
  childElements,
  DEFAULT_XML_LIMITS,
  directText,
  hasChildElements,
  hasSignificantText,
  isLayout,
  parseXml,
  type XmlElement,
  type XmlLimits,
} from "./safe-xml";
import { demandsUnderstanding } from "./must-understand";
import { elementToJson, type JsonValue } from "./xml-json";
import { registerKnownNamespaces } from "./xml-reader";
import {
  IDENTIFIERS_NS,
  REPRESENTATION_NS,
  XROAD_NS,
} from "../../shared/protocol/xroad-namespaces";

export { IDENTIFIERS_NS, REPRESENTATION_NS, XROAD_NS };

export const SOAP11_NS = "http://schemas.xmlsoap.org/soap/envelope/";
export const SOAP12_NS = "http://www.w3.org/2003/05/soap-envelope";
export const XROAD_PROTOCOL_VERSION = "4.0";

/**
 * A protocolVersion of major version 4: PR-MESS §2.2 has versions of one major version
 * compatible, and X-Road's security server takes any value that starts with "4." (its
 * ProtocolVersion check). A "4.1" it passed on was refused here.
 */
export function isProtocolVersion4(version: string): boolean {
  return version.startsWith("4.");
}

registerKnownNamespaces([SOAP11_NS, SOAP12_NS, XROAD_NS, IDENTIFIERS_NS, REPRESENTATION_NS]);

/** A checked X-Road SOAP request, everything the adapter and the answer need. */
export interface SoapRequest {
  /** Prefix the caller used for the SOAP envelope namespace (may be ""). */
  envelopePrefix: string;
  /** Namespace declarations of the Envelope start tag, re-declared on the answer. */
  envelopeDeclarations: ReadonlyArray<readonly [prefix: string, uri: string]>;
  /** The exact XML of the Header element, echoed byte for byte in the answer. */
  headerXml: string;
  /** Every header field in order, each as its exact XML. */
  headers: SoapHeaderField[];
  client: XRoadClientId;
  /** `INSTANCE/CLASS/MEMBER[/SUBSYSTEM]`. */
  clientId: string;
  service: XRoadServiceId;
  serviceCode: string;
  /** The caller's X-Road message id (`id` header). */
  xroadId: string;
  userId: string | null;
  issue: string | null;
  representedParty: RepresentedParty | null;
  protocolVersion: string;
  /** The single Body element: local name, namespace, the prefix used, exact XML, JSON form. */
  bodyLocalName: string;
  bodyNamespace: string | null;
  bodyPrefix: string;
  bodyXml: string;
  bodyJson: JsonValue;
  /** Every Include element with an `href` in the Body (none: one shared empty list). */
  xopIncludes: XopInclude[];
}

/** An element named Include with an `href` attribute, as XOP (MTOM) uses it to name a part. */
export interface XopInclude {
  namespace: string | null;
  /** The href as the reader decoded it (entity and character references replaced). */
  href: string;
}

export const XOP_NS = "http://www.w3.org/2004/08/xop/include";
const NO_XOP_INCLUDES: XopInclude[] = Object.freeze([]) as unknown as XopInclude[];

/** The part of a SoapRequest that travels with the request message (`RequestMessage.soap`). */
export type SoapMessageParts = NonNullable<RequestMessage["soap"]> & {
  envelopeDeclarations: ReadonlyArray<readonly [prefix: string, uri: string]>;
};

function fault(code: ErrorCode, message: string): SluiceError {
  return new SluiceError(code, message);
}

/**
 * A fault found once the X-Road header fields were read (a missing, empty or mismatched Body):
 * it carries what its answer needs to echo them, as every answer to a readable envelope does.
 */
export class EnvelopeFault extends SluiceError {
  constructor(
    code: ErrorCode,
    message: string,
    readonly echo: Pick<
      SoapRequest,
      "envelopePrefix" | "envelopeDeclarations" | "headerXml" | "headers" | "bodyNamespace"
    >,
  ) {
    super(code, message);
  }
}

const XROAD_SINGLE_FIELDS = ["client", "service", "id", "protocolVersion", "userId", "issue"];
const REQUIRED_FIELDS = ["client", "service", "id", "protocolVersion"] as const;

/**
 * Parses and checks an X-Road SOAP 4.0 request envelope (already decoded to text). Throws a
 * SluiceError with the error code (docs/soap.md) of the first problem found (Client side).
 */
export function parseSoapEnvelope(
  text: string,
  limits: XmlLimits = DEFAULT_XML_LIMITS,
): SoapRequest {
  if (isLayout(text))
    throw fault("InvalidSoap", "the request is empty, a SOAP envelope is expected");
  const envelope = parseXml(text, limits);
  if (envelope.local !== "Envelope" || envelope.namespace !== SOAP11_NS) {
    if (envelope.local === "Envelope" && envelope.namespace === SOAP12_NS) {
      throw fault("InvalidSoap", "SOAP 1.2 is not supported: X-Road uses SOAP 1.1");
    }
    throw fault(
      "InvalidSoap",
      `the document is not a SOAP 1.1 envelope (root element {${envelope.namespace ?? ""}}${envelope.local})`,
    );
  }
  if (hasSignificantText(envelope)) throw fault("InvalidSoap", "the Envelope holds stray text");

  let header: XmlElement | undefined;
  let body: XmlElement | undefined;
  for (const child of childElements(envelope)) {
    const isSoap = child.namespace === SOAP11_NS;
    if (isSoap && child.local === "Header" && header === undefined && body === undefined) {
      header = child;
    } else if (isSoap && child.local === "Body" && body === undefined) {
      body = child;
    } else {
      throw fault(
        "InvalidSoap",
        `unexpected element ${child.qname} in the Envelope (expected one Header, then one Body)`,
      );
    }
  }
  if (header === undefined)
    throw fault("MissingHeader", "the SOAP Header with the X-Road headers is missing");

  const fields = readHeaderFields(text, header);
  const echo = {
    envelopePrefix: envelope.prefix,
    envelopeDeclarations: envelope.declarations,
    headerXml: text.slice(header.start, header.end),
    headers: fields.headers,
    bodyNamespace: null,
  };
  const echoed = (code: ErrorCode, message: string) => new EnvelopeFault(code, message, echo);
  if (body === undefined) throw echoed("MissingBody", "the SOAP Body is missing");
  const bodyElements = childElements(body);
  if (hasSignificantText(body))
    throw echoed("InvalidBody", "the SOAP Body holds text outside its element");
  if (bodyElements.length !== 1) {
    throw echoed(
      "InvalidBody",
      bodyElements.length === 0
        ? "the SOAP Body is empty; it must hold exactly one element"
        : `the SOAP Body holds ${bodyElements.length} elements; it must hold exactly one`,
    );
  }
  const bodyElement = bodyElements[0];
  if (bodyElement.local !== fields.service.serviceCode) {
    throw echoed(
      "InconsistentHeaders",
      `the Body element "${bodyElement.local}" does not match the service code "${fields.service.serviceCode}"`,
    );
  }

  // Every field named (no spread of `echo`): V8 builds a literal of fixed shape at once, where
  // a spread followed by fifteen more properties took a third of this function's time.
  return {
    envelopePrefix: echo.envelopePrefix,
    envelopeDeclarations: echo.envelopeDeclarations,
    headerXml: echo.headerXml,
    headers: echo.headers,
    bodyNamespace: bodyElement.namespace,
    client: fields.client,
    clientId: clientIdString(fields.client),
    service: fields.service,
    serviceCode: fields.service.serviceCode,
    xroadId: fields.id,
    userId: fields.userId,
    issue: fields.issue,
    representedParty: fields.representedParty,
    protocolVersion: fields.protocolVersion,
    bodyLocalName: bodyElement.local,
    bodyPrefix: bodyElement.prefix,
    bodyXml: text.slice(bodyElement.start, bodyElement.end),
    bodyJson: elementToJson(bodyElement),
    xopIncludes: xopIncludesOf(text, bodyElement),
  };
}

/**
 * The Include elements with an `href` in the Body element, any namespace, found in the tree
 * (entities decoded, whatever the attribute order or the other attributes' values hold). Only
 * a Body whose text holds "Include" is walked.
 */
function xopIncludesOf(text: string, body: XmlElement): XopInclude[] {
  const at = text.indexOf("Include", body.start);
  if (at === -1 || at >= body.end) return NO_XOP_INCLUDES;
  const found: XopInclude[] = [];
  const visit = (element: XmlElement): void => {
    if (element.local === "Include") {
      const href = element.attributes.find((a) => a.local === "href" && a.namespace === null);
      if (href) found.push({ namespace: element.namespace, href: href.value });
    }
    for (const child of element.children) if (child.kind === "element") visit(child);
  };
  visit(body);
  return found.length === 0 ? NO_XOP_INCLUDES : found;
}

interface HeaderFields {
  headers: SoapHeaderField[];
  client: XRoadClientId;
  service: XRoadServiceId;
  id: string;
  protocolVersion: string;
  userId: string | null;
  issue: string | null;
  representedParty: RepresentedParty | null;
}

/** The X-Road header fields by name, each element at most once. */
interface KnownFields {
  client?: XmlElement;
  service?: XmlElement;
  id?: XmlElement;
  protocolVersion?: XmlElement;
  userId?: XmlElement;
  issue?: XmlElement;
  representedParty?: XmlElement;
}

function readHeaderFields(text: string, header: XmlElement): HeaderFields {
  const headers: SoapHeaderField[] = [];
  // Named fields, not a Map: the set is fixed, and a Map per request cost more than reading.
  const known: KnownFields = {};
  for (const child of header.children) {
    if (child.kind !== "element") continue;
    const element = child;
    headers.push({
      name: element.local,
      namespace: element.namespace ?? "",
      xml: text.slice(element.start, element.end),
    });
    const isXRoad = element.namespace === XROAD_NS && XROAD_SINGLE_FIELDS.includes(element.local);
    const isParty = element.namespace === REPRESENTATION_NS && element.local === "representedParty";
    if (!isXRoad && !isParty) {
      // requestHash is X-Road's to ignore (PR-MESS §2.2: the provider's security server replaces it).
      const ignorable = element.namespace === XROAD_NS && element.local === "requestHash";
      if (!ignorable && demandsUnderstanding(element)) {
        throw fault(
          "InvalidSoap",
          `the header entry {${element.namespace ?? ""}}${element.local} has mustUnderstand="1" and Sluice does not process it`,
        );
      }
      continue;
    }
    const name = element.local as keyof KnownFields;
    if (known[name] !== undefined) {
      throw fault(
        "DuplicateHeaderField",
        `the X-Road header field "${element.local}" appears more than once`,
      );
    }
    known[name] = element;
  }
  for (const name of REQUIRED_FIELDS) {
    if (known[name] === undefined)
      throw fault("MissingHeaderField", `the X-Road header field "${name}" is missing`);
  }
  const protocolVersion = simpleText(known.protocolVersion as XmlElement);
  if (!isProtocolVersion4(protocolVersion)) {
    throw fault(
      "InvalidProtocolVersion",
      `X-Road protocol version "${protocolVersion.slice(0, 40)}" is not supported; expected "${XROAD_PROTOCOL_VERSION}" or another 4.x`,
    );
  }
  // The whitespace around a field's text is the writer's layout (a pretty-printed header), not
  // part of the value, as around a REST caller's X-Road-Id or X-Road-UserId header: the id that
  // keys duplicates is the same either way, and a line break there is no control character in it.
  const id = simpleText(known.id as XmlElement).trim();
  if (id === "") throw fault("MissingHeaderField", `the X-Road header field "id" is empty`);
  const { userId, issue, representedParty: party } = known;
  return {
    headers,
    client: readClient(known.client as XmlElement),
    service: readService(known.service as XmlElement),
    id,
    protocolVersion,
    userId: userId
      ? headerValue(simpleText(userId).trim(), 'the X-Road header field "userId"')
      : null,
    issue: issue ? headerValue(simpleText(issue).trim(), 'the X-Road header field "issue"') : null,
    representedParty: party ? readRepresentedParty(party) : null,
  };
}

function simpleText(element: XmlElement): string {
  if (hasChildElements(element)) {
    throw fault("InvalidSoap", `the X-Road header field "${element.local}" must hold text only`);
  }
  return directText(element);
}

// Control characters: C0 (tab and line ends included), DEL and C1.
// eslint-disable-next-line no-control-regex -- finding control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/**
 * Lengths of what travels on as HTTP headers: an identifier part as a REST caller's
 * X-Road-Client or X-Road-Service part may be, and a user id or issue. Together they stay well
 * within the 16 KiB of headers a backend's HTTP server takes: a longer value was acknowledged,
 * then the backend's 400 for its headers made the message "rejected" unread.
 */
const MAX_ID_PART = 255;
const WHITESPACE = /\s/;
const MAX_TEXT_FIELD = 1024;

/**
 * Header field values travel on as HTTP headers (X-Road-Client, X-Road-UserId, ... to a REST
 * backend or a security server), where a line break or other control character cannot go: such
 * a value is refused here, not accepted and then dead-lettered as untranslatable in the worker.
 */
function headerValue(value: string, what: string, maxLength = MAX_TEXT_FIELD): string {
  if (CONTROL.test(value)) {
    throw fault("InvalidSoap", `${what} holds a line break or another control character`);
  }
  if (value.length > maxLength) {
    throw fault("InvalidSoap", `${what} is longer than ${maxLength} characters`);
  }
  return value;
}

/** Child values of a header field, by local name (own keys only: "toString" is data here). */
type Parts = Record<string, string>;

/** Child values in one namespace, by local name; each name at most once. */
function parts(element: XmlElement, namespace: string, field: string): Parts {
  // A plain object, not a Map: two or three per request, and a Map cost more than its reading.
  const values: Parts = {};
  for (const child of element.children) {
    if (child.kind !== "element" || child.namespace !== namespace) continue;
    if (Object.hasOwn(values, child.local)) {
      throw fault(
        "InvalidSoap",
        `"${child.local}" appears more than once in the "${field}" header`,
      );
    }
    const value = simpleText(child).trim();
    // The description is written only for a refusal: it is a string per field otherwise.
    if (value.length > MAX_ID_PART || CONTROL.test(value)) {
      headerValue(value, `"${child.local}" in the "${field}" header`, MAX_ID_PART);
    }
    // An identifier part holds no space (PR-MESS §2.7 lists the characters it may hold), as a
    // REST caller's X-Road-Client part may not: one client is one id whichever way it calls.
    if (namespace === IDENTIFIERS_NS && WHITESPACE.test(value)) {
      throw fault("InvalidSoap", `"${child.local}" in the "${field}" header holds a space`);
    }
    // Nor an invisible format character, which shows the id as another one (FORMAT_CHARACTER).
    if (namespace === IDENTIFIERS_NS && FORMAT_CHARACTER.test(value)) {
      throw fault(
        "InvalidSoap",
        `"${child.local}" in the "${field}" header holds an invisible format character`,
      );
    }
    values[child.local] = value;
  }
  return values;
}

function required(values: Parts, name: string, field: string): string {
  const value = Object.hasOwn(values, name) ? values[name] : undefined;
  if (value === undefined || value === "") {
    throw fault("MissingHeaderField", `the "${field}" header lacks ${name}`);
  }
  if (value.includes("/"))
    throw fault("InvalidSoap", `${name} in the "${field}" header must not contain "/"`);
  return value;
}

function optional(values: Parts, name: string, field: string): string | undefined {
  return Object.hasOwn(values, name) ? required(values, name, field) : undefined;
}

function objectTypeOf(element: XmlElement): string | undefined {
  const attribute = element.attributes.find(
    (a) => a.local === "objectType" && (a.namespace === IDENTIFIERS_NS || a.namespace === null),
  );
  return attribute?.value.trim();
}

function readClient(element: XmlElement): XRoadClientId {
  const objectType = objectTypeOf(element);
  if (objectType !== "MEMBER" && objectType !== "SUBSYSTEM") {
    throw fault("InvalidSoap", `the "client" header must have id:objectType MEMBER or SUBSYSTEM`);
  }
  const values = parts(element, IDENTIFIERS_NS, "client");
  const client: XRoadClientId = {
    objectType,
    xRoadInstance: required(values, "xRoadInstance", "client"),
    memberClass: required(values, "memberClass", "client"),
    memberCode: required(values, "memberCode", "client"),
  };
  if (objectType === "SUBSYSTEM")
    client.subsystemCode = required(values, "subsystemCode", "client");
  else if (Object.hasOwn(values, "subsystemCode")) {
    throw fault("InvalidSoap", `a MEMBER "client" header must not have a subsystemCode`);
  }
  return client;
}

function readService(element: XmlElement): XRoadServiceId {
  if (objectTypeOf(element) !== "SERVICE") {
    throw fault("InvalidSoap", `the "service" header must have id:objectType SERVICE`);
  }
  const values = parts(element, IDENTIFIERS_NS, "service");
  const service: XRoadServiceId = {
    xRoadInstance: required(values, "xRoadInstance", "service"),
    memberClass: required(values, "memberClass", "service"),
    memberCode: required(values, "memberCode", "service"),
    serviceCode: required(values, "serviceCode", "service"),
  };
  const subsystemCode = optional(values, "subsystemCode", "service");
  if (subsystemCode !== undefined) service.subsystemCode = subsystemCode;
  const serviceVersion = optional(values, "serviceVersion", "service");
  if (serviceVersion !== undefined) service.serviceVersion = serviceVersion;
  return service;
}

function readRepresentedParty(element: XmlElement): RepresentedParty {
  const values = parts(element, REPRESENTATION_NS, "representedParty");
  const party: RepresentedParty = { partyCode: required(values, "partyCode", "representedParty") };
  const partyClass = optional(values, "partyClass", "representedParty");
  if (partyClass !== undefined) party.partyClass = partyClass;
  return party;
}

/** `INSTANCE/CLASS/MEMBER[/SUBSYSTEM]`, the form X-Road REST uses in `X-Road-Client`. */
export function clientIdString(client: XRoadClientId): string {
  const base = `${client.xRoadInstance}/${client.memberClass}/${client.memberCode}`;
  return client.subsystemCode === undefined ? base : `${base}/${client.subsystemCode}`;
}

/** `INSTANCE/CLASS/MEMBER[/SUBSYSTEM]/SERVICE[/VERSION]`, the form of `X-Road-Service`. */
export function serviceIdString(service: XRoadServiceId): string {
  // Concatenated, not an array joined: this runs for every SOAP request.
  let id = `${service.xRoadInstance}/${service.memberClass}/${service.memberCode}`;
  if (service.subsystemCode !== undefined) id += `/${service.subsystemCode}`;
  id += `/${service.serviceCode}`;
  if (service.serviceVersion !== undefined) id += `/${service.serviceVersion}`;
  return id;
}

/**
 * The SOAP part of a RequestMessage: what a translator needs to send the call on (each header
 * field's XML, the Body element's XML and namespace, the Envelope's declarations those rely
 * on). The answer is built by the adapter that holds the request, so the Header's own text and
 * the Body's prefix, which only the echo needs, stay out of the message: the Header's text was
 * its fields a second time over.
 */
export function soapMessageOf(request: SoapRequest, mtom = false): SoapMessageParts {
  const parts: SoapMessageParts = {
    headers: request.headers,
    bodyNamespace: request.bodyNamespace,
    bodyXml: request.bodyXml,
    envelopePrefix: request.envelopePrefix,
    envelopeDeclarations: request.envelopeDeclarations,
  };
  if (mtom) parts.mtom = true;
  return parts;
}

/** X-Road-* headers equivalent to the SOAP headers, as REST requests carry them. */
export function xroadHeadersOf(request: SoapRequest): Record<string, string> {
  const headers: Record<string, string> = {
    "x-road-client": request.clientId,
    "x-road-service": serviceIdString(request.service),
    "x-road-id": request.xroadId,
  };
  if (request.userId !== null) headers["x-road-userid"] = request.userId;
  if (request.issue !== null) headers["x-road-issue"] = request.issue;
  if (request.representedParty !== null) {
    const { partyClass, partyCode } = request.representedParty;
    headers["x-road-represented-party"] =
      partyClass === undefined ? partyCode : `${partyClass}/${partyCode}`;
  }
  return headers;
}
