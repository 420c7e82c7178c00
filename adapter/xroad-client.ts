// X-Road identifiers as REST callers send them: `INSTANCE/CLASS/MEMBER[/SUBSYSTEM]` for a
// client, and the service header `INSTANCE/CLASS/MEMBER/SUBSYSTEM/SERVICECODE[/VERSION]`.

import type { IncomingMessage } from "node:http";
import { SluiceError } from "../shared/protocol/errors";
import {
  decodeXroadId,
  decodeXroadIdLeniently,
  FORMAT_CHARACTER,
} from "../shared/protocol/xroad-id";

const PART = "[^/\\s]{1,255}";
/** A well-formed `X-Road-Client` value, before its parts are decoded (also the OpenAPI pattern). */
export const CLIENT = new RegExp(`^${PART}/${PART}/${PART}(/${PART})?$`);

/** Counts raw header lines, since Node folds repeated custom headers into one value. */
export function headerCount(req: IncomingMessage, name: string): number {
  let count = 0;
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    if (req.rawHeaders[i].length === name.length && req.rawHeaders[i].toLowerCase() === name)
      count++;
  }
  return count;
}

/**
 * Whether a request came through a security server: every one puts `X-Road-Request-Id` on the
 * calls it forwards to a provider. The consumer direction is for local systems only
 * (docs/consumer.md): such a request neither calls a remote service nor sees its messages.
 */
export function throughSecurityServer(req: IncomingMessage): boolean {
  return headerCount(req, "x-road-request-id") > 0;
}

/**
 * The caller's X-Road client id from `X-Road-Client`: once, well-formed, and required unless
 * the service names a `client` for local callers that send none (the consumer direction).
 */
export function readClient(req: IncomingMessage, fallback: string | null = null): string {
  const count = headerCount(req, "x-road-client");
  if (count === 0 && fallback !== null) return fallback;
  if (count === 0) throw new SluiceError("MissingHeader", "the X-Road-Client header is required");
  if (count > 1)
    throw new SluiceError("DuplicateHeaderField", "the X-Road-Client header must appear once");
  const client = clientOf(String(req.headers["x-road-client"]).trim());
  if (client === null) {
    throw new SluiceError(
      "InvalidHeader",
      "X-Road-Client must be INSTANCE/CLASS/MEMBER[/SUBSYSTEM], each part percent-encoded",
    );
  }
  return client;
}

/**
 * Well-formed client ids by the header value that named them. A deployment has few callers,
 * each sending the same value on every request: checked and decoded once, not per request.
 * The regular expression bounds a well-formed value to about 1 KB, so the cache to about 1 MB.
 */
const CLIENTS = new Map<string, string>();
const MAX_CACHED_CLIENTS = 1024;

/** The client id a header value names (see decodedId), or null when it is malformed. */
function clientOf(value: string): string | null {
  const known = CLIENTS.get(value);
  if (known !== undefined) return known;
  const client = CLIENT.test(value) ? decodedId(value) : null;
  if (client !== null) {
    if (CLIENTS.size >= MAX_CACHED_CLIENTS) CLIENTS.clear();
    CLIENTS.set(value, client);
  }
  return client;
}

/**
 * An identifier with each part percent-decoded (PR-REST §4.3: parts are sent encoded), so one
 * client is one id however its caller encoded it, and the same id a SOAP caller names in its
 * header. Null when a part's encoding is malformed or decodes to a separator, whitespace, a
 * control character (C1 ones included: U+0085 or U+009B decoded from %C2%85 or %C2%9B) or an
 * invisible format character (U+202E from %E2%80%AE: FORMAT_CHARACTER).
 */
function decodedId(value: string): string | null {
  const parts = decodeXroadId(value);
  if (
    parts === null ||
    parts.some(
      (part) =>
        part === "" || /[/\s]/.test(part) || CONTROL.test(part) || FORMAT_CHARACTER.test(part),
    )
  )
    return null;
  return parts.join("/");
}

const SERVICE_PART = /^[^/\s]{1,255}$/;

/**
 * `X-Road-Service`, when present, must be well-formed (once, `INSTANCE/CLASS/MEMBER/SUBSYSTEM/
 * SERVICECODE[/VERSION]`, parts percent-encoded per PR-REST §4.2; member-level services have no
 * subsystem) and name the service of the path.
 */
