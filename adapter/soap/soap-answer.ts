// Turns a backend's stored answer (XML, SOAP, JSON, text or bytes) into what goes inside the
// `<serviceCode>Response` element, or into the Fault a SOAP backend returned, passed through.
// The caller called the local service, so it gets that service's Response element whatever the
// backend's is named: a remote X-Road service's `<remoteCode>Response` is unwrapped as a local
// backend's `<serviceCode>Response` is.

import { jsonDepthExceeds, MAX_ANSWER_JSON_DEPTH } from "../../shared/protocol/json-depth";
import type { ServiceConfig, SluiceConfig } from "../../shared/config/config";
import type { BackendResponse } from "../../shared/protocol/errors";
import {
  parseContentType,
  parseMultipartRelated,
  type MimePart,
} from "../../shared/protocol/multipart-related";
import { charsetOf, decodeXml } from "../../shared/protocol/xml-encoding";
import {
  childElements,
  DEFAULT_XML_LIMITS,
  parseXml,
  type XmlElement,
  type XmlLimits,
} from "./safe-xml";
import { SOAP11_NS, SOAP12_NS } from "./soap-envelope";
import { quoteInexactNumbers } from "../../shared/protocol/json-numbers";
import { escapeXml, jsonToXml, type JsonValue } from "./xml-json";

export type AnswerContent =
  /**
   * XML to place inside `<serviceCode>Response`; with the backend's attachments (from a
   * multipart/related answer) to send beside it, packed as the backend packed them.
   */
  | { kind: "content"; innerXml: string; attachments?: MimePart[]; mtom?: boolean }
  /** A SOAP 1.1 Fault element of the backend, self-contained, to place in the Body as it is. */
  | { kind: "fault"; faultXml: string };

const XML_TYPE = /^(?:text\/xml|application\/xml|application\/[\w.+-]+\+xml)$/;
const JSON_TYPE = /^(?:application\/json|application\/[\w.+-]+\+json)$/;

const QNAME_VALUE = /^\s*([A-Za-z_][\w.-]*):[A-Za-z_][\w.-]*\s*$/;

/**
 * Prefixes the subtree relies on: in element and attribute names, and in values that are
 * QNames (a faultcode `foo:FOOCODE`, an `xsi:type`). "" stands for the default namespace.
 */
function usedPrefixes(element: XmlElement, used: Set<string>): Set<string> {
  used.add(element.prefix);
  for (const attribute of element.attributes) {
    const colon = attribute.qname.indexOf(":");
    if (colon > 0) used.add(attribute.qname.slice(0, colon));
    const qname = QNAME_VALUE.exec(attribute.value);
    if (qname) used.add(qname[1]);
  }
  for (const child of element.children) {
    if (child.kind === "element") usedPrefixes(child, used);
    else {
      const qname = QNAME_VALUE.exec(child.value);
      if (qname) used.add(qname[1]);
    }
  }
  return used;
}

/**
 * The element's exact XML, with the inherited namespace bindings it uses declared on its
 * start tag, so the slice means the same wherever it is placed.
 */
export function standaloneXml(text: string, element: XmlElement): string {
  const raw = text.slice(element.start, element.end);
  const own = new Set(element.declarations.map(([prefix]) => prefix));
  let added = "";
  for (const prefix of usedPrefixes(element, new Set())) {
    const uri = element.inScope.get(prefix);
    if (prefix === "xml" || own.has(prefix) || uri === undefined || uri === "") continue;
    added += ` ${prefix === "" ? "xmlns" : `xmlns:${prefix}`}="${escapeXml(uri)}"`;
  }
  const nameEnd = 1 + element.qname.length;
  return raw.slice(0, nameEnd) + added + raw.slice(nameEnd);
}

/** The content of an element (text and child elements), each child standalone. */
function innerXml(text: string, element: XmlElement): string {
  return element.children
    .map((child) => (child.kind === "text" ? escapeXml(child.value) : standaloneXml(text, child)))
    .join("");
}

/**
 * A backend's text in the charset it named: the Content-Type's, or for XML its byte-order mark
 * or declaration (RFC 7303, as requests are read). The worker keeps a body in any charset but
 * UTF-8 as its bytes, and reading those as UTF-8 made an ISO-8859-1 "ä" a U+FFFD in the
 * caller's answer. Bytes that do not decode, or a charset no decoder knows, are read as UTF-8
 * as before (XML among them then reaches the caller as escaped text).
 */
function decodedText(bytes: Buffer, contentType: string): string {
  try {
    return decodeXml(bytes, charsetOf(contentType), true);
  } catch {
    return bytes.toString("utf8");
  }
}

