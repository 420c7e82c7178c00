// Turns a backend's `translator:` setting into a ready Translator: a built-in name, a module
// path (relative to the configuration file) or an installed package, checked before use.

import { isAbsolute, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import Ajv from "ajv";
import { suggestion } from "../../shared/config/did-you-mean";
import { SluiceError } from "../../shared/protocol/errors";
import { builtInTranslator, builtInTranslatorNames, isBuiltInTranslator } from "./index";
import {
  BackendAnswerError,
  BackendRejectedError,
  BackendTimeoutError,
  BackendUnavailableError,
  type Translator,
  type TranslatorBackend,
} from "./translator";

/**
 * Handed to every translator factory as its second argument, so a module outside this
 * package throws the very error classes the worker recognises without importing Sluice.
 */
export interface TranslatorKit {
  BackendRejectedError: typeof BackendRejectedError;
  BackendUnavailableError: typeof BackendUnavailableError;
  /**
   * What docs/translators.md has a module throw once `deadline.timedOut`: missing here, a
   * module's timeout counted as any failure, and its last retry told BackendFailed, not Timeout.
   */
  BackendTimeoutError: typeof BackendTimeoutError;
  /** An answer that is not the message's, its message told to the caller (docs/translators.md). */
  BackendAnswerError: typeof BackendAnswerError;
  SluiceError: typeof SluiceError;
}

export const translatorKit: TranslatorKit = Object.freeze({
  BackendRejectedError,
  BackendUnavailableError,
  BackendTimeoutError,
  BackendAnswerError,
  SluiceError,
});

/** A translator that cannot be loaded; the message names the backend, the setting and why. */
export class TranslatorLoadError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "TranslatorLoadError";
  }
}

type KitFactory = (backend: TranslatorBackend, kit: TranslatorKit) => unknown;

/**
 * Loads the translator `spec` names for `backend`. `baseDir` is the configuration file's
 * directory, against which relative module paths resolve.
 */
export async function loadTranslator(
  spec: string,
  backend: TranslatorBackend,
  baseDir: string,
): Promise<Translator> {
  const where = `backend ${backend.name}: translator "${spec}"`;
  if (isBuiltInTranslator(spec)) {
    let factory: KitFactory;
    try {
      factory = builtInTranslator(spec);
    } catch (error) {
      throw new TranslatorLoadError(`${where}: ${messageOf(error)}`, { cause: error });
    }
    return create(factory, backend, where);
  }

  const file = resolveModule(spec, baseDir, where);
  let namespace: unknown;
  try {
    namespace = await import(pathToFileURL(file).href);
  } catch (error) {
    throw new TranslatorLoadError(`${where}: ${file} failed to load: ${messageOf(error)}`, {
      cause: error,
    });
  }
  const found = pickExport(namespace);
  if (found === undefined) {
    throw new TranslatorLoadError(
      `${where}: ${file} exports no translator (expected a createTranslator function, a default factory, or an object with a call method)`,
    );
  }
  if (typeof found === "function") return create(found as KitFactory, backend, where);
  return found;
}

/**
 * What `sluice check` (and every role before it connects) finds wrong with a backend's
 * translator without creating it: a name that is neither built in nor installed, a module that
 * does not load or exports no translator, and options its `optionsSchema` (if it exports one)
 * refuses. Built-ins' options are part of the configuration's own schema. `where` is the
 * backend's configuration path, e.g. `config.backends.legacy`.
 */
export async function checkTranslator(
  spec: string,
  options: Record<string, unknown>,
  baseDir: string,
  where: string,
): Promise<string[]> {
  if (isBuiltInTranslator(spec)) return [];
  const pathLike = spec.startsWith(".") || isAbsolute(spec);
  if (!pathLike) {
    try {
      require.resolve(spec, { paths: [baseDir] });
    } catch {
      return [
        `${where}.translator: "${spec}" is neither built in (${builtInTranslatorNames().join(", ")}) nor an installed module${suggestion(spec, builtInTranslatorNames())}; write a path as ./file.js or /abs/file.js`,
      ];
    }
  }
  let namespace: unknown;
  try {
    const file = resolveModule(spec, baseDir, `${where}.translator`);
    namespace = await import(pathToFileURL(file).href);
  } catch (error) {
    const text = messageOf(error);
    return [text.startsWith(where) ? text : `${where}.translator: ${text}`];
  }
  if (pickExport(namespace) === undefined) {
    return [
      `${where}.translator: "${spec}" exports no translator (expected a createTranslator function, a default factory, or an object with a call method)`,
    ];
  }
  const exported = namespace as Record<string, unknown>;
  const inner = isObject(exported.default) ? exported.default : {};
  const schema = exported.optionsSchema ?? inner.optionsSchema;
  if (!isObject(schema)) return [];
  try {
    const validate = new Ajv({ allErrors: true, strict: false }).compile(schema);
    if (validate(options)) return [];
    return (validate.errors ?? []).map((error) => {
      const key = (error.params as { additionalProperty?: string }).additionalProperty;
      const at = `${where}.options${error.instancePath.replace(/\//g, ".")}`;
      return key ? `${at}.${key}: unknown option` : `${at}: ${error.message ?? "is invalid"}`;
    });
  } catch (error) {
    return [
      `${where}.translator: "${spec}" exports an optionsSchema ajv cannot compile: ${messageOf(error)}`,
    ];
  }
}

function resolveModule(spec: string, baseDir: string, where: string): string {
  const pathLike = spec.startsWith(".") || isAbsolute(spec);
  if (pathLike) {
    const target = resolve(baseDir, spec);
    try {
      return require.resolve(target);
    } catch {
      throw new TranslatorLoadError(`${where}: module not found at ${target}`);
    }
  }
  // Not a built-in and not a path: an installed package, looked up from the configuration's directory.
  try {
    return require.resolve(spec, { paths: [baseDir] });
  } catch {
    throw new TranslatorLoadError(
      `${where}: not a built-in translator (${builtInTranslatorNames().join(", ")}), and no module of that name is installed; write a path as ./file.js or /abs/file.js`,
    );
  }
}

/** A factory function, a translator object, or undefined, in the order the docs promise. */
function pickExport(namespace: unknown): KitFactory | Translator | undefined {
  if (!isObject(namespace)) return undefined;
  // import() of a CommonJS module puts module.exports on `default` as well.
  const outer = namespace;
  const inner = isObject(outer.default) ? outer.default : undefined;
  for (const candidate of [outer.createTranslator, inner?.createTranslator]) {
    if (typeof candidate === "function") return candidate as KitFactory;
  }
  if (typeof outer.default === "function") return outer.default as KitFactory;
  for (const candidate of [inner, outer]) {
    if (isTranslator(candidate)) return candidate;
  }
  return undefined;
}

async function create(
  factory: KitFactory,
  backend: TranslatorBackend,
  where: string,
): Promise<Translator> {
  let made: unknown;
  try {
    made = await factory(backend, translatorKit);
  } catch (error) {
    throw new TranslatorLoadError(`${where}: could not be created: ${messageOf(error)}`, {
      cause: error,
    });
  }
  if (!isTranslator(made)) {
    throw new TranslatorLoadError(`${where}: the factory returned no object with a call method`);
  }
  return made;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return (typeof value === "object" || typeof value === "function") && value !== null;
}

function isTranslator(value: unknown): value is Translator {
  return (
    isObject(value) &&
    typeof value.call === "function" &&
    typeof value !== "function" &&
    (value.close === undefined || typeof value.close === "function")
  );
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
