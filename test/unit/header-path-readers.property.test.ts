// Property tests of the readers of a REST caller's request line and headers: the sub-path below
// /rest/<service> (pathProblem), the Content-Type (parseContentType) and the X-Road-Client,
// X-Road-Service and single X-Road headers. For any input, only Sluice's own refusal; a path
// accepted never resolves (by WHATWG URL rules, the ones a proxy or client applies) above the
// service's base; a value written from its parts reads back as those parts. Seeded and bounded:
// test/support/property-runs.ts, docs/testing.md.

import type { IncomingMessage } from "node:http";
import { expect } from "chai";
import fc from "fast-check";
import { checkServiceHeader, checkSingleHeaders, readClient } from "../../adapter/xroad-client";
import { SluiceError } from "../../shared/protocol/errors";
import { parseContentType } from "../../shared/protocol/multipart-related";
import { pathProblem } from "../../shared/protocol/rest-path";
import { decodeXroadIdLeniently, encodeXroadId } from "../../shared/protocol/xroad-id";
import { check } from "../support/property-runs";

/** A request carrying the given headers once each, as Node gives them. */
function request(headers: Record<string, string>): IncomingMessage {
  const lower: Record<string, string> = {};
  const raw: string[] = [];
  for (const [name, value] of Object.entries(headers)) {
    lower[name.toLowerCase()] = value;
    raw.push(name, value);
  }
  return { headers: lower, rawHeaders: raw } as unknown as IncomingMessage;
}

/** Runs `read`; a throw other than a SluiceError of one of `codes` fails the property. */
function refusedOnly<T>(read: () => T, codes: string[]): T | SluiceError {
  try {
    return read();
  } catch (error) {
    expect(error, String((error as Error)?.stack)).to.be.instanceOf(SluiceError);
    expect(codes).to.include((error as SluiceError).code);
    return error as SluiceError;
  }
}

const segmentPiece = fc.constantFrom(
  ".",
  "..",
  "%2e",
  "%2E",
  "%",
  "%2",
  "%25",
  "%252e",
  "%2f",
  "%5c",
  "\\",
  ";",
  ":",
  " ",
  "%20",
  "a",
  "b",
  "\uff0e",
  "%ef%bc%8e",
  "%c0%ae",
  "%00",
  "%e2%80%ae",
  "~",
  "?",
  "#",
  "\t",
);
const path = fc
  .array(
    fc.array(segmentPiece, { maxLength: 3 }).map((s) => s.join("")),
    { maxLength: 4 },
  )
  .map((segments) => segments.map((s) => `/${s}`).join(""));

/** Characters an X-Road identifier part may hold once decoded, percent-encoded or not. */
const idPart = fc
  .string({
    unit: fc.oneof(
      fc.constantFrom("a", "Z", "0", "-", "é", "😀", "%", "?", "&", "#", ";", ":", ".", "+"),
      fc.string({ unit: "grapheme", maxLength: 1 }),
    ),
    minLength: 1,
    maxLength: 12,
  })
  .filter(
    (part) => part !== "" && !/[/\s\p{Cc}\p{Cf}]/u.test(part) && part !== "." && part !== "..",
  );

/** Controls (C0, DEL, C1) and invisible format characters: no identifier part holds one. */
const UNSEEN = /[\p{Cc}\p{Cf}]/u;

/** Identifiers near valid ones: parts of pieces that are, or decode to, what a part may not hold. */
const nearId = (min: number, max: number) =>
  fc
    .array(
      fc
        .array(
          fc.constantFrom(
            "a",
            "%41",
            "%00",
            "%0A",
            "%C2%85",
            "%E2%80%AE",
            "%2F",
            "%2E",
            ".",
            "%",
            " ",
            "\t",
          ),
          { minLength: 1, maxLength: 3 },
        )
        .map((p) => p.join("")),
      { minLength: min, maxLength: max },
    )
    .map((parts) => parts.join("/"));

