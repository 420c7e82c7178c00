import { expect } from "chai";
import { SluiceError } from "../../shared/protocol/errors";
import { readSoapRequest } from "../../adapter/soap/soap-request";
import {
  buildMultipartRelated,
  parseMultipartRelated,
  parseContentType,
} from "../../shared/protocol/multipart-related";
import { charsetOf, decodeXml } from "../../shared/protocol/xml-encoding";

import { fixture as bytes, MULTIPART_FIXTURES } from "../fixtures/xroad-soap/outcomes";

const MULTIPART = MULTIPART_FIXTURES[0][1];
const MTOM = MULTIPART_FIXTURES[1][1];

/** The first Content-Type line of `text`. */
function line0(text: string): string {
  return /Content-Type: [^\n]*/.exec(text)?.[0] ?? "";
}

function faultOf(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    expect(error).to.be.instanceOf(SluiceError);
    return (error as SluiceError).faultCode;
  }
  throw new Error("expected a fault");
}

describe("SOAP request: multipart/related (SwA and MTOM)", () => {
  it("refuses a multipart type other than text/xml or application/xop+xml, as SOAP 1.2 is refused", () => {
    const body = bytes("attachm.query");
    const boundary = "boundary=jetty771207119h3h10dty";
    const refusal = (type: string) => {
      try {
        readSoapRequest(body, type);
      } catch (error) {
        expect(error, type).to.be.instanceOf(SluiceError);
        return [(error as SluiceError).faultCode, (error as SluiceError).message];
      }
      throw new Error(`${type} was accepted`);
    };
    for (const type of [
      `multipart/related; type="application/soap+xml"; ${boundary}`,
      `multipart/related; type="Application/SOAP+XML; charset=utf-8"; ${boundary}`,
      `multipart/related; type="application/xop+xml"; start-info="application/soap+xml"; ${boundary}`,
    ]) {
      // The root part is a SOAP 1.1 text/xml envelope: the declared type alone decides.
      expect(refusal(type), type).to.deep.equal([
        "Client.InvalidContentType",
        "SOAP 1.2 (application/soap+xml) is not supported; send text/xml",
      ]);
    }
    for (const type of ["application/json", "text/plain", "multipart/mixed"]) {
      const [code, message] = refusal(`multipart/related; type="${type}"; ${boundary}`);
      expect(code, type).to.equal("Client.InvalidContentType");
      expect(message, type).to.contain(`type "${type}" is not accepted`);
    }
    // Declared as text/xml, in any case, or not declared at all: read by the root part.
    for (const type of [
      `multipart/related; type="TEXT/XML"; ${boundary}`,
      `multipart/related; ${boundary}`,
    ]) {
      expect(readSoapRequest(body, type).serviceCode, type).to.equal("test");
    }
  });

  it("attachm.query: one attachment, the nested multipart/mixed kept whole", () => {
    const request = readSoapRequest(bytes("attachm.query"), MULTIPART);
    expect(request.serviceCode).to.equal("test");
    expect(request.mtom).to.equal(false);
    expect(request.bodyJson).to.equal("aä");
    expect(request.attachments).to.have.length(1);
    const [part] = request.attachments;
    expect(part.contentType).to.equal(
      "multipart/mixed; charset=UTF-8; boundary=jetty1627004719h3h10du0",
    );
    expect(part.contentId).to.equal(undefined);
    expect(part.data.toString("utf8")).to.equal(
      "--jetty1627004719h3h10du0\nContent-Type: text/plain\nClient-Header: FooBar\n\nblaah\n--jetty1627004719h3h10du0--\n",
    );
  });

  it("attachm-mtom.query: MTOM root, the xop:Include target is the attachment", () => {
    const request = readSoapRequest(bytes("attachm-mtom.query"), MTOM);
    expect(request.mtom).to.equal(true);
    expect(request.attachments).to.have.length(1);
    const [part] = request.attachments;
    expect(part.contentId).to.equal("42a7ee0a-20ee-426b-a135-094d72bc138f@example.org");
    expect(part.contentType).to.equal("text/plain; charset=UTF-8; name=attachment.txt");
    expect(part.headers["content-id"]).to.equal(
      "<42a7ee0a-20ee-426b-a135-094d72bc138f@example.org>",
    );
    expect(part.data).to.deep.equal(Buffer.from("foobar"));
    expect(request.bodyJson).to.deep.equal({
      Include: { "@href": "cid:42a7ee0a-20ee-426b-a135-094d72bc138f@example.org" },
    });
  });

  it("attachments.query: three attachments in order", () => {
    const request = readSoapRequest(bytes("attachments.query"), MULTIPART);
    expect(request.attachments.map((p) => p.data.toString())).to.deep.equal([
      "blaah\n",
      "blaah1\n",
      "blaah2\n",
    ]);
    expect(
      request.attachments.every((p) => p.contentType === "text/plain; charset=UTF-8"),
    ).to.equal(true);
  });

  it("reads CRLF line ends, a preamble and the start parameter", () => {
    const crlf = Buffer.from(
      "preamble\r\n" + bytes("attachm-mtom.query").toString("utf8").replace(/\n/g, "\r\n"),
    );
    const request = readSoapRequest(crlf, `${MTOM}; start="<foo>"`);
    expect(request.attachments[0].data.toString()).to.equal("foobar");
    expect(request.bodyXml).to.include("xop:Include");
  });

  it("an unknown start Content-ID, a missing boundary or a missing end is InvalidContentType", () => {
    expect(
      faultOf(() => readSoapRequest(bytes("attachm-mtom.query"), `${MTOM}; start="<nope>"`)),
    ).to.equal("Client.InvalidContentType");
    expect(
      faultOf(() => readSoapRequest(bytes("attachm.query"), 'multipart/related; type="text/xml"')),
    ).to.equal("Client.InvalidContentType");
    const cut = bytes("attachments.query").subarray(0, 1300);
    expect(faultOf(() => readSoapRequest(cut, MULTIPART))).to.equal("Client.InvalidContentType");
    expect(faultOf(() => readSoapRequest(Buffer.from("no parts here"), MULTIPART))).to.equal(
      "Client.InvalidContentType",
    );
  });

  it("names a parameter given twice (two boundaries, two charsets) as the reason it refuses", () => {
    for (const type of [
      `${MULTIPART}; boundary=other`,
      'text/xml; charset=utf-8; Charset="iso-8859-1"',
    ]) {
      let message = "";
      try {
        readSoapRequest(bytes("attachm.query"), type);
      } catch (error) {
        message = (error as SluiceError).message;
      }
      expect(message, type).to.match(
        /^the Content-Type names its (boundary|charset) parameter more than once$/,
      );
    }
    // A quoted value holding the name is no second parameter.
    expect(parseContentType('text/xml; action="a;charset=x"; charset=utf-8').repeated).to.equal(
      undefined,
    );
  });

  it("names an overlong boundary as such, not as a missing one", () => {
    const long = "b".repeat(201);
    let message = "";
    try {
      parseMultipartRelated(Buffer.from(`--${long}\r\n`), `multipart/related; boundary=${long}`);
    } catch (error) {
      message = (error as SluiceError).message;
    }
    expect(message).to.equal("the multipart/related boundary is 201 characters long, over 200");
  });

  it("an xop:Include naming a part that is not there is InvalidSoap", () => {
    const text = bytes("attachm-mtom.query")
      .toString("utf8")
      .replace("cid:42a7ee0a", "cid:00000000");
    expect(faultOf(() => readSoapRequest(Buffer.from(text), MTOM))).to.equal("Client.InvalidSoap");
  });

  it("an xop:Include that is not a cid: reference to a part is InvalidSoap, in any message", () => {
    const mtom = bytes("attachm-mtom.query").toString("utf8");
    for (const href of ["file:///etc/passwd", "http://169.254.169.254/", "&#99;id-not:x"]) {
      const text = mtom.replace(/href="cid:[^"]*"/, `href="${href}"`);
      expect(
        faultOf(() => readSoapRequest(Buffer.from(text), MTOM)),
        href,
      ).to.equal("Client.InvalidSoap");
    }
    // A cid: written with a character reference is still the part's.
    const encoded = mtom.replace('href="cid:', 'href="&#99;id:');
    expect(readSoapRequest(Buffer.from(encoded), MTOM).attachments).to.have.length(1);
    // In plain text/xml an xop:Include has no part to name.
    const envelope = mtom.slice(mtom.indexOf("<?xml"), mtom.indexOf("</SOAP-ENV:Envelope>") + 20);
    expect(faultOf(() => readSoapRequest(Buffer.from(envelope), "text/xml"))).to.equal(
      "Client.InvalidSoap",
    );
  });

  it("a part with two Content-Type, Content-ID or Content-Transfer-Encoding lines is refused, not read by the first", () => {
    // As two Content-Type lines of the request itself are (adapter/server.ts): the root read as
    // the first type (xop+xml) while another reader could take the second.
    const text = bytes("attachm.query").toString("utf8");
    for (const [line, second] of [
      ['Content-Type: text/xml; charset="utf-8"', "Content-Type: text/plain"],
      ['Content-Type: text/xml; charset="utf-8"', "content-type: text/xml"],
      ['Content-Type: text/xml; charset="utf-8"', "Content-ID: <a>\nContent-ID: <b>"],
      [
        'Content-Type: text/xml; charset="utf-8"',
        "Content-Transfer-Encoding: 8bit\nContent-Transfer-Encoding: 8bit",
      ],
    ]) {
      const twice = Buffer.from(text.replace(line, `${line}\n${second}`));
      expect(
        faultOf(() => readSoapRequest(twice, MULTIPART)),
        second,
      ).to.equal("Client.InvalidContentType");
    }
    const xop = Buffer.from(
      text.replace(
        'Content-Type: text/xml; charset="utf-8"',
        'Content-Type: application/xop+xml; type="text/xml"\nContent-Type: text/plain',
      ),
    );
    expect(() => parseMultipartRelated(xop, MULTIPART)).to.throw(/2 Content-Type/);
    // Other headers may repeat, as before.
    const other = Buffer.from(text.replace(line0(text), `${line0(text)}\nX-Note: a\nX-Note: b`));
    expect(parseMultipartRelated(other, MULTIPART).root.headers["x-note"]).to.equal("a, b");
  });

  it("a root part that is not XML is refused", () => {
    const text = bytes("attachments.query")
      .toString("utf8")
      .replace("Content-Type: text/xml; charset=UTF-8", "Content-Type: application/json");
    expect(faultOf(() => readSoapRequest(Buffer.from(text), MULTIPART))).to.equal(
      "Client.InvalidContentType",
    );
  });

  it("decodes a quoted-printable or base64 root part; attachments stay as they came", () => {
    const plain = bytes("attachments.query").toString("utf8");
    const [head, envelope, rest] = /^([^]*?charset=UTF-8\n\n)([^]*?<\/SOAP-ENV:Envelope>\n)([^]*)$/
      .exec(plain)!
      .slice(1);
    const expected = readSoapRequest(Buffer.from(plain), MULTIPART);
    const encoded = (encoding: string, data: string) =>
      Buffer.from(
        head.replace("\n\n", `\nContent-Transfer-Encoding: ${encoding}\n\n`) + data + rest,
      );
    // `=` as =3D, the user id broken by a soft line break (trailing white space allowed).
    const qp = envelope.replace(/=/g, "=3D").replace("EE37702211234", "EE3770=  \n2211234");
    const base64 = Buffer.from(envelope).toString("base64").replace(/.{76}/g, "$&\r\n");
    for (const [encoding, data] of [
      ["quoted-printable", qp],
      ["Base64", base64],
    ]) {
      const request = readSoapRequest(encoded(encoding, data), MULTIPART);
      expect(request.userId, encoding).to.equal("EE37702211234");
      expect(request.bodyXml, encoding).to.equal(expected.bodyXml);
      expect(request.attachments.map((p) => p.data.toString())).to.deep.equal([
        "blaah\n",
        "blaah1\n",
        "blaah2\n",
      ]);
    }
    for (const [encoding, data] of [
      ["quoted-printable", envelope.replace("utf-8", "utf=ZZ8")],
      ["base64", "not base64!"],
      ["x-uuencode", envelope],
    ]) {
      expect(
        faultOf(() => readSoapRequest(encoded(encoding, data), MULTIPART)),
        encoding,
      ).to.equal("Client.InvalidContentType");
    }
  });

  it("limits the number of parts and the size of each", () => {
    const body = bytes("attachments.query");
    const limits = { maxParts: 3, maxHeaderBytes: 1024, maxPartBytes: 1024 * 1024 };
    expect(faultOf(() => parseMultipartRelated(body, MULTIPART, limits))).to.equal(
      "Client.InvalidContentType",
    );
    expect(
      parseMultipartRelated(body, MULTIPART, { ...limits, maxParts: 4 }).attachments,
    ).to.have.length(3);
    expect(
      faultOf(() => parseMultipartRelated(body, MULTIPART, { ...limits, maxPartBytes: 100 })),
    ).to.equal("Client.PayloadTooLarge");
    const hugeHeader = Buffer.from(`--b\nX-Pad: ${"a".repeat(5000)}\n\n<x/>\n--b--\n`);
    expect(
      faultOf(() => parseMultipartRelated(hugeHeader, "multipart/related; boundary=b", limits)),
    ).to.equal("Client.InvalidContentType");
  });

  it("reads a preamble line that only starts with the delimiter as preamble", () => {
    // Shrunk from multipart-readers.property.test.ts: "--/x" is no delimiter line of boundary
    // "/", as inside a part; it was taken for the first one and refused as malformed.
    const body = Buffer.from("--/x\r\n--/\r\nContent-Type: text/xml\r\n\r\n<e/>\r\n--/--\r\n");
    const read = parseMultipartRelated(body, "multipart/related; boundary=/");
    expect(read.root.data.toString()).to.equal("<e/>");
    expect(read.attachments).to.deep.equal([]);
  });

  it("keeps binary attachment bytes untouched", () => {
    const binary = Buffer.from([0, 1, 2, 0xff, 0x0d, 0x0a, 0x2d, 0x2d, 0x62, 0xfe]);
    const envelope = bytes("simple.query");
    const body = Buffer.concat([
      Buffer.from("--b\r\nContent-Type: text/xml\r\n\r\n"),
      envelope,
      Buffer.from("\r\n--b\r\nContent-Type: application/octet-stream\r\nContent-ID: <bin>\r\n\r\n"),
      binary,
      Buffer.from("\r\n--b--\r\n"),
    ]);
    const request = readSoapRequest(body, "multipart/related; boundary=b");
    expect(request.attachments[0].data).to.deep.equal(binary);
    expect(request.attachments[0].contentId).to.equal("bin");
  });
});

