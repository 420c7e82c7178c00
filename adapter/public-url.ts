// Where the service descriptions (OpenAPI, WSDL) say the services are. Never from the request:
// a Host header is whatever the caller wrote, and a document built from it points clients (and
// a security server registering it, and any cache before Sluice) wherever that caller chose.

/**
 * `adapter.publicUrl` (absolute, no trailing slash) followed by `path`; without one, `path`
 * alone: a relative reference, which a reader resolves against the URL it read the document from.
 */
export function publicUrl(base: string | null, path: string): string {
  return `${base ?? ""}${path}`;
}
