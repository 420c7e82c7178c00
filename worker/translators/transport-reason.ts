// The words a built-in translator uses for a failed connection. They reach the caller's status
// document, which goes to another organisation: Node's own message names internal addresses
// ("connect ECONNREFUSED 10.0.3.7:8080"), so the error's code stands for it there, and the
// message itself stays in the error's cause for the operator's log and dead letter. A URL a
// library quotes in its message (the soap package's `Invalid WSDL URL: …`) is left out for the
// same reason, and because it may hold the backend's credentials; the operator's words show it
// without them (`describe` in worker/processing/call-decision.ts).

import { withoutUrls } from "../../shared/delivery/callback-target";

/** The error's code (ECONNREFUSED, ENOTFOUND, CERT_HAS_EXPIRED, …), else its first line. */
export function transportReason(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === "string" && code !== "") return code;
  const message = error instanceof Error ? error.message : String(error);
  return withoutUrls(message.split("\n")[0] || "unknown error").slice(0, 200);
}
