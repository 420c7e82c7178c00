// `sluice check --config FILE`: every problem of the file, or a one-line summary of what it
// configures, with the warnings a role would give as it starts.

import path from "node:path";
import { tlsBlocks } from "../shared/config/config";
import { tlsFileWarnings } from "../shared/config/tls-files";
import { loggingEnvironmentWarnings } from "../shared/observability/logger";
import { checkConfigFile } from "./config-check";
import { exitAfterOutput, fail, printOut, sayOnStderr } from "./output";

/** Checks `file`, prints what it found and exits: 0 (valid) or 2. */
export async function runCheck(file: string): Promise<never> {
  // The one caller that runs translator modules' factories: an operator asked to find it all.
  const result = await checkConfigFile(file, { createTranslators: "all" });
  if (!result.ok) fail(result.message, 2);
  const { config } = result;
  // A role warns of (or stops on) these itself as it starts, so they are the check's alone.
  const warnings = [
    ...result.warnings,
    ...tlsFileWarnings(tlsBlocks(config)),
    ...loggingEnvironmentWarnings(),
  ];
  for (const warning of warnings) {
    sayOnStderr(`warning: ${warning}`);
  }
  printOut(
    `sluice: configuration ${path.resolve(file)} is valid: ${Object.keys(config.services).length} service(s), ${Object.keys(config.backends).length} backend(s)${config.admin.token ? "" : "; no admin token, so the operator endpoints are off"}\n`,
  );
  return exitAfterOutput(0);
}
