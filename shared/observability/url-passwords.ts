// A URL's password, hidden the one way Sluice hides it wherever it writes a URL: in a connection
// URL it names in a message (`cannot connect to RabbitMQ at amqp://sluice:[redacted]@rabbit`),
// and inside written text (a library's error quoting the URL it failed to connect to, a callback
// target logged as it was configured), which field-name redaction cannot see.
//
// Not WHATWG `URL` for the reading (only to tell a connection URL no client can read): text
// holds a URL somewhere inside it, which `URL` cannot find; a connection URL is named in a
// message most often because it is mistyped (a port that is no number, an unencoded `/` in the
// password), which `URL` refuses to parse; and `URL` would write back its own serialisation (host
// lower-cased, `[redacted]` percent-encoded, a `/` added), not what the operator wrote and must
// recognise.

import { REDACTED } from "../protocol/credential-headers";

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

/** `/`, `?` or `#`: where a URL's authority ends (RFC 3986, 3.2). */
function endsAuthority(code: number): boolean {
  return code === 0x2f || code === 0x3f || code === 0x23;
}

/**
 * Whether `host[:port]` ends in a port a client could read: none, or digits (after an IPv6
 * literal's `]` too). A port that is not one (`amqp://u:kT9/x@host`, a password with an
 * unencoded `/`) is the front of a mangled password.
 */
function readablePort(hostPort: string): boolean {
  const bracket = hostPort.startsWith("[") ? hostPort.indexOf("]") : -1;
  const colon = hostPort.indexOf(":", bracket + 1);
  return colon < 0 || /^\d*$/.test(hostPort.slice(colon + 1));
}

/** Where the path that starts at `from` ends: its query's `?`, its fragment's `#`, or `end`. */
function pathEnd(text: string, from: number, end: number): number {
  let index = from;
  while (index < end && text.charCodeAt(index) !== 0x3f && text.charCodeAt(index) !== 0x23) {
    index += 1;
  }
  return index;
}

/** The last `@` in `text[from, end)`, read back from `end`, or -1. */
function lastAt(text: string, from: number, end: number): number {
  for (let index = end - 1; index >= from; index -= 1) {
    if (text.charCodeAt(index) === 0x40) return index;
  }
  return -1;
}

/** A host list as Sluice's URLs name one (`h`, `[::1]:5672`, `h1:5672,h2`). */
const HOSTS =
  /(?:\[[0-9a-f:.]*\]|[a-z0-9._~%-]*)(?::\d*)?(?:,(?:\[[0-9a-f:.]*\]|[a-z0-9._~%-]*)(?::\d*)?)*/iy;

/** An authority opening with an IP address or `localhost` (a port or none): no user name's front. */
const ADDRESS =
  /^(?:\d{1,3}(?:\.\d{1,3}){3}|\[[0-9a-f.]*:[0-9a-f:.]*\]|localhost)(?![\w~%-]|\.\w)/i;

/** An IPv6 literal and a port or none, and what punctuation a sentence puts after a URL. */
const IPV6_AUTHORITY = /^\[[0-9a-f.]*:[0-9a-f:.]*\](?::\d*)?[:.,;)]*$/i;

/** A host (or a list of hosts) with a port: `h:5672`, `[::1]:6380`, `h1:5672,h2:5672`. */
const HOST_AND_PORT =
  /^(?:\[[0-9a-f:.]+\]|[a-z0-9._~%-]+):\d{1,5}(?:,(?:\[[0-9a-f:.]+\]|[a-z0-9._~%-]+)(?::\d{1,5})?)*$/i;

/**
 * Where the userinfo ends of a URL whose authority (before `from`) reads as `host:port`, when
 * the port's digits may be the front of a password holding `/`, `?` or `#` unencoded
 * (`amqp://u:12?3@h`, `redis://:123#x@h`, `amqp://u:12/3@h`): the last `@` of
 * `text[from, end)` followed by hosts up to the URL's end, path, query or fragment; else the
 * path's last `@` (the path ends at `pathEndsAt`); else -1. An `@` in a query value followed by
 * more than a host (`?mail=a@b.example&x=1`) is kept. HOSTS stops at the next `@`, so each
 * character is read a bounded number of times.
 */
