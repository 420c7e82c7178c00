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

/** `token [ BWS "=" BWS word ]` (RFC 7240 §2), a word being a token or a quoted-string. */
const PAIR =
  /^[ \t]*[!#$%&'*+\-.^_`|~0-9A-Za-z]+(?:[ \t]*=[ \t]*(?:[!#$%&'*+\-.^_`|~0-9A-Za-z]+|"(?:[\t\x20\x21\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\t\x20-\x7e\x80-\xff])*"))?[ \t]*$/;

/** Only optional white space: an empty parameter (`wait=5;`, `wait=5;;x`). */
const EMPTY = /^[ \t]*$/;

/**
 * Parses every `Prefer` header value: comma-separated lists, and several header lines read as
 * one list, their values joined by commas (RFC 9110 §5.3). A preference given more than once
 * counts by its first instance (RFC 7240 §2): `wait=2, wait=60` waits 2 s, and a first `wait`
 * that is no number is ignored with the ones after it. An element that is no preference by the
 * grammar (`wait=5=6`, `wait=5 6`, `wait=a"b`, a malformed parameter) is ignored whole, as a
 * preference the server does not understand (RFC 7240 §2): it is no instance of `wait`, and
 * a well-formed one after it counts.
 */
export function parsePrefer(header: string | string[] | undefined): Preferences {
  const prefs: Preferences = { respondAsync: false, wait: null };
  const list = Array.isArray(header) ? header.join(", ") : (header ?? "");
  let waitSeen = false;
  for (const item of outsideQuotes(list, ",")) {
    const [token, ...parameters] = outsideQuotes(item, ";");
    if (!PAIR.test(token) || !parameters.every((p) => EMPTY.test(p) || PAIR.test(p))) continue;
    const equals = token.indexOf("=");
    const name = (equals < 0 ? token : token.slice(0, equals)).trim().toLowerCase();
    // A quoted value without its quotes and with each quoted-pair read (RFC 9110 §5.6.4).
    const arg =
      equals < 0
        ? undefined
        : token
            .slice(equals + 1)
            .trim()
            .replace(/^"(.*)"$/, (_, inner: string) => inner.replace(/\\(.)/g, "$1"));
    if (name === "respond-async") prefs.respondAsync = true;
    else if (name === "wait" && !waitSeen) {
      waitSeen = true;
      if (arg !== undefined && /^\d+$/.test(arg))
        prefs.wait = Math.min(Number(arg), LONGEST_WAIT_S);
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
