// Property tests of the REST route's reader of an XML body bound for a SOAP Body
// (checkSoapXmlBody, adapter/rest/soap-xml-body.ts): for any bytes and Content-Type, only
// Sluice's own refusals (400 InvalidXml, 415 InvalidContentType), never a TypeError; a body it
// accepts, carried as the adapter carries it (UTF-8 text, or the bytes in base64), is one the
// soap translator builds a Body element from (requestParts), so no caller is told 202 for a
// message the worker can only fail; the markup it returns is the body's from its first element
// on. Seeded and bounded: test/support/property-runs.ts, docs/testing.md.

import { isUtf8 } from "node:buffer";
import { expect } from "chai";
import fc from "fast-check";
import { checkSoapXmlBody } from "../../adapter/rest/soap-xml-body";
import { SluiceError } from "../../shared/protocol/errors";
import type { RequestMessage } from "../../shared/protocol/envelope";
import { requestParts } from "../../worker/translators/soap";
import { check } from "../support/property-runs";

interface Node {
  prefix: string;
  local: string;
  declares: Array<[string, string]>;
  attributes: Array<[string, string]>;
  children: Array<Node | string>;
}

const NAMESPACES = ["urn:a", "urn:b", "http://x-road.eu/xsd/xroad.xsd"];

const text = fc.string({
  unit: fc.oneof(
    fc.constantFrom("a", " ", "é", "😀", "&amp;", "&lt;", "&#x41;", "\n", "\t", "]]>", "Ω"),
    fc.string({ unit: "grapheme-ascii", maxLength: 2 }).filter((s) => !/[<&]/.test(s)),
  ),
  maxLength: 8,
});

const tree: fc.Arbitrary<Node> = fc.letrec<{ node: Node }>((tie) => ({
  node: fc.record({
    prefix: fc.oneof(
      { weight: 6, arbitrary: fc.constantFrom("", "p", "xrd", "id", "iden", "repr") },
      { weight: 1, arbitrary: fc.constantFrom("q", "nope") },
    ),
    local: fc.constantFrom("a", "Body", "x-1", "é", "_r.s"),
    declares: fc.uniqueArray(
      fc.tuple(fc.constantFrom("", "p", "p", "q"), fc.constantFrom(...NAMESPACES)),
      { maxLength: 2, selector: ([p]) => p },
    ),
    attributes: fc.uniqueArray(
      fc.tuple(
        fc.constantFrom("a", "p:a", "q:a", "b", "xrd:a"),
        text.map((t) => t.replace(/"/g, "&quot;")),
      ),
      { maxLength: 3, selector: ([n]) => n },
    ),
    children: fc.array(fc.oneof({ depthSize: "small", withCrossShrink: true }, text, tie("node")), {
      maxLength: 3,
    }),
  }),
})).node;

function written(node: Node): string {
  const name = node.prefix === "" ? node.local : `${node.prefix}:${node.local}`;
  const declarations = node.declares
    .map(([p, ns]) => (p === "" ? ` xmlns="${ns}"` : ` xmlns:${p}="${ns}"`))
    .join("");
  const attributes = node.attributes.map(([n, v]) => ` ${n}="${v}"`).join("");
  const content = node.children.map((c) => (typeof c === "string" ? c : written(c))).join("");
  return content === ""
    ? `<${name}${declarations}${attributes}/>`
    : `<${name}${declarations}${attributes}>${content}</${name}>`;
}

const DECLARATIONS = [
  "",
  '<?xml version="1.0"?>',
  '<?xml version="1.0" encoding="UTF-8"?>',
  "<?xml version='1.0' encoding='ISO-8859-1' standalone='yes'?>",
  '<?xml version="1.0" encoding="UTF-16"?>',
  '<?xml version="1.1"?>',
  '<?xml encoding="UTF-8"?>',
  ' <?xml version="1.0"?>',
  "<?xml-stylesheet href='a'?>",
];

const CONTENT_TYPES = [
  "application/xml",
  "text/xml",
  "text/xml; charset=utf-8",
  "application/xml; charset=ISO-8859-1",
  "application/soap+xml; charset=windows-1252",
  "text/xml; charset=utf-16",
  "application/xml; charset=utf-16le",
  "application/xml; charset=x-unknown",
  'application/vnd.a+xml; charset="us-ascii"',
];

/** A body: a document written from a tree, wrapped, encoded, perhaps with a character changed. */
const body = fc
  .record({
    bom: fc.boolean(),
    declaration: fc.oneof(
      { weight: 2, arbitrary: fc.constantFrom("", '<?xml version="1.0"?>') },
      { weight: 1, arbitrary: fc.constantFrom(...DECLARATIONS) },
    ),
    before: fc.constantFrom("", "", "", " ", "\n\t", "x", "<!-- c -->"),
    root: tree,
    after: fc.constantFrom("", "", "", " \n", "<!-- c -->", "<a/>", "text", "</a>", "<?pi x?>"),
    contentType: fc.oneof(
      { weight: 3, arbitrary: fc.constantFrom("application/xml", "text/xml; charset=utf-8") },
      { weight: 2, arbitrary: fc.constantFrom(...CONTENT_TYPES) },
    ),
    edit: fc.oneof(
      { weight: 4, arbitrary: fc.constant(null) },
      { weight: 1, arbitrary: fc.tuple(fc.nat(), fc.nat({ max: 3 }), fc.string({ maxLength: 2 })) },
    ),
  })
  .map(({ bom, declaration, before, root, after, contentType, edit }) => {
    let document = `${bom ? "\uFEFF" : ""}${declaration}${before}${written(root)}${after}`;
    if (edit !== null) {
      const [at, cut, insert] = edit;
      const i = at % (document.length + 1);
      document = document.slice(0, i) + insert + document.slice(i + cut);
    }
    const charset = /charset="?([^";]+)/i.exec(contentType)?.[1].toLowerCase();
    let bytes: Buffer;
    if (charset === "iso-8859-1" || charset === "windows-1252" || charset === "us-ascii") {
      bytes = Buffer.from(document, "latin1");
    } else if (charset?.startsWith("utf-16")) {
      bytes = Buffer.from(document, "utf16le");
    } else bytes = Buffer.from(document, "utf8");
    return { bytes, contentType };
  });

