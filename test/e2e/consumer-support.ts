// What the consumer direction's end-to-end tests share: the X-Road ids of the local system,
// Sluice's consumer subsystem and the remote providers, and a local SOAP caller's request.

import { DEFAULT_SOAP_NAMESPACE } from "../../legacy-sim/legacy-sim";

/** Sluice's own client subsystem towards its security server. */
export const CONSUMER = "EE/GOV/70000001/sluice-consumer";
/** The local system calling through Sluice. */
export const LOCAL_APP = "EE/GOV/70000001/case-app";
export const REST_PROVIDER = "EE/GOV/70000002/registry";
export const SOAP_PROVIDER = "EE/GOV/70000002/registry-soap";
export const TERMINAL = ["completed", "rejected", "failed", "expired", "cancelled"];

export const XRD = "http://x-road.eu/xsd/xroad.xsd";
export const IDS = "http://x-road.eu/xsd/identifiers";
/** The legacy system's SOAP namespace, which the local services' Body elements use. */
export const NS = DEFAULT_SOAP_NAMESPACE;

/**
 * A local SOAP caller's request (LOCAL_APP calling a service of CONSUMER); the Body element is
 * named after the local service code, and `userId` goes in the header when given; `content` is
 * the text of its one element (a legacy simulator reads hooks such as `sim-latency=3000` in it).
 */
export function localSoapCall(
  serviceCode: string,
  id: string,
  userId?: string,
  content = "42",
): string {
  return `<?xml version="1.0" encoding="UTF-8"?>
<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xrd="${XRD}" xmlns:id="${IDS}" xmlns:st="${NS}">
  <SOAP-ENV:Header>
    <xrd:client id:objectType="SUBSYSTEM"><id:xRoadInstance>EE</id:xRoadInstance><id:memberClass>GOV</id:memberClass><id:memberCode>70000001</id:memberCode><id:subsystemCode>case-app</id:subsystemCode></xrd:client>
    <xrd:service id:objectType="SERVICE"><id:xRoadInstance>EE</id:xRoadInstance><id:memberClass>GOV</id:memberClass><id:memberCode>70000001</id:memberCode><id:subsystemCode>sluice-consumer</id:subsystemCode><id:serviceCode>${serviceCode}</id:serviceCode></xrd:service>
    <xrd:id>${id}</xrd:id>${userId === undefined ? "" : `\n    <xrd:userId>${userId}</xrd:userId>`}
    <xrd:protocolVersion>4.0</xrd:protocolVersion>
  </SOAP-ENV:Header>
  <SOAP-ENV:Body><st:${serviceCode}><st:case>${content}</st:case></st:${serviceCode}></SOAP-ENV:Body>
</SOAP-ENV:Envelope>`;
}
