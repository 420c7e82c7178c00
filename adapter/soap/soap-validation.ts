// Validates the JSON form of a SOAP Body against the service's JSON Schema. XML carries only
// text, so the schema's types decide: "35" is read as 35 where an integer is expected, and a
// single element as a one-item list where an array is expected. The request's XML is untouched.

import type { ServiceConfig } from "../../shared/config/config";
import { SluiceError } from "../../shared/protocol/errors";
import { compileSchemaChecks, problemsNote, schemaProblems, type SchemaCheck } from "../json-body";
import { copyJsonValue, type JsonValue } from "./xml-json";

export class SoapBodyValidators {
  private readonly validators: Map<string, SchemaCheck>;

  /** Compiles the schema of every service once, at start. */
  constructor(services: Iterable<ServiceConfig>) {
    this.validators = compileSchemaChecks(services, { coerceTypes: "array" });
  }

  /**
   * Returns the body read through the schema (typed values, lists where lists are expected),
   * or throws Client.ValidationFailed listing the problems with their JSON pointer paths.
   */
  validate(serviceCode: string, body: JsonValue): JsonValue {
    const check = this.validators.get(serviceCode);
    if (!check) return body;
    // ajv coerces in place (a copy here); a scalar root is checked but stays a string.
    const copy = copyJsonValue(body);
    if (check.first(copy)) return copy;
    const { problems, complete } = schemaProblems(check, body, () => copyJsonValue(body));
    throw new SluiceError(
      "ValidationFailed",
      `the Body of ${serviceCode} does not match its schema: ${problems.map((p) => `${p.path} ${p.message}`).join("; ")}${problemsNote(complete)}`,
      { details: problems },
    );
  }
}
