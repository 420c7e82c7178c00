// The SOAP side of the simulated security server (PR-MESS §2): a client POSTs an X-Road SOAP
// 4.0 request to `/`; the `service` header picks the registered service, the request goes to
// its URL with only Content-Type and SOAPAction, and the answer comes back with `requestHash`.

import { createHash } from "node:crypto";
import { STATUS_CODES } from "node:http";
import type http from "node:http";
import { soapRequestHeaders } from "./header-filter";
import { jettyUtf8ContentType } from "./jetty-content-type";
import type { ProviderClient } from "./provider-client";
import type { CompiledService } from "./sim-options";
import {
  encodeXml,
  checkSoapAnswer,
  checkSoapRequest,
  readSoapMessage,
  soapBytes,
  soapText,
  withRequestHash,
  type SoapBytes,
  type SoapMessage,
} from "./soap-message";
import { soapFaultHeaders, XroadError } from "./xroad-errors";

const FAILED = "Server.ServerProxy.ServiceFailed.";

/**
 * The header fields X-Road marks @CheckConsistency (SoapHeader): an answer must carry each as
 * the request did, or both leave it out (SoapUtils.checkConsistency).
 */
const CONSISTENT_FIELDS = [
  "client",
  "service",
  "userId",
  "representedParty",
  "issue",
  "id",
] as const satisfies ReadonlyArray<keyof SoapMessage>;

export type ConsistentHeader = Pick<SoapMessage, (typeof CONSISTENT_FIELDS)[number]>;

export interface SoapRequest {
  client: string;
  xroadId: string;
  /** Service id as in the header: `INSTANCE/CLASS/MEMBER[/SUBSYSTEM]/serviceCode[/version]`. */
  serviceId: string;
  serviceCode: string;
  /** The service's provider: `INSTANCE/CLASS/MEMBER[/SUBSYSTEM]`. */
  provider: string;
  /** The header's `securityServer`, `INSTANCE/CLASS/MEMBER/SERVERCODE`, or null. */
  securityServer: string | null;
  /** The SOAP message as sent (the first part of a multipart request). */
  xml: string;
  bodyFields: Record<string, string>;
  /** The request's header fields an answer must echo. */
  header: ConsistentHeader;
}

/** Reads the client's request; throws `Client.*` errors for what breaks PR-MESS. */
export function readSoapRequest(req: http.IncomingMessage, body: Buffer): SoapRequest {
  const contentType = req.headers["content-type"];
  if (!contentType) throw new XroadError("Client.InvalidContentType", "Missing content type");
  checkSoapAction(req.headers["soapaction"]);
  const soap = soapBytes(body, contentType, "Client.");
  const { xml } = soapText(soap, "Client.");
  const message = checkSoapRequest(xml);
  if (soap.attachmentError) throw soap.attachmentError;
  return {
    client: message.client,
    xroadId: message.id as string,
    serviceId: message.service,
    serviceCode: message.serviceCode as string,
    provider: message.provider as string,
    securityServer: message.securityServer,
    xml,
    bodyFields: message.bodyFields,
    header: Object.fromEntries(
      CONSISTENT_FIELDS.map((field) => [field, message[field]]),
    ) as ConsistentHeader,
  };
}

/**
 * Characters a URI reference never holds unescaped (RFC 3986 §2), nor a bare `%`. Other control
 * characters cannot reach here: Node's parser refuses a header value that holds one.
 */
