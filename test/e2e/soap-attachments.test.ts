// SOAP attachments through the `soap` translator, both ways: the X-Road fixtures (SwA and MTOM)
// and a `soap` package client with binary MTOM parts reach a SOAP backend built with the `soap`
// package (legacy-sim, which splits MIME with the soap package's own reader and records every
// part) and come back in the multipart answer, bytes compared at each end.

import { randomBytes } from "node:crypto";
import { expect } from "chai";
import * as soap from "soap";
import { parseMTOMResp } from "soap/lib/utils";
import { Harness } from "../support/harness";
import { fixture, MULTIPART_FIXTURES } from "../fixtures/xroad-soap/outcomes";
import {
  CLIENT_HEADER,
  idHeader,
  PROTOCOL_VERSION_HEADER,
  serviceHeader,
} from "../support/xroad-soap-headers";
import {
  freshConnectionPerFetch,
  freshConnectionPerNodeRequest,
} from "../support/fresh-connections";

interface Part {
  headers: Record<string, string>;
  data: Buffer;
}

/**
 * The parts of a fixture as its author wrote them, cut by hand: between a delimiter line and
 * the line break before the next one (RFC 2046). Not Sluice's parser, so it checks it.
 */
function fixtureParts(name: string, boundary: string): Part[] {
  const text = fixture(name).toString("latin1");
  const pieces = text.split(`--${boundary}`).slice(1, -1);
  return pieces.map((piece) => {
    const body = piece.slice(piece.indexOf("\n") + 1);
    const blank = body.indexOf("\n\n");
    const headers: Record<string, string> = {};
    for (const line of body.slice(0, blank).split("\n")) {
      const colon = line.indexOf(":");
      headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    const data = body.slice(blank + 2).replace(/\r?\n$/, "");
    return { headers, data: Buffer.from(data, "latin1") };
  });
}

/** A multipart answer split by the `soap` package's reader (formidable), root first. */
async function answerParts(body: Buffer, contentType: string): Promise<Part[]> {
  const boundary = /boundary="?([^";]+)"?/.exec(contentType)?.[1] as string;
  const parts = await new Promise<Array<{ headers: Record<string, string>; body: Buffer }>>(
    (resolve, reject) =>
      void parseMTOMResp(body, boundary, (err, result) =>
        err ? reject(err) : resolve((result as never as { parts: never }).parts),
      ),
  );
  return parts.map((p) => ({ headers: p.headers, data: p.body }));
}

