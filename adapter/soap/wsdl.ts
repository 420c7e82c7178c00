// Generates the document/literal WSDL 1.1 that `GET /soap?wsdl` serves: one operation per SOAP
// service, each carrying the X-Road 4.0 headers, with body types derived from the JSON Schemas.

import { IDENTIFIERS_NS, REPRESENTATION_NS, XROAD_NS } from "./soap-envelope";
import { escapeXml, xmlName } from "./xml-json";

export const DEFAULT_WSDL_NAMESPACE = "urn:sluice:services";

export interface WsdlService {
  serviceCode: string;
  /** Namespace of the Body element; defaults to the WSDL's target namespace. */
  namespace?: string | null;
  /** JSON Schema of the Body element's JSON form; simple shapes become XSD, the rest xsd:any. */
  schema?: object | null;
  /** X-Road service version, written as `xrd:version` on the operation. */
  version?: string;
  /**
   * The service's reply mode: `ack` and `callback` services always answer with the
   * acknowledgement, so their response element is exactly its shape.
   */
  replyMode?: "sync" | "ack" | "callback";
}

export interface WsdlOptions {
  targetNamespace?: string;
  name?: string;
  /**
   * The status service's operation (docs/xroad-deployment.md): `<statusService><id>` answered with
   * the message's status; omitted when not given.
   */
  statusService?: string;
}

/** The acknowledgement of an accepted message (soap-response.ts `buildSoapAck`). */
const ACK_TYPE =
  '<xsd:complexType name="acknowledgement"><xsd:annotation><xsd:documentation>' +
  "The message was received and persisted, not processed. Poll its status with the status " +
  "operation, by its id. statusUrl is the status resource on Sluice's own port, for a caller " +
  "that reaches Sluice directly: through X-Road it is reached by the status operation only." +
  "</xsd:documentation></xsd:annotation><xsd:sequence>" +
  '<xsd:element name="id" type="xsd:string"/>' +
  '<xsd:element name="state" type="xsd:string"/>' +
  '<xsd:element name="statusUrl" type="xsd:string" minOccurs="0"/>' +
  "</xsd:sequence></xsd:complexType>";

/** The status document of a message as the status operation answers it (soap-status.ts). */
const STATUS_TYPE =
  '<xsd:complexType name="messageStatus"><xsd:sequence>' +
  '<xsd:element name="id" type="xsd:string"/>' +
  '<xsd:element name="xroadId" type="xsd:string" minOccurs="0"/>' +
  '<xsd:element name="service" type="xsd:string"/>' +
  '<xsd:element name="state" type="xsd:string"><xsd:annotation><xsd:documentation>' +
  "accepted, processing, completed, rejected, failed, expired or cancelled" +
  "</xsd:documentation></xsd:annotation></xsd:element>" +
  '<xsd:element name="delivery" type="xsd:string"/>' +
  '<xsd:element name="createdAt" type="xsd:dateTime"/>' +
  '<xsd:element name="updatedAt" type="xsd:dateTime"/>' +
  '<xsd:element name="retryAfter" type="xsd:int" minOccurs="0"/>' +
  '<xsd:element name="history"><xsd:complexType><xsd:sequence>' +
  '<xsd:element name="entry" minOccurs="0" maxOccurs="unbounded"><xsd:complexType><xsd:sequence>' +
  '<xsd:element name="state" type="xsd:string"/>' +
  '<xsd:element name="at" type="xsd:dateTime"/>' +
  "</xsd:sequence></xsd:complexType></xsd:element>" +
  "</xsd:sequence></xsd:complexType></xsd:element>" +
  '<xsd:element name="responses"><xsd:complexType><xsd:sequence>' +
  '<xsd:element name="response" minOccurs="0" maxOccurs="unbounded"><xsd:complexType><xsd:sequence>' +
  '<xsd:element name="seq" type="xsd:int"/>' +
  '<xsd:element name="final" type="xsd:boolean"/>' +
  '<xsd:element name="status" type="xsd:int"/>' +
  '<xsd:element name="contentType" type="xsd:string"/>' +
  '<xsd:element name="headers" minOccurs="0"><xsd:annotation><xsd:documentation>' +
  "The backend's own headers (ETag, Location, ...), when it sent any: one header per name, " +
  "one value per line it sent." +
  "</xsd:documentation></xsd:annotation><xsd:complexType><xsd:sequence>" +
  '<xsd:element name="header" maxOccurs="unbounded"><xsd:complexType><xsd:sequence>' +
  '<xsd:element name="name" type="xsd:string"/>' +
  '<xsd:element name="value" type="xsd:string" maxOccurs="unbounded"/>' +
  "</xsd:sequence></xsd:complexType></xsd:element>" +
  "</xsd:sequence></xsd:complexType></xsd:element>" +
  '<xsd:element name="body" type="xsd:string"/>' +
  '<xsd:element name="bodyEncoding" type="xsd:string" minOccurs="0"/>' +
  "</xsd:sequence></xsd:complexType></xsd:element>" +
  "</xsd:sequence></xsd:complexType></xsd:element>" +
  '<xsd:element name="error" minOccurs="0"><xsd:complexType><xsd:sequence>' +
  '<xsd:element name="code" type="xsd:string"/>' +
  '<xsd:element name="message" type="xsd:string"/>' +
  "</xsd:sequence></xsd:complexType></xsd:element>" +
  '<xsd:element name="replayOf" type="xsd:string" minOccurs="0"><xsd:annotation><xsd:documentation>' +
  "On an operator's replay of a dead letter: the original's id." +
  "</xsd:documentation></xsd:annotation></xsd:element>" +
  '<xsd:element name="replayedAs" type="xsd:string" minOccurs="0"><xsd:annotation><xsd:documentation>' +
  "On a dead letter an operator replayed: the replay's id." +
  "</xsd:documentation></xsd:annotation></xsd:element>" +
  "</xsd:sequence></xsd:complexType>";

