// The HTTP headers whose values are credentials: they travel to the backend as the caller sent
// them (X-Road passes them on), but no operator view or log line shows their values (docs/rest.md, "Credential headers").

import type { HeaderMap } from "./forwarded-headers";

/** What stands in for a credential's value wherever an operator or a log could read it. */
export const REDACTED = "[redacted]";

/**
 * Header names (lower-case) whose values are credentials: HTTP authentication (RFC 9110 §11),
 * cookies both ways (RFC 6265), the API-key and token headers backends commonly use, and those
 * by which an API gateway or an authenticating proxy in front of Sluice passes on the caller's
 * key, token or TLS client certificate (Azure API Management and App Service, AWS ALB, Google
 * IAP, oauth2-proxy, nginx and IIS ARR, and under X-Forwarded-* names oauth2-proxy's
 * --pass-access-token, Envoy's XFCC and Traefik's passTLSClientCert): whoever holds one can
 * present it as the caller.
 */
export const CREDENTIAL_HEADERS: readonly string[] = [
  "authorization",
  "proxy-authorization",
  "cookie",
  "set-cookie",
  "x-api-key",
  "api-key",
  "x-auth-token",
  "x-access-token",
  "x-csrf-token",
  "x-xsrf-token",
  "x-id-token",
  "x-jwt-assertion",
  "ocp-apim-subscription-key",
  "x-amzn-oidc-accesstoken",
  "x-amzn-oidc-data",
  "x-auth-request-access-token",
  "x-goog-iap-jwt-assertion",
  "x-ms-token-aad-access-token",
  "x-ms-token-aad-id-token",
  "x-ms-client-principal",
  "x-ssl-client-cert",
  "ssl-client-cert",
  "x-client-cert",
  "x-arr-clientcert",
  "x-forwarded-access-token",
  "x-forwarded-client-cert",
  "x-forwarded-tls-client-cert",
];

const CREDENTIAL = new Set(CREDENTIAL_HEADERS);

/** `headers` with every credential's value replaced by REDACTED (names kept, so one sees it was sent). */
export function redactCredentialHeaders(headers: HeaderMap): HeaderMap {
  const shown: HeaderMap = {};
  for (const [name, value] of Object.entries(headers)) {
    shown[name] = CREDENTIAL.has(name.toLowerCase()) ? REDACTED : value;
  }
  return shown;
}

/**
 * A stored message (a queued request, a status document) as an operator may see it: its
 * `headers` and each response's `headers` redacted; anything else as it is.
 */
export function withCredentialsRedacted<T>(message: T): T {
  if (!message || typeof message !== "object") return message;
  const shown: Record<string, unknown> = { ...(message as Record<string, unknown>) };
  if (isHeaderMap(shown.headers)) shown.headers = redactCredentialHeaders(shown.headers);
  if (Array.isArray(shown.responses)) {
    shown.responses = shown.responses.map((response: unknown) =>
      response &&
      typeof response === "object" &&
      isHeaderMap((response as { headers?: unknown }).headers)
        ? {
            ...response,
            headers: redactCredentialHeaders((response as { headers: HeaderMap }).headers),
          }
        : response,
    );
  }
  return shown as T;
}

function isHeaderMap(value: unknown): value is HeaderMap {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
