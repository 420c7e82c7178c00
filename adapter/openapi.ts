// OpenAPI 3.1 descriptions of the REST services and of the status service
// (docs/xroad-deployment.md, PR-REST §5.1), generated from the configuration and the services' JSON
// Schemas, so an operator registers each service in the security server by its "OpenAPI 3
// description" URL.

import type { ServiceConfig } from "../shared/config/config";
import { MESSAGE_STATES } from "../shared/store/transaction-store";
import { REQUEST_REFUSALS, ROUTE_REFUSALS, type RequestRefusal } from "./request-refusals";
import { OUTCOME_FAILURES } from "./route-intake";
import { isXmlBody } from "../shared/protocol/rest-xml-body";
import { CLIENT } from "./xroad-client";

type Doc = Record<string, unknown>;

const ERROR_REF = { $ref: "#/components/schemas/Error" };
const JSON_ERROR = { "application/json": { schema: ERROR_REF } };

const ID_HEADERS = {
  "X-Road-Id": {
    description: "The caller's X-Road message id, echoed.",
    schema: { type: "string" },
  },
  "X-Sluice-Id": {
    description: "Sluice's id of the message.",
    schema: { type: "string", format: "uuid" },
  },
};

/** On every answer about a message taken in (docs/semantics.md, "What an answer says"). */
const STATE_HEADER = {
  "X-Sluice-State": {
    description:
      "The message's state: accepted (kept, not answered yet) or its outcome. A backend's own 202 says completed.",
    schema: {
      type: "string",
      enum: ["accepted", "processing", "completed", "rejected", "failed", "expired", "cancelled"],
    },
  },
};

/** On status and cancel answers: one client's status document is never a shared cache's. */
const NO_STORE = {
  description: "no-store: the document is this client's alone (told apart by X-Road-Client).",
  schema: { type: "string", enum: ["no-store"] },
};

/** RFC 7240: the caller's preferences Sluice applied (respond-async, wait=N). */
const PREFERENCE_APPLIED = {
  description: "The preferences of the request's Prefer header that were applied.",
  schema: { type: "string" },
};

const RETRY_AFTER = {
  description: "Seconds to wait before asking again.",
  schema: { type: "integer", minimum: 1 },
};

const SCHEMAS = {
  Acknowledgement: {
    type: "object",
    description:
      "The message was received and persisted, not processed: read statusUrl for the outcome.",
    required: ["id", "state", "statusUrl"],
    properties: {
      id: { type: "string", format: "uuid" },
      xroadId: { type: ["string", "null"] },
      state: { type: "string", const: "accepted" },
      statusUrl: {
        type: "string",
        description:
          "The status resource as the caller reaches it: /r1/<provider subsystem>/<status service>/<id> through X-Road.",
      },
    },
  },
  Error: {
    type: "object",
    required: ["type", "message"],
    properties: {
      type: { type: "string", description: "A stable error code, e.g. ValidationFailed, Busy." },
      message: { type: "string" },
      detail: { type: ["string", "null"], description: "Sluice's message id, where one exists." },
    },
  },
  StatusDocument: {
    type: "object",
    required: ["id", "service", "state", "delivery", "createdAt", "updatedAt", "responses"],
    properties: {
      id: { type: "string", format: "uuid" },
      client: {
        type: "string",
        description:
          "The X-Road client that sent the message (INSTANCE/CLASS/MEMBER[/SUBSYSTEM]): a callback or hub receiver checks it is its own.",
      },
      xroadId: { type: ["string", "null"] },
      service: { type: "string" },
      state: {
        type: "string",
        enum: [...MESSAGE_STATES],
      },
      delivery: { type: "string", enum: ["pending", "delivered", "delivery_failed"] },
      createdAt: { type: "string", format: "date-time" },
      updatedAt: { type: "string", format: "date-time" },
      history: {
        type: "array",
        items: {
          type: "object",
          properties: { state: { type: "string" }, at: { type: "string", format: "date-time" } },
        },
      },
      responses: {
        type: "array",
        items: {
          type: "object",
          required: ["seq", "final", "status", "contentType", "body"],
          properties: {
            seq: { type: "integer" },
            final: { type: "boolean" },
            status: { type: "integer" },
            contentType: { type: "string" },
            headers: {
              type: "object",
              description:
                "The backend's own answer headers (ETag, Location, …), when it sent any.",
              additionalProperties: {
                oneOf: [{ type: "string" }, { type: "array", items: { type: "string" } }],
              },
            },
            body: { description: "JSON as JSON, text as a string, bytes as base64." },
            bodyEncoding: { type: "string", const: "base64" },
          },
        },
      },
      error: {
        type: ["object", "null"],
        properties: { code: { type: "string" }, message: { type: "string" } },
      },
      replayOf: {
        type: "string",
        format: "uuid",
        description: "On an operator's replay of a dead letter: the original's id.",
      },
      replayedAs: {
        type: "string",
        format: "uuid",
        description: "On a dead letter an operator replayed: the replay's id.",
      },
    },
  },
};