describe("SOAP attachments through the soap translator (SwA and MTOM, both ways)", function () {
  freshConnectionPerFetch();
  freshConnectionPerNodeRequest();
  this.timeout(30_000);
  const harness = Harness.suite({
    sim: { soapServices: ["testQuery", "test"], recordDetails: true },
    config: {
      services: {
        test: {
          protocols: ["soap"],
          reply: { mode: "sync", wait: "10s" },
          backend: "legacy",
          attachments: true,
        },
      },
      backends: { legacy: { translator: "soap", retry: { attempts: 2, backoff: ["1s"] } } },
    },
    roles: [{ role: "all", as: "sluice" }],
  });
  const { roles } = harness;
  let counter = 0;

  for (const [name, contentType] of MULTIPART_FIXTURES) {
    it(`${name}: every part reaches the backend and comes back, bytes unchanged`, async () => {
      const mtom = contentType.includes("xop+xml");
      const expected = fixtureParts(name, "jetty771207119h3h10dty").slice(1);
      const xroadId = `att-${process.pid}-${++counter}`;
      const request = fixture(name)
        .toString("utf8")
        .replace(/<xroad:id>[^<]*<\/xroad:id>/, `<xroad:id>${xroadId}</xroad:id>`);
      const response = await fetch(`${roles.sluice.url}/soap`, {
        method: "POST",
        headers: { "Content-Type": contentType },
        body: request,
      });
      const body = Buffer.from(await response.arrayBuffer());
      expect(response.status, body.toString()).to.equal(200);
      const answerType = response.headers.get("content-type") as string;
      expect(answerType).to.match(/^multipart\/related;/);
      expect(answerType).to.include(mtom ? 'type="application/xop+xml"' : 'type="text/xml"');

      // What the backend got: the same packaging, every attachment with its headers and bytes.
      const id = response.headers.get("x-sluice-id") as string;
      const [recorded] = harness.sim.calls({ id });
      expect(String(recorded.headers?.["content-type"])).to.include(
        mtom ? 'type="application/xop+xml"' : 'type="text/xml"',
      );
      expect(recorded.parts?.map((p) => p.data.toString("latin1"))).to.deep.equal(
        expected.map((p) => p.data.toString("latin1")),
      );
      for (const [i, part] of expected.entries()) {
        expect(recorded.parts?.[i].headers).to.deep.include(part.headers);
      }
      if (mtom) {
        // The xop:Include in the Body points at a part that was really sent.
        const root = recorded.body?.toString("utf8") ?? "";
        const href = /href="cid:([^"]+)"/.exec(root)?.[1];
        expect(href).to.equal("42a7ee0a-20ee-426b-a135-094d72bc138f@example.org");
        expect(recorded.parts?.[0].headers["content-id"]).to.equal(`<${href}>`);
      }

      // What the caller got back: the answer envelope, then the backend's attachments.
      const [root, ...attachments] = await answerParts(body, answerType);
      const envelope = root.data.toString("utf8");
      expect(envelope).to.match(/<ns1:testResponse\b/);
      expect(envelope).to.include(`<xroad:id>${xroadId}</xroad:id>`);
      expect(attachments.map((p) => p.data.toString("latin1"))).to.deep.equal(
        expected.map((p) => p.data.toString("latin1")),
      );
    });
  }

  it("a `soap` package client's binary MTOM attachments arrive and return byte for byte", async () => {
    const client = await soap.createClientAsync(`${roles.sluice.url}/soap?wsdl`, {
      endpoint: `${roles.sluice.url}/soap`,
      parseResponseAttachments: true,
    });
    const xroadId = `att-client-${process.pid}`;
    client.addSoapHeader(CLIENT_HEADER);
    client.addSoapHeader(serviceHeader("legacy", "test"));
    client.addSoapHeader(idHeader(xroadId));
    client.addSoapHeader(PROTOCOL_VERSION_HEADER);
    // Bytes a careless MIME writer would break: CR LF pairs, a fake boundary, NULs, high bytes.
    const pdf = Buffer.concat([
      Buffer.from("%PDF-1.7\r\n--sluice-fake-boundary\r\n\r\n"),
      randomBytes(4096),
      Buffer.from([0, 13, 10, 13, 10, 255]),
    ]);
    const image = randomBytes(1500);
    await client.testAsync(
      { $value: "two files" },
      {
        attachments: [
          { mimetype: "application/pdf", contentId: "doc-1", name: "a.pdf", body: pdf },
          { mimetype: "image/png", contentId: "img-2", name: "b.png", body: image },
        ],
      },
    );
    const id = String(client.lastResponseHeaders?.["x-sluice-id"]);
    const [recorded] = harness.sim.calls({ id });
    expect(recorded.parts?.map((p) => p.headers["content-id"])).to.deep.equal([
      "<doc-1>",
      "<img-2>",
    ]);
    expect(recorded.parts?.[0].data.equals(pdf)).to.equal(true);
    expect(recorded.parts?.[1].data.equals(image)).to.equal(true);
    const back = (
      client as unknown as { lastResponseAttachments: { parts: Array<{ body: Buffer }> } }
    ).lastResponseAttachments.parts;
    expect(back).to.have.length(2);
    expect(back[0].body.equals(pdf)).to.equal(true);
    expect(back[1].body.equals(image)).to.equal(true);
    expect(String(client.lastResponse)).to.include(`${xroadId}</xrd:id>`);
  });
});
