// The security-server simulator's SOAP metaservices (PR-META): listMethods and allowedMethods
// from the registered SOAP services, getWsdl from a WSDL URL served by a real HTTP server.

import { expect } from "chai";
import { createHash } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { XMLParser } from "fast-xml-parser";
import { request } from "undici";
import { startXroadSim, type XroadSim } from "../../xroad-sim/xroad-sim";
import { freshConnectionPerFetch } from "../support/fresh-connections";

const PROVIDER = "EE/BUSINESS/producer/SUB";
const CLIENT = "EE/BUSINESS/consumer";
const OTHER = "EE/GOV/9/other";

const WSDL = `<?xml version="1.0" encoding="UTF-8"?>
<wsdl:definitions xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/"
    xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/"
    xmlns:s12="http://schemas.xmlsoap.org/wsdl/soap12/"
    xmlns:tns="http://test.x-road.fi/producer" name="testService"
    targetNamespace="http://test.x-road.fi/producer">
  <!-- the provider's own comment stays -->
  <wsdl:portType name="testServicePortType"/>
  <wsdl:service name="testService">
    <wsdl:port binding="tns:testServiceBinding" name="testServicePort">
      <soap:address location="http://legacy.internal:8080/testService/Endpoint"/>
    </wsdl:port>
    <wsdl:port binding="tns:testServiceBinding12" name="testServicePort12">
      <s12:address location="http://legacy.internal:8080/testService/Endpoint12"/>
    </wsdl:port>
  </wsdl:service>
</wsdl:definitions>
`;

interface Parts {
  client: string;
  service: string;
  serviceVersion?: string;
  body: string;
}

const idXml = (id: string, type: "MEMBER" | "SUBSYSTEM" | "SERVICE", extra = ""): string => {
  const [instance, memberClass, memberCode, subsystem] = id.split("/");
  return (
    `<id:xRoadInstance>${instance}</id:xRoadInstance><id:memberClass>${memberClass}</id:memberClass>` +
    `<id:memberCode>${memberCode}</id:memberCode>` +
    (subsystem ? `<id:subsystemCode>${subsystem}</id:subsystemCode>` : "") +
    extra
  );
};

/** An X-Road SOAP 4.0 request for a metaservice of `service` (provider/serviceCode). */
function envelope(parts: Parts): string {
  const provider = parts.service.split("/").slice(0, -1).join("/");
  const code = parts.service.split("/").pop() as string;
  const version = parts.serviceVersion
    ? `<id:serviceVersion>${parts.serviceVersion}</id:serviceVersion>`
    : "";
  return (
    '<?xml version="1.0" encoding="utf-8"?>\n' +
    '<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/" ' +
    'xmlns:xroad="http://x-road.eu/xsd/xroad.xsd" xmlns:id="http://x-road.eu/xsd/identifiers">' +
    "<SOAP-ENV:Header>" +
    `<xroad:client id:objectType="${parts.client.split("/").length === 4 ? "SUBSYSTEM" : "MEMBER"}">` +
    `${idXml(parts.client, "MEMBER")}</xroad:client>` +
    `<xroad:service id:objectType="SERVICE">${idXml(provider, "SERVICE", `<id:serviceCode>${code}</id:serviceCode>${version}`)}</xroad:service>` +
    "<xroad:id>411d6755661409fed365ad8135f8210be07613da</xroad:id>" +
    "<xroad:protocolVersion>4.0</xroad:protocolVersion>" +
    `</SOAP-ENV:Header><SOAP-ENV:Body>${parts.body}</SOAP-ENV:Body></SOAP-ENV:Envelope>`
  );
}

const parser = new XMLParser({
  removeNSPrefix: true,
  ignoreAttributes: false,
  attributeNamePrefix: "@",
  parseTagValue: false,
  isArray: (name) => name === "service",
});

type Xml = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

