// A REST caller's XML body to a service whose backend speaks SOAP is the element of the SOAP
// Body the translator sends, so the service's schema checks it as it checks a SOAP caller's Body.

import type { ServiceConfig, SluiceConfig } from "../../shared/config/config";
import { XROAD_PREFIXES } from "../../shared/protocol/xroad-namespaces";
import { DEFAULT_SOAP_REQUEST_LIMITS } from "../soap/soap-request";
import { XML_NS, type XmlLimits } from "../soap/safe-xml";
import { SoapBodyValidators } from "../soap/soap-validation";
import { elementToJson } from "../soap/xml-json";
import { readXml } from "../soap/xml-reader";
import { sendsInSoapBody } from "./soap-xml-body";

/** What an element may use undeclared: the prefixes the worker declares around it. */
const BODY_SCOPE: ReadonlyMap<string, string> = new Map([...XROAD_PREFIXES, ["xml", XML_NS]]);

export class XmlBodySchemas {
  private readonly validators: SoapBodyValidators;
  private readonly limits: XmlLimits;

  /** Compiled once, at start, for the REST services whose bodies go in a SOAP Body. */
  constructor(config: SluiceConfig) {
    const services = Object.values(config.services).filter(
      (service) => service.protocols.includes("rest") && sendsInSoapBody(config, service),
    );
    this.validators = new SoapBodyValidators(services);
    this.limits = { ...DEFAULT_SOAP_REQUEST_LIMITS.xml, ...config.adapter.xml };
  }

  /**
   * Throws ValidationFailed when `markup` (the body's element, as checkSoapXmlBody found it)
   * does not match the service's schema; a service without one takes any.
   */
  check(service: ServiceConfig, markup: string): void {
    if (!service.schema) return;
    this.validators.validate(service.code, elementToJson(readXml(markup, this.limits, BODY_SCOPE)));
  }
}
