// Builds the SOAP answers Sluice sends: the envelope echoing every request header exactly as
// received, with a `<serviceCode>Response` Body holding the backend's answer or an acknowledgement.

import type { SoapHeaderField } from "../../shared/protocol/envelope";
import { escapeXml } from "./xml-json";
import { SOAP11_NS } from "./soap-envelope";
import { detached } from "./detached";

/** What an answer needs from its request; a SoapRequest and SoapMessageParts both fit. */
export interface SoapEcho {
  envelopePrefix: string;
  /** Declarations of the request's Envelope start tag; the echoed headers may use them. */
  envelopeDeclarations: ReadonlyArray<readonly [prefix: string, uri: string]>;
  /** The exact request Header element; when absent the fields are echoed one after another. */
  headerXml?: string;
  headers: SoapHeaderField[];
  bodyNamespace: string | null;
  bodyPrefix?: string;
}

const XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n';

/** The Envelope start tag: the caller's prefix, SOAP 1.1, and the caller's declarations. */
export function envelopeStart(
  echo: Pick<SoapEcho, "envelopePrefix" | "envelopeDeclarations">,
): string {
  const prefix = echo.envelopePrefix;
  // A checked request's Envelope declares its own prefix as SOAP 1.1, once, and each prefix
  // once: its declarations are written as they came. Anything else goes through the map.
  let declaresOwn = false;
  let attributes = "";
  for (const [p, uri] of echo.envelopeDeclarations) {
    if (p === prefix && uri === SOAP11_NS) declaresOwn = true;
    attributes += ` ${p === "" ? "xmlns" : `xmlns:${p}`}="${escapeXml(uri)}"`;
  }
  if (!declaresOwn || hasRepeatedPrefix(echo.envelopeDeclarations)) {
    const declarations = new Map<string, string>(echo.envelopeDeclarations);
    declarations.set(prefix, SOAP11_NS);
    attributes = [...declarations]
      .map(([p, uri]) => ` ${p === "" ? "xmlns" : `xmlns:${p}`}="${escapeXml(uri)}"`)
      .join("");
  }
  return `<${qualified(prefix, "Envelope")}${attributes}>`;
}

/** What every answer to one kind of request has around its Header and its Body's content. */
interface EnvelopeFrame {
  prefix: string;
  /** The XML declaration and the Envelope start tag. */
  start: string;
  /** The Body start tag. */
  bodyStart: string;
  /** The Body and Envelope end tags. */
  end: string;
  /** The last `<serviceCode>Response` element written in this frame (responseTags). */
  response: ResponseTags | null;
}

/**
 * Frames by the request's declarations. The XML reader shares one frozen declarations array
 * among the requests that repeat a caller's Envelope start tag, so a caller's frame is written
 * once, not per answer; an array that may change (not frozen) gets a frame of its own each time.
 */
const FRAMES = new WeakMap<ReadonlyArray<readonly [string, string]>, EnvelopeFrame>();

function frameOf(echo: Pick<SoapEcho, "envelopePrefix" | "envelopeDeclarations">): EnvelopeFrame {
  const declarations = echo.envelopeDeclarations;
  const known = FRAMES.get(declarations);
  if (known !== undefined && known.prefix === echo.envelopePrefix) return known;
  const prefix = echo.envelopePrefix;
  const body = qualified(prefix, "Body");
  const frame: EnvelopeFrame = {
    prefix,
    start: XML_DECLARATION + envelopeStart(echo),
    bodyStart: `<${body}>`,
    end: `</${body}></${qualified(prefix, "Envelope")}>`,
    response: null,
  };
  if (!Object.isFrozen(declarations)) return frame;
  // Kept beyond this request: its strings are copied out of the request's text.
  const kept: EnvelopeFrame = {
    prefix: detached(frame.prefix),
    start: detached(frame.start),
    bodyStart: detached(frame.bodyStart),
    end: detached(frame.end),
    response: null,
  };
  FRAMES.set(declarations, kept);
  return kept;
}

function hasRepeatedPrefix(
  declarations: ReadonlyArray<readonly [prefix: string, uri: string]>,
): boolean {
  for (let i = 1; i < declarations.length; i += 1) {
    for (let j = 0; j < i; j += 1) if (declarations[i][0] === declarations[j][0]) return true;
  }
  return false;
}

export function qualified(prefix: string, local: string): string {
  return prefix === "" ? local : `${prefix}:${local}`;
}

function headerBlock(echo: SoapEcho): string {
  if (echo.headerXml !== undefined) return echo.headerXml;
  const header = qualified(echo.envelopePrefix, "Header");
  return `<${header}>${echo.headers.map((field) => field.xml).join("")}</${header}>`;
}

/** A whole envelope around `bodyContent`, echoing the request headers. */
export function soapEnvelope(echo: SoapEcho, bodyContent: string): string {
  const frame = frameOf(echo);
  return frame.start + headerBlock(echo) + frame.bodyStart + bodyContent + frame.end;
}

