// Sluice's WSDL and its answers read by two implementations that are not Sluice's: lxml's XML
// Schema validator checks requests and answers against the WSDL's schemas, and zeep (strict)
// reads each answer as its operation's output (test/support/wsdl-check.py, Debian's
// python3-zeep). What the WSDL describes and what Sluice sends must agree.

import { expect } from "chai";
import { resolve } from "node:path";
import { call, eventually, Harness, type SluiceProcess } from "../support/harness";
import {
  CLIENT_HEADER,
  idHeader,
  PROTOCOL_VERSION_HEADER,
  serviceHeader,
} from "../support/xroad-soap-headers";
import { spawn } from "../support/spawned-children";

const SCRIPT = resolve(__dirname, "../../../test/support/wsdl-check.py");
const NS = "urn:sluice:test";
/** The WSDL's target namespace, where the status operation's elements are. */
const STATUS_NS = "urn:sluice:services";
/** CLIENT_HEADER's client, as REST names it: the owner of the messages sent here. */
const CLIENT = "EE/GOV/70000001/case-app";
/** What the backend of `stamped` answers with: two Set-Cookie lines, an ETag, its own header. */
const STAMPS = {
  etag: '"v1"',
  "set-cookie": ["a=1; Path=/", "b=2; Path=/"],
  "x-trace": "t-1",
};

type Case = { kind: "validate"; xml: string } | { kind: "call"; operation: string; xml: string };
interface Result {
  valid: boolean;
  errors: string[];
  read?: unknown;
}

/** Runs the checker with Debian's python3 (where python3-zeep is installed) on `cases`. */
function check(wsdlUrl: string, endpoint: string, cases: Case[]): Promise<Result[]> {
  return new Promise((done, fail) => {
    const child = spawn("/usr/bin/python3", [SCRIPT, wsdlUrl, endpoint]);
    let out = "";
    let err = "";
    child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (err += chunk.toString()));
    child.on("error", fail);
    child.on("close", (code) =>
      code === 0
        ? done(JSON.parse(out) as Result[])
        : fail(new Error(`checker exited ${code}: ${err}`)),
    );
    child.stdin.end(JSON.stringify(cases));
  });
}

function envelope(code: string, xroadId: string, body: string): string {
  return (
    `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Header>` +
    CLIENT_HEADER +
    serviceHeader("legacy", code) +
    idHeader(xroadId) +
    PROTOCOL_VERSION_HEADER +
    `</s:Header><s:Body>${body}</s:Body></s:Envelope>`
  );
}

