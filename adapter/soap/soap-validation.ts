// Validates the JSON form of a SOAP Body against the service's JSON Schema. XML carries only
// text, so the schema's types decide: "35" is read as 35 where an integer is expected, and a
// single element as a one-item list where an array is expected. The request's XML is untouched.

import Ajv, { type ErrorObject, type ValidateFunction } from "ajv";
import addFormats from "ajv-formats";
import type { ServiceConfig } from "../../shared/config/config";
import { SluiceError } from "../../shared/protocol/errors";
import type { JsonValue } from "./xml-json";

export class SoapBodyValidators {
  private readonly validators = new Map<string, ValidateFunction>();

  /** Compiles the schema of every service once, at start. */
  constructor(services: Iterable<ServiceConfig>) {
    const ajv = new Ajv({ allErrors: true, strict: false, coerceTypes: "array" });
    addFormats(ajv);
    for (const service of services) {
      if (service.schema) this.validators.set(service.code, ajv.compile(service.schema));
    }
  }

  /**
   * Returns the body read through the schema (typed values, lists where lists are expected),
   * or throws Client.ValidationFailed listing each problem with its JSON pointer path.
   */
  validate(serviceCode: string, body: JsonValue): JsonValue {
    const validate = this.validators.get(serviceCode);
    if (!validate) return body;
    // ajv coerces in place (a copy here); a scalar root is checked but stays a string.
    const copy = structuredClone(body);
    if (validate(copy)) return copy;
    const problems = (validate.errors ?? []).slice(0, 50).map(describe);
    throw new SluiceError(
      "ValidationFailed",
      `the Body of ${serviceCode} does not match its schema: ${problems.map((p) => `${p.path} ${p.message}`).join("; ")}`,
      { details: problems },
    );
  }
}

function describe(error: ErrorObject): { path: string; message: string } {
  const missing =
    error.keyword === "required"
      ? `/${(error.params as { missingProperty: string }).missingProperty}`
      : "";
  return { path: `${error.instancePath}${missing}` || "/", message: error.message ?? "is invalid" };
}
