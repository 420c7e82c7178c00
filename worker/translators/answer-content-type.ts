// The Content-Type of a security server's answer, as the consumer direction takes it: given once
// (RFC 9110 §8.3), and for SOAP of a type X-Road itself reads a SOAP message in.

/**
 * Why an answer with more than one Content-Type line is not taken, or null. Content-Type is one
 * value, not a list (RFC 9110 §8.3, §5.3): of two, reading the first is a guess at which one the
 * body is, and the intake refuses a request so written (once-only-headers.ts) for the same reason.
 */
export function repeatedContentType(headers: Record<string, unknown>): string | null {
  const value = headers["content-type"];
  return Array.isArray(value) && value.length > 1
    ? `it has ${value.length} Content-Type headers, where an answer has at most one`
    : null;
}
