// A REST caller's XML body that the service's backend sends as the element of a SOAP Body (the
// soap and xroad-soap translators), checked at intake: one the worker could only fail, after
// the caller's 202, is refused before anything is recorded or queued.

import {
  SOAP_BODY_TRANSLATORS,
  type ServiceConfig,
  type SluiceConfig,
} from "../../shared/config/config";
import { SluiceError } from "../../shared/protocol/errors";
import { isXmlBody, xmlBodyMarkup, xmlBodyText } from "../../shared/protocol/rest-xml-body";
import { XmlScanError } from "../../shared/protocol/xml-tokens";
import { XmlDeclarationError } from "../../shared/protocol/xml-declaration";
import { rootElement, XmlNamespaceError } from "../../shared/protocol/xml-content";
import { XROAD_PREFIXES } from "../../shared/protocol/xroad-namespaces";

/** Whether `service`'s backend sends a REST caller's body as a SOAP Body's element. */
export function sendsInSoapBody(config: SluiceConfig, service: ServiceConfig): boolean {
  return SOAP_BODY_TRANSLATORS.includes(config.backends[service.backend]?.translator ?? "");
}

/** Whether `service`'s backend sends a REST body of `contentType` as a SOAP Body's element. */
export function goesInSoapBody(
  config: SluiceConfig,
  service: ServiceConfig,
  contentType: string | null,
): boolean {
  return sendsInSoapBody(config, service) && isXmlBody(contentType);
}

/**
 * Refuses (415 InvalidContentType) a REST request to such a service that has no XML body: a
 * JSON body, or none, the translator can only fail, after the caller was told 202.
 */
export function checkSoapBodyType(service: ServiceConfig, mediaType: string | null): void {
  if (mediaType !== null && isXmlBody(mediaType)) return;
  throw new SluiceError(
    "InvalidContentType",
    `${service.code}'s backend sends the request as the element of a SOAP Body: it takes an XML body, not ${mediaType === null ? "none" : mediaType}`,
  );
}

/**
 * Refuses (400 InvalidXml) a body that is not one XML element: one closing an element it did
 * not open, or holding a second, would close the Body it is put in and write parts of its own
 * into the envelope; the worker refuses it, but only after the caller was told 202. Read as the
 * worker reads it: `text` when the message carries the body as that text, else the bytes by the
 * caller's charset; bytes that cannot be read so are refused too (the worker would fail them).
 * Its names are resolved as the worker will put them in the Body: a prefix nothing around its
 * use declares, other than X-Road's conventional ones (which the worker declares), and an
 * attribute named twice once resolved are refused as the backend's parser would refuse them.
 * One pass, no recursion. Returns the element's markup, for the schema's check to read.
 */
export function checkSoapXmlBody(
  bytes: Buffer,
  text: string | null,
  contentType: string | null,
): string {
  let read = text;
  if (read === null) {
    try {
      read = xmlBodyText(bytes, contentType);
    } catch (error) {
      if (!(error instanceof SluiceError)) throw error;
      throw new SluiceError(
        error.code,
        `the XML body cannot be read in its charset (${error.message})`,
      );
    }
  }
  try {
    const markup = xmlBodyMarkup(read);
    if (markup === null) throw new XmlScanError("it does not start with one");
    rootElement(markup, XROAD_PREFIXES, "refused");
    return markup;
  } catch (error) {
    if (error instanceof XmlDeclarationError) {
      throw new SluiceError("InvalidXml", `the XML body's declaration: ${error.message}`);
    }
    if (!(error instanceof XmlScanError)) throw error;
    const what = error instanceof XmlNamespaceError ? "names do not resolve" : "is not one element";
    throw new SluiceError("InvalidXml", `the XML body ${what}: ${error.message}`);
  }
}
