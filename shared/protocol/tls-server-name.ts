// The name a TLS client sends in its ClientHello (SNI) and checks the server's certificate
// against, for every outbound connection Sluice opens to a URL's host.

import { isIP } from "node:net";

/**
 * The TLS server name (SNI, and the name the certificate is checked against) for a connection
 * to `hostname` (a callback receiver, a hub listener, a backend): none for an IP literal, v4
 * or v6, bracketed or not. RFC 6066 §3 allows only DNS names, and without one Node checks the
 * certificate against the address connected to (an IP SAN). undici strips an IPv6 literal's
 * brackets before calling the connector today; a bracketed one reaching it must not become the
 * name `[::1]`, which no certificate holds. A name written fully qualified (`receiver.example.`)
 * goes without its trailing dot: RFC 6066 §3 forbids one there, Go's TLS servers refuse such a
 * ClientHello outright, and the certificate is checked against the name without it all the same.
 */
export function tlsServerName(hostname: string, requested?: string | null): string | undefined {
  const bare =
    hostname.startsWith("[") && hostname.endsWith("]") ? hostname.slice(1, -1) : hostname;
  if (isIP(bare) !== 0) return undefined;
  const name = requested || hostname;
  return name.endsWith(".") ? name.slice(0, -1) : name;
}
