// The X-Road header fields of a SOAP call, as tests put them on a `soap` package client calling
// Sluice: client subsystem EE/GOV/70000001/case-app, a service of member EE/GOV/70000002.

export const XRD = "http://x-road.eu/xsd/xroad.xsd";
export const IDS = "http://x-road.eu/xsd/identifiers";

/** The client: subsystem case-app of EE/GOV/70000001. */
export const CLIENT_HEADER =
  `<xrd:client xmlns:xrd="${XRD}" xmlns:id="${IDS}" id:objectType="SUBSYSTEM">` +
  "<id:xRoadInstance>EE</id:xRoadInstance><id:memberClass>GOV</id:memberClass>" +
  "<id:memberCode>70000001</id:memberCode><id:subsystemCode>case-app</id:subsystemCode>" +
  "</xrd:client>";

/** The service: `code` (its `version`, when given) of subsystem `subsystem` of EE/GOV/70000002. */
export function serviceHeader(subsystem: string, code: string, version?: string): string {
  return (
    `<xrd:service xmlns:xrd="${XRD}" xmlns:id="${IDS}" id:objectType="SERVICE">` +
    "<id:xRoadInstance>EE</id:xRoadInstance><id:memberClass>GOV</id:memberClass>" +
    `<id:memberCode>70000002</id:memberCode><id:subsystemCode>${subsystem}</id:subsystemCode>` +
    `<id:serviceCode>${code}</id:serviceCode>` +
    (version === undefined ? "" : `<id:serviceVersion>${version}</id:serviceVersion>`) +
    "</xrd:service>"
  );
}

/** The message's X-Road id. */
export const idHeader = (xroadId: string): string =>
  `<xrd:id xmlns:xrd="${XRD}">${xroadId}</xrd:id>`;

/** The protocol version, 4.0. */
export const PROTOCOL_VERSION_HEADER = `<xrd:protocolVersion xmlns:xrd="${XRD}">4.0</xrd:protocolVersion>`;
