// The security server's own error answers: REST per PR-REST §4.6 (JSON or XML by `Accept`,
// `type`/`message`/`detail`, the `X-Road-Error` header), SOAP per PR-MESS §2.5 and Annex D.

import { randomUUID } from "node:crypto";
import type http from "node:http";
import { jettyUtf8ContentType } from "./jetty-content-type";

/**
 * An error raised by the security server itself. `type` is X-Road's code: `Client.*` for the
 * caller's mistakes (HTTP 400 in REST), `Server.ServerProxy.*` for the provider side (500).
 */
export class XroadError extends Error {
  /**
   * The error's `detail` (REST) and `faultDetail` (SOAP): a random UUID made with the error, as
   * X-Road 7.4's CodedException constructors make theirs (`faultDetail =
   * String.valueOf(UUID.randomUUID())`), never the X-Road id; the security server logs it with
   * the error ("Request processing error ({})"), so it names that log line, not the message.
   */
  readonly detail = randomUUID();

  constructor(
    readonly type: string,
    message: string,
  ) {
    super(message);
    this.name = "XroadError";
  }

  /** PR-REST §4.6: 400 for a request that breaks the protocol, 500 for everything else. */
  get status(): number {
    return this.type.startsWith("Client.") ? 400 : 500;
  }
}

const escapeXml = (text: string): string =>
  text.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);

// The Content-Types X-Road's client proxy answers an error in XML for: text/* reads as text/xml.
const XML_TYPES = ["text/xml", "application/xml", "text/*"];

/**
 * The Content-Type of the error body, as X-Road 7.4's client proxy decides it
 * (src/proxy/src/main/java/ee/ria/xroad/proxy/clientproxy/ClientRestMessageHandler.java,
 * decideErrorResponseContentType): the first of text/xml,
 * application/xml or text/* that `Accept` names anywhere, whatever comes before it and whatever
 * its q, with text/* answered as text/xml; JSON if it names none (PR-REST §4.6's default).
 */
export function errorContentType(accept: string | undefined): string {
  const found = (accept ?? "")
    .split(",")
    .map((t) => t.split(";", 1)[0].trim().toLowerCase())
    .find((t) => XML_TYPES.includes(t));
  if (found === undefined) return "application/json";
  return found === "text/*" ? "text/xml" : found;
}

/**
 * Answers a REST caller with the security server's error as ClientRestMessageHandler
 * .sendErrorResponse writes it: `type`, `message` and `detail` (the error's own UUID), the same
 * whether the client proxy or the provider's server proxy raised it (the server proxy sends its
 * fault with that UUID as faultDetail, which the client proxy answers unchanged).
 */
export function sendRestError(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  error: XroadError,
): void {
  const { detail } = error;
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const type = errorContentType(req.headers.accept);
  const body =
    type !== "application/json"
      ? `<?xml version="1.0" encoding="UTF-8"?><error><type>${escapeXml(error.type)}</type>` +
        `<message>${escapeXml(error.message)}</message><detail>${escapeXml(detail)}</detail></error>`
      : JSON.stringify({ type: error.type, message: error.message, detail });
  res.writeHead(error.status, {
    // setCharacterEncoding(UTF-8), then setContentType(type): Jetty writes `application/json`
    // as it is (its charset assumed), an XML type with `;charset=utf-8`.
    "content-type": jettyUtf8ContentType(type),
    "content-length": Buffer.byteLength(body),
    "x-road-error": error.type,
  });
  res.end(body);
}

/**
 * A SOAP 1.1 Fault in the shape of PR-MESS Annex D.1, as SoapFault.createFaultXml writes it:
 * `faultDetail` is the error's own UUID (XroadError.detail).
 */
export function soapFaultXml(error: XroadError): string {
  return (
    '<?xml version="1.0" encoding="UTF-8"?>' +
    '<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/">' +
    "<SOAP-ENV:Body><SOAP-ENV:Fault>" +
    `<faultcode>${escapeXml(error.type)}</faultcode>` +
    `<faultstring>${escapeXml(error.message)}</faultstring>` +
    "<faultactor></faultactor>" +
    `<detail><faultDetail xmlns="">${escapeXml(error.detail)}</faultDetail></detail>` +
    "</SOAP-ENV:Fault></SOAP-ENV:Body></SOAP-ENV:Envelope>"
  );
}

/**
 * The header fields of X-Road's SOAP fault answers: text/xml and an empty SOAPAction, as
 * src/common/common-util/src/main/java/ee/ria/xroad/common/util/HandlerBase.java
 * (sendErrorResponse) writes them, for its own faults and a provider's alike.
 */
export function soapFaultHeaders(length: number): http.OutgoingHttpHeaders {
  // setContentType(text/xml), then setCharacterEncoding(UTF-8): Jetty writes its own form.
  const contentType = jettyUtf8ContentType("text/xml");
  return { "content-type": contentType, "content-length": length, soapaction: "" };
}

export function sendSoapFault(res: http.ServerResponse, error: XroadError): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = soapFaultXml(error);
  // X-Road's security server answers its own SOAP faults with 200 OK (HandlerBase
  // sendErrorResponse), not SOAP 1.1's 500: a client must read the body, not the status.
  res.writeHead(200, soapFaultHeaders(Buffer.byteLength(body)));
  res.end(body);
}
