// The shape of the configuration: one JSON Schema (config/sluice.schema.json, also what editors
// use), checked with ajv. Each ajv error becomes one line naming its path, with a "did you mean"
// for an unknown key or value that is close to a known one.

import { readFileSync } from "node:fs";
import path from "node:path";
import Ajv, { type ErrorObject, type ValidateFunction } from "ajv";
import { suggestion } from "./did-you-mean";

/** Where the schema lives in the package (the same file the docs publish). */
export const CONFIG_SCHEMA_FILE = path.join(
  __dirname,
  "..",
  "..",
  "..",
  "config",
  "sluice.schema.json",
);

type Schema = Record<string, unknown>;
const DURATION_HINT = 'must be a duration such as "500ms", "30s", "2m", "1h"';
const SIZE_HINT = 'must be a size such as "1mb", "512kb" or a byte count';
interface Compiled {
  schema: Schema;
  validate: ValidateFunction;
  hints: Map<string, string>;
}
/**
 * Weakly held: a role checks its configuration once, at start, and the compiled schema (about
 * 1 MB of heap) should not stay for the process's life; checks close together (a test suite,
 * `sluice check`) still share one compilation while it lives.
 */
let compiled: WeakRef<Compiled> | null = null;

function load(): Compiled {
  const held = compiled?.deref();
  if (held) return held;
  const schema = JSON.parse(readFileSync(CONFIG_SCHEMA_FILE, "utf8")) as Schema;
  // verbose: errors carry the schema they failed, so an unknown key can be matched to known ones.
  // Compiled at every start: unoptimised code compiles several times faster, and one
  // configuration is validated once. (test/unit/config-schema.test.ts compiles it strictly.)
  const ajv = new Ajv({ allErrors: true, verbose: true, strict: false, code: { optimize: false } });
  const definitions = (schema.definitions ?? {}) as Record<string, Schema>;
  const hints = new Map<string, string>();
  const hint = (name: string, text: string) => {
    const pattern = definitions[name]?.pattern;
    if (typeof pattern === "string") hints.set(pattern, text);
  };
  hint("duration", DURATION_HINT);
  hint("size", SIZE_HINT);
  // Error texts, and the status documents and logs they reach, name a backend's URL.
  hint(
    "httpUrl",
    "must be an http(s) URL without a user name or password (give credentials as a header, e.g. the translator's options.headers)",
  );
  hint("clientId", "must be an X-Road client id INSTANCE/CLASS/MEMBER[/SUBSYSTEM]");
  hint("subsystemId", "must be an X-Road subsystem id INSTANCE/CLASS/MEMBER/SUBSYSTEM");
  hint("webhookSecret", 'must be "whsec_" followed by base64');
  const made = { schema, validate: ajv.compile(schema), hints };
  compiled = new WeakRef(made);
  return made;
}

/** `/services/a~1b/protocols/1` → `config.services.a/b.protocols[1]` */
function configPath(pointer: string): string {
  let where = "config";
  for (const part of pointer.split("/").slice(1)) {
    const key = part.replace(/~1/g, "/").replace(/~0/g, "~");
    where += /^\d+$/.test(key) ? `[${key}]` : `.${key}`;
  }
  return where;
}

const TYPE_WORDS: Record<string, string> = {
  object: "a mapping",
  array: "a list",
  string: "a string",
  number: "a number",
  integer: "a whole number",
  boolean: "true or false",
};

function describe(error: ErrorObject, hints: Map<string, string>): string | null {
  const where = configPath(error.instancePath);
  const params = error.params as Record<string, unknown>;
  switch (error.keyword) {
    case "additionalProperties": {
      const key = String(params.additionalProperty);
      const known = Object.keys((error.parentSchema as Schema)?.properties ?? {});
      return `${where}.${key}: unknown key${suggestion(key, known)}`;
    }
    case "required": {
      const missing = String(params.missingProperty);
      if (where === "config" && missing === "services")
        return "config.services: at least one service is required";
      return `${where}.${missing}: required`;
    }
    case "minProperties":
      return where === "config.services"
        ? "config.services: at least one service is required"
        : `${where}: must not be empty`;
    case "enum": {
      const allowed = (params.allowedValues as unknown[]).map(String);
      const hint = typeof error.data === "string" ? suggestion(error.data, allowed) : "";
      return `${where}: must be one of ${allowed.join(", ")}${hint}`;
    }
    case "const":
      return `${where}: must be ${JSON.stringify(params.allowedValue)}`;
    case "type": {
      const types = ([] as string[]).concat(params.type as string | string[]);
      if (types.join() === "string,number") return `${where}: ${DURATION_HINT}`;
      if (types.join() === "string,integer") return `${where}: ${SIZE_HINT}`;
      if (types.join() === "string,object")
        return `${where}: must be a file path or an inline JSON Schema`;
      return `${where}: must be ${types.map((t) => TYPE_WORDS[t] ?? t).join(" or ")}`;
    }
    case "pattern": {
      if (error.propertyName !== undefined) {
        const name = error.propertyName;
        const kind = where === "config.services" ? "service code" : "name";
        return `${where}.${name}: not a valid ${kind} (letters, digits, _ - and, for services, .)`;
      }
      return `${where}: ${hints.get(String(params.pattern)) ?? `must match ${String(params.pattern)}`}`;
    }
    case "minimum":
      return `${where}: must be at least ${String(params.limit)}`;
    case "maximum":
      return `${where}: must be at most ${String(params.limit)}`;
    case "minLength":
      return params.limit === 1
        ? `${where}: must not be empty`
        : `${where}: must be at least ${String(params.limit)} characters`;
    case "minItems":
      return `${where}: must list at least ${String(params.limit)}`;
    case "uniqueItems":
      return `${where}: must not repeat an entry`;
    // Wrappers of errors reported on their own.
    case "if":
    case "propertyNames":
      return null;
    default:
      return `${where}: ${error.message ?? "is invalid"}`;
  }
}

/** Every way `raw` differs from the configuration's shape, one line each, in document order. */
export function schemaProblems(raw: unknown): string[] {
  const { validate, hints } = load();
  if (validate(raw)) return [];
  const lines = (validate.errors ?? [])
    .map((error) => describe(error, hints))
    .filter((line): line is string => line !== null);
  return [...new Set(lines)];
}

/** The path a problem line names (`config.a.b: ...` → `config.a.b`). */
export function problemPath(line: string): string {
  const colon = line.indexOf(": ");
  return colon < 0 ? line : line.slice(0, colon);
}