export function checkServiceHeader(req: IncomingMessage, serviceCode: string): void {
  const count = headerCount(req, "x-road-service");
  if (count === 0) return;
  if (count > 1) {
    throw new SluiceError("DuplicateHeaderField", "the X-Road-Service header must appear once");
  }
  const value = String(req.headers["x-road-service"]).trim();
  const raw = value.split("/");
  // Malformed percent-encoding: reported as a malformed header below.
  const parts = decodeXroadId(value) ?? [];
  if (parts.length < 4 || parts.length > 6 || !raw.every((part) => SERVICE_PART.test(part))) {
    throw new SluiceError(
      "InvalidHeader",
      "X-Road-Service must be INSTANCE/CLASS/MEMBER/SUBSYSTEM/SERVICECODE[/VERSION]",
    );
  }
  // The provider's parts become path segments of the Location of a 202 (`/r1/<provider>/…`),
  // and a "." or ".." (or "%2E") there would be resolved by the caller's client into another
  // path. No X-Road identifier part is one.
  if (parts.some((part) => part === "." || part === "..")) {
    throw new SluiceError("InvalidHeader", 'an X-Road-Service part may not be "." or ".."');
  }
  // Decoded, a part is a path segment of that Location too, and CR LF or NUL in it would be
  // sent on as written (percent-encoded or not).
  if (parts.some((part) => CONTROL.test(part) || FORMAT_CHARACTER.test(part))) {
    throw new SluiceError(
      "InvalidHeader",
      "an X-Road-Service part may not hold a control character or an invisible format character",
    );
  }
  // With a version the service code is the last but one part, else the last.
  const candidates = [parts[parts.length - 1], parts[parts.length - 2]];
  if (!candidates.includes(serviceCode)) {
    throw new SluiceError(
      "InconsistentHeaders",
      `X-Road-Service names a different service than the path (${serviceCode})`,
    );
  }
}

/** A header's name as Node keys it, and as the refusal names it. */
type HeaderName = readonly [key: string, spelling: string];

/** Headers a caller's end user and case travel in to the backend or a security server. */
const PASSED_ON: readonly HeaderName[] = [
  ["x-road-userid", "X-Road-UserId"],
  ["x-road-issue", "X-Road-Issue"],
  ["x-road-represented-party", "X-Road-Represented-Party"],
];
/** X-Road headers of a REST request that each name one thing; keys lower-cased once, here. */
const SINGLE_HEADERS: readonly HeaderName[] = [["x-road-id", "X-Road-Id"], ...PASSED_ON];
// C0 controls besides those the HTTP parser refuses, DEL and C1 (obs-text on the wire); also
// what identifier parts may not decode to.
// eslint-disable-next-line no-control-regex -- finding control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/**
 * `X-Road-Id`, `X-Road-UserId`, `X-Road-Issue` and `X-Road-Represented-Party` at most once each
 * (400 DuplicateHeaderField, as a SOAP header's fields): Node joins repeated lines with ", ",
 * and two user ids became one "EE1, EE2" for the backend, two represented parties a third one
 * for the security server. The user, issue and party without control characters (400
 * InvalidHeader), as the X-Road id and a SOAP caller's fields: they reach audit logs.
 */
export function checkSingleHeaders(req: IncomingMessage): void {
  for (const [key, name] of SINGLE_HEADERS) {
    if (headerCount(req, key) > 1) {
      throw new SluiceError("DuplicateHeaderField", `the ${name} header must appear once`);
    }
  }
  for (const [key, name] of PASSED_ON) {
    const value = req.headers[key];
    if (typeof value === "string" && CONTROL.test(value)) {
      throw new SluiceError("InvalidHeader", `the ${name} header holds a control character`);
    }
  }
  const party = req.headers["x-road-represented-party"];
  // `[partyClass/]partyCode` (PR-REST §4.3): a security server refuses more parts, or an empty
  // one, and Sluice sent `A/B/C` on as class `A`, code `B/C`, a party no caller named.
  if (typeof party === "string" && party !== "" && !PARTY_SHAPE.test(party)) {
    throw new SluiceError(
      "InvalidHeader",
      "X-Road-Represented-Party is [partyClass/]partyCode, each part non-empty and percent-encoded",
    );
  }
  // The party's parts are percent-encoded (PR-REST §4.3) and reach a SOAP security server
  // decoded: `%00` or `%EF%BF%BF` there made an envelope no XML reader takes, after the 202.
  if (typeof party === "string" && party.includes("%")) {
    for (const part of decodeXroadIdLeniently(party)) {
      if (CONTROL.test(part) || NOT_XML.test(part)) {
        throw new SluiceError(
          "InvalidHeader",
          "an X-Road-Represented-Party part decodes to a control character or one XML cannot hold",
        );
      }
    }
  }
}

/** One or two non-empty parts; a `/` inside a part is sent as `%2F`. */
const PARTY_SHAPE = /^[^/]+(?:\/[^/]+)?$/;

/** Besides controls, the characters XML 1.0 cannot hold that a percent-encoding may carry. */
const NOT_XML = /[\uFFFE\uFFFF]/;

/** The X-Road-* headers kept with the message and passed on to the backend. */
export function xroadHeaders(req: IncomingMessage): Record<string, string> {
  const headers: Record<string, string> = {};
  const all = req.headers;
  // A for-in, not Object.entries: no array of pairs per request.
  for (const name in all) {
    const value = all[name];
    if (value !== undefined && name.startsWith("x-road-")) {
      headers[name] = Array.isArray(value) ? value.join(", ") : value;
    }
  }
  return headers;
}
