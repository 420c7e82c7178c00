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
}

export interface WsdlOptions {
  targetNamespace?: string;
  name?: string;
}

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

const ANY_CONTENT =
  '<xsd:complexType><xsd:sequence><xsd:any minOccurs="0" maxOccurs="unbounded" processContents="lax"/></xsd:sequence><xsd:anyAttribute processContents="lax"/></xsd:complexType>';

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
    return `<xsd:element name="${name}"${occurs}>${ANY_CONTENT}</xsd:element>`;
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
    return `<xsd:element name="${name}"${occurs}><xsd:complexType><xsd:sequence>${elements}</xsd:sequence>${attributes}</xsd:complexType></xsd:element>`;
  }
  return `<xsd:element name="${name}"${occurs}>${ANY_CONTENT}</xsd:element>`;
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

  for (const service of services) {
    const code = xmlName(service.serviceCode);
    const namespace = service.namespace ?? targetNamespace;
    const prefix = prefixOf(namespace);
    schemas.set(
      namespace,
      (schemas.get(namespace) ?? "") +
        elementXsd(code, service.schema ?? null, "", 0) +
        `<xsd:element name="${code}Response">${ANY_CONTENT}</xsd:element>`,
    );
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
        `\n    <xsd:schema targetNamespace="${escapeXml(namespace)}" elementFormDefault="unqualified">${elements}</xsd:schema>`,
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