/** `answerCode`: the service code the backend answers for, whose `<answerCode>Response` is unwrapped. */
function fromXml(raw: string, answerCode: string, limits: XmlLimits): AnswerContent {
  // Bytes that did not decode were read as UTF-8, a byte-order mark kept: the reader takes none.
  const text = raw.charCodeAt(0) === 0xfeff ? raw.slice(1) : raw;
  let root: XmlElement;
  try {
    root = parseXml(text, limits);
  } catch {
    return { kind: "content", innerXml: escapeXml(text) };
  }
  const isEnvelope =
    root.local === "Envelope" && (root.namespace === SOAP11_NS || root.namespace === SOAP12_NS);
  if (!isEnvelope) return { kind: "content", innerXml: standaloneXml(text, root) };
  const body = childElements(root).find(
    (child) => child.local === "Body" && child.namespace === root.namespace,
  );
  const elements = body ? childElements(body) : [];
  if (elements.length === 1 && elements[0].local === "Fault" && root.namespace === SOAP11_NS) {
    return { kind: "fault", faultXml: standaloneXml(text, elements[0]) };
  }
  if (elements.length === 1 && elements[0].local === `${answerCode}Response`) {
    return { kind: "content", innerXml: innerXml(text, elements[0]) };
  }
  return { kind: "content", innerXml: elements.map((e) => standaloneXml(text, e)).join("") };
}

/**
 * Maps a backend answer for the SOAP caller: a SOAP envelope gives its `<answerCode>Response`
 * content (or its other Body elements whole) and a SOAP 1.1 Fault passes through; other XML is
 * embedded whole; JSON becomes XML by the mapping of xml-json.ts; text is escaped; anything
 * else travels as base64 text. `answerCode` is the code the backend was called with: the
 * remote service's for a remote X-Road service (`remoteServiceCode`), else the local one.
 * XML is read with `limits`, the adapter's `adapter.xml` ones: the answer is parsed in the
 * adapter, as requests are; XML over them reaches the caller as escaped text.
 */
export function answerContent(
  response: BackendResponse,
  answerCode: string,
  limits: XmlLimits = DEFAULT_XML_LIMITS,
): AnswerContent {
  const bytes = Buffer.from(response.body, response.bodyEncoding === "base64" ? "base64" : "utf8");
  const type = parseContentType(response.contentType || "application/octet-stream").type;
  if (bytes.length === 0) return { kind: "content", innerXml: "" };
  if (type === "multipart/related") {
    return fromMultipart(bytes, response.contentType, answerCode, limits);
  }
  if (XML_TYPE.test(type)) {
    return fromXml(decodedText(bytes, response.contentType), answerCode, limits);
  }
  if (JSON_TYPE.test(type)) {
    const json = bytes.toString("utf8");
    // Parsing JSON nested millions deep takes seconds (and xml-json recurses): kept as text.
    if (jsonDepthExceeds(json, MAX_ANSWER_JSON_DEPTH)) {
      return { kind: "content", innerXml: escapeXml(json) };
    }
    try {
      // Parsed as sent first: quoting makes a run JSON refuses (1.2.3.4.5.6.7.8.9, a leading
      // 0) a string, and the broken answer would pass for elements where it is text.
      const parsed = JSON.parse(json) as JsonValue;
      const quoted = quoteInexactNumbers(json);
      return {
        kind: "content",
        // A number a double does not hold is read as its text, which is all XML carries:
        // parsed as a number, 12345678901234567890 reached the caller as 12345678901234567000.
        innerXml: jsonToXml(quoted === json ? parsed : (JSON.parse(quoted) as JsonValue)),
      };
    } catch {
      return { kind: "content", innerXml: escapeXml(json) };
    }
  }
  if (type.startsWith("text/"))
    return { kind: "content", innerXml: escapeXml(decodedText(bytes, response.contentType)) };
  return { kind: "content", innerXml: bytes.toString("base64") };
}

/** A SOAP answer with attachments: the root envelope mapped as any, the parts kept beside it. */
function fromMultipart(
  bytes: Buffer,
  contentType: string,
  answerCode: string,
  limits: XmlLimits,
): AnswerContent {
  let multipart: ReturnType<typeof parseMultipartRelated>;
  try {
    multipart = parseMultipartRelated(bytes, contentType);
  } catch {
    return { kind: "content", innerXml: bytes.toString("base64") };
  }
  const root = multipart.root;
  const content = fromXml(decodedText(root.data, root.contentType), answerCode, limits);
  if (content.kind === "fault" || multipart.attachments.length === 0) return content;
  return { ...content, attachments: multipart.attachments, mtom: multipart.mtom };
}

/**
 * The service code a service's backend answers for: a remote X-Road SOAP service's own code
 * (the worker renamed the request's Body element to it, PR-MESS §2.3), else the local one.
 */
export function remoteServiceCode(config: SluiceConfig, service: ServiceConfig): string {
  const backend = config.backends[service.backend];
  if (backend?.translator !== "xroad-soap" || !backend.service) return service.code;
  // INSTANCE/CLASS/MEMBER/SUBSYSTEM/CODE[/VERSION], as the configuration check requires.
  return backend.service.split("/")[4] || service.code;
}
