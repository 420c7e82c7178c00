// What `sluice check` and every role run before connecting to anything: the configuration's
// schema and cross-field rules, each backend's translator resolved and its options checked, and
// each service's body schema compiled. Every problem is listed, none stops the search; what is
// allowed but likely a mistake comes back as warnings, which stop nothing. Only `sluice check`
// runs a translator module's factory too (docs/translators.md): the worker runs it at its start,
// and the other roles never call a translator, so no operator code runs in them.

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

export interface CheckOptions {
  /**
   * Also create each translator module's translator (its factory run, what it made closed), as
   * `sluice check` does; off, a module is loaded and its exports and options checked only.
   */
  createModuleTranslators?: boolean;
}

export async function checkConfigFile(
  file: string,
  options: CheckOptions = {},
): Promise<CheckResult> {
  let config: SluiceConfig;
  const problems: string[] = [];
  try {
    config = loadConfig(file);
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
  if (problems.length === 0) {
    problems.push(
      ...(await createdTranslatorProblems(config, options.createModuleTranslators === true)),
    );
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
 * no translator is a problem), which only `sluice check` asks for: operator code runs in no role
 * that does not call it.
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
