// What `sluice check` and every role run before connecting to anything: the configuration's
// schema and cross-field rules, each backend's translator resolved and its options checked, and
// each service's body schema compiled. Every problem is listed, none stops the search; what is
// allowed but likely a mistake comes back as warnings, which stop nothing.

import path from "node:path";
import { compileSchemaChecks, type SchemaChecks } from "../adapter/json-body";
import { ConfigError, loadConfig, type SluiceConfig } from "../shared/config/config";
import { configWarnings } from "../shared/config/config-warnings";
import { exposedConfigWarnings } from "../shared/config/secret-file-modes";
import { checkTranslator } from "../worker/translators/load-translator";

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

export async function checkConfigFile(file: string): Promise<CheckResult> {
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
  const bodySchemas = compileBodySchemas(config, problems);
  if (problems.length > 0) {
    const error = new ConfigError(path.resolve(file), problems);
    return { ok: false, problems, message: error.message };
  }
  const warnings = [...configWarnings(config), ...exposedConfigWarnings(path.resolve(file))];
  return { ok: true, config, file, warnings, bodySchemas };
}
