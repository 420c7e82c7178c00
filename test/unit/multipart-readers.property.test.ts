// Property tests of the multipart/related reader (SOAP with attachments and MTOM): for any body
// and Content-Type, only Sluice's own refusal; a message written by hand from generated parts
// (any RFC 2046 boundary, CRLF or bare LF, transport padding, preamble and epilogue, lines that
// only start with the delimiter inside a part, a start parameter) reads back as those parts; a
// message packed by buildMultipartRelated reads back as its envelope and attachments. Seeded and
// bounded: test/support/property-runs.ts, docs/testing.md.

import { expect } from "chai";
import fc from "fast-check";
import { SluiceError } from "../../shared/protocol/errors";
import {
  buildMultipartRelated,
  parseMultipartRelated,
  type MultipartLimits,
} from "../../shared/protocol/multipart-related";
import { check } from "../support/property-runs";

const CODES = ["InvalidContentType", "PayloadTooLarge"];
const SMALL: MultipartLimits = { maxParts: 4, maxHeaderBytes: 64, maxPartBytes: 64 };

function refusedOnly<T>(read: () => T): T | SluiceError {
  try {
    return read();
  } catch (error) {
    // The stack is written out only on a failure: formatting it each time costs seconds.
    if (!(error instanceof SluiceError) || !CODES.includes(error.code)) {
      expect.fail(String((error as Error)?.stack ?? error));
    }
    return error;
  }
}

/** A string of `min` to `max` characters of `chars` (cheaper to generate than stringMatching). */
function stringOf(chars: string, min: number, max: number): fc.Arbitrary<string> {
  return fc.string({ unit: fc.constantFrom(...chars), minLength: min, maxLength: max });
}

const BCHARS = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ'()+_,-./:=?";

/** RFC 2046 §5.1.1 bchars: 1 to 70, no space at the end. */
const boundary = fc
  .tuple(stringOf(`${BCHARS} `, 0, 69), stringOf(BCHARS, 1, 1))
  .map(([head, last]) => head + last);

const headerName = stringOf("abcdefghijklmnopqrstuvwxyz0123456789-", 1, 8).map((n) => `x-${n}`);
const PRINTABLE = Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i)).join("");
/** Printable ASCII, no white space at either end (the reader trims it). */
const headerValue = stringOf(PRINTABLE, 0, 20).map((value) => value.trim());

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** Part bytes built from pieces likely to trip a reader: delimiter look-alikes, line ends. */
function partData(b: string): fc.Arbitrary<string> {
  const piece = fc.constantFrom(
    `--${b}`,
    `--${b}x`,
    `--${b}-x`,
    `-${b}`,
    `${b}--`,
    "--",
    "-",
    "\r\n",
    "\n",
    "\r",
    " ",
    "\t",
    "a",
    "é",
    "\u0000",
    "=",
  );
  return fc.array(piece, { maxLength: 12 }).map((pieces) => pieces.join(""));
}

/** True when `data` holds a line that is a delimiter line (which no part may hold). */
function holdsDelimiterLine(data: string, b: string): boolean {
  return new RegExp(`(^|\\n)--${escapeRegExp(b)}(--|[ \\t]*(\\r?\\n|$))`).test(data);
}

interface Part {
  headers: [string, string][];
  contentId?: string;
  data: string;
}

const message = boundary.chain((b) =>
  fc.record({
    boundary: fc.constant(b),
    lf: fc.boolean(),
    quoted: fc.boolean(),
    padding: fc.constantFrom("", " ", "\t", " \t "),
    preamble: fc.oneof(
      fc.constant(""),
      partData(b).map((p) => `${p}\r\n`),
      fc.constant(`--${b}x\r\n`),
      fc.constant(`x--${b}\r\n`),
    ),
    epilogue: fc.oneof(fc.constant(""), partData(b)),
    parts: fc.array(
      fc.record({
        headers: fc.uniqueArray(fc.tuple(headerName, headerValue), {
          maxLength: 3,
          selector: ([name]) => name,
        }),
        contentId: fc.option(stringOf("abcdefghijklmnopqrstuvwxyz0123456789.@", 1, 10), {
          nil: undefined,
        }),
        data: partData(b),
      }),
      { minLength: 1, maxLength: 4 },
    ),
    startAt: fc.nat(),
  }),
);

function writeMessage(
  m: {
    boundary: string;
    lf: boolean;
    padding: string;
    preamble: string;
    epilogue: string;
    parts: Part[];
  },
  rootIndex = 0,
): Buffer {
  const eol = m.lf ? "\n" : "\r\n";
  let text = m.preamble;
  m.parts.forEach((part, index) => {
    text += `--${m.boundary}${m.padding}${eol}`;
    if (index === rootIndex) text += `Content-Type: text/xml${eol}`;
    if (part.contentId !== undefined) text += `Content-ID: <${part.contentId}>${eol}`;
    for (const [name, value] of part.headers) text += `${name}: ${value}${eol}`;
    text += `${eol}${part.data}${eol}`;
  });
  text += `--${m.boundary}--${m.padding}${eol}${m.epilogue}`;
  return Buffer.from(text, "latin1");
}

