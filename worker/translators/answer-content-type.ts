// The Content-Type of a backend's answer: given once (RFC 9110 §8.3) by any backend, and for a
// security server's SOAP answer of a type X-Road itself reads a SOAP message in.

import { parseContentType } from "../../shared/protocol/multipart-related";

/**
 * Why an answer with more than one Content-Type line is not taken, or null. Content-Type is one
 * value, not a list (RFC 9110 §8.3, §5.3): of two, reading the first is a guess at which one the
 * body is, and the intake refuses a request so written (once-only-headers.ts) for the same reason.
 */
export function repeatedContentType(headers: Record<string, unknown>): string | null {
  const value = headers["content-type"];
  return Array.isArray(value) && value.length > 1
    ? `it has ${value.length} Content-Type headers, where an answer has at most one`
    : null;
}

/**
 * The media types a security server reads a SOAP message in (X-Road's SoapMessageDecoder.parse:
 * text/xml, application/xop+xml, multipart/related); any other is refused there as
 * `InvalidContentType`, so the provider's answer never reaches an X-Road client with it.
 */
const SOAP_TYPES = new Set(["text/xml", "application/xop+xml", "multipart/related"]);

/** Why a SOAP answer's Content-Type is not one a SOAP message comes in, or null. */
export function soapContentTypeProblem(headers: Record<string, unknown>): string | null {
  const value = headers["content-type"];
  if (typeof value !== "string" || value.trim() === "") return "it has no Content-Type";
  const { type } = parseContentType(value);
  return SOAP_TYPES.has(type)
    ? null
    : `its Content-Type is ${type.slice(0, 100)}, not text/xml, application/xop+xml or multipart/related`;
}