const HEADER_PARTS = ["client", "service", "id", "userId", "issue", "protocolVersion"];

const IDENTIFIER_SCHEMA = `
    <xsd:schema targetNamespace="${IDENTIFIERS_NS}" elementFormDefault="qualified" attributeFormDefault="qualified">
      <xsd:attribute name="objectType" type="xsd:string"/>
      <xsd:complexType name="XRoadClientIdentifierType">
        <xsd:sequence>
          <xsd:element name="xRoadInstance" type="xsd:string"/>
          <xsd:element name="memberClass" type="xsd:string"/>
          <xsd:element name="memberCode" type="xsd:string"/>
          <xsd:element name="subsystemCode" type="xsd:string" minOccurs="0"/>
        </xsd:sequence>
        <xsd:attribute ref="id:objectType" use="required"/>
      </xsd:complexType>
      <xsd:complexType name="XRoadServiceIdentifierType">
        <xsd:sequence>
          <xsd:element name="xRoadInstance" type="xsd:string"/>
          <xsd:element name="memberClass" type="xsd:string"/>
          <xsd:element name="memberCode" type="xsd:string"/>
          <xsd:element name="subsystemCode" type="xsd:string" minOccurs="0"/>
          <xsd:element name="serviceCode" type="xsd:string"/>
          <xsd:element name="serviceVersion" type="xsd:string" minOccurs="0"/>
        </xsd:sequence>
        <xsd:attribute ref="id:objectType" use="required"/>
      </xsd:complexType>
    </xsd:schema>
    <xsd:schema targetNamespace="${XROAD_NS}" elementFormDefault="qualified">
      <xsd:import namespace="${IDENTIFIERS_NS}"/>
      <xsd:element name="client" type="id:XRoadClientIdentifierType"/>
      <xsd:element name="service" type="id:XRoadServiceIdentifierType"/>
      <xsd:element name="id" type="xsd:string"/>
      <xsd:element name="userId" type="xsd:string"/>
      <xsd:element name="issue" type="xsd:string"/>
      <xsd:element name="protocolVersion" type="xsd:string"/>
      <xsd:element name="version" type="xsd:string"/>
    </xsd:schema>
    <xsd:schema targetNamespace="${REPRESENTATION_NS}" elementFormDefault="qualified">
      <xsd:element name="representedParty">
        <xsd:complexType>
          <xsd:sequence>
            <xsd:element name="partyClass" type="xsd:string" minOccurs="0"/>
            <xsd:element name="partyCode" type="xsd:string"/>
          </xsd:sequence>
        </xsd:complexType>
      </xsd:element>
    </xsd:schema>`;

