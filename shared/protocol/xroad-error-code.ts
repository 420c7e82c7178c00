// X-Road's own error codes (`X-Road-Error` of a REST answer, `faultcode` of a SOAP Fault; PR-REST
// §4.6, PR-MESS §2.5) read as what they mean for a call: may pass later, refused, or unusable;
// and the message of a REST error document.

import { jsonDepthExceeds, MAX_ANSWER_JSON_DEPTH } from "./json-depth";

/** PR-REST §4.6: the header by which an answer says X-Road itself raised the error. */
export const XROAD_ERROR_HEADER = "x-road-error";

/** `retry`: may pass; `reject`: the request itself is refused; `fail`: the answer is unusable. */
export type XroadFaultClass = "retry" | "reject" | "fail";

/**
 * Parts of a code that say the request will never be served as it is: access rights, an unknown
 * service or client, a request X-Road cannot read. X-Road 7 writes them CamelCase
 * (`AccessDenied`), X-Road 8 snake_case (`access_denied`); both are compared without case or "_".
 */
const REFUSALS = new Set(
  [
    "AccessDenied",
    "UnknownService",
    "UnknownMember",
    "InvalidClientIdentifier",
    "ServiceType",
    "InvalidServiceType",
    "BadRequest",
    "InvalidRequest",
    "InvalidMessage",
    "InvalidSoap",
    "MissingSoap",
    "MissingRest",
    "InvalidXml",
    "InvalidContentType",
    "InvalidSoapAction",
    "InvalidHttpMethod",
    "MimeParsingFailed",
    "MissingHeader",
    "MissingHeaderField",
    "DuplicateHeaderField",
    "InvalidProtocolVersion",
    "MissingBody",
    "InvalidBody",
    "InconsistentHeaders",
    "InconsistentResponse",
  ].map(normal),
);

/** Parts that name a timeout, so the message's failure is reported as one. */
const TIMEOUTS = new Set(["IOError", "Timeout", "TimedOut"].map(normal));

function normal(part: string): string {
  return part.replace(/_/g, "").toLowerCase();
}

/**
 * A SOAP faultcode without its namespace prefix (`SOAP-ENV:Server.ClientProxy.X` →
 * `Server.ClientProxy.X`), whatever letters the prefix holds: an XML name may hold any, and a
 * prefix left on (`é:Client.X`) made a refusal look like something to call again for.
 */
export function withoutFaultPrefix(code: string): string {
  return code.replace(/^[^\s:]+:/, "");
}

/**
 * The class of an X-Road error code (`type` of a REST error, `faultcode` of a SOAP Fault):
 * - a refusal part (above) under `ServiceFailed`, `InconsistentResponse` (the consumer's
 *   security server found the answer's requestHash missing or wrong, without `ServiceFailed`),
 *   or `Server.ClientProxy.MissingSoap` / `MissingRest` (the answer held no message): the
 *   provider's answer was unusable → `fail`;
 * - any other refusal part, or a `Client.*` code: the request is refused → `reject`;
 * - everything else (`NetworkError`, `IOError`, `ServiceFailed`, `ServiceDisabled`,
 *   `OutdatedGlobalConf`, `InternalError`, `DatabaseError`, `SslAuthenticationFailed`,
 *   `MaintenanceMode`, …): the security servers or the provider cannot serve now → `retry`.
 */
export function classifyXroadError(code: string): XroadFaultClass {
  const parts = withoutFaultPrefix(code.trim()).split(".").map(normal);
  const refused = parts.some((part) => REFUSALS.has(part));
  // An inconsistent response is always the answer's fault: the provider served the call.
  const answerUnusable =
    parts.includes("servicefailed") ||
    parts.includes("inconsistentresponse") ||
    answerWithoutMessage(parts);
  if (refused) return answerUnusable ? "fail" : "reject";
  if (parts[0] === "client") return "reject";
  return "retry";
}

/**
 * `Server.ClientProxy.MissingSoap` and `Server.ClientProxy.MissingRest`: the consumer's security
 * server found no message in the provider side's answer (ClientMessageProcessor and
 * ClientRestMessageProcessor.checkResponse, "Response does not have SOAP message" / "REST
 * message"), after the provider was called. The same codes under `Client` or
 * `Server.ServerProxy` are a request without its message, refused.
 */
function answerWithoutMessage(parts: readonly string[]): boolean {
  return (
    parts.length === 3 &&
    parts[0] === "server" &&
    parts[1] === "clientproxy" &&
    (parts[2] === "missingsoap" || parts[2] === "missingrest")
  );
}

/** Whether a code names a timeout (`Server.ServerProxy.ServiceFailed.IOError` and the like). */
export function isXroadTimeout(code: string): boolean {
  return code.split(".").some((part) => TIMEOUTS.has(normal(part)));
}

/** The `message` of an X-Road REST error document in JSON (PR-REST §4.6), or null. */
export function xroadJsonErrorMessage(body: string): string | null {
  // No error document nests deeply; parsing one that does held the worker for seconds.
  if (jsonDepthExceeds(body, MAX_ANSWER_JSON_DEPTH)) return null;
  try {
    const parsed = JSON.parse(body) as { message?: unknown } | null;
    if (typeof parsed?.message === "string") return parsed.message;
  } catch {
    // Not JSON.
  }
  return null;
}
