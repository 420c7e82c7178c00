// The path a REST caller gives below `/rest/<serviceCode>`, checked so that it can never leave
// the backend's base path however the backend (or a proxy before it) decodes and resolves it.

import { SluiceError } from "./errors";

/** Bytes a path segment may not hold once decoded: controls, and the two path separators. */
// eslint-disable-next-line no-control-regex
const FORBIDDEN = /[\u0000-\u001f\u007f/\\]/;
/** A percent-encoded dot, slash, backslash or percent left after one decoding (double encoding). */
const STILL_ENCODED = /%(?:2e|2f|5c|25|00)/i;
/** A segment of dots and spaces alone: `...`, `.. `, `. .` (one holding a dot: see below). */
const DOTS_AND_SPACES = /^[. ]+$/;

/**
 * The sub-path as received when it is safe, else `400 InvalidPath`. Refused: dot segments in
 * any spelling (`..`, `%2e%2e`, `.%2E`, `..;param`), encoded or raw separators inside a segment
 * (`%2f`, `%5c`, `\`), control characters, double-encoded dots or separators, malformed or
 * overlong percent-encoding, empty segments (`//`) except a trailing slash, and segments of only
 * dots and spaces, up to a `:` (`...`, `..%20`, `..::$INDEX_ALLOCATION`), which a backend on
 * Windows reads as `.` or `..`.
 */
export function checkedSubPath(raw: string): string {
  const problem = pathProblem(raw);
  if (problem !== null) {
    throw new SluiceError("InvalidPath", `the path ${problem}; it is refused and never forwarded`, {
      status: 400,
    });
  }
  return raw;
}

/** What makes a path unsafe (see checkedSubPath), in words after "the path", or null. */
export function pathProblem(raw: string): string | null {
  if (raw === "") return null;
  if (!raw.startsWith("/")) return "must start with /";
  const segments = raw.slice(1).split("/");
  for (let index = 0; index < segments.length; index++) {
    const segment = segments[index];
    if (segment === "") {
      if (index === segments.length - 1) continue;
      return "has an empty segment (//)";
    }
    let decoded: string;
    try {
      decoded = decodeURIComponent(segment);
    } catch {
      return "has malformed percent-encoding";
    }
    // Compatibility forms too: a backend that folds Unicode reads "\uff0e\uff0e" as "..".
    const folded = decoded.normalize("NFKC");
    if (FORBIDDEN.test(decoded) || FORBIDDEN.test(folded)) {
      return "has a control character or an encoded separator";
    }
    if (STILL_ENCODED.test(decoded)) return "is encoded twice";
    // `..;jsessionid=x` is `..` to servers that strip path parameters.
    const name = folded.split(";")[0];
    if (name === "." || name === "..") return "has a . or .. segment";
    // Windows drops a name's trailing dots and spaces, and X-Road's Jetty passes these as
    // written: `...` and `..%20` are `..` to a backend (or a receiver) on Windows, and so is
    // what comes before a `:` (an NTFS stream: `..::$INDEX_ALLOCATION`).
    const stem = name.split(":")[0];
    if (DOTS_AND_SPACES.test(stem) && stem.includes(".")) {
      return "has a segment of only dots and spaces (a . or .. to Windows)";
    }
  }
  return null;
}
