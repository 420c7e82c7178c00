import { expect } from "chai";
import * as soap from "soap";
import type { IHttpClient } from "soap/lib/types";
import { buildWsdl, DEFAULT_WSDL_NAMESPACE } from "../../adapter/soap/wsdl";
import { readSoapRequest } from "../../adapter/soap/soap-request";
import { parseXml } from "../../adapter/soap/safe-xml";
import { buildSoapResponse } from "../../adapter/soap/soap-response";
import { TEST_QUERY_SCHEMA } from "../fixtures/xroad-soap/outcomes";

const ENDPOINT = "http://127.0.0.1:8080/soap";

const SERVICES = [
  {
    serviceCode: "testQuery",
    namespace: "http://cosumer.ee.xroad.net",
    schema: TEST_QUERY_SCHEMA,
  },
  { serviceCode: "getState" },
];

async function loadWsdl(xml: string): Promise<soap.WSDL> {
  const wsdl = new soap.WSDL(xml, "http://127.0.0.1/soap?wsdl", {});
  await new Promise<void>((resolve, reject) =>
    wsdl.onReady((error) => (error ? reject(error) : resolve())),
  );
  return wsdl;
}

/** An HTTP client for `soap` that answers from memory and remembers what was sent. */
function memoryHttp(answer: (body: string) => string): IHttpClient & { sent: string[] } {
  const sent: string[] = [];
  return {
    sent,
    request(_url, data, callback) {
      sent.push(String(data));
      const body = answer(String(data));
      setImmediate(() => callback(null, { statusCode: 200, headers: {}, data: body }, body));
      return undefined as never;
    },
  };
}

