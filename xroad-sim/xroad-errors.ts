// The security server's own error answers: REST per PR-REST §4.6 (JSON or XML by `Accept`,
// `type`/`message`/`detail`, the `X-Road-Error` header), SOAP per PR-MESS §2.5 and Annex D.

import type http from "node:http";

/**
 * An error raised by the security server itself. `type` is X-Road's code: `Client.*` for the
 * caller's mistakes (HTTP 400 in REST), `Server.ServerProxy.*` for the provider side (500).
 */
export class XroadError extends Error {
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

/** Whether the caller asked for XML rather than the default JSON (PR-REST §4.6). */
function wantsXml(accept: string | undefined): boolean {
  if (!accept) return false;
  const types = accept.split(",").map((t) => t.split(";")[0].trim().toLowerCase());
  const xml = types.findIndex((t) => t === "application/xml" || t === "text/xml");
  const json = types.findIndex((t) => t === "application/json" || t === "*/*");
  return xml >= 0 && (json < 0 || xml < json);
}

/** Answers a REST caller with the security server's error; `detail` is the X-Road id. */
export function sendRestError(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  error: XroadError,
  detail: string,
): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const xml = wantsXml(req.headers.accept);
  const body = xml
    ? `<?xml version="1.0" encoding="UTF-8"?><error><type>${escapeXml(error.type)}</type>` +
      `<message>${escapeXml(error.message)}</message><detail>${escapeXml(detail)}</detail></error>`
    : JSON.stringify({ type: error.type, message: error.message, detail });
  res.writeHead(error.status, {
    "content-type": xml ? "application/xml; charset=utf-8" : "application/json; charset=utf-8",
    "content-length": Buffer.byteLength(body),
    "x-road-error": error.type,
  });
  res.end(body);
}

/** A SOAP 1.1 Fault in the shape of PR-MESS Annex D.1. */
export function soapFaultXml(error: XroadError, detail: string): string {
  return (
    '<?xml version="1.0" encoding="UTF-8"?>' +
    '<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/">' +
    "<SOAP-ENV:Body><SOAP-ENV:Fault>" +
    `<faultcode>${escapeXml(error.type)}</faultcode>` +
    `<faultstring>${escapeXml(error.message)}</faultstring>` +
    "<faultactor></faultactor>" +
    `<detail><faultDetail xmlns="">${escapeXml(detail)}</faultDetail></detail>` +
    "</SOAP-ENV:Fault></SOAP-ENV:Body></SOAP-ENV:Envelope>"
  );
}

export function sendSoapFault(res: http.ServerResponse, error: XroadError, detail: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = soapFaultXml(error, detail);
  // X-Road's security server answers its own SOAP faults with 200 OK (HandlerBase
  // sendErrorResponse), not SOAP 1.1's 500: a client must read the body, not the status.
  res.writeHead(200, {
    "content-type": "text/xml; charset=utf-8",
    "content-length": Buffer.byteLength(body),
  });
  res.end(body);
}