function lastHostAt(text: string, from: number, end: number, pathEndsAt: number): number {
  for (let index = end - 1; index >= from; index -= 1) {
    if (text.charCodeAt(index) !== 0x40) continue;
    HOSTS.lastIndex = index + 1;
    HOSTS.exec(text);
    const after = HOSTS.lastIndex;
    if (after >= end || endsAuthority(text.charCodeAt(after))) return index;
  }
  return lastAt(text, from, pathEndsAt);
}

/**
 * Adds to `edits` what hides the password of the URL `text[start, end)` (from just past its
 * `//`). The userinfo ends at the last `@` of the authority, which ends at
 * the first `/`, `?` or `#` (RFC 3986: an `@` in the path or query is no userinfo, and
 * `amqp://u:p@[::1]:5672/` keeps its host); what follows the userinfo's first `:` is the password,
 * all of it when a Redis URL's has none (ioredis reads `redis://secret@host` as a password; another scheme's `user@` is a user name, shown). An authority
 * without `@` but with a `:` may be the front of a password holding `/`, `?` or `#` unencoded
 * (`amqp://u:kT9/x@host`, `amqp://u:12/3@host`): no client reads it so, but it is the operator's
 * secret. So what follows the first `:` is hidden up to the URL's last `@` when the port is no
 * number, and up to the path's last `@` when it is one (an `@` in a path after a real port, as in
 * `amqp://h:5672/v@x`, is hidden over too: too much rather than too little). A password or
 * sentinelPassword query value is hidden too.
 */
function hideOne(text: string, start: number, end: number, edits: Edit[]): Userinfo | undefined {
  let authorityEnd = start;
  let at = -1;
  let colon = -1;
  while (authorityEnd < end) {
    const code = text.charCodeAt(authorityEnd);
    if (endsAuthority(code)) break;
    if (code === 0x40) at = authorityEnd;
    else if (code === 0x3a && colon < 0) colon = authorityEnd;
    authorityEnd += 1;
  }
  // ioredis reads `redis://secret@host` as a password: one holding `/`, `?` or `#` unencoded
  // (`redis://ab/cd@host`, `redis://ab?cd@host`) leaves an `@` after the authority, hidden up to
  // the URL's last (an `@` in a query value is hidden over too: too much rather than too little).
  if (at < 0 && colon < 0 && authorityEnd < end && REDIS_SCHEME.test(schemeBefore(text, start))) {
    at = lastAt(text, authorityEnd, end);
  }
  // An authority opening with `[` and holding no `@` is an IPv6 host, its colons no userinfo's.
  if (at < 0 && colon >= 0 && authorityEnd < end && text.charCodeAt(start) !== 0x5b) {
    at = readablePort(text.slice(start, authorityEnd))
      ? lastHostAt(text, authorityEnd, end, pathEnd(text, authorityEnd, end))
      : lastAt(text, authorityEnd, end);
  }
  let userinfo: Userinfo | undefined;
  // A userinfo without `:` is hidden whole, whatever the scheme: ioredis reads `redis://secret@h`
  // as a password, and a token is often sent as a user name (`https://<token>@host/`).
  if (at >= 0) {
    const secretStart = colon >= 0 && colon < at ? colon + 1 : start;
    userinfo = { from: secretStart, at };
    if (text.slice(secretStart, at) !== REDACTED)
      edits.push({ from: secretStart, to: at, with: REDACTED });
  }
  let query = Math.max(authorityEnd, at + 1);
  while (query < end && text.charCodeAt(query) !== 0x3f) query += 1;
  if (query < end) {
    const part = text.slice(query, end);
    const hidden = part.replace(QUERY_PASSWORD, (_all, name: string) => `${name}${REDACTED}`);
    if (hidden !== part) edits.push({ from: query, to: end, with: hidden });
  }
  return userinfo;
}

/** Schemes whose userinfo without a `:` ioredis reads as a password. */
const REDIS_SCHEME = /^(?:rediss?|redis-sentinel)$/i;

/** The scheme (lower-case) before the `://` that ends just before `start`, or "". */
function schemeBefore(text: string, start: number): string {
  let from = start - 3;
  while (from > 0 && /[a-z0-9+.-]/i.test(text[from - 1])) from -= 1;
  return text.slice(from, start - 3).toLowerCase();
}

