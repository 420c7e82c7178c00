// The legacy simulator answering SOAP as an X-Road provider (`soapEchoHeader`): the request's
// Header fields come back in the answer, their prefixes declared as the request declared them,
// so that a security server's consistency check of the answer (PR-MESS §2.2) passes.

import { expect } from "chai";
import { createSoapService, echoSoapHeader } from "../../legacy-sim/soap-service";
import { readSoapMessage } from "../../xroad-sim/soap-message";

const XRD = "http://x-road.eu/xsd/xroad.xsd";
const IDS = "http://x-road.eu/xsd/identifiers";
const NS = "http://legacy.sluice.example/";

const request = `<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xrd="${XRD}" xmlns:id="${IDS}"><SOAP-ENV:Header><xrd:client id:objectType="SUBSYSTEM"><id:xRoadInstance>EE</id:xRoadInstance><id:memberClass>GOV</id:memberClass><id:memberCode>70000001</id:memberCode><id:subsystemCode>sluice-consumer</id:subsystemCode></xrd:client><xrd:service id:objectType="SERVICE"><id:xRoadInstance>EE</id:xRoadInstance><id:memberClass>GOV</id:memberClass><id:memberCode>70000002</id:memberCode><id:subsystemCode>registry-soap</id:subsystemCode><id:serviceCode>getState</id:serviceCode></xrd:service><xrd:id>msg-1</xrd:id><xrd:userId>EE12345678901</xrd:userId><xrd:protocolVersion>4.0</xrd:protocolVersion></SOAP-ENV:Header><SOAP-ENV:Body><st:getState xmlns:st="${NS}"><st:case>42</st:case></st:getState></SOAP-ENV:Body></SOAP-ENV:Envelope>`;

describe("legacy-sim: SOAP answers with the X-Road header echoed", () => {
  it("echoes every header field of the request into the answer, readable as X-Road reads it", async () => {
    const service = await createSoapService(["getState"]);
    const answer = await service.process(request);
    expect(answer.status).to.equal(200);
    const echoed = echoSoapHeader(request, answer.body);
    const asked = readSoapMessage(request, "Client.", true);
    const got = readSoapMessage(echoed, "Server.ServerProxy.ServiceFailed.");
    for (const field of ["client", "service", "id", "userId", "protocolVersion"] as const)
      expect(got[field], field).to.equal(asked[field]);
    expect(got.id).to.equal("msg-1");
    expect(echoed).to.match(/getStateResponse/);
  });

  it("leaves an answer as it is when the request has no Header", async () => {
    const bare = request.replace(/<SOAP-ENV:Header>[\s\S]*<\/SOAP-ENV:Header>/, "");
    const service = await createSoapService(["getState"]);
    const answer = await service.process(bare);
    expect(echoSoapHeader(bare, answer.body)).to.equal(answer.body);
  });
});
