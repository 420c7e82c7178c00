// Property tests of the X-Road SOAP request reader (parseSoapEnvelope) and of what Sluice writes
// back: each fixture with a character changed, and any text, is read or refused with Sluice's own
// error, never another; identifiers written into an envelope read back as written; the
// acknowledgement written for a request reads back with the request's header and the ack's
// fields. Seeded and bounded: test/support/property-runs.ts, docs/testing.md.

import { expect } from "chai";
import fc from "fast-check";
import { childElements, directText, parseXml } from "../../adapter/soap/safe-xml";
import { parseSoapEnvelope, SOAP11_NS } from "../../adapter/soap/soap-envelope";
import { buildSoapAck } from "../../adapter/soap/soap-response";
import { escapeXml } from "../../adapter/soap/xml-json";
import { SluiceError } from "../../shared/protocol/errors";
import { ACCEPTED_FIXTURES, fixture } from "../fixtures/xroad-soap/outcomes";
import { check } from "../support/property-runs";

const FIXTURES = [
  ...ACCEPTED_FIXTURES,
  "empty.query",
  "faulty-header.query",
  "inconsistent-headers.query",
  "malformed-body1.query",
  "missing-body.query",
  "no-header.query",
].map((name) => fixture(name).toString("utf8"));
const SIMPLE = fixture("simple.query").toString("utf8");

/**
 * A fixture with characters changed, or with lines dropped or repeated: the fixtures write each
 * header field on a line of its own, so a line dropped or repeated is a field missing or given
 * twice in an envelope that is still well-formed.
 */
const mutatedFixture = fc
  .tuple(
    fc.constantFrom(...FIXTURES),
    fc.array(
      fc.tuple(
        fc.nat(),
        fc.constantFrom("insert", "remove", "replace", "drop line", "repeat line"),
        fc.constantFrom(
          "<",
          ">",
          "/",
          "&",
          ";",
          ":",
          "=",
          '"',
          "!",
          "?",
          "x",
          "\u0000",
          "\ud800",
          "&#0;",
          "]]>",
          "</",
        ),
      ),
      { minLength: 1, maxLength: 3 },
    ),
  )
  .map(([text, edits]) => {
    let out = text;
    for (const [where, how, c] of edits) {
      if (how === "drop line" || how === "repeat line") {
        const lines = out.split("\n");
        const at = where % lines.length;
        lines.splice(at, 1, ...(how === "drop line" ? [] : [lines[at], lines[at]]));
        out = lines.join("\n");
        continue;
      }
      const at = where % (out.length + 1);
      if (how === "insert") out = out.slice(0, at) + c + out.slice(at);
      else if (how === "remove") out = out.slice(0, at) + out.slice(at + 1);
      else out = out.slice(0, at) + c + out.slice(at + 1);
    }
    return out;
  });

/** An identifier part: what X-Road allows (no / ; : \ % # & or white space), XML escaped. */
const part = fc
  .string({
    unit: fc.oneof(
      fc.constantFrom("a", "Z", "1", "-", ".", "é", "<", ">", "'", '"', "?", "😀"),
      fc.string({ unit: "grapheme", maxLength: 1 }),
    ),
    minLength: 1,
    maxLength: 10,
  })
  .filter((p) => /^[^/\s;:\\%#&]+$/.test(p) && !/[\p{Cc}\p{Cf}\uFFFE\uFFFF]/u.test(p));

describe("SOAP readers: properties", () => {
  it("any text, and any fixture with characters changed, is read or refused with Sluice's own error", () => {
    check(
      fc.property(
        fc.oneof(mutatedFixture, fc.string({ unit: "binary", maxLength: 80 })),
        (text) => {
          try {
            parseSoapEnvelope(text);
          } catch (error) {
            expect(error, String((error as Error)?.stack)).to.be.instanceOf(SluiceError);
            expect((error as Error).message).not.to.match(/\n\s+at /);
          }
        },
      ),
      250,
    );
  });

  it("client and service identifiers written into an envelope read back as written", () => {
    check(
      fc.property(part, part, part, (client, provider, id) => {
        const text = SIMPLE.replace(">consumer<", `>${escapeXml(client)}<`)
          .replace(">producer<", `>${escapeXml(provider)}<`)
          .replace(">1234567890<", `>${escapeXml(id)}<`);
        const request = parseSoapEnvelope(text);
        expect(request.client.memberCode).to.equal(client);
        expect(request.service.memberCode).to.equal(provider);
        expect(request.xroadId).to.equal(id);
      }),
      200,
    );
  });

  it("the acknowledgement of a request reads back with its header and the ack's fields", () => {
    const text = fc
      .string({ unit: "grapheme", maxLength: 20 })
      .filter((t) => !/[\p{Cc}\uFFFE\uFFFF]/u.test(t.replace(/[\t\n]/g, "")) && !t.includes("\r"));
    check(
      fc.property(
        fc.constantFrom(...ACCEPTED_FIXTURES),
        text,
        text,
        fc.option(text, { nil: undefined }),
        (name, id, state, statusUrl) => {
          const request = parseSoapEnvelope(fixture(name).toString("utf8"));
          const answer = parseXml(buildSoapAck(request, { id, state, statusUrl }));
          expect(answer.namespace).to.equal(SOAP11_NS);
          const [header, body] = childElements(answer);
          expect(header.local).to.equal("Header");
          const headerXml = buildSoapAck(request, { id, state, statusUrl }).slice(
            header.start,
            header.end,
          );
          expect(headerXml).to.equal(request.headerXml);
          const [response] = childElements(body);
          expect(response.local).to.equal(`${request.serviceCode}Response`);
          const fields = Object.fromEntries(
            childElements(response).map((e) => [e.local, directText(e)]),
          );
          expect(fields).to.deep.equal(
            statusUrl === undefined ? { id, state } : { id, state, statusUrl },
          );
        },
      ),
      200,
    );
  });
});