/**
 * The schemas a document's operations refer to, and no others: a generator makes a type of each
 * one, and a business service's client has no status document to read.
 */
const componentsOf = (...names: Array<keyof typeof SCHEMAS>): Doc => ({
  schemas: Object.fromEntries(names.map((name) => [name, SCHEMAS[name]])),
});

/**
 * No security scheme: the provider's security server authenticates the consumer's, and the
 * client is named by X-Road-Client, never by a credential sent to Sluice.
 */
const NO_SECURITY: Doc[] = [];

const errorResponse = (description: string, extraHeaders: Doc = {}): Doc => ({
  description,
  headers: { ...ID_HEADERS, ...extraHeaders },
  content: JSON_ERROR,
});

/** The answers every business call may get (docs/semantics.md). */
function businessResponses(service: ServiceConfig): Doc {
  const sync = service.reply.mode === "sync";
  const responses: Doc = {
    "200": {
      description: sync
        ? "The backend's answer (sync mode): its status, content type, headers and body."
        : "The backend's answer, when the caller asked to wait (Prefer: wait=N).",
      headers: { ...ID_HEADERS, ...STATE_HEADER, "Preference-Applied": PREFERENCE_APPLIED },
      content: { "*/*": { schema: {} } },
    },
    // A waiting caller gets the backend's answer with the backend's own status: a refusal
    // (4xx, state rejected) or any other status the translator passes on.
    default: {
      description:
        "When waiting (sync mode or Prefer: wait=N): the backend's answer of another status, as it sent it (a refusal ends the message rejected; X-Sluice-State says which).",
      headers: { ...ID_HEADERS, ...STATE_HEADER, "Preference-Applied": PREFERENCE_APPLIED },
      content: { "*/*": { schema: {} } },
    },
    "202": {
      description:
        "Accepted and persisted, not yet processed (ack and callback mode, or a sync wait that ended first).",
      headers: {
        ...ID_HEADERS,
        ...STATE_HEADER,
        Location: { description: "The status resource.", schema: { type: "string" } },
        "Retry-After": RETRY_AFTER,
        "Preference-Applied": PREFERENCE_APPLIED,
      },
      content: { "application/json": { schema: { $ref: "#/components/schemas/Acknowledgement" } } },
    },
    "400": errorResponse("Invalid request: headers, body or JSON Schema validation."),
    "403": errorResponse("AccessDenied: the client may not use this service."),
    "413": errorResponse("PayloadTooLarge."),
    "415": errorResponse("InvalidContentType."),
    "503": errorResponse("Busy or Unavailable: nothing was accepted; try again later.", {
      "Retry-After": RETRY_AFTER,
    }),
    ...outcomeResponses(),
  };
  return { ...responses, ...refusalResponses(responses) };
}

/**
 * The refusals of the request as such, and Sluice's own fault (request-refusals.ts): added to
 * the description of a status `documented` already has (400 is also a body's), not over it.
 */
function refusalResponses(
  documented: Doc,
  refusals: readonly RequestRefusal[] = Object.values(REQUEST_REFUSALS),
): Doc {
  const responses: Doc = {};
  for (const refusal of refusals) {
    const status = String(refusal.status);
    const earlier = (responses[status] ?? documented[status]) as
      { description: string } | undefined;
    const meaning = `${refusal.code}: ${refusal.meaning}`;
    responses[status] = errorResponse(earlier ? `${earlier.description} ${meaning}` : meaning);
  }
  return responses;
}

/**
 * What a waiting caller may conclude from each outcome that is not the backend's answer
 * (docs/semantics.md). One 504 stands for two outcomes, and one of them may have reached the
 * backend: a caller told only "expired" would resubmit under a new X-Road id.
 */
