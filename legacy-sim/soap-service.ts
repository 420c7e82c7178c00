// The simulator's SOAP side: a document/literal WSDL with one operation per configured service
// code, served by the `soap` package, plus the SOAP 1.1 faults the simulator answers itself.

import * as soap from "soap";

export const DEFAULT_SOAP_NAMESPACE = "http://legacy.sluice.example/";
export const DEFAULT_SOAP_SERVICES: readonly string[] = ["testQuery", "getState"];

export type FaultSide = "Client" | "Server";

export interface SoapAnswer {
  status: number;
  body: string;
  /** The X-Road client id from the request's SOAP header, when there is one. */
  xroadClient: string | null;
}

export interface SoapService {
  /** The WSDL with the endpoint address set to `location`. */
  wsdl(location: string): string;
  /** Answers one SOAP request; never throws, bad input becomes a Client fault. */
  process(xml: string): Promise<SoapAnswer>;
}

/** Per-call context handed to the operation handlers through the soap request object. */
interface CallContext {
  xroadClient: string | null;
}

const LOCATION = "\u0000location\u0000";
const NCNAME = /^[A-Za-z_][\w.-]*$/;
// The first element inside the SOAP Body, skipping comments; cheap enough to run per call.
// Names of any XML name characters (a prefix may hold any letter); a name ends at white space,
// "/" or ">".
// The simulator reads the requests of the Sluice under test, not a stranger's.
const BODY_ELEMENT =
  // eslint-disable-next-line regexp/no-super-linear-move -- see above
  /<(?:[^\s:/>]+:)?Body\b[^>]*>(?:\s|<!--[\s\S]*?-->)*<(?:[^\s:/>!]+:)?([^\s:/>]+)/;

export function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) =>
    c === "<" ? "&lt;" : c === ">" ? "&gt;" : c === "&" ? "&amp;" : c === '"' ? "&quot;" : "&apos;",
  );
}

// An Envelope's start tag and its prefix; a Header element, whole; an xmlns declaration. As
// BODY_ELEMENT, they read the requests of the Sluice under test.
// eslint-disable-next-line regexp/no-super-linear-move -- see above
const ENVELOPE_START = /<(?:([^\s:/>]+):)?Envelope\b[^>]*>/;
// eslint-disable-next-line regexp/no-super-linear-move -- see above
const HEADER = /<(?:[^\s:/>]+:)?Header\b[^>]*>([\s\S]*?)<\/(?:[^\s:/>]+:)?Header\s*>/;
const XMLNS = /\sxmlns(?::[^\s=]+)?\s*=\s*("[^"]*"|'[^']*')/g;

/**
 * The answer as an X-Road SOAP provider gives it (PR-MESS §2.2): with the request's Header
 * fields echoed, each prefix declared as the request's Envelope declared it. An answer without
 * an Envelope, or a request without a Header, is returned as it is.
 */
export function echoSoapHeader(request: string, answer: string): string {
  const header = HEADER.exec(request);
  const requestEnvelope = ENVELOPE_START.exec(request);
  const answerEnvelope = ENVELOPE_START.exec(answer);
  if (!header || !requestEnvelope || !answerEnvelope) return answer;
  const declarations = (requestEnvelope[0].match(XMLNS) ?? []).join("");
  const prefix = answerEnvelope[1] === undefined ? "" : `${answerEnvelope[1]}:`;
  const at = answerEnvelope.index + answerEnvelope[0].length;
  const echoed = `<${prefix}Header${declarations}>${header[1]}</${prefix}Header>`;
  return answer.slice(0, at) + echoed + answer.slice(at);
}

/** A SOAP 1.1 Fault envelope; faultcode is `soap:Client` or `soap:Server`. */
export function soapFault(side: FaultSide, message: string, reason?: string): string {
  const detail = reason === undefined ? "" : `<detail>${escapeXml(reason)}</detail>`;
  return (
    '<?xml version="1.0" encoding="utf-8"?>' +
    '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><soap:Fault>' +
    `<faultcode>soap:${side}</faultcode><faultstring>${escapeXml(message)}</faultstring>${detail}` +
    "</soap:Fault></soap:Body></soap:Envelope>"
  );
}

function buildWsdl(codes: readonly string[], ns: string): string {
  const lax =
    '<xsd:sequence><xsd:any processContents="lax" minOccurs="0" maxOccurs="unbounded"/></xsd:sequence>';
  const elements = codes
    .map(
      (c) =>
        `<xsd:element name="${c}"><xsd:complexType mixed="true">${lax}</xsd:complexType></xsd:element>` +
        `<xsd:element name="${c}Response"><xsd:complexType>${lax}</xsd:complexType></xsd:element>`,
    )
    .join("");
  const messages = codes
    .map(
      (c) =>
        `<message name="${c}Request"><part name="parameters" element="tns:${c}"/></message>` +
        `<message name="${c}Response"><part name="parameters" element="tns:${c}Response"/></message>`,
    )
    .join("");
  const operations = codes
    .map(
      (c) =>
        `<operation name="${c}"><input message="tns:${c}Request"/><output message="tns:${c}Response"/></operation>`,
    )
    .join("");
  const bindings = codes
    .map(
      (c) =>
        `<operation name="${c}"><soap:operation soapAction="${ns}${c}" style="document"/>` +
        '<input><soap:body use="literal"/></input><output><soap:body use="literal"/></output></operation>',
    )
    .join("");
  return (
    '<?xml version="1.0" encoding="UTF-8"?>' +
    '<definitions xmlns="http://schemas.xmlsoap.org/wsdl/" xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/"' +
    ` xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:tns="${ns}" targetNamespace="${ns}" name="LegacySim">` +
    `<types><xsd:schema targetNamespace="${ns}" elementFormDefault="unqualified">${elements}</xsd:schema></types>` +
    messages +
    `<portType name="LegacyPortType">${operations}</portType>` +
    '<binding name="LegacyBinding" type="tns:LegacyPortType">' +
    `<soap:binding style="document" transport="http://schemas.xmlsoap.org/soap/http"/>${bindings}</binding>` +
    '<service name="LegacyService"><port name="LegacyPort" binding="tns:LegacyBinding">' +
    `<soap:address location="${LOCATION}"/></port></service></definitions>`
  );
}

