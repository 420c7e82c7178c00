// JSON request bodies: parsed with a nesting limit (checked without recursion before parsing),
// then validated against the service's JSON Schema, compiled once at start with ajv.

import Ajv, { type ErrorObject, type ValidateFunction } from "ajv";
import addFormats from "ajv-formats";
import type { ServiceConfig } from "../shared/config/config";
import { SluiceError, type ErrorCode } from "../shared/protocol/errors";

/** Deepest nesting of objects/arrays in JSON text, counted without building anything. */
export function jsonDepthExceeds(text: string, maxDepth: number): boolean {
  // Nesting deeper than maxDepth needs more than maxDepth opening brackets in all: most bodies
  // have fewer, and counting them with indexOf (native) spares the walk character by character.
  if (!hasMoreThan(text, "{", "[", maxDepth)) return false;
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

/** Whether `text` holds more than `limit` of the characters `a` and `b` together. */
function hasMoreThan(text: string, a: string, b: string, limit: number): boolean {
  let count = 0;
  for (let at = text.indexOf(a); at !== -1; at = text.indexOf(a, at + 1)) {
    if (++count > limit) return true;
  }
  for (let at = text.indexOf(b); at !== -1; at = text.indexOf(b, at + 1)) {
    if (++count > limit) return true;
  }
  return false;
}

/** Charset labels that mean UTF-8 for a body (US-ASCII is its 7-bit subset). */
const UTF8_LABELS = new Set(["utf-8", "utf8", "us-ascii", "ascii"]);

/** True when a body declaring `charset` (lower-case, or none) is meant as UTF-8. */
export function isUtf8Charset(charset: string | undefined): boolean {
  return charset === undefined || UTF8_LABELS.has(charset);
}

/**
 * The text of a body in its declared charset (UTF-8 when none), decoded strictly: bytes that
 * are not valid in it are refused (`invalid` names the error code), never replaced by U+FFFD.
 * A charset nobody knows is 415.
 */
export function decodeBody(body: Buffer, charset: string | undefined, invalid: ErrorCode): string {
  if (charset === "us-ascii" || charset === "ascii") {
    if (body.some((byte) => byte > 0x7f)) {
      throw new SluiceError(invalid, "the body is not valid US-ASCII (it declares that charset)");
    }
    return body.toString("latin1");
  }
  const decoder = decoderFor(charset);
  try {
    return decoder.decode(body);
  } catch {
    const name = (charset ?? "utf-8").toUpperCase();
    throw new SluiceError(
      invalid,
      `the body is not valid ${name}${charset ? " (its declared charset)" : ""}`,
    );
  }
}

/**
 * The strict UTF-8 decoder, made once: a non-streaming UTF-8 decode keeps no state between
 * calls (a failed one included), and making a decoder per request cost more than decoding a
 * small body. Other charsets get a new decoder each time: an ICU-backed one keeps the state of
 * a failed decode and would misread the next body.
 */
const UTF8_DECODER = new TextDecoder("utf-8", { fatal: true });

function decoderFor(charset: string | undefined): InstanceType<typeof TextDecoder> {
  if (charset === undefined || charset === "utf-8" || charset === "utf8") return UTF8_DECODER;
  try {
    return new TextDecoder(charset, { fatal: true });
  } catch {
    throw new SluiceError("InvalidContentType", `the charset "${charset}" is not supported`);
  }
}

/** A JSON body from its text (see decodeBody), with the nesting limit checked first. */
export function parseJsonBody(text: string, maxDepth: number): unknown {
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
