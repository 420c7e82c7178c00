// X-Road 7.4's client proxy is Jetty 11.0.17 with HttpConfiguration's default
// `UriCompliance.DEFAULT`, and Jetty reads a request's target before any X-Road code does:
//
// - HttpURI.Mutable.parse (called from HttpChannelOverHttp's RequestBuilder while the request
//   line is parsed) throws IllegalArgumentException for a `%` escape that is not hex (its
//   TypeUtil.convertHexDigit), an escape of byte 0, one cut off at the path's end
//   (URIUtil.decodePath "Bad URI % encoding") and a `..` that climbs above the root once the
//   path is decoded and its `;params` dropped (URIUtil.canonicalPath null: "Bad URI").
//   HttpParser.parseNext answers any of them `400` with reason "Bad Request".
// - It records the path's ambiguities; Request.setMetaData then refuses, once the headers are
//   read, each one UriCompliance.DEFAULT does not allow (it allows only an encoded `/` and an
//   encoded `%`), the first of the Violation enum's order:
//   an encoded dot segment (`%2e`, `.%2E`, `%2e%2e`, `%u002e`…) "Ambiguous URI path segment",
//   an empty segment with another after it (`a//b`) "Ambiguous URI empty segment", a dot
//   segment with a parameter (`..;p`) "Ambiguous URI path parameter", a `%u` escape
//   "UTF16 encoding". BadMessageException: `400` with that reason.
//
// Both answers are HttpChannel.onBadMessage's ErrorHandler.badMessageError page. Plain `.` and
// `..` segments that stay under the root are no violation: Jetty resolves them only in the
// decoded path, and X-Road's ClientRestMessageProcessor reads getRequestURI(), which is the raw
// path (Request.getRequestURI → HttpURI.getPath), dot segments and all.

type Violation = "segment" | "empty" | "separator" | "parameter" | "encoding" | "utf16";

/** UriCompliance.Violation's order and descriptions; DEFAULT allows those without one. */
const REFUSED: Array<[Violation, string | null]> = [
  ["segment", "Ambiguous URI path segment"],
  ["empty", "Ambiguous URI empty segment"],
  ["separator", null],
  ["parameter", "Ambiguous URI path parameter"],
  ["encoding", null],
  ["utf16", "UTF16 encoding"],
];

/** HttpURI's __ambiguousSegments (case-insensitive): true always ambiguous, false with a `;`. */
const DOT_SEGMENTS = new Map<string, boolean>([
  [".", false],
  ["%2e", true],
  ["%u002e", true],
  ["..", false],
  [".%2e", true],
  [".%u002e", true],
  ["%2e.", true],
  ["%2e%2e", true],
  ["%2e%u002e", true],
  ["%u002e.", true],
  ["%u002e%2e", true],
  ["%u002e%u002e", true],
]);

/** How Jetty answers a request target: `null` when it passes to X-Road. */
export interface JettyUriRefusal {
  /** Refused while the request line is parsed, before the headers are read. */
  early: boolean;
  /** The reason on Jetty's page. */
  reason: string;
}

const BAD_REQUEST: JettyUriRefusal = { early: true, reason: "Bad Request" };

/**
 * Jetty's TypeUtil.convertHexDigit, quirks kept: besides hex digits it takes `:`–`?`, `@` and
 * a backquote (as 9–15), because it computes the value without checking the character.
 */
function hexDigit(ch: string): number | null {
  const c = ch.charCodeAt(0);
  const d = (c & 0x1f) + (c >> 6) * 0x19 - 0x10;
  return d < 0 || d > 15 ? null : d;
}

/** A request target as Jetty hands it on, once it has passed Jetty's checks. */
export interface JettyTarget {
  /** Refused by Jetty (its `400` page), or null when the request reaches X-Road. */
  refusal: JettyUriRefusal | null;
  /** The raw path, still percent-encoded: Request.getRequestURI (HttpURI.getPath). */
  path: string;
  /** The raw query without `?` (Request.getQueryString), null when the target has no `?`. */
  query: string | null;
  /**
   * The path decoded and its dot segments resolved (HttpURI.getDecodedPath), the `target`
   * Jetty gives X-Road's handlers, which ClientRestMessageHandler tests for `/r1/`.
   */
  pathInContext: string;
  /**
   * The authority of an absolute-form target with a path (HttpURI.getAuthority), which Jetty
   * compares with the `Host` header (mismatchedAuthority); null for any other target.
   */
  authority: string | null;
}