describe("WSDL", () => {
  it("is well-formed XML and names every service, the X-Road headers and the endpoint", () => {
    const xml = buildWsdl(SERVICES, ENDPOINT);
    const root = parseXml(xml);
    expect(root.local).to.equal("definitions");
    for (const text of [
      '<wsdl:operation name="testQuery">',
      '<wsdl:operation name="getState">',
      'part="protocolVersion"',
      'element="xrd:client"',
      `location="${ENDPOINT}"`,
      `targetNamespace="${DEFAULT_WSDL_NAMESPACE}"`,
    ]) {
      expect(xml).to.include(text);
    }
  });

  it("the soap package loads it and sees both operations", async () => {
    const wsdl = await loadWsdl(buildWsdl(SERVICES, ENDPOINT));
    const description = wsdl.describeServices() as Record<
      string,
      Record<string, Record<string, unknown>>
    >;
    expect(Object.keys(description.sluiceService.sluicePort)).to.have.members([
      "testQuery",
      "getState",
    ]);
  });

  it("a soap client call with X-Road headers produces a request Sluice accepts", async () => {
    const wsdl = await loadWsdl(buildWsdl(SERVICES, ENDPOINT));
    const http = memoryHttp((body) => {
      const request = readSoapRequest(Buffer.from(body), "text/xml; charset=utf-8");
      return buildSoapResponse(request, "<answer>ok</answer>");
    });
    const client = new soap.Client(wsdl, ENDPOINT, { httpClient: http });
    const xrd = "http://x-road.eu/xsd/xroad.xsd";
    const id = "http://x-road.eu/xsd/identifiers";
    client.addSoapHeader(
      `<xrd:client xmlns:xrd="${xrd}" xmlns:id="${id}" id:objectType="SUBSYSTEM"><id:xRoadInstance>EE</id:xRoadInstance><id:memberClass>GOV</id:memberClass><id:memberCode>1</id:memberCode><id:subsystemCode>sub</id:subsystemCode></xrd:client>`,
    );
    client.addSoapHeader(
      `<xrd:service xmlns:xrd="${xrd}" xmlns:id="${id}" id:objectType="SERVICE"><id:xRoadInstance>EE</id:xRoadInstance><id:memberClass>GOV</id:memberClass><id:memberCode>2</id:memberCode><id:serviceCode>testQuery</id:serviceCode></xrd:service>`,
    );
    client.addSoapHeader(`<xrd:id xmlns:xrd="${xrd}">call-1</xrd:id>`);
    client.addSoapHeader(`<xrd:protocolVersion xmlns:xrd="${xrd}">4.0</xrd:protocolVersion>`);
    const [result] = (await client.testQueryAsync({ request: { name: "foo", age: 35 } })) as [
      unknown,
    ];
    expect(result).to.deep.equal({ answer: "ok" });

    const sent = readSoapRequest(Buffer.from(http.sent[0]), "text/xml");
    expect(sent.clientId).to.equal("EE/GOV/1/sub");
    expect(sent.xroadId).to.equal("call-1");
    expect(sent.bodyNamespace).to.equal("http://cosumer.ee.xroad.net");
    expect(sent.bodyJson).to.deep.equal({ request: { name: "foo", age: "35" } });
  });

  it("open schemas still give a loadable WSDL; names are made XML-safe", async () => {
    const xml = buildWsdl(
      [
        { serviceCode: "free", schema: { oneOf: [{ type: "object" }] } },
        { serviceCode: "text", schema: { type: "string" }, version: "v2" },
        {
          serviceCode: "attrs",
          schema: { type: "object", properties: { "@lang": { type: "string" }, "#text": {} } },
        },
      ],
      "https://gw.example.org/soap?x=1&y=2",
      { targetNamespace: "urn:other", name: "my service" },
    );
    expect(xml).to.include('location="https://gw.example.org/soap?x=1&amp;y=2"');
    expect(xml).to.include("<xrd:version>v2</xrd:version>");
    // Open content takes text; an element with its own text beside attributes is mixed.
    expect(xml).to.include('<xsd:element name="free" type="xsd:anyType"/>');
    expect(xml).to.include(
      '<xsd:element name="attrs"><xsd:complexType mixed="true"><xsd:sequence></xsd:sequence><xsd:attribute name="lang" type="xsd:string"/>',
    );
    const wsdl = await loadWsdl(xml);
    const description = wsdl.describeServices() as Record<
      string,
      Record<string, Record<string, unknown>>
    >;
    expect(Object.keys(description.my_serviceService.my_servicePort)).to.have.members([
      "free",
      "text",
      "attrs",
    ]);
  });

  it("describes the acknowledgement and the status operation; a soap client reads both", async () => {
    const services = [
      {
        serviceCode: "getState",
        namespace: "http://x-road.eu/xsd/xroad.xsd",
        replyMode: "ack" as const,
      },
    ];
    const xml = buildWsdl(services, ENDPOINT, { statusService: "messages" });
    expect(xml).to.include('<xsd:complexType name="acknowledgement">');
    expect(xml).to.include('<xsd:element name="getStateResponse" type="tns:acknowledgement"/>');
    expect(xml).to.include('<xsd:element name="messagesResponse" type="tns:messageStatus"/>');
    const wsdl = await loadWsdl(xml);
    const answers = [
      "<id>9e5b2c1e-0000-4000-8000-000000000001</id><state>accepted</state><statusUrl>/messages/9e5b2c1e-0000-4000-8000-000000000001</statusUrl>",
      "<id>9e5b2c1e-0000-4000-8000-000000000001</id><service>getState</service><state>completed</state>" +
        "<delivery>delivered</delivery><createdAt>2026-01-01T00:00:00.000Z</createdAt>" +
        "<updatedAt>2026-01-01T00:00:01.000Z</updatedAt><responses><response><seq>1</seq>" +
        "<final>true</final><status>200</status><contentType>text/xml</contentType>" +
        "<body>&lt;x/&gt;</body></response></responses>",
    ];
    const http = memoryHttp((body) => {
      const request = readSoapRequest(Buffer.from(body), "text/xml; charset=utf-8");
      return buildSoapResponse(request, answers[request.serviceCode === "messages" ? 1 : 0]);
    });
    const client = new soap.Client(wsdl, ENDPOINT, { httpClient: http });
    const header = (code: string): void => {
      client.clearSoapHeaders();
      const xrd = "http://x-road.eu/xsd/xroad.xsd";
      const id = "http://x-road.eu/xsd/identifiers";
      client.addSoapHeader(
        `<xrd:client xmlns:xrd="${xrd}" xmlns:id="${id}" id:objectType="MEMBER"><id:xRoadInstance>EE</id:xRoadInstance><id:memberClass>GOV</id:memberClass><id:memberCode>1</id:memberCode></xrd:client>`,
      );
      client.addSoapHeader(
        `<xrd:service xmlns:xrd="${xrd}" xmlns:id="${id}" id:objectType="SERVICE"><id:xRoadInstance>EE</id:xRoadInstance><id:memberClass>GOV</id:memberClass><id:memberCode>2</id:memberCode><id:serviceCode>${code}</id:serviceCode></xrd:service>`,
      );
      client.addSoapHeader(`<xrd:id xmlns:xrd="${xrd}">call-${code}</xrd:id>`);
      client.addSoapHeader(`<xrd:protocolVersion xmlns:xrd="${xrd}">4.0</xrd:protocolVersion>`);
    };
    header("getState");
    const [ack] = (await client.getStateAsync({})) as [Record<string, unknown>];
    expect(ack).to.deep.include({ state: "accepted" });
    header("messages");
    const [status] = (await client.messagesAsync({
      id: "9e5b2c1e-0000-4000-8000-000000000001",
    })) as [{ state: string; responses: { response: unknown } }];
    expect(status.state).to.equal("completed");
    expect([status.responses.response].flat()[0]).to.deep.include({
      seq: 1,
      final: true,
      body: "<x/>",
    });
    const sent = readSoapRequest(Buffer.from(http.sent[1]), "text/xml");
    expect(sent.bodyJson).to.deep.equal({ id: "9e5b2c1e-0000-4000-8000-000000000001" });
  });
});
