// A REST service's endpoints as a security server's serverconf holds them and its listMethods
// and allowedMethods list them (PR-MREST §4, Annex B): those generated from an OpenAPI 3
// description, then those its administrator added by hand (ug-ss "Add endpoint"), never the
// whole-service one (method `*`, path `**`) every service has.

import YAML from "yaml";
import { fetchDescription } from "./description-fetch";
import type { ProviderClient } from "./provider-client";
import type { CompiledService, ServiceEndpoint } from "./sim-options";

/**
 * The operations of each path in swagger-models' PathItem.readOperationsMap order, which X-Road's
 * OpenApiParser walks to generate the endpoints.
 */
const OPERATION_ORDER = ["get", "put", "post", "delete", "patch", "head", "options", "trace"];

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * A path segment with its parameters written `*`, as Java's greedy `\{[^/]*}` replaces them:
 * from the first `{` to the segment's last `}` (`{a}.{b}` → `*`), the rest of it left as is.
 */
function starred(segment: string): string {
  const open = segment.indexOf("{");
  const close = segment.lastIndexOf("}");
  return open < 0 || close < open
    ? segment
    : `${segment.slice(0, open)}*${segment.slice(close + 1)}`;
}

/**
 * The endpoints X-Road generates from an OpenAPI document (OpenApiParser.parse): one per
 * operation of each path, in the document's order, the method upper-cased and each
 * `{parameter}` written `*` (`/pet/{petId}` → `/pet/*`), as PR-MREST Annex B.1 shows.
 */
export function generatedEndpoints(doc: unknown): ServiceEndpoint[] {
  if (!isObject(doc) || !isObject(doc.paths)) return [];
  const endpoints: ServiceEndpoint[] = [];
  for (const [path, item] of Object.entries(doc.paths)) {
    if (!isObject(item)) continue;
    for (const method of OPERATION_ORDER) {
      if (item[method] === undefined || item[method] === null) continue;
      endpoints.push({
        method: method.toUpperCase(),
        path: path.split("/").map(starred).join("/"),
      });
    }
  }
  return endpoints;
}

/**
 * X-Road's admin refuses to register a description of another version (OpenApiParser
 * .verifyOpenApiVersion): 3.0.x, or 3.1.0 exactly.
 */
const registrable = (doc: unknown): boolean =>
  isObject(doc) &&
  typeof doc.openapi === "string" &&
  (doc.openapi.startsWith("3.0") || doc.openapi === "3.1.0");

/**
 * The generated endpoints of `service`'s OpenAPI description, read now: X-Road reads it when
 * the description is added or refreshed, a step the simulator has not, so its listing follows
 * the document as it is served. A description X-Road could not have registered (unreadable, not
 * YAML or JSON, another OpenAPI version) generates none.
 */
async function describedEndpoints(
  service: CompiledService & { descriptionUrl: URL },
  provider: ProviderClient,
): Promise<ServiceEndpoint[]> {
  try {
    const answer = await fetchDescription(service, service.descriptionUrl, provider);
    if (answer.status !== 200) return [];
    // OpenApiParser reads the body as UTF-8 with a YAML reader, which takes JSON too.
    const doc: unknown = YAML.parse(answer.body.toString("utf8"));
    return registrable(doc) ? generatedEndpoints(doc) : [];
  } catch {
    return [];
  }
}

const isBaseEndpoint = (e: ServiceEndpoint): boolean => e.method === "*" && e.path === "**";

/**
 * What listMethods lists of `service` (ServerConfImpl.getServiceEndpoints): its endpoints but
 * the whole-service one, the generated first, then those added by hand that are not already
 * there (X-Road's admin refuses an endpoint equivalent to one the service has).
 */
export async function serviceEndpoints(
  service: CompiledService,
  provider: ProviderClient,
): Promise<ServiceEndpoint[]> {
  const listed = service.descriptionUrl
    ? await describedEndpoints(service as CompiledService & { descriptionUrl: URL }, provider)
    : [];
  for (const endpoint of service.endpoints) {
    const known = listed.some((e) => e.method === endpoint.method && e.path === endpoint.path);
    if (!known && !isBaseEndpoint(endpoint)) listed.push(endpoint);
  }
  return listed;
}
