// JSON request bodies: parsed with a nesting limit (checked without recursion before parsing),
// then validated against the service's JSON Schema, compiled once at start with ajv.

import Ajv, { type ErrorObject, type Options, type ValidateFunction } from "ajv";
import addFormats from "ajv-formats";
import { fullFormats } from "ajv-formats/dist/formats";
import type { ServiceConfig } from "../shared/config/config";
import { clipText } from "../shared/protocol/clip-text";
import { SluiceError, type ErrorCode } from "../shared/protocol/errors";
import { jsonDepthExceeds } from "../shared/protocol/json-depth";
import { duplicateJsonKey } from "../shared/protocol/json-duplicate-key";
import { decodeWindows1252, WINDOWS_1252_LABELS } from "../shared/protocol/windows-1252";
import { linearRegExp } from "./linear-pattern";

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
  if (charset !== undefined && WINDOWS_1252_LABELS.has(charset)) return decodeWindows1252(body);
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
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new SluiceError("InvalidJson", `the body is not valid JSON: ${(error as Error).message}`);
  }
  // The body travels as sent: with a name twice, the schema checked JSON.parse's reading (the
  // last value) while a backend's parser may take the first, or refuse the body.
  const duplicate = duplicateJsonKey(text);
  if (duplicate !== null) {
    throw new SluiceError(
      "InvalidJson",
      `the JSON body has the name ${JSON.stringify(clipText(duplicate, 80))} twice in one object`,
    );
  }
  return value;
}

export interface ValidationProblem {
  path: string;
  message: string;
}

/**
 * Values (objects, arrays, scalars) a body may hold for all its schema problems to be listed.
 * ajv's allErrors makes an error object per problem, unbounded: a 1 MB array of `{}` against
 * items with four required properties made 1.3 million of them (200 MB, half a second).
 */
export const LIST_ALL_PROBLEMS_UP_TO = 2_000;

/** Whether a JSON value holds at most `limit` values, counted without recursion. */
export function hasAtMostValues(value: unknown, limit: number): boolean {
  const stack: unknown[] = [value];
  let count = 1;
  while (stack.length > 0) {
    const next = stack.pop();
    if (next === null || typeof next !== "object") continue;
    const children = Array.isArray(next) ? next : Object.values(next as object);
    count += children.length;
    if (count > limit) return false;
    for (const child of children) stack.push(child);
  }
  return true;
}

/**
 * A service's schema compiled twice: to the first problem (cheap, at start), and to all of
 * them, compiled when a body first fails: a compiled schema is about 0.2 MB of heap for the
 * life of the process, and most services never see a refused body.
 */
export class SchemaCheck {
  readonly first: ValidateFunction;
  private compiledAll: ValidateFunction | null = null;

  constructor(
    private readonly schema: object,
    private readonly compilers: SchemaCompilers,
  ) {
    this.first = compilers.first.compile(schema);
  }

  get all(): ValidateFunction {
    return (this.compiledAll ??= this.compilers.all.compile(this.schema));
  }
}

/** A service's code → its compiled schema. */
export type SchemaChecks = Map<string, SchemaCheck>;

/**
 * The two ajv instances of one set of options, each made when first needed: a protocol none of
 * whose services has a schema needs neither, and the all-problems one is needed only once a
 * body is refused.
 */
class SchemaCompilers {
  private madeFirst: Ajv | null = null;
  private madeAll: Ajv | null = null;

  constructor(private readonly options: Options) {}

  get first(): Ajv {
    return (this.madeFirst ??= this.make(false));
  }

  get all(): Ajv {
    return (this.madeAll ??= this.make(true));
  }

  private make(allErrors: boolean): Ajv {
    // Patterns are matched in linear time: the text is the caller's (adapter/linear-pattern.ts).
    const code = { regExp: linearRegExp };
    const ajv = new Ajv({ ...this.options, allErrors, strict: false, code });
    addFormats(ajv);
    ajv.addFormat("date", DATE_FORMAT);
    return ajv;
  }
}

