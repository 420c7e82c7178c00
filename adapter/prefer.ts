// RFC 7240 `Prefer` for REST callers: `respond-async` asks for an acknowledgement, `wait=N`
// for a synchronous answer within N seconds. Unknown preferences are ignored, as the RFC says.

/**
 * `wait` is delta-seconds (RFC 7240 §4.3), and a value too large to represent is taken as 2^31
 * (RFC 9111 §1.2.2): capped by the service's `maxWait` like any long wait, never ignored.
 */
const LONGEST_WAIT_S = 2 ** 31;

export interface Preferences {
  respondAsync: boolean;
  /** Seconds, when the caller sent a valid `wait`. */
  wait: number | null;
}

/**
 * Parses every `Prefer` header value (comma-separated lists, several headers). A preference
 * given more than once counts by its first instance (RFC 7240 §2): `wait=2, wait=60` waits 2 s,
 * and a first `wait` that is no number is ignored with the ones after it.
 */
export function parsePrefer(header: string | string[] | undefined): Preferences {
  const prefs: Preferences = { respondAsync: false, wait: null };
  const values = Array.isArray(header) ? header : header ? [header] : [];
  let waitSeen = false;
  for (const value of values) {
    for (const item of outsideQuotes(value, ",")) {
      const [token] = outsideQuotes(item, ";");
      const [rawName, rawValue] = token.split("=");
      const name = rawName.trim().toLowerCase();
      // A quoted value without its quotes and with each quoted-pair read (RFC 9110 §5.6.4).
      const arg = rawValue
        ?.trim()
        .replace(/^"(.*)"$/, (_, inner: string) => inner.replace(/\\(.)/g, "$1"));
      if (name === "respond-async") prefs.respondAsync = true;
      else if (name === "wait" && !waitSeen) {
        waitSeen = true;
        if (arg !== undefined && /^\d+$/.test(arg))
          prefs.wait = Math.min(Number(arg), LONGEST_WAIT_S);
      }
    }
  }
  return prefs;
}

/**
 * `text` split at each `separator` outside a quoted-string (RFC 9110 §5.6.4): a comma or a
 * semicolon in a quoted value, and a preference's name with it, belong to that value.
 */
function outsideQuotes(text: string, separator: "," | ";"): string[] {
  if (!text.includes('"')) return text.split(separator);
  const parts: string[] = [];
  let start = 0;
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted && c === "\\") i++;
    else if (c === '"') quoted = !quoted;
    else if (c === separator && !quoted) {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(text.slice(start));
  return parts;
}
