// The operator commands' words and options (`sluice dead-letters …`, `dead-callbacks …`,
// `messages …`, `backends …`, `hub-listeners …`, `journal`), checked before anything is
// connected: a usage mistake is exit 2.

import { deadLetterFilter, type DeadLetterFilter } from "../shared/operator/dead-letters";
import { deadCallbackFilter, type DeadCallbackFilter } from "../shared/operator/dead-callbacks";
import { untilOf } from "../shared/operator/operator-answers";
import { checkedNote, optionalNote } from "../shared/operator/discard-note";
import { BULK_LIMIT, parseLimit } from "../shared/operator/selection-limit";

/**
 * What the options shared by several commands do, each named by its option: a command's own
 * usage (`sluice messages --help`) explains only those its lines take, since an explanation of
 * --dry-run under `messages` reads as if it took one.
 */
const OPTION_NOTES = [
  { option: "--json", text: "--json prints JSON instead of a table" },
  {
    option: "--dry-run",
    text: "--dry-run lists what a bulk replay, discard or redelivery would do, sending and changing nothing, and the --until that keeps the real run to what it listed",
  },
  {
    option: "--note",
    text: "--note says why a discard drops them (journaled; required of a bulk discard, optional for one ID)",
  },
];

export const OPERATOR_USAGE = `usage: sluice dead-letters list [--reason R] [--service S] [--backend B] [--client C] [--replayed no|yes] [--limit N] [--json] --config FILE
       sluice dead-letters show ID [--json] --config FILE
       sluice dead-letters replay ID | --all | [--reason R] [--service S] [--backend B] [--client C] [--limit N] [--dry-run] [--until T] [--json] --config FILE
       sluice dead-letters discard ID [--note TEXT] | --all | [--reason R] [--service S] [--backend B] [--client C] --note TEXT [--limit N] [--dry-run] [--until T] [--json] --config FILE
       sluice dead-callbacks list [--reason R] [--receiver ORIGIN] [--target URL] [--limit N] [--json] --config FILE
       sluice dead-callbacks show ID [--json] --config FILE
       sluice dead-callbacks redeliver ID | --all | [--reason R] [--receiver ORIGIN] [--target URL] [--limit N] [--dry-run] [--until T] [--json] --config FILE
       sluice messages show ID | --client C --xroad-id X [--service S] [--json] --config FILE
       sluice messages cancel ID [--json] --config FILE
       sluice backends list | pause NAME | resume NAME [--json] --config FILE
       sluice hub-listeners list [--client C] [--receiver ORIGIN] [--limit N] | remove ID [--json] --config FILE
       sluice journal [--limit N] [--json] --config FILE
options: ${OPTION_NOTES.map((note) => note.text).join(";\n         ")}`;

/** The usage lines of one operator command, with what the shared options among them do. */
export function operatorUsage(command: string): string {
  const lines = OPERATOR_USAGE.replace(/^usage: /, "       ").split("\n");
  const own = lines.filter((line) => line.trimStart().startsWith(`sluice ${command} `));
  if (own.length === 0) return OPERATOR_USAGE;
  const taken = OPTION_NOTES.filter((note) => own.some((line) => line.includes(note.option)));
  const options = `options: ${taken.map((note) => note.text).join(";\n         ")}`;
  return [`usage: ${own[0].trimStart()}`, ...own.slice(1), options].join("\n");
}

/**
 * One command's usage on one line, for `sluice --help`: its usage lines (from OPERATOR_USAGE,
 * as `operatorUsage` gives them, so the two never disagree) joined by `|`, with the
 * `[--json] --config FILE` every line ends with said once. A verb whose line offers
 * alternatives of its own (`replay ID | --all | [--reason R] …`) keeps them in parentheses.
 */
export function operatorSummary(command: OperatorCommand): string {
  const tail = " [--json] --config FILE";
  const verbs = operatorUsage(command)
    .replace(/^usage: /, "")
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line.startsWith(`sluice ${command}`))
    .map((line) => line.slice(`sluice ${command}`.length).replace(tail, "").trim())
    .map((line) => {
      const [first, ...rest] = line.split(" | ");
      if (rest.every((part) => /^[a-z]/.test(part))) return line;
      const [verb, ...words] = first.split(" ");
      return `${verb} (${[words.join(" "), ...rest].join(" | ")})`;
    });
  return `${verbs.filter(Boolean).join(" | ")}${tail}`.trim();
}