describe("request readers: properties", () => {
  it("pathProblem never throws, and a path it accepts stays below the base when resolved", () => {
    check(
      fc.property(fc.oneof(path, fc.string({ unit: "binary", maxLength: 30 })), (raw) => {
        const problem = pathProblem(raw);
        if (problem !== null || raw === "") return;
        // Resolved as a proxy or the backend's URL parser would, once and after one more decoding.
        for (const written of [raw, decodeURI(raw.replace(/%(?![0-9a-f]{2})/gi, "%25"))]) {
          const resolved = new URL(`http://backend.example/base/svc${written}`).pathname;
          expect(resolved.startsWith("/base/svc/"), `${raw} → ${resolved}`).to.equal(true);
        }
      }),
      1000,
    );
  });

  it("parseContentType never throws, and reads back the type and parameters it is written with", () => {
    const token = fc.stringMatching(/^[a-z0-9!#$&^_.+-]{1,8}$/);
    const value = fc
      .string({ unit: "grapheme-ascii", maxLength: 10 })
      .filter((v) => !/[\r\n]/.test(v));
    check(
      fc.property(
        fc.tuple(token, token),
        fc.uniqueArray(fc.tuple(token, value, fc.boolean(), fc.constantFrom(";", "; ", " ;\t")), {
          maxLength: 4,
          selector: ([name]) => name.toLowerCase(),
        }),
        (type, params) => {
          const written =
            `${type[0]}/${type[1]}` +
            params
              .map(([name, v, quoted, sep]) =>
                quoted || !/^[!#$%&'*+.^_`|~0-9a-z-]+$/i.test(v)
                  ? `${sep}${name}="${v.replace(/["\\]/g, "\\$&")}"`
                  : `${sep}${name}=${v}`,
              )
              .join("");
          const read = parseContentType(written);
          expect(read.type).to.equal(`${type[0]}/${type[1]}`.toLowerCase());
          expect(read.params).to.deep.equal(
            Object.fromEntries(params.map(([name, v]) => [name.toLowerCase(), v])),
          );
          expect(read.repeated).to.equal(undefined);
        },
      ),
      500,
    );
    check(
      fc.property(fc.string({ unit: "binary", maxLength: 60 }), (raw) => {
        parseContentType(raw);
      }),
      300,
    );
  });

  it("X-Road-Client: any value is read or refused as InvalidHeader; one written from parts reads back", () => {
    check(
      fc.property(fc.oneof(fc.string({ unit: "binary", maxLength: 60 }), nearId(2, 5)), (value) => {
        const read = refusedOnly(
          () => readClient(request({ "X-Road-Client": value })),
          ["InvalidHeader"],
        );
        // What is taken is three or four parts, none empty or holding what no part may.
        if (!(read instanceof SluiceError)) {
          expect(read.split("/").length).to.be.within(3, 4);
          expect(
            read.split("/").every((p) => p !== "" && !UNSEEN.test(p)),
            read,
          ).to.equal(true);
        }
      }),
      300,
    );
    check(
      fc.property(fc.array(idPart, { minLength: 3, maxLength: 4 }), (parts) => {
        expect(readClient(request({ "X-Road-Client": encodeXroadId(parts) }))).to.equal(
          parts.join("/"),
        );
      }),
      300,
    );
  });

  it("X-Road-Service: any value is accepted or refused with the contract's codes; one written from parts names its service", () => {
    check(
      fc.property(
        fc.oneof(fc.string({ unit: "binary", maxLength: 60 }), nearId(3, 7)),
        idPart,
        fc.boolean(),
        (value, other, own) => {
          // The path's service is most often the one the header names, so that the header's
          // other checks are reached.
          const last = value.trim().split("/").pop() ?? "";
          const code = own ? decodeXroadIdLeniently(last)[0] : other;
          const read = refusedOnly(
            () => checkServiceHeader(request({ "X-Road-Service": value }), code),
            ["InvalidHeader", "InconsistentHeaders"],
          );
          if (!(read instanceof SluiceError)) {
            const parts = value.trim().split("/").map(decodeURIComponent);
            expect(parts.length).to.be.within(4, 6);
            expect(
              parts.some((p) => UNSEEN.test(p) || p === "." || p === ".."),
              value,
            ).to.equal(false);
          }
        },
      ),
      300,
    );
    check(
      fc.property(
        fc.array(idPart, { minLength: 5, maxLength: 5 }),
        fc.option(idPart),
        (parts, version) => {
          const all = version === null ? parts : [...parts, version];
          checkServiceHeader(request({ "X-Road-Service": encodeXroadId(all) }), parts[4]);
        },
      ),
      300,
    );
  });

  it("X-Road-Id, -UserId, -Issue and -Represented-Party: any values read or refused as InvalidHeader", () => {
    const value = fc.option(fc.string({ unit: "binary", maxLength: 30 }), { nil: undefined });
    check(
      fc.property(value, value, value, value, (id, user, issue, party) => {
        const headers: Record<string, string> = {};
        if (id !== undefined) headers["X-Road-Id"] = id;
        if (user !== undefined) headers["X-Road-UserId"] = user;
        if (issue !== undefined) headers["X-Road-Issue"] = issue;
        if (party !== undefined) headers["X-Road-Represented-Party"] = party;
        refusedOnly(() => checkSingleHeaders(request(headers)), ["InvalidHeader"]);
      }),
      300,
    );
  });
});