// An absolute-form target's scheme and authority (RFC 9112 §3.2.2): Jetty 11.0.17's
// HttpURI.Mutable.parse reads them (its SCHEME_OR_PATH, HOST_OR_PATH, HOST and PORT states)
// up to the first `/`, and the path from there on. Its HOST state has no case for `?` or `#`:
// they are read as part of the host (`http://h?x` is host `h?x`, no path, no query).
const SCHEME_AND_AUTHORITY = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/([^/]*)/;

/**
 * How Jetty 11.0.17 with UriCompliance.DEFAULT reads a request target: an origin-form one
 * (`/r1/…`) or an absolute-form one (`http://host/r1/…`), whose path gets the same checks
 * (HttpURI.parse goes on from its authority into the same PATH state) and which X-Road sees
 * only as that path and query. An absolute target without a path (nothing after the
 * authority, or a `?` or `#` read into it) has the path `/` and no query
 * (Request.setMetaData: `builder.path("/")`). Another form (`*`) is passed as it is.
 */
export function readJettyTarget(target: string): JettyTarget {
  const absolute = SCHEME_AND_AUTHORITY.exec(target);
  let origin = target;
  let authority: string | null = null;
  if (absolute) {
    origin = target.slice(absolute[0].length);
    if (origin === "")
      return { refusal: null, path: "/", query: null, pathInContext: "/", authority };
    authority = uriAuthority(absolute[1]);
  }
  if (!origin.startsWith("/")) {
    return { refusal: null, path: target, query: null, pathInContext: target, authority };
  }
  // The path ends where Jetty's parse ends it, so the query split agrees with its checks.
  const { refusal, pathEnd } = parseOriginForm(origin);
  const path = origin.slice(0, pathEnd);
  let query: string | null = null;
  if (origin[pathEnd] === "?") {
    const fragment = origin.indexOf("#", pathEnd);
    query = origin.slice(pathEnd + 1, fragment < 0 ? undefined : fragment);
  }
  const decoded = refusal === null ? decodePath(path) : null;
  const pathInContext = decoded === null ? path : canonicalPath(decoded);
  return { refusal, path, query, pathInContext, authority };
}

/**
 * HttpURI.getAuthority of a parsed authority: the host and, when one is given, the port, the
 * user information (`user@`) left out.
 */
function uriAuthority(raw: string): string {
  return raw.slice(raw.lastIndexOf("@") + 1);
}

/**
 * Jetty 11.0.17's Request.setMetaData, after the URI's compliance check: an absolute-form
 * target with a path whose authority is not the `Host` header's, as written, is
 * `BadMessageException(400, "Mismatched Authority")`, since X-Road's connectors keep
 * HttpConfiguration's HttpCompliance.RFC7230, which allows no MISMATCHED_AUTHORITY.
 */
export function mismatchedAuthority(
  target: JettyTarget,
  host: string | undefined,
): JettyUriRefusal | null {
  if (target.authority === null || host === undefined || host === target.authority) return null;
  return { early: false, reason: "Mismatched Authority" };
}

/**
 * HttpURI.Mutable.parse from State.PATH, as pathQuery() calls it for an origin-form target:
 * where the path ends (at a `?` or `#` that is not read as part of a `%` escape, as Jetty
 * reads `%?f`), and Jetty's refusal of it.
 */