export interface OperatorArgs {
  words: string[];
  flags: Map<string, string>;
  /** --limit, checked: a whole number of 1 or more; null when not given. */
  limit: number | null;
  json: boolean;
  all: boolean;
  /** --dry-run: a bulk replay or redelivery lists what it would send, and sends nothing. */
  dryRun: boolean;
}

const VALUE_FLAGS = [
  "reason",
  "service",
  "backend",
  "client",
  "limit",
  "xroad-id",
  "receiver",
  "target",
  "replayed",
  "until",
  "note",
];

export const OPERATOR_COMMANDS = [
  "dead-letters",
  "dead-callbacks",
  "messages",
  "backends",
  "hub-listeners",
  "journal",
] as const;
export type OperatorCommand = (typeof OPERATOR_COMMANDS)[number];

export function isOperatorCommand(word: string | undefined): word is OperatorCommand {
  return (OPERATOR_COMMANDS as readonly unknown[]).includes(word);
}

/**
 * The command's words and flags, or the one-line usage problem (exit 2) found before anything
 * is connected: an unknown option, a --limit that is not a count, a replay, redelivery or
 * look-up that names nothing. The caller already took --config out.
 */
export function parseOperatorArgs(command: OperatorCommand, argv: string[]): OperatorArgs | string {
  const parsed: OperatorArgs = {
    words: [],
    flags: new Map(),
    limit: null,
    json: false,
    all: false,
    dryRun: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--json") parsed.json = true;
    else if (arg === "--all") parsed.all = true;
    else if (arg === "--dry-run") parsed.dryRun = true;
    else if (arg.startsWith("--")) {
      // Split at the first "=" only: a value may hold more (a --target URL's query).
      const eq = arg.indexOf("=");
      const name = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
      const inline = eq < 0 ? undefined : arg.slice(eq + 1);
      if (!VALUE_FLAGS.includes(name)) return `unknown option ${arg}`;
      const value = inline ?? argv[++i];
      if (!value) return `${arg} needs a value`;
      // An option where the value belongs is a forgotten value, not the value: `--note
      // --dry-run` took "--dry-run" as the note and discarded for real. A value that is such a
      // word is written `--note=--dry-run`.
      if (inline === undefined && isOption(value)) {
        return `${arg} needs a value, not the option ${value} (write ${arg}=${value} if that is the value)`;
      }
      // Kept last-wins, `--backend a --backend b` acted on b alone without a word.
      if (parsed.flags.has(name)) return `--${name} is given twice; give it once`;
      parsed.flags.set(name, value);
    } else parsed.words.push(arg);
  }
  const replayed = parsed.flags.get("replayed");
  if (replayed !== undefined && replayed !== "no" && replayed !== "yes") {
    return `--replayed takes no or yes, not "${replayed}"`;
  }
  const until = parsed.flags.get("until");
  if (until !== undefined && untilOf(until) === null) {
    return `--until takes a time as a dry run prints it (ISO 8601 in UTC, e.g. 2026-12-06T01:02:03.456Z), not "${until}"`;
  }
  const limit = parseLimit(parsed.flags.get("limit"), "--limit");
  if ("problem" in limit) return limit.problem;
  parsed.limit = limit.limit;
  // Dead letters and dead callbacks are read among the newest (or oldest) 10 000 of their
  // index: a larger --limit was cut to that without a word, and `replay --all --limit 50000`
  // said "10000 replayed" with tens of thousands still waiting.
  const indexed = command === "dead-letters" || command === "dead-callbacks";
  if (indexed && limit.limit !== null && limit.limit > BULK_LIMIT.max) {
    return `--limit of ${command} is at most ${BULK_LIMIT.max} (a list or a run looks at ${BULK_LIMIT.max} entries at most; run it again for more), not ${limit.limit}`;
  }
  return selectionProblem(command, parsed) ?? parsed;
}

/**
 * What each operator command can do; `show` and `cancel` name one ID (but `messages show`).
 * `journal` has no command word: it lists.
 */
const VERBS: Readonly<Record<Exclude<OperatorCommand, "journal">, readonly string[]>> = {
  "dead-letters": ["list", "show", "replay", "discard"],
  "dead-callbacks": ["list", "show", "redeliver"],
  messages: ["show", "cancel"],
  backends: ["list", "pause", "resume"],
  "hub-listeners": ["list", "remove"],
};

