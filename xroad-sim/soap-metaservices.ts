// The security server's SOAP metaservices (PR-META §3, §4): `listMethods` and `allowedMethods`
// answer the provider's SOAP services, `getWsdl` a service's WSDL as an attachment. Called like
// any X-Road SOAP service, with the provider and the metaservice's code in the `service` header.

import { randomUUID } from "node:crypto";
import type http from "node:http";
import type { ProviderClient } from "./provider-client";
import {
  type ClientStatuses,
  requireKnownProvider,
  mayCall,
  serviceIdFields,
  servicesOf,
} from "./provider-services";
import type { CompiledService } from "./sim-options";
import { withRequestHash } from "./soap-message";
import { soapRequestHash, type SoapRequest } from "./soap-proxy";
import { readWsdl } from "./wsdl-description";
import { XroadError } from "./xroad-errors";
import { IDENTIFIERS_NS as IDS, XROAD_NS as XRD } from "../shared/protocol/xroad-namespaces";
import { jettyUtf8ContentType } from "./jetty-content-type";

const SOAP_METASERVICES = new Set(["listMethods", "allowedMethods", "getWsdl"]);

/** X-Road handles these codes itself, whatever the provider registered. */
export const isSoapMetaservice = (request: SoapRequest): boolean =>
  SOAP_METASERVICES.has(request.serviceCode);

const escapeXml = (text: string): string =>
  text.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** One `service` element of MethodListType (id:XRoadServiceIdentifierType). */
function serviceXml(service: CompiledService): string {
  const id = serviceIdFields(service);
  const fields: Array<[string, string | undefined]> = [
    ["xRoadInstance", id.xRoadInstance],
    ["memberClass", id.memberClass],
    ["memberCode", id.memberCode],
    ["subsystemCode", id.subsystemCode],
    ["serviceCode", id.serviceCode],
    ["serviceVersion", id.serviceVersion],
  ];
  const parts = fields
    .filter((f): f is [string, string] => f[1] !== undefined)
    .map(([name, value]) => `<id:${name}>${escapeXml(value)}</id:${name}>`);
  return `<xrd:service id:objectType="SERVICE">${parts.join("")}</xrd:service>`;
}

/**
 * The response X-Road makes of a request: the same envelope and header, its Body element
 * renamed `<serviceCode>Response`, or the Body's content replaced by `content`.
 */
export function toResponse(xml: string, content: string | null): string {
  const open = /<([\w.-]+:)?Body\b[^>]*>/.exec(xml);
  const close = open ? xml.lastIndexOf(`</${open[1] ?? ""}Body>`) : -1;
  if (!open || close < 0) throw new XroadError("Client.InvalidSoap", "Malformed SOAP message");
  const start = open.index + open[0].length;
  let inner = xml.slice(start, close);
  if (content !== null) {
    inner = content;
  } else {
    const first = /<([\w.-]+:)?[\w.-]+/.exec(inner);
    if (first) {
      const tag = first[0].slice(1);
      const end = inner.lastIndexOf(`</${tag}>`);
      if (end >= 0)
        inner = `${inner.slice(0, end)}</${tag}Response>${inner.slice(end + tag.length + 3)}`;
      inner = `${inner.slice(0, first.index)}<${tag}Response${inner.slice(first.index + first[0].length)}`;
    }
  }
  return xml.slice(0, start) + inner + xml.slice(close);
}

/** The provider's SOAP service `getWsdl` names, preferring the one of the asked version. */
function wsdlService(
  services: CompiledService[],
  request: SoapRequest,
): CompiledService & { descriptionUrl: URL } {
  const code = (request.bodyFields.serviceCode ?? "").trim();
  if (code === "") {
    throw new XroadError(
      "Server.ServerProxy.InvalidRequest",
      "Missing serviceCode in message body",
    );
  }
  const version = (request.bodyFields.serviceVersion ?? "").trim() || undefined;
  const named = services.filter((s) => {
    const id = serviceIdFields(s);
    return id.provider === request.provider && id.serviceCode === code;
  });
  const service =
    named.find((s) => serviceIdFields(s).serviceVersion === version) ??
    named.find((s) => version === undefined || serviceIdFields(s).serviceVersion === undefined);
  if (service?.type === "rest") {
    throw new XroadError(
      "Server.ServerProxy.ServiceType",
      "Service is a REST service and does not have a WSDL",
    );
  }
  if (!service?.descriptionUrl) {
    const id = [request.provider, code, ...(version ? [version] : [])].join("/");
    throw new XroadError(
      "Server.ServerProxy.UnknownService",
      `Could not find wsdl URL for service SERVICE:${id}`,
    );
  }
  return service as CompiledService & { descriptionUrl: URL };
}

/**
 * Answers one SOAP metaservice call; throws an XroadError before writing. Access rights are
 * not checked: every client may call the metaservices, as in X-Road.
 */
export async function answerSoapMetaservice(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  request: SoapRequest,
  body: Buffer,
  deps: { services: CompiledService[]; provider: ProviderClient; clients?: ClientStatuses },
): Promise<number> {
  const { services } = deps;
  requireKnownProvider(services, request.provider, deps.clients ?? null);
  const hash = soapRequestHash(req, body);
  let contentType: string;
  let out: Buffer;
  if (request.serviceCode === "getWsdl") {
    const wsdl = await readWsdl(wsdlService(services, request), deps.provider);
    const soap = withRequestHash(toResponse(request.xml, null), hash);
    // Only getWsdl is multipart: the WSDL travels as an attachment (PR-META §4).
    const boundary = `xroad${randomUUID().replace(/-/g, "")}`;
    contentType = `multipart/related; type="text/xml"; charset=UTF-8; boundary=${boundary}`;
    out = Buffer.from(
      `--${boundary}\r\nContent-Type: text/xml; charset=UTF-8\r\n\r\n${soap}\r\n` +
        `--${boundary}\r\nContent-Type: text/xml\r\nContent-Transfer-Encoding: binary\r\n` +
        `Content-ID: <wsdl=${randomUUID()}@x-road.eu>\r\n\r\n${wsdl}\r\n--${boundary}--\r\n`,
      "utf8",
    );
  } else {
    const listed = servicesOf(services, request.provider, "soap").filter(
      (s) => request.serviceCode === "listMethods" || mayCall(s, request.client),
    );
    const element = `xrd:${request.serviceCode}Response`;
    const list =
      `<${element} xmlns:xrd="${XRD}" xmlns:id="${IDS}">` +
      `${listed.map(serviceXml).join("")}</${element}>`;
    contentType = "text/xml; charset=UTF-8";
    out = Buffer.from(withRequestHash(toResponse(request.xml, list), hash), "utf8");
  }
  // As every SOAP answer: Jetty writes the type after setCharacterEncoding(UTF-8).
  res.writeHead(200, {
    "content-type": jettyUtf8ContentType(contentType),
    "content-length": out.length,
  });
  res.end(out);
  return 200;
}