/**
 * How far a password may run: a JSON log line's string (its `"` ends it, its `\\` escapes are
 * read over), a line of plain text (a `"` may be the password's: only a line's end ends it), or
 * a connection URL's end.
 */
type Lines = "json" | "text" | "url";

/** A password `text[from, at)`, ended by the userinfo's `@` at `at`. */
interface Userinfo {
  from: number;
  at: number;
}

/** A stretch `[from, to)` of the text and the last `@` in it a host follows (`last`, or -1). */
interface Window {
  from: number;
  to: number;
  last: number;
}

/** Whether a host's character follows the `@` at `at`: an `@` a userinfo may end at. */
function hostFollows(text: string, at: number): boolean {
  HOSTS.lastIndex = at + 1;
  HOSTS.exec(text);
  return HOSTS.lastIndex > at + 1;
}

/**
 * The last `@` a host follows from `from` to the end of its window (the line's or the JSON
 * string's end; the text's end when `lines` is false), or -1. A password holding an unencoded
 * `@` goes on to it, whatever stands between (`/`, `?`, `#`, white space, a quote, `://`): any
 * `@` before it may be one of the password's. The window read last is kept in `window`: asked
 * again from inside it (the next URL of the line), the answer is known, so each character is
 * read a bounded number of times.
 */
function lastUserinfoAt(text: string, from: number, window: Window, lines: Lines): number {
  if (from < window.from || from > window.to) {
    let index = from;
    let last = -1;
    while (index < text.length) {
      const code = text.charCodeAt(index);
      if (lines === "json" && code === 0x5c) {
        index += 2;
        continue;
      }
      if (lines !== "url" && endsWindow(code, lines)) break;
      if (code === 0x40 && hostFollows(text, index)) last = index;
      index += 1;
    }
    window.from = from;
    window.to = Math.min(index, text.length);
    window.last = last;
  }
  return window.last >= from ? window.last : -1;
}

/**
 * Hides, for the URL whose password `userinfo` names, up to the last `@` of the window a host
 * follows (lastUserinfoAt), unless the password is already REDACTED (a line naming a URL
 * hideUrlPassword wrote); the edits from `before` on (this URL's) are replaced. The `@` the
 * userinfo ends at, moved or not.
 */
function extended(
  text: string,
  userinfo: Userinfo,
  edits: Edit[],
  before: number,
  window: Window,
  lines: Lines,
): number {
  if (text.slice(userinfo.from, userinfo.at) === REDACTED) return userinfo.at;
  const last = lastUserinfoAt(text, userinfo.at + 1, window, lines);
  if (last < 0) return userinfo.at;
  edits.length = before;
  edits.push({ from: userinfo.from, to: last, with: REDACTED });
  return last;
}

/** A stretch `[from, to)` of the text holding no `@` a spilled password could end at. */
interface Searched {
  from: number;
  to: number;
}

interface Edit {
  from: number;
  to: number;
  with: string;
}

function applied(text: string, edits: Edit[]): string {
  if (edits.length === 0) return text;
  let out = "";
  let copied = 0;
  for (const edit of edits) {
    out += text.slice(copied, edit.from) + edit.with;
    copied = edit.to;
  }
  return out + text.slice(copied);
}