describe("SOAP message with attachments, as Sluice sends it", () => {
  it("marks the SOAP part 8bit (PR-MESS §2.4 MUST), for SwA and MTOM", () => {
    const attachment = {
      headers: { "Content-Type": "application/octet-stream", "Content-ID": "<data.bin>" },
      data: Buffer.from([0, 1, 2]),
    };
    for (const mtom of [false, true]) {
      const packed = buildMultipartRelated("<Envelope/>", [attachment], mtom);
      const parsed = parseMultipartRelated(packed.body, packed.contentType);
      expect(parsed.root.headers["content-transfer-encoding"], `mtom ${mtom}`).to.equal("8bit");
      expect(parsed.root.data.toString("utf8")).to.equal("<Envelope/>");
      expect(parsed.attachments[0].data).to.deep.equal(attachment.data);
    }
  });
});

describe("SOAP request: content types and character encodings", () => {
  const simple = bytes("simple.query");

  it("accepts text/xml with or without a charset, case-insensitively", () => {
    expect(readSoapRequest(simple, "text/xml").serviceCode).to.equal("testQuery");
    expect(readSoapRequest(simple, 'Text/XML; charset="UTF-8"').serviceCode).to.equal("testQuery");
  });

  it("refuses other media types, SOAP 1.2 and a missing Content-Type", () => {
    for (const type of ["application/soap+xml", "application/json", "text/plain", undefined]) {
      expect(
        faultOf(() => readSoapRequest(simple, type)),
        String(type),
      ).to.equal("Client.InvalidContentType");
    }
  });

  it("each Content-Type decides its own request, whatever the one before said", () => {
    const text = bytes("getstate.query").toString("utf8");
    const latin = Buffer.from(text.replace("aäõ", "aäü"), "latin1");
    // The same bytes, read as the charset each request names (one-entry caches keyed by value).
    for (let round = 0; round < 2; round += 1) {
      expect(readSoapRequest(latin, "text/xml; charset=iso-8859-1").bodyJson).to.equal("aäü");
      expect(faultOf(() => readSoapRequest(latin, "text/xml; charset=utf-8"))).to.equal(
        "Client.InvalidXml",
      );
      expect(faultOf(() => readSoapRequest(latin, "application/soap+xml"))).to.equal(
        "Client.InvalidContentType",
      );
      expect(faultOf(() => readSoapRequest(latin, "multipart/related"))).to.equal(
        "Client.InvalidContentType",
      );
    }
  });

  it("UTF-8 with a byte-order mark", () => {
    const withBom = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), bytes("getstate.query")]);
    expect(readSoapRequest(withBom, "text/xml").bodyJson).to.equal("aäõ");
  });

  it("a byte-order mark outranks a charset naming another encoding, for X-Road's reading too", () => {
    // Xerces, in the security server, reads the mark as well: no disagreement to refuse.
    const withBom = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), bytes("getstate.query")]);
    expect(readSoapRequest(withBom, "text/xml; charset=iso-8859-1").bodyJson).to.equal("aäõ");
    const text = bytes("getstate.query")
      .toString("utf8")
      .replace('encoding="utf-8"', 'encoding="UTF-16"');
    const le = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, "utf16le")]);
    expect(readSoapRequest(le, "text/xml; charset=utf-8").bodyJson).to.equal("aäõ");
    expect(
      readSoapRequest(Buffer.from(le).swap16(), "text/xml; charset=iso-8859-1").bodyJson,
    ).to.equal("aäõ");
  });

  it("refuses a second byte-order mark: a character before the root element", () => {
    const bom = Buffer.from([0xef, 0xbb, 0xbf]);
    const twice = Buffer.concat([bom, bom, bytes("getstate.query")]);
    expect(faultOf(() => readSoapRequest(twice, "text/xml"))).to.equal("Client.InvalidXml");
  });

  it("refuses an XML declaration anywhere but at the very start (XML 1.0 §2.8)", () => {
    const text = bytes("getstate.query").toString("utf8");
    expect(text.startsWith("<?xml ")).to.equal(true);
    for (const before of [" ", "\n", "<!-- first -->"]) {
      const late = Buffer.from(before + text);
      expect(
        faultOf(() => readSoapRequest(late, "text/xml")),
        JSON.stringify(before),
      ).to.equal("Client.InvalidXml");
    }
    // A processing instruction whose name only starts with "xml" is no declaration.
    const styled = text.replace("?>", '?><?xml-stylesheet href="a.xsl"?>');
    expect(readSoapRequest(Buffer.from(styled), "text/xml").bodyJson).to.equal("aäõ");
  });

  it("ISO-8859-1 from the Content-Type charset or from the XML declaration", () => {
    const text = bytes("getstate.query").toString("utf8");
    const latin = Buffer.from(
      text.replace("aäõ", "aäü").replace('encoding="utf-8"', 'encoding="ISO-8859-1"'),
      "latin1",
    );
    expect(readSoapRequest(latin, "text/xml").bodyJson).to.equal("aäü");
    expect(readSoapRequest(latin, "text/xml; charset=iso-8859-1").bodyJson).to.equal("aäü");
  });

  it("windows-1252 by its own table: 0x80 is €, 0x92 is ’, not C1 controls as in ISO-8859-1", () => {
    const text = bytes("getstate.query").toString("utf8");
    // "a€’" written in windows-1252: a, 0x80, 0x92.
    const cp1252 = (declared: string) =>
      Buffer.concat(
        text
          .replace('encoding="utf-8"', `encoding="${declared}"`)
          .split("aäõ")
          .flatMap((part, i) =>
            i === 0
              ? [Buffer.from(part, "latin1")]
              : [Buffer.from([0x61, 0x80, 0x92]), Buffer.from(part, "latin1")],
          ),
      );
    expect(readSoapRequest(cp1252("windows-1252"), "text/xml").bodyJson).to.equal("a€’");
    expect(readSoapRequest(cp1252("utf-8"), "text/xml; charset=cp1252").bodyJson).to.equal("a€’");
    // ISO-8859-1 is what it says: those bytes are C1 controls there.
    expect(readSoapRequest(cp1252("ISO-8859-1"), "text/xml").bodyJson).to.equal("a\u0080\u0092");
  });

  it("UTF-16 with a byte-order mark, little- and big-endian", () => {
    const text = bytes("getstate.query")
      .toString("utf8")
      .replace('encoding="utf-8"', 'encoding="UTF-16"');
    const le = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, "utf16le")]);
    expect(readSoapRequest(le, "text/xml").bodyJson).to.equal("aäõ");
    const be = Buffer.from(le);
    be.swap16();
    expect(readSoapRequest(be, "text/xml; charset=utf-16").bodyJson).to.equal("aäõ");
  });

  it("UTF-16 without a byte-order mark is read by its declaration only when no charset says otherwise", () => {
    const text = bytes("getstate.query")
      .toString("utf8")
      .replace('encoding="utf-8"', 'encoding="UTF-16"');
    const le = Buffer.from(text, "utf16le");
    const be = Buffer.from(le).swap16();
    expect(readSoapRequest(le, "text/xml").bodyJson).to.equal("aäõ");
    expect(readSoapRequest(be, "text/xml").bodyJson).to.equal("aäõ");
    expect(readSoapRequest(le, "text/xml; charset=utf-16").bodyJson).to.equal("aäõ");
    // The charset outranks the declaration (RFC 7303): as UTF-8 these bytes hold NULs.
    expect(faultOf(() => readSoapRequest(le, "text/xml; charset=utf-8"))).to.equal(
      "Client.InvalidXml",
    );
    expect(faultOf(() => readSoapRequest(be, "text/xml; charset=iso-8859-1"))).to.equal(
      "Client.InvalidXml",
    );
    // A charset naming the byte order outranks the declaration's pattern as well.
    expect(readSoapRequest(le, "text/xml; charset=utf-16le").bodyJson).to.equal("aäõ");
    expect(faultOf(() => readSoapRequest(be, "text/xml; charset=utf-16le"))).to.equal(
      "Client.InvalidXml",
    );
    expect(faultOf(() => readSoapRequest(le, "text/xml; charset=utf-16be"))).to.equal(
      "Client.InvalidXml",
    );
  });

  it("refuses an unknown charset clearly and bytes that are not the declared encoding", () => {
    let error: SluiceError | undefined;
    try {
      readSoapRequest(simple, "text/xml; charset=koi8-r");
    } catch (caught) {
      error = caught as SluiceError;
    }
    expect(error?.faultCode).to.equal("Client.InvalidContentType");
    expect(error?.message).to.match(/unsupported charset "koi8-r"/);
    const declared = Buffer.from(
      simple.toString("utf8").replace('encoding="utf-8"', 'encoding="EBCDIC-FOO"'),
    );
    expect(faultOf(() => readSoapRequest(declared, "text/xml"))).to.equal("Client.InvalidXml");
    const broken = Buffer.concat([
      simple.subarray(0, 200),
      Buffer.from([0xc3, 0x28]),
      simple.subarray(200),
    ]);
    expect(faultOf(() => readSoapRequest(broken, "text/xml"))).to.equal("Client.InvalidXml");
  });

  it("helpers read charset and content-type parameters", () => {
    expect(charsetOf('text/xml; charset="UTF-8"')).to.equal("utf-8");
    expect(charsetOf("text/xml")).to.equal(undefined);
    expect(
      parseContentType('multipart/related; type="application/xop+xml"; start="<a;b>"; boundary=x'),
    ).to.deep.equal({
      type: "multipart/related",
      params: { type: "application/xop+xml", start: "<a;b>", boundary: "x" },
    });
    expect(decodeXml(Buffer.from("<a>é</a>"))).to.equal("<a>é</a>");
  });

  it("reads no charset inside a quoted parameter (an MTOM root part's type)", () => {
    expect(charsetOf('application/xop+xml; type="text/xml; charset=utf-8"')).to.equal(undefined);
    expect(charsetOf('application/xop+xml; type="text/xml; charset=x"; charset=UTF-8')).to.equal(
      "utf-8",
    );
    expect(charsetOf("text/xml; charset=ISO-8859-1 ; x=y")).to.equal("iso-8859-1");
    const original = bytes("attachm-mtom.query").toString("latin1");
    const rootType = /Content-Type: application\/xop\+xml[^\r\n]*/.exec(original)?.[0] ?? "";
    expect(rootType).to.not.equal("");
    for (const root of [
      'application/xop+xml; type="text/xml; charset=UTF-8"',
      'application/xop+xml; type="text/xml; charset=UTF-8"; charset=UTF-8',
    ]) {
      const body = Buffer.from(original.replace(rootType, `Content-Type: ${root}`), "latin1");
      const request = readSoapRequest(body, `${MTOM}; start-info="text/xml; charset=UTF-8"`);
      expect(request.mtom, root).to.equal(true);
    }
  });
});