// Open content is xsd:anyType: text as well as elements and attributes. A sync answer may be the
// backend's text, and a property of several JSON types (`["string", "integer"]`) is written as
// text; an element-only type refused both, and readers bound to the WSDL dropped the text.
const ANY_CONTENT = ' type="xsd:anyType"';

type Schema = Record<string, unknown>;

function isSchema(value: unknown): value is Schema {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

const SIMPLE_TYPES: Record<string, string> = {
  string: "xsd:string",
  integer: "xsd:integer",
  number: "xsd:decimal",
  boolean: "xsd:boolean",
};

/**
 * The XSD of an element whose JSON form `schema` describes (see xml-json.ts for the mapping):
 * objects → sequences (`@name` properties → attributes), arrays → repeated elements, scalars →
 * XSD simple types. Anything else is left open (xsd:any), never refused.
 */
function elementXsd(name: string, schema: unknown, occurs: string, depth: number): string {
  if (!isSchema(schema) || depth > 16)
    return `<xsd:element name="${name}"${occurs}${ANY_CONTENT}/>`;
  if (schema.type === "array") {
    return elementXsd(name, schema.items, ' minOccurs="0" maxOccurs="unbounded"', depth + 1);
  }
  const simple = typeof schema.type === "string" ? SIMPLE_TYPES[schema.type] : undefined;
  if (simple !== undefined) return `<xsd:element name="${name}" type="${simple}"${occurs}/>`;
  if (schema.type === "object" && isSchema(schema.properties)) {
    const requiredNames = Array.isArray(schema.required) ? schema.required.map(String) : [];
    let elements = "";
    let attributes = "";
    for (const [key, property] of Object.entries(schema.properties)) {
      const isRequired = requiredNames.includes(key);
      if (key.startsWith("@")) {
        const type =
          isSchema(property) && typeof property.type === "string"
            ? SIMPLE_TYPES[property.type]
            : undefined;
        const use = isRequired ? ' use="required"' : "";
        attributes += `<xsd:attribute name="${xmlName(key.slice(1))}" type="${type ?? "xsd:string"}"${use}/>`;
      } else if (key !== "#text") {
        elements += elementXsd(
          xmlName(key),
          property,
          isRequired ? "" : ' minOccurs="0"',
          depth + 1,
        );
      }
    }
    // `#text` is the element's own text beside its children and attributes.
    const mixed = Object.hasOwn(schema.properties, "#text") ? ' mixed="true"' : "";
    return `<xsd:element name="${name}"${occurs}><xsd:complexType${mixed}><xsd:sequence>${elements}</xsd:sequence>${attributes}</xsd:complexType></xsd:element>`;
  }
  return `<xsd:element name="${name}"${occurs}${ANY_CONTENT}/>`;
}

/**
 * A WSDL 1.1 document/literal description of `services`, reachable at `endpointUrl`. Every
 * operation's input and output carry the X-Road headers as soap:header parts; response bodies
 * are open (`<serviceCode>Response` holding the backend's answer or an acknowledgement).
 */
export function buildWsdl(
  services: WsdlService[],
  endpointUrl: string,
  options: WsdlOptions = {},
): string {
  const targetNamespace = options.targetNamespace ?? DEFAULT_WSDL_NAMESPACE;
  const name = xmlName(options.name ?? "sluice");
  const prefixes = new Map<string, string>([[targetNamespace, "tns"]]);
  const prefixOf = (namespace: string): string => {
    let prefix = prefixes.get(namespace);
    if (prefix === undefined) {
      prefix = `s${prefixes.size}`;
      prefixes.set(namespace, prefix);
    }
    return prefix;
  };
  const schemas = new Map<string, string>();
  let messages = "";
  let portOperations = "";
  let bindingOperations = "";
  const headers = HEADER_PARTS.map(
    (part) => `<soap:header message="tns:requestheader" part="${part}" use="literal"/>`,
  ).join("");

  const tns = prefixOf(targetNamespace);
  // Shared types live in the target namespace; every service schema may refer to them.
  schemas.set(targetNamespace, ACK_TYPE + STATUS_TYPE);
  const operations: WsdlService[] = [...services];
  const statusElements = new Set<string>();
  if (options.statusService !== undefined) {
    operations.push({ serviceCode: options.statusService, namespace: targetNamespace });
    statusElements.add(xmlName(options.statusService));
  }

  for (const service of operations) {
    const code = xmlName(service.serviceCode);
    const namespace = service.namespace ?? targetNamespace;
    const prefix = prefixOf(namespace);
    let elements: string;
    if (statusElements.has(code) && namespace === targetNamespace) {
      elements =
        `<xsd:element name="${code}"><xsd:complexType><xsd:sequence>` +
        '<xsd:element name="id" type="xsd:string"/>' +
        "</xsd:sequence></xsd:complexType></xsd:element>" +
        `<xsd:element name="${code}Response" type="${tns}:messageStatus"/>`;
    } else {
      // A sync service answers with the backend's content, or with the acknowledgement when
      // its wait ends first; ack and callback services always answer with the acknowledgement.
      const response =
        service.replyMode === "ack" || service.replyMode === "callback"
          ? `<xsd:element name="${code}Response" type="${tns}:acknowledgement"/>`
          : `<xsd:element name="${code}Response"${ANY_CONTENT}><xsd:annotation><xsd:documentation>The backend's answer; or, when the wait ends first, an acknowledgement (id, state, statusUrl) as in the type acknowledgement.</xsd:documentation></xsd:annotation></xsd:element>`;
      elements = elementXsd(code, service.schema ?? null, "", 0) + response;
    }
    schemas.set(namespace, (schemas.get(namespace) ?? "") + elements);
    messages +=
      `<wsdl:message name="${code}"><wsdl:part name="body" element="${prefix}:${code}"/></wsdl:message>` +
      `<wsdl:message name="${code}Response"><wsdl:part name="body" element="${prefix}:${code}Response"/></wsdl:message>`;
    portOperations +=
      `<wsdl:operation name="${code}"><wsdl:input message="tns:${code}"/>` +
      `<wsdl:output message="tns:${code}Response"/></wsdl:operation>`;
    const version =
      service.version === undefined
        ? ""
        : `<xrd:version>${escapeXml(service.version)}</xrd:version>`;
    bindingOperations +=
      `<wsdl:operation name="${code}"><soap:operation soapAction="" style="document"/>${version}` +
      `<wsdl:input><soap:body parts="body" use="literal"/>${headers}</wsdl:input>` +
      `<wsdl:output><soap:body parts="body" use="literal"/>${headers}</wsdl:output></wsdl:operation>`;
  }

  const namespaceDeclarations = [...prefixes]
    .map(([namespace, prefix]) => ` xmlns:${prefix}="${escapeXml(namespace)}"`)
    .join("");
  const serviceSchemas = [...schemas]
    .map(
      ([namespace, elements]) =>
        `\n    <xsd:schema targetNamespace="${escapeXml(namespace)}" elementFormDefault="unqualified">${namespace === targetNamespace ? "" : `<xsd:import namespace="${escapeXml(targetNamespace)}"/>`}${elements}</xsd:schema>`,
    )
    .join("");
  const headerParts = HEADER_PARTS.map(
    (part) => `<wsdl:part name="${part}" element="xrd:${part}"/>`,
  ).join("");

  return `<?xml version="1.0" encoding="UTF-8"?>
<wsdl:definitions name="${name}" targetNamespace="${escapeXml(targetNamespace)}"
    xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/"
    xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/"
    xmlns:xsd="http://www.w3.org/2001/XMLSchema"
    xmlns:xrd="${XROAD_NS}"
    xmlns:id="${IDENTIFIERS_NS}"
    xmlns:repr="${REPRESENTATION_NS}"${namespaceDeclarations}>
  <wsdl:types>${IDENTIFIER_SCHEMA}${serviceSchemas}
  </wsdl:types>
  <wsdl:message name="requestheader">${headerParts}</wsdl:message>
  ${messages}
  <wsdl:portType name="${name}PortType">${portOperations}</wsdl:portType>
  <wsdl:binding name="${name}Binding" type="tns:${name}PortType">
    <soap:binding style="document" transport="http://schemas.xmlsoap.org/soap/http"/>
    ${bindingOperations}
  </wsdl:binding>
  <wsdl:service name="${name}Service">
    <wsdl:port name="${name}Port" binding="tns:${name}Binding"><soap:address location="${escapeXml(endpointUrl)}"/></wsdl:port>
  </wsdl:service>
</wsdl:definitions>
`;
}
