// Reads a whole `POST /soap` body by its Content-Type: plain text/xml, or multipart/related
// (SwA or MTOM) whose root part holds the envelope and whose other parts become attachments.

import { SluiceError } from "../../shared/protocol/errors";
import {
  DEFAULT_MULTIPART_LIMITS,
  parseContentType,
  refuseRepeatedParameter,
  parseMultipartRelated,
  type MimePart,
  type MultipartLimits,
} from "../../shared/protocol/multipart-related";
import type { SluiceConfig } from "../../shared/config/config";
import { DEFAULT_XML_LIMITS, type XmlLimits } from "./safe-xml";
import { parseSoapEnvelope, XOP_NS, type SoapRequest, type XopInclude } from "./soap-envelope";
import { charsetOf, decodeSoapXml } from "../../shared/protocol/xml-encoding";

export interface SoapRequestLimits {
  xml: XmlLimits;
  multipart: MultipartLimits;
}

export const DEFAULT_SOAP_REQUEST_LIMITS: SoapRequestLimits = {
  xml: DEFAULT_XML_LIMITS,
  multipart: DEFAULT_MULTIPART_LIMITS,
};

/** The XML limits a configuration sets (`adapter.xml`), each one it leaves out at its default. */
export function xmlLimitsOf(config: SluiceConfig): XmlLimits {
  return { ...DEFAULT_XML_LIMITS, ...config.adapter.xml };
}

export interface SoapRequestWithAttachments extends SoapRequest {
  /** Parts beside the envelope, in order (empty for text/xml). */
  attachments: MimePart[];
  /** True when the envelope came as MTOM (application/xop+xml) and may hold xop:Include. */
  mtom: boolean;
}

/** The last accepted Content-Type value and its kind (soapBodyKind). */
let lastKind: { contentType: string | undefined; kind: "xml" | "multipart" } = {
  contentType: undefined,
  kind: "xml",
};

/**
 * The kind of body a `POST /soap` Content-Type announces; throws Client.InvalidContentType for
 * anything else (SOAP 1.2's application/soap+xml included), so a refused body is never read.
 */
export function soapBodyKind(contentType: string | undefined): "xml" | "multipart" {
  // Callers send the same header value request after request: it is parsed once.
  if (contentType !== undefined && contentType === lastKind.contentType) return lastKind.kind;
  const { type, params, repeated } =
    contentType === undefined ? { type: "", params: {} } : parseContentType(contentType);
  refuseRepeatedParameter(repeated);
  if (type === "multipart/related") checkMultipartType(params);
  if (type === "text/xml" || type === "multipart/related") {
    const kind = type === "text/xml" ? "xml" : "multipart";
    if (contentType !== undefined) lastKind = { contentType, kind };
    return kind;
  }
  if (type === "application/soap+xml") throw soap12Refusal();
  throw new SluiceError(
    "InvalidContentType",
    `Content-Type "${type || "(none)"}" is not accepted; send text/xml or multipart/related`,
  );
}

function soap12Refusal(): SluiceError {
  return new SluiceError(
    "InvalidContentType",
    "SOAP 1.2 (application/soap+xml) is not supported; send text/xml",
  );
}

/**
 * A multipart body's `type` parameter (RFC 2387: the root part's type) is SOAP 1.1's text/xml
 * or MTOM's application/xop+xml when it is given; `application/soap+xml` announces SOAP 1.2,
 * refused as its plain Content-Type is, whatever the root part then says. MTOM's
 * `start-info` (the envelope's own type) is held to the same.
 */
function checkMultipartType(params: Record<string, string>): void {
  const declared = params.type?.split(";")[0].trim().toLowerCase();
  const startInfo = params["start-info"]?.split(";")[0].trim().toLowerCase();
  if (declared === "application/soap+xml" || startInfo === "application/soap+xml") {
    throw soap12Refusal();
  }
  if (declared === undefined || declared === "text/xml" || declared === "application/xop+xml") {
    return;
  }
  throw new SluiceError(
    "InvalidContentType",
    `multipart/related type "${declared.slice(0, 100)}" is not accepted; the root part is text/xml or application/xop+xml`,
  );
}

/** Parses the body of `POST /soap`; faults as soapBodyKind and parseSoapEnvelope describe. */
export function readSoapRequest(
  body: Buffer,
  contentType: string | undefined,
  limits: SoapRequestLimits = DEFAULT_SOAP_REQUEST_LIMITS,
): SoapRequestWithAttachments {
  if (soapBodyKind(contentType) === "xml") {
    // Completed in place: a spread copy of the request's twenty fields cost more than parsing.
    const request = parseSoapEnvelope(decodeSoapXml(body, xmlCharsetOf(contentType)), limits.xml);
    if (request.xopIncludes.length > 0) checkXopReferences(request.xopIncludes, [], false);
    return Object.assign(request, { attachments: [], mtom: false });
  }
  const multipart = parseMultipartRelated(body, contentType as string, limits.multipart);
  const text = decodeSoapXml(multipart.root.data, charsetOf(multipart.root.contentType));
  const request = parseSoapEnvelope(text, limits.xml);
  if (request.xopIncludes.length > 0) {
    checkXopReferences(request.xopIncludes, multipart.attachments, multipart.mtom);
  }
  return { ...request, attachments: multipart.attachments, mtom: multipart.mtom };
}

/** The last text/xml Content-Type value and its charset, as soapBodyKind keeps its kind. */
let lastCharset: { contentType: string | undefined; charset: string | undefined } = {
  contentType: undefined,
  charset: undefined,
};

function xmlCharsetOf(contentType: string | undefined): string | undefined {
  if (contentType !== lastCharset.contentType) {
    lastCharset = { contentType, charset: charsetOf(contentType) };
  }
  return lastCharset.charset;
}

/**
 * Every xop:Include must name one of the request's own parts by a `cid:` URI: any other href
 * (`file:`, `http:`) would be left for the backend, or whoever reads the message later, to
 * dereference. In MTOM every element named Include with an href counts, whatever its namespace
 * (a lax XOP reader ignores it); elsewhere those in the XOP namespace do.
 */
function checkXopReferences(includes: XopInclude[], attachments: MimePart[], mtom: boolean): void {
  for (const include of includes) {
    if (!mtom && include.namespace !== XOP_NS) continue;
    const cid = /^cid:/i.test(include.href) ? include.href.slice(4) : null;
    if (cid === null) {
      throw new SluiceError(
        "InvalidSoap",
        `xop:Include refers to ${quoted(include.href)}, which is not a cid: reference to a MIME part`,
      );
    }
    let id: string;
    try {
      id = decodeURIComponent(cid);
    } catch {
      id = cid;
    }
    if (!attachments.some((part) => part.contentId === id)) {
      throw new SluiceError(
        "InvalidSoap",
        `xop:Include refers to cid:${quoted(id)}, which is not among the MIME parts`,
      );
    }
  }
}

/** A caller's text in a fault: at most 100 characters, control characters escaped. */
function quoted(text: string): string {
  const short = text.length > 100 ? `${text.slice(0, 100)}…` : text;
  return JSON.stringify(short).slice(1, -1);
}
