// The words a built-in translator uses for a failed connection. They reach the caller's status
// document, which goes to another organisation: Node's own message names internal addresses
// ("connect ECONNREFUSED 10.0.3.7:8080"), so the error's code stands for it there, and the
// message itself stays in the error's cause for the operator's log and dead letter.

/** The error's code (ECONNREFUSED, ENOTFOUND, CERT_HAS_EXPIRED, …), else its first line. */
export function transportReason(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === "string" && code !== "") return code;
  const message = error instanceof Error ? error.message : String(error);
  return (message.split("\n")[0] || "unknown error").slice(0, 200);
}
