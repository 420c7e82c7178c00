// A REST caller's XML body, which the soap and xroad-soap translators send as the element of a
// SOAP Body: which content types make one, and the text they read it as. The adapter checks it
// at intake by this reading; the worker reads it the same way when it builds the envelope.

import { charsetOf, decodeXml } from "./xml-encoding";
import { xmlDeclarationEnd } from "./xml-declaration";

/** Whether a body of this Content-Type is XML (application/xml, text/xml, …+xml). */
export function isXmlBody(contentType: string | null | undefined): boolean {
  return /[/+]xml\b/i.test(contentType ?? "");
}

/**
 * A body's bytes as text, read by the charset the caller named in its Content-Type or its XML
 * declaration, as any XML reader would: read as UTF-8, an ISO-8859-1 "Mäger" reached the
 * backend as "M\uFFFDger". Strict: bytes not valid in that charset are refused (SluiceError
 * InvalidXml), and so is a charset nobody knows (InvalidContentType), not guessed at.
 */
export function xmlBodyText(bytes: Buffer, contentType: string | null | undefined): string {
  return decodeXml(bytes, charsetOf(contentType ?? undefined), true);
}

/**
 * The body's text from its markup on: its byte-order mark and XML declaration taken off. Null
 * when what is left does not start with markup (text before the element, or nothing). Throws
 * XmlDeclarationError for a declaration XML 1.0 §2.8 does not allow; one after white space is
 * left in, for the content's check to refuse as a declaration not at the start. Only the
 * declaration is taken off: `<?xml-stylesheet …?>` is a processing instruction of the content.
 */
export function xmlBodyMarkup(text: string): string | null {
  const unmarked = text.startsWith("\uFEFF") ? text.slice(1) : text;
  const markup = unmarked.slice(xmlDeclarationEnd(unmarked));
  return /^\s*</.test(markup) ? markup : null;
}