describe("multipart/related reader: properties", () => {
  it("refuses any body under any Content-Type only with its own refusals", () => {
    const contentType = fc.oneof(
      fc.string({ unit: "binary", maxLength: 60 }),
      fc
        .tuple(boundary, fc.option(fc.string({ maxLength: 10 })))
        .map(
          ([b, start]) =>
            `multipart/related; boundary="${b}"${start === null ? "" : `; start=${start}`}`,
        ),
    );
    check(
      fc.property(fc.uint8Array({ maxLength: 200 }), contentType, (body, type) => {
        refusedOnly(() => parseMultipartRelated(Buffer.from(body), type, SMALL));
      }),
      300,
    );
  });

  it("refuses a written message with a byte changed, inserted or dropped only with its own refusals", () => {
    check(
      fc.property(
        message,
        fc.nat(),
        fc.integer({ min: 0, max: 255 }),
        fc.constantFrom("change", "insert", "drop"),
        (m, at, byte, how) => {
          const body = writeMessage(m);
          const i = at % (body.length + 1);
          const mutated =
            how === "insert"
              ? Buffer.concat([body.subarray(0, i), Buffer.from([byte]), body.subarray(i)])
              : how === "drop"
                ? Buffer.concat([body.subarray(0, i), body.subarray(i + 1)])
                : Buffer.from(body.map((value, index) => (index === i ? byte : value)));
          refusedOnly(() =>
            parseMultipartRelated(mutated, `multipart/related; boundary="${m.boundary}"`, SMALL),
          );
        },
      ),
      300,
    );
  });

  it("reads a message written from generated parts back as those parts", () => {
    check(
      fc.property(message, (m) => {
        fc.pre(!m.parts.some((part) => holdsDelimiterLine(part.data, m.boundary)));
        fc.pre(!holdsDelimiterLine(m.preamble, m.boundary));
        // With bare LF line ends, a part ending in CR cannot be told from a CRLF line end.
        fc.pre(!m.lf || !m.parts.some((part) => part.data.endsWith("\r")));
        const ids = m.parts.map((part) => part.contentId).filter((id) => id !== undefined);
        fc.pre(new Set(ids).size === ids.length);
        const withId = m.parts.filter((part) => part.contentId !== undefined);
        const startPart = withId.length === 0 ? undefined : withId[m.startAt % withId.length];
        const rootIndex = startPart === undefined ? 0 : m.parts.indexOf(startPart);
        const start = startPart === undefined ? "" : `; start="<${startPart.contentId}>"`;
        const b = m.boundary;
        const type = `multipart/related; type="text/xml"${start}; boundary=${m.quoted || /[^0-9A-Za-z'+_\-.]/.test(b) ? `"${b}"` : b}`;

        const read = parseMultipartRelated(writeMessage(m, rootIndex), type);

        const expected = [m.parts[rootIndex], ...m.parts.filter((_, i) => i !== rootIndex)];
        const all = [read.root, ...read.attachments];
        expect(all.map((part) => part.data.toString("latin1"))).to.deep.equal(
          expected.map((part) => part.data),
        );
        all.forEach((part, index) => {
          const written = expected[index];
          for (const [name, value] of written.headers) expect(part.headers[name]).to.equal(value);
          expect(part.contentId).to.equal(written.contentId);
          expect(part.contentType).to.equal(index === 0 ? "text/xml" : "text/plain");
        });
        expect(read.mtom).to.equal(false);
      }),
      500,
    );
  });

  it("reads a packed envelope and attachments back unchanged, SwA and MTOM", () => {
    const attachment = fc.record({
      headers: fc
        .uniqueArray(fc.tuple(headerName, headerValue), {
          maxLength: 3,
          selector: ([name]) => name,
        })
        .map((pairs) => Object.fromEntries(pairs)),
      data: fc.oneof(
        fc.uint8Array({ maxLength: 40 }).map((bytes) => Buffer.from(bytes)),
        partData("sluice-").map((text) => Buffer.from(text, "latin1")),
      ),
    });
    check(
      fc.property(
        fc.string({ unit: "grapheme", maxLength: 30 }),
        fc.array(attachment, { maxLength: 4 }),
        fc.boolean(),
        (envelope, attachments, mtom) => {
          const packed = buildMultipartRelated(envelope, attachments, mtom);
          const read = parseMultipartRelated(packed.body, packed.contentType);
          expect(read.root.data.toString("utf8")).to.equal(envelope);
          expect(read.mtom).to.equal(mtom);
          expect(read.attachments.map((part) => part.data)).to.deep.equal(
            attachments.map((part) => part.data),
          );
          read.attachments.forEach((part, index) => {
            expect(part.headers).to.deep.equal(attachments[index].headers);
          });
        },
      ),
      300,
    );
  });
});