const OUTCOME_MEANINGS: Readonly<Record<string, string>> = {
  failed:
    "BackendFailed: nothing more is tried, as the retries were exhausted or the translator " +
    "failed on it, and the backend may have received it (state failed, dead-lettered; the " +
    "message says which).",
  rejected:
    "BackendRejected: the backend refused it on business grounds and it is never retried (state rejected).",
  expired:
    "Timeout: the message waited longer than expireAfter and was never sent to the backend (state expired).",
  timeout:
    "Timeout: the retries ended with a call that timed out, so the backend may have received it (state failed).",
  cancelled: "Conflict: the message was cancelled before it reached the backend (state cancelled).",
};

/** The error answers of a wait that ended with an outcome other than the backend's answer. */
function outcomeResponses(): Doc {
  const byStatus = new Map<number, string[]>();
  for (const [outcome, failure] of Object.entries(OUTCOME_FAILURES)) {
    const meaning = OUTCOME_MEANINGS[outcome] ?? `${failure.code}: ${failure.message}.`;
    byStatus.set(failure.status, [...(byStatus.get(failure.status) ?? []), meaning]);
  }
  const responses: Doc = {};
  for (const [status, meanings] of [...byStatus].sort(([a], [b]) => a - b)) {
    // About a message taken in: its state and the preferences applied, as on a 200.
    responses[String(status)] = errorResponse(
      `When waiting (sync mode or Prefer: wait=N), the message ended without a backend answer. ${meanings.join(" Or ")} The status document's state says which; detail holds the id.`,
      { ...STATE_HEADER, "Preference-Applied": PREFERENCE_APPLIED },
    );
  }
  return responses;
}

/**
 * `X-Road-Client`, read before anything else of a request (xroad-client.ts). Through X-Road the
 * consumer sends it to its own security server, which passes it on; a local system calling a
 * consumer-direction service sends it to Sluice itself, and may leave it out where the service
 * names a `client` (docs/consumer.md): `optional` says what it is then taken for.
 */
function clientHeader(optional: string | null = null): Doc {
  return {
    name: "X-Road-Client",
    in: "header",
    required: optional === null,
    description:
      "The caller's X-Road client, INSTANCE/CLASS/MEMBER[/SUBSYSTEM], each part " +
      "percent-encoded, sent once: it decides whose message this is. Missing, it is 400 " +
      "MissingHeader" +
      (optional === null ? "" : ` unless ${optional}`) +
      "; malformed, 400 InvalidHeader; repeated, 400 DuplicateHeaderField.",
    schema: { type: "string", pattern: CLIENT.source },
  };
}

const CALLER_HEADERS = [
  {
    name: "Prefer",
    in: "header",
    required: false,
    description: "RFC 7240: respond-async (acknowledge at once) or wait=N (wait up to N seconds).",
    schema: { type: "string" },
  },
  {
    name: "X-Callback-Url",
    in: "header",
    required: false,
    description:
      "With Prefer: respond-async, where the outcome is POSTed (callback mode): a target the operator's allowlist admits for this client; another client's own receiver, or one in no list, is 400 InvalidCallback.",
    schema: { type: "string" },
  },
];

/**
 * OpenAPI document of a REST service reachable at `serviceUrl` (`…/rest/<serviceCode>`). With
 * `soapBody` (its backend sends the request as a SOAP Body's element) the service takes an XML
 * body only, on the methods that carry one: the adapter refuses anything else (415).
 */
