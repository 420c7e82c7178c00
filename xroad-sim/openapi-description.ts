// Reads a REST service's OpenAPI 3 description as a security server's getOpenAPI does
// (PR-MREST §5): a GET of the registered description URL with the service's TLS settings, the
// document answered in its own format (JSON or YAML), each fixed `servers[].url` cut to its path.

import YAML from "yaml";
import { fetchDescription } from "./description-fetch";
import type { ProviderClient } from "./provider-client";
import type { CompiledService } from "./sim-options";
import { XroadError } from "./xroad-errors";

export interface DescriptionAnswer {
  contentType: string;
  body: Buffer;
}

const INTERNAL_ERROR = "Server.ServerProxy.InternalError";

/** A security server answers a description without a Content-Type as text/plain. */
const DEFAULT_CONTENT_TYPE = "text/plain";

/** Fetches and anonymises `service`'s description; throws the XroadError X-Road answers with. */
export async function readOpenApiDescription(
  service: CompiledService & { descriptionUrl: URL },
  provider: ProviderClient,
): Promise<DescriptionAnswer> {
  const url = service.descriptionUrl.href;
  const answer = await fetchDescription(service, service.descriptionUrl, provider);
  if (answer.status !== 200) {
    throw new XroadError(
      INTERNAL_ERROR,
      `Failed reading service description from ${url}. Status: ${answer.status}`,
    );
  }
  const contentTypes = [answer.headers["content-type"] ?? []].flat();
  const json = isJson(contentTypes, service.descriptionUrl);
  let doc: unknown;
  try {
    const text = answer.body.toString("utf8");
    doc = json ? JSON.parse(text) : YAML.parse(text);
  } catch {
    throw new XroadError(
      INTERNAL_ERROR,
      `Failed overwriting origin URL for the openapi servers for ${url}`,
    );
  }
  anonymiseServers(doc);
  return {
    contentType: contentTypes[0] ?? DEFAULT_CONTENT_TYPE,
    body: Buffer.from(json ? JSON.stringify(doc) : YAML.stringify(doc)),
  };
}

/** X-Road decides by Content-Type first, then by the URL's `.json` suffix; YAML otherwise. */
function isJson(contentTypes: string[], url: URL): boolean {
  if (contentTypes.some((t) => t.includes("application/json"))) return true;
  if (contentTypes.includes("application/x-yaml")) return false;
  return url.pathname.endsWith(".json");
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * The provider's own address must not leak to consumers through X-Road, so a server URL
 * without variables becomes its path (`https://sluice:8080/rest/x` → `/rest/x`); a templated
 * one stays. Refuses a document that names an `openapi` version other than 3.x.
 */
function anonymiseServers(doc: unknown): void {
  if (!isObject(doc)) return;
  if (
    doc.openapi !== undefined &&
    !(typeof doc.openapi === "string" && doc.openapi.startsWith("3."))
  ) {
    throw new XroadError(
      INTERNAL_ERROR,
      `Incompatible openapi version. Openapi version 3 or greater expected. Given openapi document is of version ${JSON.stringify(doc.openapi)}`,
    );
  }
  if (!Array.isArray(doc.servers)) return;
  for (const server of doc.servers) {
    if (!isObject(server) || typeof server.url !== "string") continue;
    if (server.url.includes("{") && server.url.includes("}")) continue;
    server.url = pathOf(server.url);
  }
}

/** The decoded path of an absolute or relative URI, as java.net.URI#getPath gives it. */
function pathOf(uri: string): string {
  try {
    new URL(uri, "http://base.invalid/");
    const raw = /^(?:[a-z][a-z0-9+.-]*:)?(?:\/\/[^/?#]*)?([^?#]*)/i.exec(uri)?.[1] ?? "";
    return decodeURIComponent(raw);
  } catch {
    throw new XroadError(INTERNAL_ERROR, `Can't parse url string: ${uri}`);
  }
}