describe("xroad-sim SOAP metaservices (PR-META)", function () {
  freshConnectionPerFetch();
  this.timeout(20_000);
  let wsdlServer: http.Server;
  let wsdlBase = "";
  let sim: XroadSim;

  const call = async (
    xml: string,
  ): Promise<{ status: number; contentType: string; text: string }> => {
    const answer = await request(`${sim.url}/`, {
      method: "POST",
      headers: { "content-type": "text/xml; charset=utf-8", soapaction: "" },
      body: xml,
    });
    return {
      status: answer.statusCode,
      contentType: String(answer.headers["content-type"]),
      text: await answer.body.text(),
    };
  };

  const listed = (text: string, element: string): string[] => {
    const doc = parser.parse(text) as Xml;
    const services = (doc.Envelope.Body[element]?.service ?? []) as Xml[];
    return services.map((s) =>
      [
        s.xRoadInstance,
        s.memberClass,
        s.memberCode,
        s.subsystemCode,
        s.serviceCode,
        s.serviceVersion,
      ]
        .filter((v) => v !== undefined)
        .join("/"),
    );
  };

  before(async () => {
    wsdlServer = http.createServer((req, res) => {
      req.resume();
      if (req.url === "/wsdl/testService") {
        res.writeHead(200, { "content-type": "text/xml" });
        res.end(WSDL);
      } else {
        res.writeHead(404);
        res.end();
      }
    });
    await new Promise<void>((resolve) => wsdlServer.listen(0, "127.0.0.1", resolve));
    wsdlBase = `http://127.0.0.1:${(wsdlServer.address() as AddressInfo).port}`;
    const soap = { type: "soap" as const, url: `${wsdlBase}/soap` };
    sim = await startXroadSim({
      services: {
        [`${PROVIDER}/getRandom/v1`]: { ...soap, descriptionUrl: `${wsdlBase}/wsdl/testService` },
        [`${PROVIDER}/helloService`]: {
          ...soap,
          descriptionUrl: `${wsdlBase}/wsdl/testService`,
          allowedClients: [OTHER],
        },
        [`${PROVIDER}/nowsdl`]: soap,
        [`${PROVIDER}/gone`]: { ...soap, descriptionUrl: `${wsdlBase}/missing` },
        [`${PROVIDER}/restful`]: { url: `${wsdlBase}/rest` },
        "EE/BUSINESS/producer/own": soap,
      },
    });
  });
  after(async () => {
    await sim.close();
    await new Promise<void>((resolve) => wsdlServer.close(() => resolve()));
  });

  it("listMethods answers the provider's SOAP services in the request's envelope, with requestHash", async () => {
    const xml = envelope({
      client: CLIENT,
      service: `${PROVIDER}/listMethods`,
      body: "<xroad:listMethods/>",
    });
    const answer = await call(xml);
    expect(answer.status, answer.text).to.equal(200);
    expect(answer.contentType).to.match(/^text\/xml/);
    expect(listed(answer.text, "listMethodsResponse")).to.deep.equal([
      `EE/BUSINESS/producer/SUB/getRandom/v1`,
      `EE/BUSINESS/producer/SUB/helloService`,
      `EE/BUSINESS/producer/SUB/nowsdl`,
      `EE/BUSINESS/producer/SUB/gone`,
    ]);
    const doc = parser.parse(answer.text) as Xml;
    const header = doc.Envelope.Header;
    expect(header.id).to.equal("411d6755661409fed365ad8135f8210be07613da");
    expect(header.client.memberCode).to.equal("consumer");
    expect(header.service[0].serviceCode).to.equal("listMethods");
    expect(header.requestHash["#text"]).to.equal(createHash("sha512").update(xml).digest("base64"));
    expect(doc.Envelope.Body.listMethodsResponse.service[0]["@objectType"]).to.equal("SERVICE");
  });

  it("allowedMethods leaves out the services the client may not call; a member's own list is its own", async () => {
    const allowed = async (client: string): Promise<string[]> => {
      const answer = await call(
        envelope({
          client,
          service: `${PROVIDER}/allowedMethods`,
          body: "<xroad:allowedMethods/>",
        }),
      );
      expect(answer.status, answer.text).to.equal(200);
      return listed(answer.text, "allowedMethodsResponse").map((id) => id.split("/")[4]);
    };
    expect(await allowed(CLIENT)).to.deep.equal(["getRandom", "nowsdl", "gone"]);
    expect(await allowed(OTHER)).to.include("helloService");

    const member = await call(
      envelope({
        client: CLIENT,
        service: "EE/BUSINESS/producer/listMethods",
        body: "<xroad:listMethods/>",
      }),
    );
    expect(listed(member.text, "listMethodsResponse")).to.deep.equal(["EE/BUSINESS/producer/own"]);
  });

  it("lists a disabled service and answers its WSDL, as X-Road does", async () => {
    // MetadataServiceHandlerImpl (X-Road 7.4): listMethods, allowedMethods and getWsdl read
    // serverconf's services and WSDL URL without the service description's disabled flag.
    const id = `${PROVIDER}/getRandom/v1`;
    const service = {
      type: "soap" as const,
      url: `${wsdlBase}/soap`,
      descriptionUrl: `${wsdlBase}/wsdl/testService`,
    };
    sim.register(id, { ...service, disabled: { notice: "Maintenance" } });
    try {
      for (const code of ["listMethods", "allowedMethods"]) {
        const answer = await call(
          envelope({
            client: CLIENT,
            service: `${PROVIDER}/${code}`,
            body: `<xroad:${code}/>`,
          }),
        );
        expect(listed(answer.text, `${code}Response`), code).to.include(
          "EE/BUSINESS/producer/SUB/getRandom/v1",
        );
      }
      const wsdl = await call(
        envelope({
          client: CLIENT,
          service: `${PROVIDER}/getWsdl`,
          body:
            "<xroad:getWsdl><xroad:serviceCode>getRandom</xroad:serviceCode>" +
            "<xroad:serviceVersion>v1</xroad:serviceVersion></xroad:getWsdl>",
        }),
      );
      expect(wsdl.contentType).to.match(/^multipart\/related/);
    } finally {
      sim.register(id, service);
    }
  });

  it("getWsdl answers the WSDL as an attachment, its SOAP 1.1 address replaced by X-Road's placeholder", async () => {
    const xml = envelope({
      client: CLIENT,
      service: `${PROVIDER}/getWsdl`,
      body:
        "<xroad:getWsdl><xroad:serviceCode>getRandom</xroad:serviceCode>" +
        "<xroad:serviceVersion>v1</xroad:serviceVersion></xroad:getWsdl>",
    });
    const answer = await call(xml);
    expect(answer.status, answer.text).to.equal(200);
    const boundary = /boundary=([^;\s]+)/.exec(answer.contentType)?.[1];
    expect(answer.contentType).to.match(/^multipart\/related; type="text\/xml"/);
    const parts = answer.text
      .split(`--${boundary}`)
      .slice(1, -1)
      .map((part) => {
        const split = part.indexOf("\r\n\r\n");
        return { head: part.slice(0, split), body: part.slice(split + 4, -2) };
      });
    expect(parts).to.have.length(2);
    const soap = parser.parse(parts[0].body) as Xml;
    expect(soap.Envelope.Body.getWsdlResponse).to.deep.include({
      serviceCode: "getRandom",
      serviceVersion: "v1",
    });
    expect(soap.Envelope.Header.requestHash["#text"]).to.equal(
      createHash("sha512").update(xml).digest("base64"),
    );
    expect(parts[1].head).to.match(/Content-Type: text\/xml/i);
    expect(parts[1].head).to.match(/Content-ID: <wsdl=[0-9a-f-]+@x-road\.eu>/i);
    // Only the SOAP 1.1 endpoint is hidden; the rest is the provider's document as served.
    expect(parts[1].body).to.equal(
      WSDL.replace(
        'http://legacy.internal:8080/testService/Endpoint"',
        'http://example.org/xroad-endpoint"',
      ),
    );
  });

  it("answers X-Road's faults: unknown provider, missing or unknown serviceCode, a REST service, no WSDL, a failed read", async () => {
    const getWsdl = (code: string | null): string =>
      code === null
        ? "<xroad:getWsdl/>"
        : `<xroad:getWsdl><xroad:serviceCode>${code}</xroad:serviceCode></xroad:getWsdl>`;
    const cases: Array<[string, string, string, RegExp]> = [
      [
        "EE/GOV/1/nobody/listMethods",
        "<xroad:listMethods/>",
        "Server.ServerProxy.UnknownMember",
        /SUBSYSTEM:EE\/GOV\/1\/nobody/,
      ],
      [`${PROVIDER}/getWsdl`, getWsdl(null), "Server.ServerProxy.InvalidRequest", /serviceCode/],
      [
        `${PROVIDER}/getWsdl`,
        getWsdl("nothing"),
        "Server.ServerProxy.UnknownService",
        /SERVICE:EE\/BUSINESS\/producer\/SUB\/nothing/,
      ],
      [`${PROVIDER}/getWsdl`, getWsdl("restful"), "Server.ServerProxy.ServiceType", /REST service/],
      [`${PROVIDER}/getWsdl`, getWsdl("nowsdl"), "Server.ServerProxy.UnknownService", /nowsdl/],
      [
        `${PROVIDER}/getWsdl`,
        getWsdl("gone"),
        "Server.ServerProxy.InternalError",
        /Received HTTP error: 404 - Not Found/,
      ],
    ];
    for (const [service, body, code, message] of cases) {
      const answer = await call(envelope({ client: CLIENT, service, body }));
      expect(answer.status, service).to.equal(200);
      const fault = (parser.parse(answer.text) as Xml).Envelope.Body.Fault;
      expect(fault.faultcode, `${service} ${body}`).to.equal(code);
      expect(fault.faultstring, `${service} ${body}`).to.match(message);
    }
  });
});
