// Writes a SluiceError as a SOAP 1.1 Fault: `Client.<Code>` or `Server.<Code>`, the message
// in words, and the gateway id in the detail. Internals and stack traces never reach the wire.

import { asSluiceError, SluiceError } from "../../shared/protocol/errors";
import { soapEnvelope, envelopeStart, qualified, type SoapEcho } from "./soap-response";
import { escapeXml } from "./xml-json";

/**
 * HTTP status of a SOAP fault: 500, except `busyStatus` (503 unless the operator chose 500 for a
 * security server in front, adapter.soapBusyStatus) for Busy and Unavailable.
 */
export function faultHttpStatus(error: SluiceError, busyStatus: 503 | 500 = 503): number {
  return error.code === "Busy" || error.code === "Unavailable" ? busyStatus : 500;
}

/** What the caller may read for an error: an Internal error says nothing about its cause. */
function publicMessage(error: SluiceError): string {
  return error.code === "Internal" ? "internal error" : error.message;
}

export interface FaultOptions {
  /** The gateway id, when the error itself does not carry it. */
  messageId?: string | null;
  /** Extra XML for the detail element (e.g. what a rejecting backend said). */
  detailXml?: string;
}

/**
 * A SOAP 1.1 Fault envelope for `error`. With the request known, the fault uses the caller's
 * envelope prefix and echoes its headers; `detail` carries the gateway id when there is one.
 */
export function buildSoapFault(
  thrown: unknown,
  request?: SoapEcho,
  options: FaultOptions = {},
): string {
  const error = asSluiceError(thrown);
  const id = options.messageId ?? error.messageId;
  const prefix = request?.envelopePrefix ?? "SOAP-ENV";
  let detail = "";
  if (id) detail += `<id>${escapeXml(id)}</id>`;
  if (error.retryAfter !== undefined) detail += `<retryAfter>${error.retryAfter}</retryAfter>`;
  if (options.detailXml !== undefined) detail += options.detailXml;
  const fault =
    `<${qualified(prefix, "Fault")}>` +
    `<faultcode>${escapeXml(error.faultCode)}</faultcode>` +
    `<faultstring>${escapeXml(publicMessage(error))}</faultstring>` +
    (detail === "" ? "" : `<detail>${detail}</detail>`) +
    `</${qualified(prefix, "Fault")}>`;
  if (request !== undefined) return soapEnvelope(request, fault);
  const body = qualified(prefix, "Body");
  return (
    '<?xml version="1.0" encoding="UTF-8"?>\n' +
    envelopeStart({ envelopePrefix: prefix, envelopeDeclarations: [] }) +
    `<${body}>${fault}</${body}>` +
    `</${qualified(prefix, "Envelope")}>`
  );
}
