// Structured JSON logs for every role: one pino logger per process, with message bodies and
// personal identifiers redacted unless the operator turns redaction off to debug. A person at a
// terminal gets the same lines pretty-printed, one per event (LOG_FORMAT chooses either).

import { writeSync } from "node:fs";
import { hostname } from "node:os";
import pino from "pino";
import { escapeJsonLogLine, escapePrettyLogLine } from "./log-escape";
import { DEFAULT_EXIT_WAIT_MS, logOutput, type LogOutput } from "./log-output";
import { logRedactor, redactLogArgument, redactLogValue } from "./log-redaction";
import { hideUrlPasswords } from "./url-passwords";

export interface LoggerOptions {
  /** Where lines go; stdout when omitted. Tests pass a stream to read what was logged. */
  destination?: pino.DestinationStream;
  /** Overrides LOG_LEVEL. */
  level?: string;
  /** The `instance` field; SLUICE_INSTANCE, else the host name, when omitted. */
  instance?: string;
  /** Overrides LOG_FORMAT: `json`, or `pretty` (one readable line per event). */
  format?: string;
  /** Whether the output is a terminal (default: stdout is one and no destination is given). */
  isTty?: boolean;
}

export type LogFormat = "json" | "pretty";

/** Identifies the message a log line is about; every line about a message carries these. */
export interface MessageRef {
  id: string;
  xroadId?: string | null;
  client?: string | null;
}

function resolveLevel(requested: string | undefined): { level: string; unknown?: string } {
  const level = requested?.trim().toLowerCase() || "info";
  if (level === "silent" || level in pino.levels.values) return { level };
  return { level: "info", unknown: level };
}

/** `pretty` for a person at a terminal, `json` for everything else (files, pipes, collectors). */
export function resolveFormat(
  requested: string | undefined,
  isTty: boolean,
): { format: LogFormat; unknown?: string } {
  const format = requested?.trim().toLowerCase() || (isTty ? "pretty" : "json");
  if (format === "json" || format === "pretty") return { format };
  return { format: "json", unknown: format };
}

/**
 * Standard error for the warnings about standard output: one try per line, non-blocking (Node
 * makes a pipe so on first use), and a line it does not take now is dropped. Standard error is
 * often the very pipe standard output stalled on (`2>&1 | shipper`, systemd's journal stream):
 * pino's synchronous destination retried EAGAIN for ever there, and the warning that the reader
 * took nothing held the exit it was meant to end, or froze the serving process when it said lines
 * were dropped.
 */
function stderrOnce(): pino.DestinationStream {
  void process.stderr;
  return {
    write(line: string) {
      try {
        // A warning line is shorter than PIPE_BUF: a pipe takes it whole or not at all.
        writeSync(2, line);
      } catch {
        // Full (EAGAIN), or gone (EPIPE): nothing else would read it.
      }
    },
  };
}

/** The process's standard output, one for all its loggers: its lines keep their order. */
let stdoutOutput: LogOutput | undefined;

/**
 * Standard output for JSON lines (log-output.ts). When its reader goes away, one `warn` line on
 * standard error says so, in the logger's form: the lines that follow are dropped, the process
 * goes on, and nothing else would tell an operator why its log ends there. A reader too slow to
 * keep up is told of the same way, once each time lines start to be dropped for it, and so is
 * one that took nothing for the exit's wait (the process then ends without the lines left).
 */
function stdoutDestination(config: pino.LoggerOptions): LogOutput {
  const stderr = () => pino(config, stderrOnce());
  stdoutOutput ??= logOutput(
    1,
    (error) => {
      stderr().warn(
        { err: (error as NodeJS.ErrnoException).code ?? error.message },
        "standard output has no reader: log lines are dropped from now on",
      );
    },
    {
      onBehind: () =>
        stderr().warn(
          "standard output is not read fast enough: log lines are dropped until it catches up",
        ),
      onStalledAtExit: () =>
        stderr().warn(
          `standard output took nothing for ${DEFAULT_EXIT_WAIT_MS / 1000} s at exit: the log lines not written are dropped`,
        ),
    },
  );
  return stdoutOutput;
}