/** Any bytes at all, under any XML type. */
const rawBody = fc.record({
  bytes: fc.uint8Array({ maxLength: 60 }).map((b) => Buffer.from(b)),
  contentType: fc.constantFrom(...CONTENT_TYPES),
});

function carried(
  bytes: Buffer,
  contentType: string,
): { text: string | null; message: RequestMessage } {
  const charset = /charset="?([^";]+)/i.exec(contentType)?.[1].toLowerCase();
  // As the REST route carries it: UTF-8 text when the charset is UTF-8's and the bytes are.
  const asText =
    (charset === undefined || charset === "utf-8" || charset === "utf8") && isUtf8(bytes);
  const message = {
    id: "m-1",
    service: "svc",
    backend: "soap",
    client: "EE/GOV/1/sub",
    protocol: "rest",
    replyMode: "status",
    method: "POST",
    path: "/",
    query: "",
    xroadHeaders: {},
    contentType,
    body: asText ? bytes.toString("utf8") : bytes.toString("base64"),
    bodyEncoding: asText ? "utf8" : "base64",
    createdAt: 0,
    expiresAt: null,
  } as unknown as RequestMessage;
  return { text: asText ? bytes.toString("utf8") : null, message };
}

function read(bytes: Buffer, contentType: string): void {
  const { text, message } = carried(bytes, contentType);
  let markup: string;
  try {
    markup = checkSoapXmlBody(bytes, text, contentType);
  } catch (error) {
    expect(error, String((error as Error)?.stack)).to.be.instanceOf(SluiceError);
    expect((error as SluiceError).code).to.be.oneOf(["InvalidXml", "InvalidContentType"]);
    return;
  }
  expect(markup).to.match(/^\s*</);
  // Accepted at intake: the worker builds its Body element from it.
  let parts: { body: string };
  try {
    parts = requestParts(message);
  } catch (error) {
    throw new Error(
      `accepted at intake, refused by the worker: ${(error as Error).message}\n${JSON.stringify({ contentType, body: bytes.toString("base64") })}`,
    );
  }
  expect(parts.body).to.match(/^\s*</);
}

describe("REST XML body reader (properties)", () => {
  it("a generated document, changed or not: only Sluice's refusals, and what it accepts the worker sends", () => {
    check(
      fc.property(body, ({ bytes, contentType }) => read(bytes, contentType)),
      1000,
    );
  });

  it("any bytes: only Sluice's refusals, and what it accepts the worker sends", () => {
    check(
      fc.property(rawBody, ({ bytes, contentType }) => read(bytes, contentType)),
      1000,
    );
  });
});