/**
 * A command missing, unknown, or acting on a selection it was not given: a usage error, not a
 * failed run, so it is found here rather than after Redis was reached.
 */
function selectionProblem(command: OperatorCommand, parsed: OperatorArgs): string | null {
  if (command === "journal") return journalProblem(parsed);
  const [verb, id] = parsed.words;
  const verbs = VERBS[command];
  if (!verb) return `${command} needs a command: ${verbs.join(", ")}`;
  if (!verbs.includes(verb)) return `unknown ${command} command "${verb}" (${verbs.join(", ")})`;
  const needsId =
    verb === "cancel" || verb === "remove" || (verb === "show" && command !== "messages");
  if (needsId && !id) return `${command} ${verb} needs an ID`;
  // A word more is a mistake, never ignored: `replay ID1 ID2` replayed ID1 alone, and `list
  // retries_exhausted` (a filter without its --reason) listed everything.
  const most = verb === "list" ? 1 : 2;
  if (parsed.words.length > most) {
    const extra = parsed.words.slice(most).join(" ");
    return verb === "list"
      ? `${command} list takes no ID or word, only options: "${extra}"${listFilters(command)}`
      : `${command} ${verb} takes one ID: "${extra}" is one more (give filters as options, or run it once per ID)`;
  }
  if (command === "backends" && verb !== "list" && !id)
    return `backends ${verb} needs a backend name`;
  // A replay always takes the dead letters not replayed yet; only a list chooses between them.
  if (parsed.flags.has("replayed") && !(command === "dead-letters" && verb === "list")) {
    return `--replayed applies to dead-letters list only (${command} ${verb} does not take it)`;
  }
  const refused = optionProblem(command, verb, id, parsed);
  if (refused !== null) return refused;
  // A dry run of a bulk run only: of one ID, `show` already says what a replay would take.
  if (parsed.dryRun && (id || !isBulk(verb))) {
    return `--dry-run applies to a bulk replay, discard or redelivery (a filter or --all), not to ${command} ${id ? `${verb} ID` : verb}`;
  }
  // A bulk discard drops dead letters for good: the journal keeps why, in the operator's words.
  const selects = parsed.all || !namesNothing(filterOf(parsed));
  if (command === "dead-letters" && verb === "discard" && !id && selects) {
    const note = checkedNote(parsed.flags.get("note"));
    if (typeof note !== "string") return `dead-letters discard: ${note.problem} (--note TEXT)`;
  }
  // One ID's note is optional, and checked as a bulk discard's is when given.
  if (command === "dead-letters" && verb === "discard" && id) {
    const note = optionalNote(parsed.flags.get("note"));
    if (note !== null && typeof note !== "string") return `dead-letters discard: ${note.problem}`;
  }
  if (id || parsed.all) return null;
  if (command === "dead-letters" && verb === "replay" && namesNothing(filterOf(parsed))) {
    return "dead-letters replay needs an ID, a filter (--reason, --service, --backend, --client) or --all";
  }
  if (command === "dead-letters" && verb === "discard" && namesNothing(filterOf(parsed))) {
    return "dead-letters discard needs an ID, or a filter (--reason, --service, --backend, --client) or --all with --note";
  }
  if (
    command === "dead-callbacks" &&
    verb === "redeliver" &&
    namesNothing(callbackFilterOf(parsed))
  ) {
    return "dead-callbacks redeliver needs an ID, a filter (--reason, --receiver, --target) or --all";
  }
  if (
    command === "messages" &&
    verb === "show" &&
    !(parsed.flags.get("client") && parsed.flags.get("xroad-id"))
  ) {
    return "messages show needs an ID, or --client and --xroad-id (and --service to narrow it)";
  }
  return null;
}

/**
 * The options each command takes (`--json` aside, which every one takes): the union of them all
 * was read everywhere, so one another command takes was ignored, and a bulk run given one
 * (`replay --reason R --xroad-id X`, `redeliver --reason R --client C`) acted on every entry
 * of the rest of its selection instead of the ones meant.
 */