/** A port as written after a host: digits up to the URL's end, path, query, fragment or next host. */
const PLAIN_PORT = /^\d*(?:[,/?#]|$)/;

/**
 * One URL (a connection URL Sluice names in a message) with its password replaced by REDACTED,
 * the rest as written. Without a scheme (a mistyped URL), read from its start alike. One with
 * no `@` that WHATWG URL cannot parse and whose `:` is followed by no port, or follows no host
 * (`amqp://u:kT9x`, `redis://:123?x`: a password whose host was left out, or that the operator
 * cut at its `@`), is shown up to that `:` only: a URL no client can read is printed as one
 * that is mistyped, never raw.
 */
export function hideUrlPassword(url: string): string {
  const scheme = /^(?:[a-z][a-z0-9+.-]*:)?\/\//i.exec(url);
  const start = scheme ? scheme[0].length : 0;
  const edits: Edit[] = [];
  const userinfo = hideOne(url, start, url.length, edits);
  if (userinfo) {
    const at = extended(url, userinfo, edits, 0, { from: -1, to: -1, last: -1 }, "url");
    // The host, port, path and query after a password that went on past the authority.
    if (at !== userinfo.at) hideOne(url, at + 1, url.length, edits);
  } else if (!URL.canParse(url)) {
    const colon = url.indexOf(":", start);
    if (
      colon >= 0 &&
      url.charCodeAt(start) !== 0x5b &&
      (colon === start || !PLAIN_PORT.test(url.slice(colon + 1)))
    ) {
      return `${url.slice(0, colon + 1)}${REDACTED}`;
    }
  }
  return applied(url, edits);
}

/**
 * `text` with the password of every URL in it replaced by REDACTED, the rest kept (scheme, user,
 * host, port, path: what an operator needs), as hideUrlPassword hides it. A URL ends at white
 * space, a quote (a JSON line's `\"` does not end it: it may be part of a password) or the next
 * `://`; each character is read a bounded number of times, so the cost is linear in the text's
 * length. `text` itself when it holds no URL with a password. `lines` says what `text` is: a
 * JSON log line (a password runs on to the end of its string) or plain text (`sluice`'s error
 * output, where a `"` may be a password's: it runs on to the line's end).
 */
export function hideUrlPasswords(text: string, lines: "json" | "text" = "json"): string {
  let from = text.indexOf("://");
  if (from < 0) return text;
  const edits: Edit[] = [];
  // Where a search for a spilled password's `@` last ran to the end of its window finding none.
  const searched: Searched = { from: -1, to: -1 };
  const window: Window = { from: -1, to: -1, last: -1 };
  while (from >= 0) {
    let start = from + 3;
    let end = urlEnd(text, start);
    // `amqp://u://x@h`: what reads as the next URL's scheme is a user whose password holds `://`.
    if (end === start && start < text.length && !endsUrl(text.charCodeAt(start))) {
      const next = text.indexOf("://", start);
      if (next > start) end = next + 1;
    }
    const before = edits.length;
    let userinfo = hideOne(text, start, end, edits);
    let moved = false;
    if (!userinfo) {
      const spilled = spilledPassword(text, start, end, searched, lines);
      if (spilled !== undefined) {
        // A query password hideOne found lies inside the spilled one.
        edits.length = before;
        edits.push({ from: spilled.from, to: spilled.at, with: REDACTED });
        userinfo = spilled;
        moved = true;
      }
    }
    if (userinfo) {
      const at = extended(text, userinfo, edits, before, window, lines);
      if (moved || at !== userinfo.at) {
        // The rest of that URL (host, port, path, query) read as a URL of its own.
        start = at + 1;
        hideOne(text, start, urlEnd(text, start), edits);
      }
    }
    from = text.indexOf("://", start);
  }
  return applied(text, edits);
}

/**
 * Where the URL from `start` (just past its `//`) ends: white space, a quote, an angle bracket
 * or the next `://`. A JSON line's escape (`\"`, `\\`) is part of the value: passed over whole.
 */
function urlEnd(text: string, start: number): number {
  // A `://` right at the start is a password's (`amqp://:// x@h`), not the next URL.
  const next = text.indexOf("://", start + 1);
  let limit = next < 0 ? text.length : next;
  // The next URL's scheme is its own (`amqp://u:p@h1,amqp://u:q@h2`).
  if (next >= 0) while (limit > start && /[a-z0-9+.-]/i.test(text[limit - 1])) limit -= 1;
  let end = start;
  while (end < limit) {
    const code = text.charCodeAt(end);
    if (code === 0x5c) {
      end += 2;
      continue;
    }
    if (endsUrl(code)) break;
    end += 1;
  }
  return Math.min(end, limit);
}

/** Where a spilled password's search ends: the line's or the JSON string's end. */
function endsWindow(code: number, lines: "json" | "text"): boolean {
  return code === 0x0a || code === 0x0d || (lines === "json" && code === 0x22);
}

/**
 * The password of a URL `text[start, end)` that holds no userinfo by itself but whose
 * authority reads `word:rest`, when the password went on past where a URL in text ends: a space,
 * a quote or `<>` in it (`amqp://u:pa ss@host`), or a `://` (`redis://u:a://b@host`). Its
 * userinfo then ends at an `@` further on the line (or the JSON string) that a host follows (the
 * caller extends it to the last: lastUserinfoAt). Found, what lies between the `:` and that `@`
 * is the password, prose between them too (too much rather than too little). Not found, the URL
 * whose `:` is followed by no port (`amqp://u:kT9x`) is hidden from its `:` on, as
 * hideUrlPassword shows one; one with a port is a host and a port. An IP address or localhost and
 * a port followed by white space is a URL and prose, never searched on. Each character is read a
 * bounded number of times: the search ends at the first such `@`, and the next URL is looked for
 * after it.
 */
function spilledPassword(
  text: string,
  start: number,
  end: number,
  searched: Searched,
  lines: "json" | "text",
): Userinfo | undefined {
  let authorityEnd = start;
  let colon = -1;
  let at = -1;
  while (authorityEnd < end && !endsAuthority(text.charCodeAt(authorityEnd))) {
    const code = text.charCodeAt(authorityEnd);
    if (colon < 0 && code === 0x3a) colon = authorityEnd;
    else if (code === 0x40) at = authorityEnd;
    authorityEnd += 1;
  }
  // A user name without a password (`http://user@host:8080/ …`, shown): the host follows it.
  if (at >= 0) return spilledPassword(text, at + 1, end, searched, lines);
  // An IPv6 host's colons are no userinfo's; a `[` opening anything else may be a password's.
  if (IPV6_AUTHORITY.test(text.slice(start, authorityEnd))) return undefined;
  const stop = end < text.length ? text.charCodeAt(end) : -1;
  // Nothing past the URL: a host and a port, or a password the text was cut at.
  const spills = stop >= 0 && !endsWindow(stop, lines);
  if (colon < 0) {
    // A Redis password alone (`redis://secret@host`) cut by white space, a quote or `<>`; an IP
    // address or localhost followed by white space is a host and prose (`redis://10.0.0.5 down`).
    if (!REDIS_SCHEME.test(schemeBefore(text, start)) || stop < 0) return undefined;
    if (stop <= 0x20 && ADDRESS.test(text.slice(start, authorityEnd))) return undefined;
    colon = start - 1;
  }
  // Hosts and ports, as a host list reads (`h1:5672,h2`): no password the URL cut. Punctuation
  // a sentence puts after a URL (`rediss://h:6380: refused`) is not part of its authority.
  let authorityTo = authorityEnd;
  while (authorityTo > start && ":.,;)".includes(text[authorityTo - 1])) authorityTo -= 1;
  const authority = text.slice(start, authorityTo);
  HOSTS.lastIndex = 0;
  HOSTS.exec(authority);
  const port = HOSTS.lastIndex === authority.length;
  // An IP address or localhost and a port ended by white space is a URL followed by prose, as a
  // message naming where Sluice failed to connect is: searched on, an `@` later in the line (a
  // certificate's subject, a mail address) hid the port and the whole reason the role did not
  // start. A name and digits may be a user and a password's front cut at its space
  // (`amqp://u:12 34@h`): searched on.
  const prose =
    stop >= 0 && stop <= 0x20 && HOST_AND_PORT.test(authority) && ADDRESS.test(authority);
  // A search from inside a stretch an earlier one read to its window's end finds none either:
  // read again for every URL of a line (`a://b:a://b:…`), the stretch made the cost quadratic.
  if (spills && !prose && !(end >= searched.from && end < searched.to)) {
    let index = end;
    while (index < text.length) {
      const code = text.charCodeAt(index);
      if (lines === "json" && code === 0x5c) {
        index += 2;
        continue;
      }
      if (endsWindow(code, lines)) break;
      // A host then anything: `(… u:12 34@host)` ends its host at the `)`.
      if (code === 0x40 && hostFollows(text, index)) return { from: colon + 1, at: index };
      index += 1;
    }
    // A later URL ends at white space, a quote, `<>` or a scheme, never on an escape's second
    // character: its search would read the stretch as this one did.
    searched.from = end;
    searched.to = Math.min(index, text.length);
  }
  if (port || end === colon + 1 || colon < start) return undefined;
  return { from: colon + 1, at: end };
}