export function restServiceOpenApi(
  service: ServiceConfig,
  serviceUrl: string,
  soapBody = false,
): Doc {
  const schema = service.schema ?? {};
  const bodyTypes: Doc = soapBody ? {} : { "application/json": { schema } };
  for (const type of service.contentTypes) {
    if (!soapBody || isXmlBody(type)) bodyTypes[type] = { schema: {} };
  }
  // With a schema the body is required: the adapter refuses a POST, PUT or PATCH without one.
  const required = soapBody || service.schema !== null;
  const operation = (method: string, withBody: boolean, suffix: string): Doc => ({
    operationId: `${method}${suffix}`,
    summary: `${method.toUpperCase()} to ${service.code}`,
    parameters: [
      clientHeader(
        service.client === null
          ? null
          : `a local caller sends none: it is then the service's client, ${service.client}`,
      ),
      ...CALLER_HEADERS,
    ],
    ...(withBody ? { requestBody: { required, content: bodyTypes } } : {}),
    responses: businessResponses(service),
  });
  const item = (suffix: string): Doc => ({
    ...(soapBody ? {} : { get: operation("get", false, suffix) }),
    post: operation("post", true, suffix),
    put: operation("put", true, suffix),
    patch: operation("patch", true, suffix),
    // HEAD and OPTIONS are business calls too (docs/rest.md): a client generated from a
    // document without them could not send one, nor a security server list them as endpoints.
    ...(soapBody
      ? {}
      : {
          delete: operation("delete", false, suffix),
          head: operation("head", false, suffix),
          options: operation("options", false, suffix),
        }),
  });
  return {
    openapi: "3.1.0",
    info: {
      title: service.code,
      version: "1",
      description:
        `X-Road REST service ${service.code}, provided through Sluice (reply mode ${service.reply.mode}). ` +
        "Every path below the service URL is passed to the backend, with any method X-Road REST " +
        "carries but TRACE; JSON bodies are " +
        "checked against the schema first. A 202 means received and persisted, not processed.",
    },
    servers: [{ url: serviceUrl }],
    paths: {
      "/": item("Root"),
      "/{path}": {
        parameters: [
          {
            name: "path",
            in: "path",
            required: true,
            description: "The backend's path (may hold several segments).",
            schema: { type: "string" },
          },
        ],
        ...item("Path"),
      },
    },
    security: NO_SECURITY,
    components: componentsOf("Acknowledgement", "Error"),
  };
}

const idParameter = (name: string, description: string): Doc => ({
  name,
  in: "path",
  required: true,
  description,
  schema: { type: "string", format: "uuid" },
});

/**
 * `responses` with the refusals every route of the service port makes (431, 421, 417, 414,
 * 408, a bad Host's 400, Sluice's own 500): a client generated from the status service's
 * document would otherwise meet answers it was never told of.
 */
function withRouteRefusals(responses: Doc): Doc {
  return { ...responses, ...refusalResponses(responses, ROUTE_REFUSALS) };
}

/** The event hub's paths (TMF688 registration and removal) of the status service. */
const HUB_PATHS: Doc = {
  "/hub": {
    parameters: [clientHeader()],
    post: {
      operationId: "registerListener",
      summary: "Register a listener for state changes of the caller's messages (TMF688)",
      description:
        "Idempotent: registering the same callback and query again answers with the " +
        "listener already registered (the same 201, Location and body), so a retry after " +
        "a lost answer is safe and never makes a second listener.",
      requestBody: {
        required: true,
        content: {
          "application/json": {
            schema: {
              type: "object",
              required: ["callback"],
              properties: {
                callback: {
                  type: "string",
                  description:
                    "https:// URL or xroad:INSTANCE/CLASS/MEMBER/SUBSYSTEM/SERVICECODE that the operator's allowlist admits for this client; another client's own receiver, or one in no list, is 400 InvalidCallback.",
                },
                query: {
                  type: "string",
                  description: "e.g. eventType=MessageStateChangeEvent&service=…",
                },
              },
            },
          },
        },
      },
      responses: withRouteRefusals({
        "201": {
          description: "Registered (now, or by an identical earlier registration).",
          headers: {
            Location: { schema: { type: "string" } },
            "X-Road-Id": ID_HEADERS["X-Road-Id"],
          },
          content: {
            "application/json": {
              schema: {
                type: "object",
                properties: {
                  id: { type: "string", format: "uuid" },
                  callback: { type: "string" },
                  query: { type: "string" },
                },
              },
            },
          },
        },
        "400": errorResponse("Invalid registration or callback target."),
        "409": errorResponse("Conflict: the client holds as many listeners as it may."),
        // hub-route.ts reads a registration of application/json only, and at most 16 KiB of it.
        "413": errorResponse("PayloadTooLarge: the registration is larger than 16 KiB."),
        "415": errorResponse(
          "InvalidContentType: the registration is not application/json, or has a Content-Encoding or a transfer coding other than chunked.",
        ),
        "503": errorResponse("Unavailable.", { "Retry-After": RETRY_AFTER }),
      }),
    },
  },
  "/hub/{hubId}": {
    parameters: [idParameter("hubId", "The listener's id."), clientHeader()],
    delete: {
      operationId: "unregisterListener",
      summary: "Remove a listener the caller registered",
      responses: withRouteRefusals({
        "204": {
          description:
            "Removed (also when its client repeats the removal within a day of the first).",
          headers: { "X-Road-Id": ID_HEADERS["X-Road-Id"] },
        },
        "400": errorResponse(
          "MissingHeader, InvalidHeader or DuplicateHeaderField: X-Road-Client missing, malformed or repeated.",
        ),
        "404": errorResponse("No such listener."),
        // Redis out of reach or silent: the removal may be asked again (it is idempotent).
        "503": errorResponse("Unavailable.", { "Retry-After": RETRY_AFTER }),
      }),
    },
  },
};