const TAKES: Readonly<Record<Exclude<OperatorCommand, "journal">, Record<string, string[]>>> = {
  "dead-letters": {
    list: ["reason", "service", "backend", "client", "replayed", "limit"],
    show: [],
    replay: ["reason", "service", "backend", "client", "limit", "until"],
    discard: ["reason", "service", "backend", "client", "limit", "until", "note"],
  },
  "dead-callbacks": {
    list: ["reason", "receiver", "target", "limit"],
    show: [],
    redeliver: ["reason", "receiver", "target", "limit", "until"],
  },
  messages: { show: ["client", "xroad-id", "service"], cancel: [] },
  backends: { list: [], pause: [], resume: [] },
  "hub-listeners": { list: ["client", "receiver", "limit"], remove: [] },
};

/**
 * The filters a list takes, named as the hint to a word given without its option: each list
 * has its own (`backends list` none), so one hint for all sent an operator to options refused.
 */
function listFilters(command: Exclude<OperatorCommand, "journal">): string {
  const filters = (TAKES[command].list ?? []).filter((name) => name !== "limit");
  if (filters.length === 0) return "";
  return ` (its filters are ${filters.map((name) => `--${name}`).join(", ")})`;
}

/** An option the command does not take, or a selection given beside the ID of a replay. */
function optionProblem(
  command: Exclude<OperatorCommand, "journal">,
  verb: string,
  id: string | undefined,
  parsed: OperatorArgs,
): string | null {
  const takes = TAKES[command][verb] ?? [];
  const bulk = isBulk(verb);
  for (const name of parsed.flags.keys()) {
    if (!takes.includes(name)) {
      return `${command} ${verb} takes no --${name}${takes.length ? ` (it takes ${takes.map((t) => `--${t}`).join(", ")})` : ""}`;
    }
  }
  if (parsed.all && !bulk)
    return `--all applies to a bulk replay, discard or redelivery, not to ${command} ${verb}`;
  // One ID is replayed whatever the filter says: given both, which did the operator mean? A
  // discard's --note is no selection: it says why, of one ID as of many.
  const selection = [...parsed.flags.keys()].filter((n) => !(verb === "discard" && n === "note"));
  if (bulk && id && (parsed.all || selection.length > 0)) {
    const given = [...(parsed.all ? ["--all"] : []), ...selection.map((n) => `--${n}`)];
    return `${command} ${verb} ID takes no ${given.join(", ")}: give one ID, or a selection (a filter or --all) without an ID`;
  }
  if (command === "messages" && verb === "show" && id && parsed.flags.size > 0) {
    return "messages show takes an ID, or --client and --xroad-id (and --service), not both";
  }
  return null;
}

/** `sluice journal` lists, newest first: a word or a filter more would be ignored, so refused. */
function journalProblem(parsed: OperatorArgs): string | null {
  if (parsed.words.length > 0) {
    return `journal takes no command or ID, only --limit and --json: "${parsed.words.join(" ")}"`;
  }
  const other = [...parsed.flags.keys()].find((name) => name !== "limit");
  if (other !== undefined) return `journal takes no --${other} (only --limit and --json)`;
  if (parsed.all) return "journal takes no --all (only --limit and --json)";
  return null;
}

/** A word the parser reads as an option of its own (`--all`, `--note=x`), not as a value. */
function isOption(word: string): boolean {
  if (["--json", "--all", "--dry-run"].includes(word)) return true;
  if (!word.startsWith("--")) return false;
  const eq = word.indexOf("=");
  return VALUE_FLAGS.includes(eq < 0 ? word.slice(2) : word.slice(2, eq));
}

/** The verbs that act on a selection (a filter or --all) as well as on one ID. */
const isBulk = (verb: string) => verb === "replay" || verb === "redeliver" || verb === "discard";

/** True when the filter names nothing to select by: `until` only narrows a selection. */
const namesNothing = ({ until: _until, ...named }: { until?: number }) =>
  Object.keys(named).length === 0;

export function filterOf(parsed: OperatorArgs): DeadLetterFilter {
  return { ...deadLetterFilter((key) => parsed.flags.get(key)), ...untilFlag(parsed) };
}

export function callbackFilterOf(parsed: OperatorArgs): DeadCallbackFilter {
  return { ...deadCallbackFilter((key) => parsed.flags.get(key)), ...untilFlag(parsed) };
}

/** --until, checked by `parseOperatorArgs`: it narrows a selection, and names none by itself. */
function untilFlag(parsed: OperatorArgs): { until?: number } {
  const until = untilOf(parsed.flags.get("until"));
  return until === null ? {} : { until };
}
