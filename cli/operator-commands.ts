// `sluice dead-letters list|show|replay`, `sluice dead-callbacks list|show|redeliver`,
// `sluice messages show|cancel`, `sluice backends list|pause|resume`, `sluice hub-listeners
// list|remove` and `sluice journal`: the operator endpoints of the admin port, from a shell,
// talking to Redis (and, to replay or cancel, to the broker) with the configuration's settings.
// No admin port is needed.

import type { SluiceConfig } from "../shared/config/config";
import { operatorIdOf } from "../shared/protocol/message-id";
import {
  deadLetterFilter,
  unknownFilterNames,
  unknownFilterWarning,
} from "../shared/operator/dead-letters";
import { runBackendCommand, unknownBackend } from "./backend-commands";
import { runDeadCallbackCommand } from "./dead-callback-commands";
import { runDeadLetterCommand } from "./dead-letter-commands";
import { runHubListenerCommand } from "./hub-listener-commands";
import { runJournalCommand } from "./journal-commands";
import { runMessageCommand } from "./message-commands";
import type { OperatorArgs, OperatorCommand } from "./operator-args";
import { fail, withOperatorContext, type OperatorContext } from "./operator-context";
import { terminalLine } from "./terminal-text";

export {
  isOperatorCommand,
  OPERATOR_USAGE,
  parseOperatorArgs,
  type OperatorArgs,
  type OperatorCommand,
} from "./operator-args";
import { sayOnStderr } from "./output";

const RUN: Readonly<Record<OperatorCommand, (context: OperatorContext) => Promise<number>>> = {
  "dead-letters": runDeadLetterCommand,
  "dead-callbacks": runDeadCallbackCommand,
  messages: runMessageCommand,
  backends: runBackendCommand,
  "hub-listeners": runHubListenerCommand,
  journal: runJournalCommand,
};

/** Runs one operator command; resolves to the exit code. */
export async function runOperatorCommand(
  command: OperatorCommand,
  parsed: OperatorArgs,
  config: SluiceConfig,
  out: (text: string) => void,
): Promise<number> {
  const [verb, id] = parsed.words;
  // A name the configuration does not know is a usage mistake: refused before connecting.
  const unknown = command === "backends" && verb !== "list" ? unknownBackend(config, id) : null;
  if (unknown) return fail(unknown, 2);
  // An id in the case Sluice stores it, as the admin port reads it; a backend's name as written.
  if (command !== "backends" && id !== undefined) {
    parsed = { ...parsed, words: [verb, operatorIdOf(id), ...parsed.words.slice(2)] };
  }
  if (command === "dead-letters") {
    for (const warning of unknownFilterWarnings(parsed, config)) {
      sayOnStderr(`warning: ${warning}`);
    }
  }
  return withOperatorContext(config, parsed, out, RUN[command]);
}

/** The warnings of `unknownFilterNames`, in the words of the options the operator typed. */
function unknownFilterWarnings(parsed: OperatorArgs, config: SluiceConfig): string[] {
  const filter = deadLetterFilter((key) => parsed.flags.get(key));
  return unknownFilterNames(filter, config).map((unknown) =>
    unknownFilterWarning(unknown, `--${unknown.key} ${terminalLine(unknown.value)}`),
  );
}