/** The start (without its closing ">") and end tags of a `<serviceCode>Response` element. */
interface ResponseTags {
  serviceCode: string;
  bodyPrefix: string;
  bodyNamespace: string | null;
  start: string;
  end: string;
}

/** A prefix the request's Envelope does not declare, so declaring it hides none of them. */
function freePrefix(declarations: ReadonlyArray<readonly [prefix: string, uri: string]>): string {
  let prefix = "ns";
  for (let n = 1; declarations.some(([p]) => p === prefix); n++) prefix = `ns${n}`;
  return prefix;
}

function responseTags(echo: SoapEcho, serviceCode: string): ResponseTags {
  const local = `${serviceCode}Response`;
  const prefix = echo.bodyPrefix ?? "";
  let start: string;
  let name: string;
  // The Envelope's default namespace, if it declares one, is undone for what the answer holds.
  const noDefault = echo.envelopeDeclarations.some(([p]) => p === "") ? ' xmlns=""' : "";
  if (echo.bodyNamespace === null) {
    name = local;
    start = `<${name}${noDefault}`;
  } else if (prefix === "") {
    // Not in a default namespace of its own: the unqualified elements inside (the
    // acknowledgement's, a backend's) would fall into it, against the WSDL's
    // elementFormDefault="unqualified".
    const own = freePrefix(echo.envelopeDeclarations);
    name = `${own}:${local}`;
    start = `<${name} xmlns:${own}="${escapeXml(echo.bodyNamespace)}"${noDefault}`;
  } else {
    name = `${prefix}:${local}`;
    start = `<${name} xmlns:${prefix}="${escapeXml(echo.bodyNamespace)}"${noDefault}`;
  }
  return {
    serviceCode,
    bodyPrefix: prefix,
    bodyNamespace: echo.bodyNamespace,
    start,
    end: `</${name}>`,
  };
}

/** The frame's response tags when the last answer in it was to the same service, else new ones. */
function responseTagsIn(frame: EnvelopeFrame, echo: SoapEcho, serviceCode: string): ResponseTags {
  const last = frame.response;
  if (
    last !== null &&
    last.serviceCode === serviceCode &&
    last.bodyPrefix === (echo.bodyPrefix ?? "") &&
    last.bodyNamespace === echo.bodyNamespace
  ) {
    return last;
  }
  const tags = responseTags(echo, serviceCode);
  if (FRAMES.get(echo.envelopeDeclarations) === frame) {
    // Kept in a shared frame beyond this request: copied out of the request's text.
    const namespace = tags.bodyNamespace;
    frame.response = {
      serviceCode: detached(tags.serviceCode),
      bodyPrefix: detached(tags.bodyPrefix),
      bodyNamespace: namespace === null ? null : detached(namespace),
      start: detached(tags.start),
      end: detached(tags.end),
    };
  }
  return tags;
}

/**
 * `<serviceCode>Response` in the request body's namespace, written with the caller's prefix
 * (declared again on the element), or with a prefix of its own where the caller used a default
 * namespace. An unqualified request gets an unqualified answer.
 */
function responseElement(
  frame: EnvelopeFrame,
  echo: SoapEcho,
  serviceCode: string,
  innerXml: string,
): string {
  const tags = responseTagsIn(frame, echo, serviceCode);
  return innerXml === "" ? `${tags.start}/>` : `${tags.start}>${innerXml}${tags.end}`;
}

/**
 * The answer to a request: all request headers echoed byte for byte, and a Body holding
 * `<serviceCode>Response` with `innerXml` (the backend's answer content) inside.
 */
export function buildSoapResponse(
  echo: SoapEcho & { serviceCode: string },
  innerXml: string,
): string {
  const frame = frameOf(echo);
  const body = responseElement(frame, echo, echo.serviceCode, innerXml);
  return frame.start + headerBlock(echo) + frame.bodyStart + body + frame.end;
}

export interface SoapAck {
  /** Gateway message id. */
  id: string;
  state: string;
  /** Where the status can be read, e.g. `/messages/<id>`. */
  statusUrl?: string;
}

/**
 * The acknowledgement of an ack- or callback-mode request: `<serviceCode>Response` holding
 * unqualified `id`, `state` (and `statusUrl`) elements. It is sent only once the request is
 * persisted; it says "received", not "processed".
 */
export function buildSoapAck(echo: SoapEcho & { serviceCode: string }, ack: SoapAck): string {
  let inner = `<id>${escapeXml(ack.id)}</id><state>${escapeXml(ack.state)}</state>`;
  if (ack.statusUrl !== undefined) inner += `<statusUrl>${escapeXml(ack.statusUrl)}</statusUrl>`;
  return buildSoapResponse(echo, inner);
}