/**
 * OpenAPI document of the status service at `serviceUrl` (`…/rest/<statusService>`). The hub's
 * paths only when it is on (a callback secret configured): a security server administrator
 * registers what the document lists, and a client generated from it would call a hub that
 * answers 404. `localClients`: some service names a client for local callers that send none.
 */
export function statusServiceOpenApi(
  statusService: string,
  serviceUrl: string,
  hub: boolean,
  localClients = false,
): Doc {
  const notFound = errorResponse("No such message for this client.");
  // Who asks is read from the X-Road headers before the message is looked up.
  const badHeaders = errorResponse(
    "MissingHeader, InvalidHeader, DuplicateHeaderField or InconsistentHeaders: X-Road-Client " +
      "missing, malformed or repeated, or X-Road-Service naming another service.",
  );
  // Another method on a message (adapter/server.ts); the hub's own paths answer 404.
  const otherMethod = errorResponse(
    "MethodNotAllowed: the method is not GET, HEAD or DELETE (Allow names those).",
  );
  const readResponses = withRouteRefusals({
    "200": {
      description: "The status document; Retry-After while it is not finished.",
      headers: {
        ...ID_HEADERS,
        "Retry-After": RETRY_AFTER,
        "Cache-Control": NO_STORE,
      },
      content: {
        "application/json": { schema: { $ref: "#/components/schemas/StatusDocument" } },
      },
    },
    "400": badHeaders,
    "404": notFound,
    "405": otherMethod,
    "503": errorResponse("Unavailable.", { "Retry-After": RETRY_AFTER }),
  });
  return {
    openapi: "3.1.0",
    info: {
      title: statusService,
      version: "1",
      description:
        (hub
          ? "Status, cancel and event-hub registration for messages sent to Sluice's services. "
          : "Status and cancel of messages sent to Sluice's services. ") +
        "Only the client that sent a message sees it; to anyone else it does not exist.",
    },
    servers: [{ url: serviceUrl }],
    paths: {
      "/{id}": {
        parameters: [
          idParameter("id", "Sluice's message id (the 202's id)."),
          // A local caller without the header reads a message of a service that names a client
          // as that client (status-route.ts); any other id is then unknown to it.
          clientHeader(
            localClients
              ? "a local caller sends none: a message of a service that names a client is then " +
                  "read as that client's, any other is 404"
              : null,
          ),
        ],
        get: {
          operationId: "getMessage",
          summary: "A message's state and responses",
          responses: readResponses,
        },
        // The router answers HEAD as GET, without the body (Retry-After while not finished).
        head: {
          operationId: "headMessage",
          summary: "A message's state, by the headers of its status document alone",
          responses: readResponses,
        },
        delete: {
          operationId: "cancelMessage",
          summary: "Cancel a message that has not reached the backend",
          description:
            "Idempotent: repeating the cancel of a message this client cancelled answers as " +
            "the cancel did (200 with the status document), so a retry after a lost answer " +
            "is safe.",
          responses: withRouteRefusals({
            "200": {
              description:
                "Cancelled (now, or by an earlier cancel of this client): the status document.",
              headers: { ...ID_HEADERS, "Cache-Control": NO_STORE },
              content: {
                "application/json": { schema: { $ref: "#/components/schemas/StatusDocument" } },
              },
            },
            "400": badHeaders,
            "404": notFound,
            "405": otherMethod,
            "409": errorResponse(
              "Conflict: the message already reached the backend, is finished, or the " +
                "operator cancelled it.",
            ),
            "503": errorResponse("Unavailable.", { "Retry-After": RETRY_AFTER }),
          }),
        },
      },
      ...(hub ? HUB_PATHS : {}),
    },
    security: NO_SECURITY,
    components: componentsOf("StatusDocument", "Error"),
  };
}
