// The security server's REST metaservices (PR-MREST §4, §5): `listMethods` and `allowedMethods`
// answer from the services registered for a provider, `getOpenAPI` from the OpenAPI description
// registered for one of them. Called like any REST service: GET /r1/<subsystem>/<metaservice>.

import { randomUUID } from "node:crypto";
import type http from "node:http";
import { readOpenApiDescription, type DescriptionAnswer } from "./openapi-description";
import type { ProviderClient } from "./provider-client";
import {
  idKey,
  providerRequest,
  type RestPath,
  withoutOwnDate,
  xroadAnswerHeaders,
} from "./rest-proxy";
import { serviceEndpoints } from "./service-endpoints";
import type { CompiledService, ServiceEndpoint } from "./sim-options";
import {
  type ClientStatuses,
  requireKnownProvider,
  mayCall,
  serviceIdFields,
  servicesOf,
} from "./provider-services";
import { XroadError } from "./xroad-errors";

const REST_METASERVICES = ["listMethods", "allowedMethods", "getOpenAPI"] as const;
type RestMetaservice = (typeof REST_METASERVICES)[number];

export interface MetaserviceTarget {
  /** The service provider, a subsystem: INSTANCE/CLASS/MEMBER/SUBSYSTEM. */
  provider: string;
  code: RestMetaservice;
  /** The query string as sent, without "?", or "". */
  search: string;
}

const isMetaservice = (code: string): code is RestMetaservice =>
  (REST_METASERVICES as readonly string[]).includes(code);

/**
 * The metaservice a parsed `/r1/…` path calls, or null. X-Road 7.4's client proxy does not tell
 * metaservices apart: it reads the path as any REST call (RestRequest.decodeIdentifiers, five
 * identifier parts), so a member's `/r1/INSTANCE/CLASS/MEMBER/listMethods` is refused there
 * ("Invalid request URI", parseRestPath) and never reaches them. The provider's server proxy
 * (ServerRestMessageProcessor.getServiceHandler) then hands the call to the metaservice
 * add-on's RestMetadataServiceHandlerImpl when canHandle finds a GET of one of
 * the codes (MetadataRequests.LIST_METHODS, ALLOWED_METHODS, GET_OPENAPI), whatever path
 * follows the code; any other method goes to the provider's own service of that code.
 */
export function matchRestMetaservice(method: string, path: RestPath): MetaserviceTarget | null {
  const code = path.decoded[4];
  if (method !== "GET" || !isMetaservice(code)) return null;
  return { provider: idKey(path.decoded.slice(0, 4)), code, search: path.search };
}

/** One entry of the answer's `service` list, in the shape of PR-MREST Annex B.1. */
interface RestServiceDetails {
  member_class: string;
  member_code: string;
  object_type: "SERVICE";
  service_code: string;
  service_type: "REST" | "OPENAPI";
  subsystem_code?: string;
  xroad_instance: string;
  /** The service's endpoints but the whole-service one (service-endpoints.ts). */
  endpoint_list: ServiceEndpoint[];
}

async function restServiceDetails(
  service: CompiledService,
  provider: ProviderClient,
): Promise<RestServiceDetails> {
  const id = serviceIdFields(service);
  return {
    member_class: id.memberClass,
    member_code: id.memberCode,
    object_type: "SERVICE",
    service_code: id.serviceCode,
    // An OpenAPI 3 description makes it an OPENAPI service, a bare base path a REST one.
    service_type: service.descriptionUrl ? "OPENAPI" : "REST",
    ...(id.subsystemCode !== undefined ? { subsystem_code: id.subsystemCode } : {}),
    xroad_instance: id.xRoadInstance,
    endpoint_list: await serviceEndpoints(service, provider),
  };
}

/**
 * `listMethods` (client null) or `allowedMethods` (the services `client` may call). The
 * simulator's access rights are a service's, X-Road's right on its whole-service endpoint,
 * which matches every endpoint: allowedMethods lists all of an allowed service's endpoints.
 */
async function restServiceList(
  services: CompiledService[],
  provider: string,
  client: string | null,
  providerClient: ProviderClient,
): Promise<{ service: RestServiceDetails[] }> {
  const listed = servicesOf(services, provider, "rest").filter(
    (s) => client === null || mayCall(s, client),
  );
  return {
    service: await Promise.all(listed.map((s) => restServiceDetails(s, providerClient))),
  };
}

/** The service `getOpenAPI?serviceCode=…` names; the errors are X-Road's (InternalError). */
function describedService(
  services: CompiledService[],
  target: MetaserviceTarget,
): CompiledService & { descriptionUrl: URL } {
  let code = "";
  // X-Road takes the parameter name in any case, the last one counting.
  for (const [name, value] of new URLSearchParams(target.search)) {
    if (name.toLowerCase() === "servicecode") code = value;
  }
  if (code === "") {
    throw new XroadError(
      "Server.ServerProxy.InvalidRequest",
      "Missing serviceCode in message body",
    );
  }
  const id = `${target.provider}/${code}`;
  const service = services.find((s) => s.id === id);
  if (!service) {
    throw new XroadError("Server.ServerProxy.InternalError", `Service not found: SERVICE:${id}`);
  }
  if (service.type !== "rest" || !service.descriptionUrl) {
    throw new XroadError(
      "Server.ServerProxy.InternalError",
      `Invalid service type: ${service.type === "soap" ? "WSDL" : "REST"}`,
    );
  }
  return service as CompiledService & { descriptionUrl: URL };
}

/**
 * Answers one metaservice call; throws an XroadError before writing. Access rights are not
 * checked: every client may call the metaservices, as in X-Road.
 */
export async function answerRestMetaservice(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  target: MetaserviceTarget,
  body: Buffer,
  call: { client: string; xroadId: string },
  deps: { services: CompiledService[]; provider: ProviderClient; clients?: ClientStatuses },
): Promise<number> {
  const { services } = deps;
  requireKnownProvider(services, target.provider, deps.clients ?? null);
  let answer: DescriptionAnswer;
  if (target.code === "getOpenAPI") {
    answer = await readOpenApiDescription(describedService(services, target), deps.provider);
  } else {
    const list = await restServiceList(
      services,
      target.provider,
      target.code === "allowedMethods" ? call.client : null,
      deps.provider,
    );
    answer = { contentType: "application/json", body: Buffer.from(JSON.stringify(list)) };
  }
  const ids = {
    client: call.client,
    serviceId: `${target.provider}/${target.code}`,
    xroadId: call.xroadId,
    requestId: randomUUID(),
  };
  const request = providerRequest(req, ids);
  withoutOwnDate(res);
  res.writeHead(
    200,
    [
      ["content-type", answer.contentType],
      ...xroadAnswerHeaders(ids, request, body, answer.body.length),
    ].flat(),
  );
  res.end(answer.body);
  return 200;
}