const DAYS_IN_MONTH = [0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** The number the ASCII digits `from`..`to` (exclusive) of `text` spell, or -1 if any is not one. */
function digitsAt(text: string, from: number, to: number): number {
  let value = 0;
  for (let at = from; at < to; at++) {
    // `\d` without the `u` flag: 0-9 only.
    const digit = text.charCodeAt(at) - 48;
    if (digit < 0 || digit > 9) return -1;
    value = value * 10 + digit;
  }
  return value;
}

/**
 * RFC 3339 full-date (`YYYY-MM-DD`, a real day of the proleptic Gregorian calendar): what
 * ajv-formats' full `date` format accepts, read by character. Its regular expression's three
 * captures made a match array and four strings per date field, about 200 bytes each, on every
 * request of a schema with dates.
 */
export function isFullDate(text: string): boolean {
  if (text.length !== 10 || text.charCodeAt(4) !== 45 || text.charCodeAt(7) !== 45) return false;
  const year = digitsAt(text, 0, 4);
  const month = digitsAt(text, 5, 7);
  const day = digitsAt(text, 8, 10);
  if (year < 0 || month < 1 || month > 12 || day < 1) return false;
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  return day <= (month === 2 && leap ? 29 : DAYS_IN_MONTH[month]);
}

/** ajv-formats' `date`, its comparison (formatMinimum and the like) kept, its check replaced. */
const DATE_FORMAT = { ...(fullFormats.date as object), validate: isFullDate };

/**
 * Compiles every service's schema (`options` for both ways, e.g. type coercion); services
 * with the same schema share one compilation. A schema ajv refuses goes to `refused` when
 * given (the configuration check lists them all), else throws.
 */
export function compileSchemaChecks(
  services: Iterable<ServiceConfig>,
  options: Options = {},
  refused?: (service: ServiceConfig, error: Error) => void,
): SchemaChecks {
  const compilers = new SchemaCompilers(options);
  const checks: SchemaChecks = new Map();
  const bySchema = new Map<string, SchemaCheck>();
  for (const service of services) {
    if (!service.schema) continue;
    const text = JSON.stringify(service.schema);
    let check = bySchema.get(text);
    if (!check) {
      try {
        check = new SchemaCheck(service.schema, compilers);
      } catch (error) {
        if (!refused) throw error;
        refused(service, error as Error);
        continue;
      }
      bySchema.set(text, check);
    }
    checks.set(service.code, check);
  }
  return checks;
}

/**
 * The problems of a value its schema refused (`first` already failed on it): all of them for
 * a small value, else only the first, so that no body can make the adapter build an error per
 * item. `fresh()` gives the value as received, for a schema that coerces types in place.
 */
export function schemaProblems(
  check: SchemaCheck,
  value: unknown,
  fresh: () => unknown = () => value,
): { problems: ValidationProblem[]; complete: boolean } {
  if (hasAtMostValues(value, LIST_ALL_PROBLEMS_UP_TO) && !check.all(fresh())) {
    return { problems: (check.all.errors ?? []).slice(0, 50).map(describe), complete: true };
  }
  return { problems: (check.first.errors ?? []).slice(0, 1).map(describe), complete: false };
}

/** The words after a list of problems that is not complete. */
export function problemsNote(complete: boolean): string {
  return complete ? "" : " (the first problem found; a body this large is not searched for more)";
}

/** One compiled validator per service; services without a schema accept any JSON. */
export class SchemaValidators {
  private readonly validators: SchemaChecks;

  /**
   * The schema of every service offered over REST, compiled once at start: taken from
   * `compiled` (the configuration check's compilation, made with these options) where it has
   * the service, so that the start does not compile a schema twice.
   */
  constructor(services: Iterable<ServiceConfig>, compiled?: SchemaChecks) {
    const rest = [...services].filter((service) => service.protocols.includes("rest"));
    this.validators = compileSchemaChecks(rest.filter((service) => !compiled?.has(service.code)));
    for (const service of rest) {
      const check = compiled?.get(service.code);
      if (check) this.validators.set(service.code, check);
    }
  }

  /**
   * Throws ValidationFailed when the service checks its JSON body against a schema: a request
   * of a method that carries a body (POST, PUT, PATCH) sent without one would reach the
   * backend with nothing the schema checked.
   */
  requireBody(serviceCode: string): void {
    if (!this.validators.has(serviceCode)) return;
    throw new SluiceError(
      "ValidationFailed",
      `the request has no body, and ${serviceCode} takes a JSON body that matches its schema`,
      { details: [{ path: "/", message: "is required (the request has no body)" }] },
    );
  }

  /** Throws ValidationFailed listing the ajv errors with their JSON pointer paths. */
  validate(serviceCode: string, value: unknown): void {
    const check = this.validators.get(serviceCode);
    if (!check || check.first(value)) return;
    const { problems, complete } = schemaProblems(check, value);
    throw new SluiceError(
      "ValidationFailed",
      `the body does not match the schema of ${serviceCode}: ${problems.map((p) => `${p.path} ${p.message}`).join("; ")}${problemsNote(complete)}`,
      { details: problems },
    );
  }
}

/** The longest JSON pointer a validation problem names. */
const MAX_PROBLEM_PATH = 256;

function describe(error: ErrorObject): ValidationProblem {
  const missing =
    error.keyword === "required"
      ? `/${(error.params as { missingProperty: string }).missingProperty}`
      : "";
  // A pointer names the body's own keys, which may be as long as the body: cut, so the error
  // does not hand it back.
  const path = clipText(`${error.instancePath}${missing}`, MAX_PROBLEM_PATH) || "/";
  return { path, message: error.message ?? "is invalid" };
}
