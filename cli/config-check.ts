// What `sluice check` and every role run before connecting to anything: the configuration's
// schema and cross-field rules, each backend's translator resolved and its options checked, and
// each service's body schema compiled. Every problem is listed, none stops the search; what is
// allowed but likely a mistake comes back as warnings, which stop nothing. Translators are
// created to judge their options only where they are called (docs/translators.md): `sluice
// check` creates all of them, a worker the built-in ones, and the other roles none, so no
// operator code runs in them and none carries a translator's client library.

import path from "node:path";
import { compileSchemaChecks, type SchemaChecks } from "../adapter/json-body";
import { ConfigError, loadConfig, type SluiceConfig } from "../shared/config/config";
import { configWarnings } from "../shared/config/config-warnings";
import { exposedConfigWarnings } from "../shared/config/secret-file-modes";
import { isBuiltInTranslator } from "../worker/translators/index";
import { checkTranslator, loadTranslator } from "../worker/translators/load-translator";
import { translatorBackend } from "../worker/translator-backend";

export type CheckResult =
  | {
      ok: true;
      config: SluiceConfig;
      file: string;
      warnings: string[];
      /** The services' body schemas as compiled here, for the adapter to use (not compile again). */
      bodySchemas: SchemaChecks;
    }
  | { ok: false; problems: string[]; message: string };

/** The body schemas as the adapter compiles them: one that ajv refuses is a configuration error. */
function compileBodySchemas(config: SluiceConfig, problems: string[]): SchemaChecks {
  return compileSchemaChecks(Object.values(config.services), {}, (service, error) =>
    problems.push(
      `config.services.${service.code}.schema: not a usable JSON Schema: ${error.message}`,
    ),
  );
}

/**
 * Which backends' translators the check creates (and closes at once) to have them judge their
 * options, beyond loading each module and checking its options' shapes, which it always does:
 * - `all`, `sluice check`: every one, a translator module's factory run too;
 * - `built-in`, a worker (and `all`): the built-in ones; the worker runs a module's factory
 *   itself as it starts;
 * - `none`, the adapter, the response worker and the operator's commands: they call no
 *   translator, and creating the built-ins loaded their HTTP client into each (about 9 MB of
 *   an adapter's resident memory).
 */
export type TranslatorCreation = "all" | "built-in" | "none";

export interface CheckOptions {
  /** `built-in` when not given. */
  createTranslators?: TranslatorCreation;
  /** False for the operator's commands, which serve no admin port (CompileOptions). */
  readAdminToken?: boolean;
}

export async function checkConfigFile(
  file: string,
  options: CheckOptions = {},
): Promise<CheckResult> {
  let config: SluiceConfig;
  const problems: string[] = [];
  try {
    config = loadConfig(file, { readAdminToken: options.readAdminToken });
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    // A file that did not parse has nothing more to check; one with a wrong shape does.
    if (!error.partial) return { ok: false, problems: error.problems, message: error.message };
    problems.push(...error.problems);
    config = error.partial;
  }
  for (const backend of Object.values(config.backends)) {
    problems.push(
      ...(await checkTranslator(
        backend.translator,
        backend.options,
        config.baseDir,
        `config.backends.${backend.name}`,
      )),
    );
  }
  // Judged on a configuration that is otherwise valid: a partial one's backends may be anything.
  const creation = options.createTranslators ?? "built-in";
  if (problems.length === 0 && creation !== "none") {
    problems.push(...(await createdTranslatorProblems(config, creation === "all")));
  }
  const bodySchemas = compileBodySchemas(config, problems);
  if (problems.length > 0) {
    const error = new ConfigError(path.resolve(file), problems);
    return { ok: false, problems, message: error.message };
  }
  const warnings = [...configWarnings(config), ...exposedConfigWarnings(path.resolve(file))];
  return { ok: true, config, file, warnings, bodySchemas };
}

/**
 * What a built-in translator refuses in its backend's settings beyond the schema's shapes (a
 * relative `wsdlFile`, a `wsdlImportOrigins` entry that is no origin, an X-Road service id it
 * cannot read): each is created as the worker creates it, without its certificates, and closed.
 * Unchecked here, the file passed and the worker refused it at start, after connecting. With
 * `modules`, a translator module's factory is run the same way (a factory that throws or makes
 * no translator is a problem), which only `sluice check` asks for (TranslatorCreation).
 */
async function createdTranslatorProblems(
  config: SluiceConfig,
  modules: boolean,
): Promise<string[]> {
  const problems: string[] = [];
  for (const backend of Object.values(config.backends)) {
    if (!modules && !isBuiltInTranslator(backend.translator)) continue;
    try {
      const translator = await loadTranslator(
        backend.translator,
        translatorBackend(backend, config, false),
        config.baseDir,
      );
      await translator.close?.();
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      problems.push(`config.backends.${backend.name}.translator: ${message}`);
    }
  }
  return problems;
}
