// A URL's password inside a string: a library's error quoting the URL it failed to connect to
// (`connect ECONNREFUSED` for `amqp://user:secret@host`), a callback target logged as it was
// configured. Field-name redaction cannot see it, so written text is read for it instead.

import { REDACTED } from "../protocol/credential-headers";

/** What a password already hidden reads as: left as it is. */
const HIDDEN = new Set([REDACTED, "***"]);

/** Query parameters ioredis takes a password from (redis:// and redis-sentinel:// URLs). */
const QUERY_PASSWORD = /([?&](?:password|sentinelPassword)=)[^&#]*/gi;

/** Characters a URL in a line of text or JSON ends at: white space, quotes, angle brackets. */
function endsUrl(code: number): boolean {
  return (
    code <= 0x20 ||
    code === 0x22 ||
    code === 0x27 ||
    code === 0x3c ||
    code === 0x3e ||
    code === 0x60
  );
}

/**
 * `text` with the password of every URL in it replaced by REDACTED, the rest kept (scheme, user,
 * host, port, path: what an operator needs). The userinfo runs from `//` to the last `@` before
 * the URL's query, fragment or end (a password may hold `/`, `@` or `,` unencoded, as
 * startup-error.ts's redactUrl reads it too); what follows its first `:` is the password, all of
 * it when it has none (`redis://secret@host`). A URL ends at white space, a quote (a JSON line's
 * `\"` does not end it) or the next `://`, so each character is read once: the cost is linear in
 * the text's length. A password or sentinelPassword query value is hidden too. `text` itself
 * when it holds no URL with a password.
 */
export function hideUrlPasswords(text: string): string {
  let from = text.indexOf("://");
  if (from < 0) return text;
  let out = "";
  let copied = 0;
  while (from >= 0) {
    const start = from + 3;
    const next = text.indexOf("://", start);
    const limit = next < 0 ? text.length : next;
    let end = start;
    let query = -1;
    let at = -1;
    let colon = -1;
    while (end < limit) {
      const code = text.charCodeAt(end);
      // A JSON line's escape (`\"`, `\\`) is part of the value: passed over whole.
      if (code === 0x5c) {
        end += 2;
        continue;
      }
      if (endsUrl(code)) break;
      if (query < 0) {
        if (code === 0x3f || code === 0x23) query = end;
        else if (code === 0x40) at = end;
        else if (code === 0x3a && colon < 0) colon = end;
      }
      end += 1;
    }
    end = Math.min(end, limit);
    if (at >= 0) {
      const secretStart = colon >= 0 && colon < at ? colon + 1 : start;
      if (!HIDDEN.has(text.slice(secretStart, at))) {
        out += text.slice(copied, secretStart) + REDACTED;
        copied = at;
      }
    }
    if (query >= 0 && query < end) {
      const part = text.slice(query, end);
      const hidden = part.replace(QUERY_PASSWORD, (_all, name: string) => `${name}${REDACTED}`);
      if (hidden !== part) {
        out += text.slice(copied, query) + hidden;
        copied = end;
      }
    }
    from = next;
  }
  return copied === 0 ? text : out + text.slice(copied);
}