/** pino-pretty, loaded only when used; synchronous so no line is lost at exit. */
function prettyStream(destination: pino.DestinationStream | undefined, colorize: boolean) {
  const pretty = require("pino-pretty") as typeof import("pino-pretty");
  return pretty({
    destination: destination ?? 1,
    sync: true,
    colorize,
    singleLine: true,
    // UTC like the JSON lines, marked so: lines read beside other machines' logs must agree.
    translateTime: "UTC:HH:MM:ss.l'Z'",
    // The same on every line of a process: shown once, in the start lines, not on each.
    ignore: "pid,hostname,instance,role,component",
    messageFormat: "{if component}{component}: {end}{msg}",
  });
}

/**
 * LOG_LEVEL and LOG_FORMAT values no role understands, as `sluice check` reports them: a role
 * logs the same at start and goes on with `info` and `json`.
 */
export function loggingEnvironmentWarnings(): string[] {
  const warnings: string[] = [];
  const { unknown: level } = resolveLevel(process.env.LOG_LEVEL);
  if (level !== undefined) {
    warnings.push(
      `environment LOG_LEVEL: ${JSON.stringify(level)} is not a level (${[...Object.keys(pino.levels.values), "silent"].join(", ")}): the roles log at info`,
    );
  }
  const { unknown: format } = resolveFormat(process.env.LOG_FORMAT, false);
  if (format !== undefined) {
    warnings.push(
      `environment LOG_FORMAT: ${JSON.stringify(format)} is neither json nor pretty: the roles write json`,
    );
  }
  return warnings;
}

/** Whether personal data is kept out of the logs (LOG_REDACT, on unless turned off). */
export function redactionEnabled(): boolean {
  const value = (process.env.LOG_REDACT ?? "").trim().toLowerCase();
  return !["off", "false", "0", "no"].includes(value);
}

/**
 * Creates the process logger for a role. Level comes from LOG_LEVEL (default `info`;
 * `silent` for tests); LOG_REDACT=off disables redaction; LOG_FORMAT=json|pretty chooses the
 * output (default: pretty on a terminal, JSON otherwise).
 */
