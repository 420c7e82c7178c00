// The built-in translators by name. Each is loaded only when a backend names it, so a
// translator's dependencies (the soap package, say) cost nothing to backends that do not use it.

import { existsSync } from "node:fs";
import { join } from "node:path";
import type { TranslatorFactory } from "./translator";

type FactoryModule = { createTranslator: TranslatorFactory };

/** A built-in is one line here: its name and how to load its factory. */
const BUILT_INS: Record<string, () => TranslatorFactory> = {
  "rest-json": () => (require("./rest-json") as typeof import("./rest-json")).createTranslator,
  soap: () => requireSibling("soap"),
  "xroad-rest": () => requireSibling("xroad-rest"),
  "xroad-soap": () => requireSibling("xroad-soap"),
};

export function builtInTranslatorNames(): string[] {
  return Object.keys(BUILT_INS);
}

export function isBuiltInTranslator(name: string): boolean {
  return Object.hasOwn(BUILT_INS, name);
}

/** The factory of a built-in translator; throws if the name is unknown or its file is absent. */
export function builtInTranslator(name: string): TranslatorFactory {
  if (!isBuiltInTranslator(name)) {
    throw new Error(
      `unknown built-in translator "${name}" (built in: ${builtInTranslatorNames().join(", ")})`,
    );
  }
  return BUILT_INS[name]();
}

// Loaded by file name so a build without the file still compiles and fails only when used.
function requireSibling(name: string): TranslatorFactory {
  const file = join(__dirname, `${name}.js`);
  if (!existsSync(file)) {
    throw new Error(
      `the built-in translator "${name}" is not part of this build (${file} is missing)`,
    );
  }
  const factory = (require(file) as Partial<FactoryModule>).createTranslator;
  if (typeof factory !== "function") {
    throw new Error(`the built-in translator "${name}" does not export createTranslator`);
  }
  return factory;
}
