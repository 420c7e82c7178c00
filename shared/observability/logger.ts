// Structured JSON logs for every role: one pino logger per process, with message bodies and
// personal identifiers redacted unless the operator turns redaction off to debug.

import { hostname } from "node:os";
import pino from "pino";

const CENSOR = "[redacted]";

/**
 * Fields that may carry a caller's payload or personal data (X-Road userId). Redacted at the top
 * level and one level down, which covers `log.info({ body })` and `log.info({ req: { body } })`.
 */
export const REDACT_PATHS: readonly string[] = [
  "body",
  "*.body",
  "bodyXml",
  "*.bodyXml",
  "soap.bodyXml",
  "*.soap.bodyXml",
  "responses[*].body",
  "*.responses[*].body",
  "attachments[*].data",
  "*.attachments[*].data",
  "userId",
  "*.userId",
  // SOAP header fields carry the X-Road userId (often a personal code).
  "soap.headers",
  "*.soap.headers",
  "soap.headerXml",
  "*.soap.headerXml",
  'headers["x-road-userid"]',
  '*.headers["x-road-userid"]',
  'xroadHeaders["x-road-userid"]',
  '*.xroadHeaders["x-road-userid"]',
  "headers.authorization",
  "*.headers.authorization",
  "secret",
  "*.secret",
];

export interface LoggerOptions {
  /** Where lines go; stdout when omitted. Tests pass a stream to read what was logged. */
  destination?: pino.DestinationStream;
  /** Overrides LOG_LEVEL. */
  level?: string;
  /** The `instance` field; SLUICE_INSTANCE, else the host name, when omitted. */
  instance?: string;
}

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

/** Whether personal data is kept out of the logs (LOG_REDACT, on unless turned off). */
export function redactionEnabled(): boolean {
  const value = (process.env.LOG_REDACT ?? "").trim().toLowerCase();
  return !["off", "false", "0", "no"].includes(value);
}

/**
 * Creates the process logger for a role. Level comes from LOG_LEVEL (default `info`;
 * `silent` for tests); LOG_REDACT=off disables redaction.
 */
export function createLogger(role: string, options: LoggerOptions = {}): pino.Logger {
  const instance = options.instance || process.env.SLUICE_INSTANCE || hostname();
  const base: Record<string, unknown> = { role, instance, pid: process.pid };
  const { level, unknown } = resolveLevel(options.level ?? process.env.LOG_LEVEL);
  const config: pino.LoggerOptions = {
    level,
    base,
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    redact: redactionEnabled() ? { paths: [...REDACT_PATHS], censor: CENSOR } : undefined,
  };
  const log = options.destination ? pino(config, options.destination) : pino(config);
  // A typo in LOG_LEVEL should not stop the gateway; say so once and log at info.
  if (unknown) log.warn({ requested: unknown }, "unknown LOG_LEVEL, using info");
  return log;
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
