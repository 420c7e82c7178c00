// Which request targets java.net.URI refuses: X-Road's provider-side security server reads the
// REST request line again with it (RestRequest's constructor), after Jetty let the path through.

/** RFC 2396's unreserved marks, as java.net.URI's L_MARK. */
const MARK = "-_.!~*'()";
/** Path characters besides unreserved and escaped ones (L_PCHAR, `;` and `/`). */
const PATH_EXTRA = ":@&=+$,;/";
/** Query characters besides unreserved and escaped ones (L_RESERVED, `[` and `]` included). */
const QUERY_EXTRA = ";/?:@&=+$,[]";

const HEX = /^[0-9A-Fa-f]$/;

function unreserved(c: string): boolean {
  return /^[A-Za-z0-9]$/.test(c) || MARK.includes(c);
}

/**
 * java.net.URI's message for `target` (a path and query as Jetty's getRequestURI and
 * getQueryString give them), or null where it parses. A `%` must lead two hex digits
 * ("Malformed escape pair"); any other character outside the path's or query's set is
 * "Illegal character". A character past US-ASCII is URI's "other", taken as it is.
 */
export function javaUriRefusal(target: string): string | null {
  const question = target.indexOf("?");
  const pathEnd = question < 0 ? target.length : question;
  for (let i = 0; i < target.length; i++) {
    if (i === question) continue;
    const c = target[i];
    if (c === "%") {
      if (!HEX.test(target[i + 1] ?? "") || !HEX.test(target[i + 2] ?? "")) {
        return `Malformed escape pair at index ${i}: ${target}`;
      }
      i += 2;
      continue;
    }
    const inPath = i < pathEnd;
    if (c.charCodeAt(0) > 0x7f || unreserved(c)) continue;
    if ((inPath ? PATH_EXTRA : QUERY_EXTRA).includes(c)) continue;
    return `Illegal character in ${inPath ? "path" : "query"} at index ${i}: ${target}`;
  }
  return null;
}
