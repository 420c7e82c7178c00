// The XML namespaces of X-Road SOAP 4.0 (PR-MESS §2.2, Annex H): the adapter reads and writes
// them, the worker's xroad-soap translator sends them, the simulated security server checks them.

/** The header fields (`client`, `service`, `id`, ...) and the metaservices' elements. */
export const XROAD_NS = "http://x-road.eu/xsd/xroad.xsd";
/** The parts of a client or service identifier (`xRoadInstance`, `memberClass`, ...). */
export const IDENTIFIERS_NS = "http://x-road.eu/xsd/identifiers";
/** The `representedParty` header extension (PR-MESS Annex H). */
export const REPRESENTATION_NS = "http://x-road.eu/xsd/representation.xsd";

/**
 * The prefixes X-Road's own messages conventionally give these namespaces. The soap translators
 * declare them on an element that uses one without a declaration (a REST caller's XML body, a
 * message older than `envelopeDeclarations`); the adapter checks a REST caller's body with them.
 */
export const XROAD_PREFIXES: ReadonlyMap<string, string> = new Map([
  ["xroad", XROAD_NS],
  ["xrd", XROAD_NS],
  ["id", IDENTIFIERS_NS],
  ["iden", IDENTIFIERS_NS],
  ["repr", REPRESENTATION_NS],
]);
