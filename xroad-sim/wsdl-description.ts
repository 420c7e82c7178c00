// Reads a SOAP service's WSDL as a security server's getWsdl does (PR-META §4): a GET of the
// registered WSDL URL with the service's TLS settings, each `soap:address` location replaced by
// X-Road's placeholder so the provider's address stays hidden from consumers.

import http from "node:http";
import { XMLValidator } from "fast-xml-parser";
import { fetchDescription } from "./description-fetch";
import type { ProviderClient } from "./provider-client";
import type { CompiledService } from "./sim-options";
import { XroadError } from "./xroad-errors";

/** PR-META §4, "WSDL-information modifications". */
export const WSDL_ENDPOINT_ADDRESS = "http://example.org/xroad-endpoint";

const WSDL_SOAP_NS = "http://schemas.xmlsoap.org/wsdl/soap/";

/** Fetches the WSDL and hides its endpoints; throws the XroadError X-Road answers with. */
export async function readWsdl(
  service: CompiledService & { descriptionUrl: URL },
  provider: ProviderClient,
): Promise<string> {
  const answer = await fetchDescription(service, service.descriptionUrl, provider);
  if (answer.status !== 200) {
    throw new XroadError(
      "Server.ServerProxy.InternalError",
      `Received HTTP error: ${answer.status} - ${http.STATUS_CODES[answer.status] ?? ""}`,
    );
  }
  return hideEndpoints(answer.body.toString("utf8"));
}

const escapeRegExp = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/**
 * Replaces the `location` of every `address` element of the WSDL SOAP 1.1 binding namespace
 * (X-Road filters exactly that element). The text is otherwise kept as it came; a document
 * that is not well-formed XML, or has a DOCTYPE, is refused as X-Road's parser refuses it.
 */
export function hideEndpoints(wsdl: string): string {
  if (/<!DOCTYPE/i.test(wsdl) || XMLValidator.validate(wsdl) !== true) {
    throw new XroadError("Server.ServerProxy.InternalError", "The WSDL is not well-formed XML");
  }
  const prefixes = new Set<string>();
  for (const m of wsdl.matchAll(/\sxmlns(?::([\w.-]+))?\s*=\s*(["'])(.*?)\2/g)) {
    if (m[3] === WSDL_SOAP_NS) prefixes.add(m[1] ?? "");
  }
  let out = wsdl;
  for (const prefix of prefixes) {
    const tag = prefix ? `${escapeRegExp(prefix)}:address` : "address";
    out = out.replace(new RegExp(`<${tag}(?=[\\s/>])[^>]*>`, "g"), (element) =>
      element.replace(/(\slocation\s*=\s*)(["'])[^"']*\2/, `$1"${WSDL_ENDPOINT_ADDRESS}"`),
    );
  }
  return out;
}