/** All text of a parsed element, in document order. */
function textOf(value: unknown): string {
  if (value === null || value === undefined) return "";
  if (typeof value !== "object") return String(value);
  return Object.values(value as Record<string, unknown>)
    .map(textOf)
    .join("");
}

function findName(value: unknown): string | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  for (const [key, child] of Object.entries(value as Record<string, unknown>)) {
    if (key === "name" && (typeof child === "string" || typeof child === "number"))
      return String(child);
    const found = findName(child);
    if (found !== undefined) return found;
  }
  return undefined;
}

/** `INSTANCE/CLASS/MEMBER[/SUBSYSTEM]` from a parsed X-Road `client` header. */
function xroadClientOf(headers: unknown): string | null {
  if (typeof headers !== "object" || headers === null) return null;
  const client = (headers as Record<string, unknown>).client as Record<string, unknown> | undefined;
  if (typeof client !== "object" || client === null) return null;
  const parts = [client.xRoadInstance, client.memberClass, client.memberCode, client.subsystemCode];
  const present = parts.filter((p): p is string => typeof p === "string" && p !== "");
  return present.length >= 3 ? present.join("/") : null;
}

function faultError(
  side: FaultSide,
  message: string,
  reason: string,
): { Fault: soap.ISoapFault11 } {
  return {
    Fault: { faultcode: `soap:${side}`, faultstring: message, detail: reason, statusCode: 500 },
  };
}

function operation(code: string): soap.ISoapServiceMethod {
  return (args: unknown, _callback, headers: unknown, req?: { connection?: CallContext }) => {
    if (req?.connection) req.connection.xroadClient = xroadClientOf(headers);
    const text = textOf(args);
    // Marker texts let tests and demos ask for a business rejection or a system failure.
    if (text.includes("FAULT-CLIENT"))
      throw faultError("Client", "the legacy system rejected the request", "FAULT-CLIENT");
    if (text.includes("FAULT-SERVER"))
      throw faultError("Server", "the legacy system failed", "FAULT-SERVER");
    if (code === "getState") return { response: text };
    return { answer: 42, echo: findName(args) ?? text };
  };
}

/** Parses the WSDL once and returns the service; serviceCodes must be XML names. */
export async function createSoapService(
  serviceCodes: readonly string[],
  namespace: string = DEFAULT_SOAP_NAMESPACE,
): Promise<SoapService> {
  const bad = serviceCodes.filter((code) => !NCNAME.test(code));
  if (bad.length > 0)
    throw new RangeError(`legacy-sim: not valid SOAP service codes: ${bad.join(", ")}`);
  if (/["<>&]/.test(namespace))
    throw new RangeError("legacy-sim: the SOAP namespace must be a plain URI");
  const codes = new Set(serviceCodes);
  const template = buildWsdl(serviceCodes, namespace);
  const [before, after] = template.split(LOCATION);
  const port: soap.IServicePort = {};
  for (const code of serviceCodes) port[code] = operation(code);

  // Serverless: the simulator's own HTTP handler reads the body and applies latency, capacity
  // and recording first, then hands the XML over; the soap server never touches the socket.
  const server = await new Promise<soap.Server>((resolve, reject) => {
    const created: soap.Server = soap.listen(null, {
      path: "/soap",
      services: { LegacyService: { LegacyPort: port } },
      xml: before + "http://localhost/soap" + after,
      suppressStack: true,
      callback: (err: unknown) =>
        err ? reject(err instanceof Error ? err : new Error(String(err))) : resolve(created),
    });
  });

  const clientFault = (message: string): SoapAnswer => ({
    status: 500,
    body: soapFault("Client", message),
    xroadClient: null,
  });

  return {
    wsdl: (location) => before + escapeXml(location) + after,
    async process(xml) {
      // The soap server answers odd input with stack-like text or SOAP 1.2 faults in a 1.1
      // envelope; the checks below keep every answer a clean SOAP 1.1 fault instead.
      if (/<!DOCTYPE/i.test(xml)) return clientFault("DOCTYPE is not accepted");
      const match = BODY_ELEMENT.exec(xml);
      if (!match) return clientFault("no operation element in the SOAP Body");
      if (!codes.has(match[1])) return clientFault(`unknown operation ${match[1]}`);
      const context: CallContext = { xroadClient: null };
      let answer: soap.IServerlessResponse;
      try {
        answer = await server.processRequest(xml, {
          method: "POST",
          url: "/soap",
          headers: {},
          connection: context,
        });
      } catch {
        return clientFault("malformed SOAP request");
      }
      if (
        answer.statusCode >= 400 &&
        !/<faultcode>soap:(Client|Server)<\/faultcode>/.test(answer.body)
      ) {
        return clientFault("malformed SOAP request");
      }
      return { status: answer.statusCode, body: answer.body, xroadClient: context.xroadClient };
    },
  };
}