export function createLogger(role: string, options: LoggerOptions = {}): pino.Logger {
  const instance = options.instance || process.env.SLUICE_INSTANCE || hostname();
  const base: Record<string, unknown> = { role, instance, pid: process.pid };
  const { level, unknown } = resolveLevel(options.level ?? process.env.LOG_LEVEL);
  // A destination handed in is not the terminal, whatever stdout is.
  const isTty = options.isTty ?? (!options.destination && process.stdout.isTTY === true);
  const format = resolveFormat(options.format ?? process.env.LOG_FORMAT, isTty);
  const personal = redactionEnabled();
  const redact = logRedactor(personal, "err");
  const config: pino.LoggerOptions = {
    level,
    base,
    timestamp: pino.stdTimeFunctions.isoTime,
    // Redaction by field name at any depth (log-redaction.ts), on each line. `err` is left to
    // its serializer, which reads what an Error hides from JSON (message, stack) and redacts that.
    formatters: { level: (label) => ({ level: label }), log: redact },
    serializers: {
      err: (err: unknown) => redactLogValue(pino.stdSerializers.err(err as Error), "err", personal),
    },
    // Every line, whichever logger wrote it: no logged value acts on the reader's terminal.
    hooks: {
      // A call's message and format arguments go into `msg` through JSON.stringify or String,
      // past formatters.log: objects among them are redacted here. pino calls this only for
      // lines its level writes (a level below it is a no-op), so unwritten lines cost nothing.
      logMethod(args: unknown[], method) {
        // pino reads a first argument of type object (null too) as the fields, the next as the message.
        for (let index = typeof args[0] === "object" ? 1 : 0; index < args.length; index += 1) {
          const arg = args[index];
          if (typeof arg === "object" && arg !== null)
            args[index] = redactLogArgument(arg, personal);
        }
        method.apply(this, args as Parameters<typeof method>);
      },
      // The whole line as written, once its level is known to be written: a URL's password in any
      // value (a library's error message or stack quoting the URL it could not reach, a logged
      // callback target) is hidden here, where every field, message and binding has arrived.
      streamWrite:
        format.format === "pretty"
          ? (line) => escapePrettyLogLine(hideUrlPasswords(line))
          : (line) => escapeJsonLogLine(hideUrlPasswords(line)),
    },
  };
  const destination =
    format.format === "pretty"
      ? prettyStream(options.destination, isTty && !options.destination)
      : (options.destination ?? stdoutDestination(config));
  const log = pino(config, destination);
  // pino runs no formatter on a child's bindings nor on setBindings' (formatters.bindings is for
  // the root's base only), so they are redacted on the way in; every child, and every child's
  // child, is made from the root by Object.create and inherits both from it. A child's own
  // serializers and formatters would write after the redaction, so their output is redacted too.
  const child = log.child;
  log.child = function (this: pino.Logger, bindings, childOptions) {
    return child.call(this, redact(bindings), guardedChildOptions(childOptions, redact, personal));
  } as typeof log.child;
  const setBindings = log.setBindings;
  log.setBindings = function (this: pino.Logger, bindings) {
    setBindings.call(this, redact(bindings));
  } as typeof log.setBindings;
  // A typo in LOG_LEVEL or LOG_FORMAT should not stop the gateway; say so once.
  if (unknown) log.warn({ requested: unknown }, "unknown LOG_LEVEL, using info");
  if (format.unknown) log.warn({ requested: format.unknown }, "unknown LOG_FORMAT, using json");
  return log;
}

/**
 * A child's options with what its own serializers and formatters return redacted: pino applies
 * them after the root's redaction (a serializer to each field, `formatters.log` in place of the
 * root's), so a serializer returning `req.headers` would otherwise write them as they are.
 */
function guardedChildOptions<Options extends pino.ChildLoggerOptions>(
  options: Options | undefined,
  redact: (object: Record<string, unknown>) => Record<string, unknown>,
  personal: boolean,
): Options | undefined {
  if (!options || (!options.serializers && !options.formatters)) return options;
  const guarded: Options = { ...options };
  if (options.serializers) {
    const serializers: Record<string, pino.SerializerFn> = {};
    for (const [key, serialize] of Object.entries(options.serializers)) {
      serializers[key] = (value) => redactLogValue(serialize(value), key, personal);
    }
    guarded.serializers = serializers;
  }
  if (options.formatters) {
    const { log, bindings } = options.formatters;
    const redacted = (object: object) => redact(object as Record<string, unknown>);
    guarded.formatters = {
      ...options.formatters,
      ...(log && { log: (object: object) => redacted(log(object)) }),
      ...(bindings && { bindings: (object: pino.Bindings) => redacted(bindings(object)) }),
    };
  }
  return guarded;
}

/** A child logger whose every line names the message (gateway id, X-Road id, client). */
export function messageLogger(log: pino.Logger, ref: MessageRef): pino.Logger {
  return log.child({ id: ref.id, xroadId: ref.xroadId ?? null, client: ref.client ?? null });
}

/**
 * Node's own warnings (MaxListenersExceededWarning, deprecations) become log lines of the
 * process logger instead of plain text on stderr, so every line a role writes is JSON.
 */
export function logProcessWarnings(log: pino.Logger): void {
  process.removeAllListeners("warning");
  process.on("warning", (warning: Error & { code?: string }) => {
    log.warn({ warning: warning.name, code: warning.code, err: warning.message }, "node warning");
  });
}