describe("SOAP: the WSDL and the answers, read by lxml's schema validator and zeep", function () {
  this.timeout(60_000);
  const harness = new Harness();
  let sluice: SluiceProcess;

  before(async () => {
    await harness.startSim();
    harness.writeConfig({
      services: {
        // A property of several JSON types is written as text.
        person: {
          protocols: ["soap"],
          namespace: NS,
          schema: {
            type: "object",
            properties: {
              person: {
                type: "object",
                properties: { name: { type: "string" }, age: { type: ["string", "integer"] } },
              },
            },
          },
          reply: { mode: "ack" },
          backend: "json",
        },
        // The backend answers text/plain: the sync answer is that text.
        words: {
          protocols: ["soap"],
          namespace: NS,
          reply: { mode: "sync", wait: "20s" },
          backend: "text",
        },
        stamped: {
          protocols: ["soap"],
          namespace: NS,
          reply: { mode: "ack" },
          backend: "stamps",
        },
      },
      backends: {
        json: { translator: "rest-json" },
        stamps: {
          translator: "rest-json",
          options: { headers: { "X-Sim-Headers": JSON.stringify(STAMPS) } },
        },
        text: {
          translator: "rest-json",
          options: {
            headers: { "X-Sim-Headers": JSON.stringify({ "content-type": "text/plain" }) },
          },
        },
      },
    });
    sluice = await harness.spawn("all");
  });

  after(() => harness.cleanup());

  it("a request with text in an element of several JSON types is valid against the WSDL", async () => {
    const [result] = await check(`${sluice.url}/soap?wsdl`, `${sluice.url}/soap`, [
      {
        kind: "validate",
        xml: `<t:person xmlns:t="${NS}"><person><name>Mari</name><age>35</age></person></t:person>`,
      },
    ]);
    expect(result.errors).to.deep.equal([]);
    expect(result.valid).to.equal(true);
  });

  it("an acknowledgement to a Body in a default namespace is valid and read by zeep", async () => {
    const results = await check(`${sluice.url}/soap?wsdl`, `${sluice.url}/soap`, [
      {
        kind: "call",
        operation: "person",
        xml: envelope(
          "person",
          "wsdl-readers-1",
          `<person xmlns="${NS}"><person><name>Mari</name></person></person>`,
        ),
      },
      {
        kind: "call",
        operation: "person",
        xml: envelope(
          "person",
          "wsdl-readers-2",
          `<t:person xmlns:t="${NS}"><person><name>Jüri</name></person></t:person>`,
        ),
      },
    ]);
    for (const result of results) {
      expect(result.errors).to.deep.equal([]);
      expect(result.valid).to.equal(true);
      const read = (result.read as { body: { id: string | null; state: string | null } }).body;
      expect(read.state).to.equal("accepted");
      expect(read.id).to.be.a("string").and.not.equal("");
    }
  });

  it("a sync answer of the backend's text is valid and zeep reads the text", async () => {
    const [result] = await check(`${sluice.url}/soap?wsdl`, `${sluice.url}/soap`, [
      {
        kind: "call",
        operation: "words",
        xml: envelope("words", "wsdl-readers-3", `<t:words xmlns:t="${NS}"/>`),
      },
    ]);
    expect(result.errors).to.deep.equal([]);
    expect(result.valid).to.equal(true);
    // legacy-sim's JSON answer, sent as text/plain: the Response element's text.
    const read = (result.read as { body: unknown }).body;
    expect(read).to.be.a("string");
    expect(JSON.parse(read as string)).to.include({ path: "/words", answer: 42 });
  });

  it("the status operation's answer holds the JSON document's history and the backend's headers, valid and read by zeep", async () => {
    const [ack] = await check(`${sluice.url}/soap?wsdl`, `${sluice.url}/soap`, [
      {
        kind: "call",
        operation: "stamped",
        xml: envelope("stamped", "wsdl-readers-4", `<t:stamped xmlns:t="${NS}"/>`),
      },
    ]);
    const id = (ack.read as { body: { id: string } }).body.id;
    await eventually(async () => {
      const doc = (await call(`${sluice.url}/messages/${id}`, { client: CLIENT })).json;
      return doc.state === "completed" ? doc : undefined;
    });

    const [result] = await check(`${sluice.url}/soap?wsdl`, `${sluice.url}/soap`, [
      {
        kind: "call",
        operation: "messages",
        xml: envelope(
          "messages",
          "wsdl-readers-5",
          `<t:messages xmlns:t="${STATUS_NS}"><id>${id}</id></t:messages>`,
        ),
      },
    ]);
    expect(result.errors).to.deep.equal([]);
    expect(result.valid).to.equal(true);
    // Read after the SOAP read, which (the outcome delivered) changed nothing more.
    const doc = (await call(`${sluice.url}/messages/${id}`, { client: CLIENT })).json as {
      history: Array<{ state: string; at: string }>;
      responses: Array<{ headers: Record<string, string | string[]> }>;
    };
    interface Read {
      state: string;
      history: { entry: Array<{ state: string; at: string }> };
      responses: {
        response: Array<{ headers: { header: Array<{ name: string; value: string[] }> } }>;
      };
    }
    const read = (result.read as { body: Read }).body;
    expect(read.state).to.equal("completed");
    // zeep reads `at` as a datetime: the same instants as the JSON document's.
    expect(
      read.history.entry.map((entry) => ({
        state: entry.state,
        at: new Date(entry.at).toISOString(),
      })),
    ).to.deep.equal(doc.history);
    expect(doc.history.map((entry) => entry.state)).to.include.members(["accepted", "completed"]);
    const headers = Object.fromEntries(
      read.responses.response[0].headers.header.map((header) => [
        header.name,
        header.value.length === 1 ? header.value[0] : header.value,
      ]),
    );
    // As the JSON document shows them to the message's own client: Set-Cookie whole.
    expect(headers).to.deep.equal(doc.responses[0].headers);
    expect(headers).to.include({ etag: '"v1"', "x-trace": "t-1" });
    expect(headers["set-cookie"]).to.deep.equal(STAMPS["set-cookie"]);
  });
});
