// JSON request bodies: parsed with a nesting limit (checked without recursion before parsing),
// then validated against the service's JSON Schema, compiled once at start with ajv.

import Ajv, { type ErrorObject, type ValidateFunction } from "ajv";
import addFormats from "ajv-formats";
import type { ServiceConfig } from "../shared/config/config";
import { SluiceError } from "../shared/protocol/errors";

/** Deepest nesting of objects/arrays in JSON text, counted without building anything. */
export function jsonDepthExceeds(text: string, maxDepth: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92)
        i++; // backslash: skip the escaped character
      else if (c === 34) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 123 || c === 91) {
      if (++depth > maxDepth) return true;
    } else if (c === 125 || c === 93) depth--;
  }
  return false;
}

export function parseJsonBody(body: Buffer, maxDepth: number): unknown {
  const text = body.toString("utf8");
  if (jsonDepthExceeds(text, maxDepth)) {
    throw new SluiceError("InvalidJson", `the JSON body is nested deeper than ${maxDepth} levels`);
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new SluiceError("InvalidJson", `the body is not valid JSON: ${(error as Error).message}`);
  }
}

export interface ValidationProblem {
  path: string;
  message: string;
}

/** One compiled validator per service; services without a schema accept any JSON. */
export class SchemaValidators {
  private readonly validators = new Map<string, ValidateFunction>();

  constructor(services: Iterable<ServiceConfig>) {
    const ajv = new Ajv({ allErrors: true, strict: false });
    addFormats(ajv);
    for (const service of services) {
      if (service.schema) this.validators.set(service.code, ajv.compile(service.schema));
    }
  }

  /** Throws ValidationFailed listing every ajv error with its JSON pointer path. */
  validate(serviceCode: string, value: unknown): void {
    const validate = this.validators.get(serviceCode);
    if (!validate || validate(value)) return;
    const problems = (validate.errors ?? []).slice(0, 50).map(describe);
    throw new SluiceError(
      "ValidationFailed",
      `the body does not match the schema of ${serviceCode}: ${problems.map((p) => `${p.path} ${p.message}`).join("; ")}`,
      { details: problems },
    );
  }
}

function describe(error: ErrorObject): ValidationProblem {
  const missing =
    error.keyword === "required"
      ? `/${(error.params as { missingProperty: string }).missingProperty}`
      : "";
  return { path: `${error.instancePath}${missing}` || "/", message: error.message ?? "is invalid" };
}
