// A REST caller's XML body to a service whose backend speaks SOAP is the element of the SOAP
// Body the translator sends, so the service's schema checks it as it checks a SOAP caller's Body.

import type { ServiceConfig, SluiceConfig } from "../../shared/config/config";
import { XROAD_PREFIXES } from "../../shared/protocol/xroad-namespaces";
import { xmlLimitsOf } from "../soap/soap-request";
import { XML_NS, type XmlLimits } from "../soap/safe-xml";
import type { SoapBodyValidators } from "../soap/soap-validation";
import { elementToJson } from "../soap/xml-json";
import { readXml } from "../soap/xml-reader";

/** What an element may use undeclared: the prefixes the worker declares around it. */
const BODY_SCOPE: ReadonlyMap<string, string> = new Map([...XROAD_PREFIXES, ["xml", XML_NS]]);

export class XmlBodySchemas {
  private readonly validators: SoapBodyValidators;
  private readonly limits: XmlLimits;

  /**
   * `validators`: the SOAP Body's schemas, compiled once at start (adapter/server.ts) for the
   * services offered over SOAP and the REST services whose bodies go in a SOAP Body, shared with
   * the SOAP route so a service offered both ways is compiled once.
   */
  constructor(config: SluiceConfig, validators: SoapBodyValidators) {
    this.validators = validators;
    this.limits = xmlLimitsOf(config);
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
