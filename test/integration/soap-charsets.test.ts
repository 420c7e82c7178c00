// A SOAP request in each charset a caller may send through X-Road: the security server
// simulator (xroad-sim) reads it as X-Road's does and, if it passes, forwards it with its
// Content-Type as it came; Sluice's SOAP reader (adapter/soap) then reads the same text from it
// or refuses it with a documented code, never other text.

import { expect } from "chai";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { request } from "undici";
import { fixture } from "../fixtures/xroad-soap/outcomes";
import { startXroadSim, type XroadSim } from "../../xroad-sim/xroad-sim";
import { readSoapRequest } from "../../adapter/soap/soap-request";
import { SluiceError } from "../../shared/protocol/errors";
import {
  freshConnectionPerFetch,
  freshConnectionPerNodeRequest,
} from "../support/fresh-connections";

const NAME = "Jõgi€";
const QUERY = fixture("simple.query").toString("utf8").replace("EE37702211234", NAME);
const ANSWER = fixture("simple.answer").toString("utf8");

type Read = { userId: string | null } | { refused: string };

const cp1252 = (text: string): Buffer =>
  Buffer.from(Array.from(text, (c) => (c === "€" ? 0x80 : c.charCodeAt(0))));
const utf16 = (text: string, bigEndian: boolean, bom: boolean): Buffer => {
  const le = Buffer.from((bom ? "\ufeff" : "") + text, "utf16le");
  return bigEndian ? le.swap16() : le;
};
const declared = (encoding: string): string =>
  QUERY.replace('encoding="utf-8"', `encoding="${encoding}"`);

describe("SOAP charsets through the security server to Sluice's reader", function () {
  freshConnectionPerFetch();
  freshConnectionPerNodeRequest();
  this.timeout(20_000);
  let sim: XroadSim;
  let sluice: http.Server;
  let read: Read[] = [];

  before(async () => {
    sluice = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (chunk: Buffer) => chunks.push(chunk));
      req.on("end", () => {
        let userId: string | null = NAME;
        try {
          ({ userId } = readSoapRequest(Buffer.concat(chunks), req.headers["content-type"]));
          read.push({ userId });
        } catch (error) {
          if (!(error instanceof SluiceError)) throw error;
          read.push({ refused: `Client.${error.code}` });
        }
        // The security server wants the answer's userId as the request's.
        res.writeHead(200, { "content-type": "text/xml; charset=utf-8" });
        res.end(ANSWER.replace("EE37702211234", userId ?? ""));
      });
    });
    await new Promise<void>((resolve) => sluice.listen(0, "127.0.0.1", resolve));
    const { port } = sluice.address() as AddressInfo;
    sim = await startXroadSim({
      services: {
        "EE/BUSINESS/producer/testQuery": { url: `http://127.0.0.1:${port}/soap`, type: "soap" },
      },
    });
  });
  after(async () => {
    await sim.close();
    await new Promise((resolve) => sluice.close(resolve));
  });
  beforeEach(() => {
    read = [];
  });

  /** What xroad-sim answered, and what Sluice's reader made of what it passed on. */
  async function send(
    contentType: string,
    body: Buffer,
  ): Promise<{ answer: string; read: Read[] }> {
    const res = await request(`${sim.url}/`, {
      method: "POST",
      headers: { "content-type": contentType },
      body,
    });
    return { answer: await res.body.text(), read };
  }

  const cases: Array<[string, string, Buffer]> = [
    ["UTF-8", "text/xml; charset=utf-8", Buffer.from(QUERY)],
    ["UTF-8, no charset", "text/xml", Buffer.from(QUERY)],
    ["UTF-8 with a BOM", "text/xml; charset=UTF-8", Buffer.from("\ufeff" + QUERY)],
    [
      "ISO-8859-1",
      'text/xml; charset="ISO-8859-1"',
      Buffer.from(declared("ISO-8859-1").replace("€", ""), "latin1"),
    ],
    ["windows-1252", "text/xml; charset = windows-1252 ", cp1252(declared("windows-1252"))],
    [
      "windows-1252, upper case",
      "text/xml; CHARSET=WINDOWS-1252",
      cp1252(declared("windows-1252")),
    ],
    ["UTF-16LE with a BOM", "text/xml; charset=UTF-16", utf16(declared("UTF-16"), false, true)],
    ["UTF-16BE with a BOM", "text/xml; charset=UTF-16", utf16(declared("UTF-16"), true, true)],
    ["UTF-16LE without a BOM", "text/xml; charset=utf-16", utf16(declared("UTF-16"), false, false)],
    [
      "UTF-16BE without a BOM",
      'text/xml; charset="UTF-16"',
      utf16(declared("UTF-16"), true, false),
    ],
    ["UTF-16LE named", "text/xml; charset=UTF-16LE", utf16(declared("UTF-16LE"), false, false)],
    ["UTF-16BE named", "text/xml; charset=UTF-16BE", utf16(declared("UTF-16BE"), true, false)],
  ];
  for (const [name, contentType, body] of cases) {
    it(`reads ${name} as sent`, async () => {
      const { answer, read: seen } = await send(contentType, body);
      expect(answer).to.contain("<answer>42</answer>");
      // ISO-8859-1 has no "€".
      expect(seen).to.deep.equal([{ userId: name === "ISO-8859-1" ? "Jõgi" : NAME }]);
    });
  }

  it("an unknown charset stops at the security server", async () => {
    const { answer, read: seen } = await send("text/xml; charset=x-no-such", Buffer.from(QUERY));
    expect(answer).to.contain("<faultcode>Client.IOError</faultcode>");
    expect(seen).to.deep.equal([]);
  });

  // The security server reads the bytes by their XML declaration (or XML's UTF-8), Sluice by
  // the Content-Type's charset (RFC 7303): where the two readings differ, Sluice refuses.
  it("refuses a message its charset reads otherwise than the security server did", async () => {
    // UTF-8 labelled ISO-8859-1: the security server reads UTF-8 ("Jõgi"), the charset "JÃµgi".
    const utf8 = Buffer.from(QUERY.replace(NAME, "Jõgi"));
    const utf8AsLatin1 = await send("text/xml; charset=ISO-8859-1", utf8);
    expect(utf8AsLatin1.read).to.deep.equal([{ refused: "Client.InvalidXml" }]);
    read = [];
    // ISO-8859-1 by its declaration, labelled UTF-8: not UTF-8 at all.
    const latin1AsUtf8 = await send(
      "text/xml; charset=utf-8",
      Buffer.from(declared("ISO-8859-1").replace(NAME, "Jõgi"), "latin1"),
    );
    expect(latin1AsUtf8.read).to.deep.equal([{ refused: "Client.InvalidXml" }]);
  });
});