const NOT_URI_REFERENCE = /[\s"<>\\^`{|}\x7f]|%(?![0-9A-Fa-f]{2})/;

/**
 * SOAPAction as X-Road's client proxy takes it (MessageProcessorBase.validateSoapActionHeader,
 * SOAP 1.1 §6.1.1): absent, empty, `""`, or a quoted URI reference; anything else is refused
 * before the message is read, as `InvalidSoapAction`.
 */
function checkSoapAction(action: string | string[] | undefined): void {
  if (action === undefined || action === "" || action === '""') return;
  const value = Array.isArray(action) ? action.join(", ") : action;
  const quoted = value.length > 2 && value.startsWith('"') && value.endsWith('"');
  if (quoted && !NOT_URI_REFERENCE.test(value.slice(1, -1))) return;
  throw new XroadError("Client.InvalidSoapAction", "Malformed SOAPAction header");
}

/** The registered service for a SOAP `service` header: with its version, then without. */
export function findSoapService(
  serviceId: string,
  lookup: (id: string) => CompiledService | undefined,
): CompiledService | undefined {
  const exact = lookup(serviceId);
  if (exact) return exact;
  const parts = serviceId.split("/");
  // A versioned id (6 parts, or 5 for a member's service) may be registered without its version.
  return parts.length >= 5 ? lookup(parts.slice(0, -1).join("/")) : undefined;
}

/** Forwards the request and writes the provider's answer; throws an XroadError before writing. */
export async function forwardSoap(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  service: CompiledService,
  request: SoapRequest,
  body: Buffer,
  provider: ProviderClient,
): Promise<number> {
  const headers = Object.entries(soapRequestHeaders(req.headers)).flat();
  const answer = await provider.call(service, {
    method: "POST",
    url: service.url.href,
    headers,
    body,
  });
  // X-Road reads a SOAP service's answer only with 200 or 500 (WS-I BP R1126: a Fault comes
  // with 500); any other status is its HttpError, the body unread (AbstractHttpSender).
  if (answer.status !== 200 && answer.status !== 500) {
    throw new XroadError(
      `${FAILED}HttpError`,
      `Server responded with error ${answer.status}: ${STATUS_CODES[answer.status] ?? ""}`,
    );
  }
  const contentType = String(answer.headers["content-type"] ?? "");
  let soap: SoapBytes;
  try {
    soap = soapBytes(answer.body, contentType || "missing", FAILED);
  } catch (error) {
    if (error instanceof XroadError) {
      throw new XroadError(
        `${FAILED}InvalidContentType`,
        `Invalid content type of the service answer: ${contentType || "none"}`,
      );
    }
    throw error;
  }
  const { xml, encoding, bom } = soapText(soap, FAILED);
  const message = readSoapMessage(xml, FAILED);
  if (soap.attachmentError) throw soap.attachmentError;
  checkSoapAnswer(message, FAILED);
  if (message.bodyElement === "Fault") {
    // The provider's own fault reaches the client as X-Road's faults do: the server proxy reads
    // it as an error (ServerMessageProcessor: responseFault.toCodedException()), which carries
    // the fault's XML as it came, and the client proxy answers that XML with 200 OK
    // (HandlerBase.sendErrorResponse), without a requestHash.
    const fault = Buffer.from(xml, "utf8");
    res.writeHead(200, soapFaultHeaders(fault.length));
    res.end(fault);
    return 200;
  }
  // The service must echo the request's header fields (PR-MESS §2.2). X-Road's consumer side
  // checks it (ClientMessageProcessor.checkConsistency) and answers this fault.
  const differs = CONSISTENT_FIELDS.find((field) => message[field] !== request.header[field]);
  if (differs) {
    throw new XroadError(
      "Server.ClientProxy.ServiceFailed.InconsistentResponse",
      "Response from server proxy is not consistent with request",
    );
  }
  const hash = soapRequestHash(req, body);
  // The provider's security server puts requestHash in every answer's SOAP message (PR-MESS
  // §2.2; X-Road's client side refuses one without it), the first part of a multipart answer
  // included, in the encoding that part was read in; the other parts pass unchanged.
  const hashed = Buffer.concat([bom, encodeXml(withRequestHash(xml, hash), encoding)]);
  const out = Buffer.concat([
    answer.body.subarray(0, soap.start),
    hashed,
    answer.body.subarray(soap.end),
  ]);
  // X-Road's client proxy answers every SOAP answer with 200 OK, whatever status the service
  // gave (ClientMessageProcessor.sendResponse), and with ProxyMessage.getSoapContentType:
  // `text/xml; charset=UTF-8` for a plain message, whatever charset it came in (its bytes are
  // passed as they are), the service's own type for a multipart one; Jetty writes either
  // after setCharacterEncoding(UTF-8) (jettyUtf8ContentType).
  const multipart = /^multipart\/related\s*(;|$)/i.test(contentType);
  res.writeHead(200, {
    "content-type": jettyUtf8ContentType(multipart ? contentType : "text/xml; charset=UTF-8"),
    "content-length": out.length,
  });
  res.end(out);
  return 200;
}

/** PR-MESS §2.2: the hash covers the request bytes, or the SOAP part of a multipart request. */
export function soapRequestHash(req: http.IncomingMessage, body: Buffer): string {
  const { bytes } = soapBytes(body, String(req.headers["content-type"]), "Client.");
  return createHash("sha512").update(bytes).digest("base64");
}
