// Validates the JSON form of a SOAP Body against the service's JSON Schema. XML carries only
// text, so the schema's types decide: "35" is read as 35 where an integer is expected, and a
// single element as a one-item list where an array is expected. The request's XML is untouched.

import type { ServiceConfig } from "../../shared/config/config";
import { clipText } from "../../shared/protocol/clip-text";
import { SluiceError } from "../../shared/protocol/errors";
import {
  compileSchemaChecks,
  problemsNote,
  schemaProblems,
  type SchemaCheck,
  type ValidationProblem,
} from "../json-body";
import { isExactNumber } from "../../shared/protocol/json-numbers";
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
   * `typedJson`: the backend gets the typed body as JSON, so each number must keep its digits.
   */
  validate(serviceCode: string, body: JsonValue, typedJson = true): JsonValue {
    const check = this.validators.get(serviceCode);
    if (!check) return body;
    // ajv coerces in place (a copy here); a scalar root is checked but stays a string.
    const copy = copyJsonValue(body);
    if (check.first(copy)) {
      const unwritten = numberNotInXmlForm(body, copy, typedJson);
      if (unwritten === null) return copy;
      throw new SluiceError(
        "ValidationFailed",
        `the Body of ${serviceCode} does not match its schema: ${unwritten.path} ${unwritten.message}`,
        { details: [unwritten] },
      );
    }
    const { problems, complete } = schemaProblems(check, body, () => copyJsonValue(body));
    throw new SluiceError(
      "ValidationFailed",
      `the Body of ${serviceCode} does not match its schema: ${problems.map((p) => `${p.path} ${p.message}`).join("; ")}${problemsNote(complete)}`,
      { details: problems },
    );
  }
}

/**
 * A number as XML Schema writes one (xs:decimal, or xs:double's exponent form), white space
 * around it collapsed as the schema types do. ajv reads text with JavaScript's Number(), which
 * also takes 0x10, 0b101 and 0o7: the schema would check 16, 5 and 7 while a SOAP backend gets
 * the XML as sent, which no xs:integer reader takes and an atoi-style one reads as 0.
 */
const XML_NUMBER = /^[ \t\n\r]*[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?[ \t\n\r]*$/;

/**
 * The first text of `body` that the schema read as a number (in `typed`, its copy coerced by
 * ajv) though XML Schema would not write it so, or (`exact`) that a double does not hold, with
 * its JSON pointer; null when there is none.
 */
function numberNotInXmlForm(
  body: JsonValue,
  typed: JsonValue,
  exact: boolean,
): ValidationProblem | null {
  const stack: Array<[text: JsonValue, value: JsonValue, path: string]> = [[body, typed, ""]];
  while (stack.length > 0) {
    const [text, value, path] = stack.pop() as [JsonValue, JsonValue, string];
    // coerceTypes "array": a single element read as a one-item list where a list is expected.
    if (Array.isArray(value) && !Array.isArray(text)) {
      stack.push([text, value[0], `${path}/0`]);
    } else if (typeof text === "string") {
      if (typeof value === "number" && !XML_NUMBER.test(text)) {
        return {
          path: clipText(path, 256) || "/",
          message: `must be a number as XML writes one (digits, a sign, a point, an exponent), not "${clipText(text, 64)}"`,
        };
      }
      // Typed, 12345678901234567890 is the double 12345678901234567000, which a JSON backend
      // would get: the gateway would change the number it passes on.
      if (typeof value === "number" && exact && !isExactNumber(text)) {
        return {
          path: clipText(path, 256) || "/",
          message: `must be a number a double holds exactly (at most 15 significant digits, or one JavaScript writes back the same), not "${clipText(text.trim(), 64)}"`,
        };
      }
    } else if (Array.isArray(text) && Array.isArray(value)) {
      text.forEach((item, at) => stack.push([item, value[at], `${path}/${at}`]));
    } else if (
      text !== null &&
      typeof text === "object" &&
      value !== null &&
      typeof value === "object"
    ) {
      const texts = text as Record<string, JsonValue>;
      const values = value as Record<string, JsonValue>;
      for (const name of Object.keys(texts)) {
        stack.push([texts[name], values[name], `${path}/${name}`]);
      }
    }
  }
  return null;
}
