// The status operation for SOAP callers (docs/xroad-deployment.md):
// `<messages><id>…</id></messages>`, named like the status service, answered with what the JSON
// status document holds (state, history, responses with their headers) in the shape the WSDL's
// `messageStatus` type describes. Only the client that sent a message may read it.

import { SluiceError } from "../../shared/protocol/errors";
import { statusDocument } from "../../shared/store/status-document";
import type { JsonValue } from "./xml-json";
import { escapeXml, holdsNonXmlCharacter } from "./xml-json";
import { readOwnStatus, type StatusRouteDeps } from "../status-route";

/** The `id` of a status request's Body (`{"id": "…"}` in its JSON form). */
export function statusRequestId(bodyJson: JsonValue): string {
  const id =
    typeof bodyJson === "object" && bodyJson !== null && !Array.isArray(bodyJson)
      ? bodyJson.id
      : undefined;
  if (typeof id !== "string" || id.trim() === "") {
    throw new SluiceError("ValidationFailed", "the status operation needs <id>: the message id");
  }
  return id.trim();
}

const element = (name: string, value: string | number | boolean): string =>
  `<${name}>${escapeXml(String(value))}</${name}>`;

/**
 * A response's headers as the JSON document shows them (its own caller reads them there whole,
 * credentials included: docs/rest.md). An HTTP header name need not be an XML name (`x-a#b`),
 * so each header is a `<header>` with its `name` and its values in the order the backend sent
 * them. A name without values, or no headers at all, is left out: the schema wants at least one.
 */
function headersXml(headers: Record<string, string | string[]>): string {
  let xml = "";
  for (const [name, value] of Object.entries(headers)) {
    const values = Array.isArray(value) ? value : [value];
    if (values.length === 0) continue;
    xml += "<header>" + element("name", name) + values.map((one) => element("value", one)).join("");
    xml += "</header>";
  }
  return xml === "" ? "" : `<headers>${xml}</headers>`;
}

/**
 * The inner XML of `<statusServiceResponse>` for the caller's own message. Read as through a
 * security server: one sends SOAP providers no X-Road-Request-Id, so a SOAP read cannot be told
 * from a local one, and an X-Road client sharing a local system's id would otherwise read that
 * system's consumer-direction messages. A local caller reads those at `/messages/<id>`, the
 * statusUrl of its acknowledgement.
 */
export async function soapStatusContent(
  deps: StatusRouteDeps,
  client: string,
  id: string,
): Promise<{ innerXml: string; messageId: string }> {
  const { tx, retryAfter } = await readOwnStatus(deps, client, id, true, true);
  const doc = statusDocument(tx);
  let xml =
    element("id", doc.id) +
    (doc.xroadId === null ? "" : element("xroadId", doc.xroadId)) +
    element("service", doc.service) +
    element("state", doc.state) +
    element("delivery", doc.delivery) +
    element("createdAt", doc.createdAt) +
    element("updatedAt", doc.updatedAt) +
    (retryAfter === null ? "" : element("retryAfter", retryAfter));
  xml += "<history>";
  for (const entry of doc.history) {
    xml += "<entry>" + element("state", entry.state) + element("at", entry.at) + "</entry>";
  }
  xml += "</history><responses>";
  for (const response of tx.responses) {
    // Text holding a character XML cannot carry (a form feed, an escape code) goes as base64
    // too: escaped, it would reach the caller with those characters replaced.
    const base64 =
      response.bodyEncoding === "base64"
        ? response.body
        : holdsNonXmlCharacter(response.body)
          ? Buffer.from(response.body, "utf8").toString("base64")
          : null;
    xml +=
      "<response>" +
      element("seq", response.seq) +
      element("final", response.final) +
      element("status", response.status) +
      element("contentType", response.contentType) +
      (response.headers ? headersXml(response.headers) : "") +
      // The body as the backend sent it (text), or base64 for bytes.
      element("body", base64 ?? response.body) +
      (base64 !== null ? element("bodyEncoding", "base64") : "") +
      "</response>";
  }
  xml += "</responses>";
  if (doc.error)
    xml += `<error>${element("code", doc.error.code)}${element("message", doc.error.message)}</error>`;
  // The link between a replayed dead letter and its replay (docs/operator.md), both ways.
  if (doc.replayOf) xml += element("replayOf", doc.replayOf);
  if (doc.replayedAs) xml += element("replayedAs", doc.replayedAs);
  return { innerXml: xml, messageId: tx.id };
}