function parseOriginForm(target: string): { refusal: JettyUriRefusal | null; pathEnd: number } {
  const refused = (refusal: JettyUriRefusal | null, pathEnd: number) => ({ refusal, pathEnd });
  const violations = new Set<Violation>();
  let emptySeen = false;
  // HttpURI.checkSegment, for the segment target[start, end) followed by a `;` when param.
  const checkSegment = (start: number, end: number, param: boolean): void => {
    if (emptySeen) violations.add("empty");
    if (end === start) {
      if (end >= target.length || "#?".includes(target[end])) return;
      if (!emptySeen) {
        emptySeen = true;
        return;
      }
    }
    const ambiguous = DOT_SEGMENTS.get(target.slice(start, end).toLowerCase());
    if (ambiguous === undefined) return;
    if (ambiguous) violations.add("segment");
    if (param) violations.add("parameter");
  };

  let state: "path" | "param" = "path";
  let segment = 0;
  let escapeLeft = 0;
  let escapeValue = 0;
  let utf16 = false;
  let encoded = false;
  let dot = false;
  let pathEnd = -1;
  for (let i = 0; i < target.length && pathEnd < 0; i++) {
    const c = target[i];
    if (state === "param") {
      if (c === "?" || c === "#") pathEnd = i;
      else if (c === "/") {
        encoded = true;
        segment = i + 1;
        state = "path";
      }
      continue;
    }
    if (escapeLeft > 0) {
      if (escapeLeft === 2 && c === "u" && !utf16) {
        violations.add("utf16");
        utf16 = true;
        escapeLeft = 4;
        continue;
      }
      const d = hexDigit(c);
      if (d === null) return refused(BAD_REQUEST, target.length);
      escapeValue = (escapeValue << 4) + d;
      if (--escapeLeft === 0) {
        if (escapeValue === 0) return refused(BAD_REQUEST, target.length); // "Illegal character in path"
        if (escapeValue === 0x2f) violations.add("separator");
        if (escapeValue === 0x25) violations.add("encoding");
      }
      continue;
    }
    if (c === ";") {
      checkSegment(segment, i, true);
      state = "param";
    } else if (c === "?" || c === "#") {
      checkSegment(segment, i, false);
      pathEnd = i;
    } else if (c === "/") {
      if (i !== 0) checkSegment(segment, i, false);
      segment = i + 1;
    } else if (c === ".") {
      dot ||= segment === i;
    } else if (c === "%") {
      encoded = true;
      utf16 = false;
      escapeLeft = 2;
      escapeValue = 0;
    }
  }
  if (pathEnd < 0) {
    pathEnd = target.length;
    if (state === "path") checkSegment(segment, pathEnd, false);
  }
  if ((encoded || dot) && !canonical(decodePath(target.slice(0, pathEnd)))) {
    return refused(BAD_REQUEST, pathEnd);
  }

  for (const [violation, reason] of REFUSED) {
    if (reason !== null && violations.has(violation)) {
      return refused({ early: false, reason }, pathEnd);
    }
  }
  return refused(null, pathEnd);
}

/**
 * URIUtil.decodePath as far as dot segments go: escapes decoded (to one character per byte;
 * only `.` and `/` matter here), each `;param` dropped up to the next `/`, and null where
 * Jetty throws (an escape cut off by the path's end).
 */
function decodePath(path: string): string | null {
  let out = "";
  for (let i = 0; i < path.length; i++) {
    const c = path[i];
    if (c === "%") {
      if (i + 2 >= path.length) return null;
      if (path[i + 1] === "u") {
        if (i + 6 > path.length) return null;
        out += String.fromCharCode(parseInt(path.slice(i + 2, i + 6), 16) & 0xffff);
        i += 5;
      } else {
        out += String.fromCharCode(
          ((hexDigit(path[i + 1]) ?? 0) * 16 + (hexDigit(path[i + 2]) ?? 0)) & 0xff,
        );
        i += 2;
      }
    } else if (c === ";") {
      const slash = path.indexOf("/", i);
      if (slash < 0) break;
      out += "/";
      i = slash;
    } else {
      out += c;
    }
  }
  return out;
}

/**
 * URIUtil.canonicalPath of a path that stays within the root: `.` and `..` segments resolved,
 * a trailing one leaving its `/` (`/r1/a/..` is `/r1/`).
 */
function canonicalPath(decoded: string): string {
  const out: string[] = [];
  const parts = decoded.split("/").slice(1);
  parts.forEach((part, i) => {
    const last = i === parts.length - 1;
    if (part === "..") {
      out.pop();
      if (last) out.push("");
    } else if (part === ".") {
      if (last) out.push("");
    } else {
      out.push(part);
    }
  });
  return `/${out.join("/")}`;
}

/** Whether URIUtil.canonicalPath resolves the decoded path's dot segments within the root. */
function canonical(decoded: string | null): boolean {
  if (decoded === null) return false;
  let depth = 0;
  for (const part of decoded.split("/").slice(1)) {
    if (part === "..") {
      if (depth === 0) return false;
      depth -= 1;
    } else if (part !== ".") {
      depth += 1;
    }
  }
  return true;
}
