// Property tests of which HTTP headers pass between a caller and a backend
// (shared/protocol/forwarded-headers.ts, worker/translators/remote-request-headers.ts): for any
// header map (names in any case, odd characters, repeated values), a hop-by-hop header (RFC 9110
// §7.6.1) or one a Connection header names is never passed on, nor an X-Road-* or X-Sluice-*;
// names come out lower-cased with their values as given; to a remote provider a credential goes
// only when `forwardCredentials` names it. Seeded and bounded: test/support/property-runs.ts,
// docs/testing.md.

import { expect } from "chai";
import fc from "fast-check";
import { CREDENTIAL_HEADERS } from "../../shared/protocol/credential-headers";
import {
  backendRequestHeaders,
  forwardedRequestHeaders,
  forwardedResponseHeaders,
  HOP_BY_HOP,
  PROXY_OVERRIDE_REQUEST,
  withheldFromBackend,
  type HeaderMap,
} from "../../shared/protocol/forwarded-headers";
import {
  isOriginHeader,
  isProxyAssertionHeader,
  remoteHeaderAllowlist,
  remoteRequestHeaders,
} from "../../worker/translators/remote-request-headers";
import { check } from "../support/property-runs";

const anyCase = (word: string): fc.Arbitrary<string> =>
  fc
    .array(fc.boolean(), { minLength: word.length, maxLength: word.length })
    .map((upper) => [...word].map((c, k) => (upper[k] ? c.toUpperCase() : c)).join(""));

const knownNames = [
  ...HOP_BY_HOP,
  ...CREDENTIAL_HEADERS,
  ...PROXY_OVERRIDE_REQUEST,
  "accept",
  "accept-language",
  "x-road-client",
  "x-sluice-id",
  "host",
  "content-length",
  "if-match",
  "x-custom",
  "via",
  "referer",
];
const oddName = fc.string({
  unit: fc.constantFrom(..."!#$%&'*+-.^_`|~09azAZ", "é", " ", ":", "\u0000", "_"),
  minLength: 1,
  maxLength: 10,
});
const headerName = fc.oneof(fc.constantFrom(...knownNames).chain(anyCase), oddName);
const headerValue = fc.string({ unit: "binary", maxLength: 12 });
const connectionValue = fc
  .array(fc.tuple(fc.constantFrom("", " ", "\t"), headerName), { maxLength: 4 })
  .map((items) => items.map(([space, name]) => `${space}${name}`).join(","));

/** A header map as a caller's or a backend's answer could give it. */
const headerMap = fc
  .tuple(
    fc.array(fc.tuple(headerName, fc.oneof(headerValue, fc.array(headerValue, { maxLength: 3 }))), {
      maxLength: 10,
    }),
    fc.option(fc.tuple(anyCase("connection"), connectionValue)),
  )
  .map(([pairs, connection]) => {
    const headers: Record<string, unknown> = {};
    for (const [name, value] of connection ? [...pairs, connection] : pairs)
      Object.defineProperty(headers, name, { value, enumerable: true, writable: true });
    return headers;
  });

/** Lower-case names a header map's Connection headers list, whatever their name's case. */
function listed(headers: Record<string, unknown>): Set<string> {
  const names = new Set<string>();
  for (const [name, value] of Object.entries(headers)) {
    if (name.toLowerCase() !== "connection") continue;
    for (const text of Array.isArray(value) ? value : [value])
      if (typeof text === "string")
        for (const item of text.split(",")) names.add(item.trim().toLowerCase());
  }
  return names;
}

/** What holds of every selection: nothing hop-by-hop, X-Road or Sluice's own; values as given. */
function neverHopByHop(headers: Record<string, unknown>, kept: HeaderMap): void {
  const connection = listed(headers);
  for (const [name, value] of Object.entries(kept)) {
    expect(name, name).to.equal(name.toLowerCase());
    expect(HOP_BY_HOP, name).not.to.include(name);
    expect(connection.has(name), `${name} named in Connection`).to.equal(false);
    expect(name.startsWith("x-road-") || name.startsWith("x-sluice-"), name).to.equal(false);
    // A one-element list passes on as its one value.
    const given = Object.entries(headers)
      .filter(([n]) => n.toLowerCase() === name)
      .map(([, v]) => JSON.stringify(Array.isArray(v) && v.length === 1 ? v[0] : v));
    expect(given, name).to.include(JSON.stringify(value));
  }
  expect(Object.getPrototypeOf(kept)).to.equal(Object.prototype);
}

describe("forwarded headers (properties)", () => {
  it("never passes on a hop-by-hop header or one a Connection header names, any case", () => {
    const withheld = withheldFromBackend(["x-forwarded-for"]);
    check(
      fc.property(headerMap, (headers) => {
        neverHopByHop(headers, forwardedRequestHeaders(headers));
        neverHopByHop(headers, forwardedResponseHeaders(headers));
        neverHopByHop(headers, backendRequestHeaders(headers, withheld));
      }),
      400,
    );
  });

  it("keeps every other caller's header, its name lower-cased, its value as given", () => {
    check(
      fc.property(
        fc.array(
          fc.tuple(fc.constantFrom("Accept", "X-Custom", "If-Match", "Cookie"), headerValue),
          {
            maxLength: 4,
          },
        ),
        (pairs) => {
          const headers = Object.fromEntries(pairs);
          const kept = forwardedRequestHeaders(headers);
          expect(kept).to.deep.equal(
            Object.fromEntries(pairs.map(([name, value]) => [name.toLowerCase(), value])),
          );
        },
      ),
      300,
    );
  });

  it("sends a remote provider no credential its forwardCredentials does not name", () => {
    const credentials = CREDENTIAL_HEADERS.filter(
      (name) =>
        name !== "set-cookie" &&
        name !== "proxy-authorization" &&
        !isOriginHeader(name) &&
        !isProxyAssertionHeader(name),
    );
    check(
      fc.property(
        headerMap,
        fc.subarray(credentials),
        fc.subarray(["accept", "x-custom", "if-match"]),
        (headers, opted, forward) => {
          const allowed = remoteHeaderAllowlist("b", forward, opted);
          const { kept, withheld } = remoteRequestHeaders(headers, allowed);
          neverHopByHop(headers, kept);
          for (const name of Object.keys(kept)) {
            if (CREDENTIAL_HEADERS.includes(name)) expect(opted, name).to.include(name);
            expect(isOriginHeader(name), name).to.equal(false);
            expect(withheld, name).not.to.include(name);
          }
        },
      ),
      400,
    );
  });
});
